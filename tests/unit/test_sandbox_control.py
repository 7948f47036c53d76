"""What /_sandbox/ steers (throttling, replication lag, faults, counters, reset) and the serve command's
lifecycle (restart on the same state, SIGTERM, clear start-up errors)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STRONG_PASSWORD = "Str0ng-Passw0rd!"


@pytest.fixture
def restore_config(sandbox):
    """Put the default behaviour back after a test that changes it."""
    yield
    sandbox.configure(throttling={"enabled": False, "ru_per_10s": 3500, "writes_per_150s": 3000},
                      replication_lag_seconds=0,
                      faults={"rate_429": 0, "rate_503": 0, "rate_drop": 0, "rate_lost_response": 0, "path_prefix": None,
                              "sequence": []})


def user_body(alias=None):
    alias = alias or "c%s" % uuid.uuid4().hex[:10]
    return {"accountEnabled": True, "displayName": "Control %s" % alias, "mailNickname": alias,
            "userPrincipalName": "%s@contoso.com" % alias,
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}


# -- config ------------------------------------------------------------------------------------------

def test_config_defaults_and_unknown_settings(sandbox):
    config = sandbox.control("GET", "config")
    assert config["throttling"]["enabled"] is False
    assert config["replication_lag_seconds"] == 0
    assert config["faults"]["rate_429"] == 0
    response = requests.patch(sandbox.url + "/_sandbox/config", json={"throttle": True},
                              verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 400 and "throttle" in response.json()["error"]


# -- throttling (FIDELITY.md 2.7) --------------------------------------------------------------------

def test_throttling_is_off_by_default(raw):
    assert {raw.call("GET", "/users").status_code for _ in range(60)} == {200}


def test_resource_unit_throttling_answers_429_with_whole_seconds_and_refusals_still_cost(raw, sandbox, restore_config):
    sandbox.configure(throttling={"enabled": True, "ru_per_10s": 6})
    statuses = [raw.call("GET", "/users") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 429]  # 2 units each, 6 per 10 s
    response = statuses[3]
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    assert "x-ms-throttle-scope" in response.headers
    waits = [r.headers["Retry-After"] for r in statuses[3:]]
    assert all(wait.isdigit() and int(wait) >= 1 for wait in waits), waits  # HTTP delay-seconds: whole seconds
    # Graph keeps counting a throttled client's requests: each refusal spent its 2 units, so the wait grows.
    assert int(waits[0]) < int(waits[1]) < int(waits[2]), waits


def test_select_and_small_top_cost_fewer_units(raw, sandbox, restore_config):
    sandbox.configure(throttling={"enabled": True, "ru_per_10s": 5})
    cheap = [raw.call("GET", "/users", params={"$select": "id", "$top": "5"}).status_code for _ in range(5)]
    assert cheap == [200] * 5  # 1 unit each (2, minus 1 for $select; $top < 20 cannot go below 1)


def test_write_budget_throttles_writes(raw, sandbox, restore_config):
    sandbox.configure(throttling={"enabled": True, "writes_per_150s": 2})
    statuses = [raw.call("POST", "/users", json=user_body()).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert raw.call("GET", "/users/ada.admin@contoso.com").status_code == 200  # reads still pass


# -- replication lag (FIDELITY.md 2.8) ---------------------------------------------------------------

def test_replication_lag_hides_a_new_user_for_a_while(raw, sandbox, restore_config):
    sandbox.configure(replication_lag_seconds=1.0)
    created = raw.call("POST", "/users", json=user_body())
    assert created.status_code == 201
    user_id = created.json()["id"]
    right_after = raw.call("GET", "/users/%s" % user_id)
    assert right_after.status_code == 404
    assert right_after.json()["error"]["code"] == "Request_ResourceNotFound"
    listed = raw.call("GET", "/users", params={"$filter": "id eq '%s'" % user_id}).json()["value"]
    assert listed == []
    time.sleep(1.1)
    assert raw.call("GET", "/users/%s" % user_id).status_code == 200


# -- faults ------------------------------------------------------------------------------------------

def test_a_fault_sequence_is_served_in_order_then_normal_answers(raw, sandbox, restore_config):
    sandbox.configure(faults={"sequence": [429, 503, "drop"], "retry_after": 2})
    first = raw.call("GET", "/users")
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert first.json()["error"]["code"] == "TooManyRequests"
    second = raw.call("GET", "/users")
    assert second.status_code == 503 and second.headers["Retry-After"] == "2"
    with pytest.raises(requests.exceptions.RequestException):
        raw.call("GET", "/users").json()  # the connection drops mid-body
    assert raw.call("GET", "/users").status_code == 200


def test_fault_rates_apply_to_the_path_prefix_only(raw, sandbox, restore_config):
    sandbox.configure(faults={"rate_503": 1.0, "path_prefix": "/v1.0/users"})
    assert {raw.call("GET", "/users").status_code for _ in range(5)} == {503}
    assert raw.call("GET", "/organization").status_code == 200
    sandbox.configure(faults={"rate_503": 0.5, "path_prefix": None})
    statuses = {raw.call("GET", "/organization").status_code for _ in range(40)}
    assert statuses == {200, 503}


# -- counters ----------------------------------------------------------------------------------------

def test_counters_count_http_requests_and_graph_operations(raw, sandbox):
    raw.refresh_token()
    sandbox.reset_counters()
    user_id = raw.call("GET", "/users/ada.admin@contoso.com").json()["id"]
    raw.call("GET", "/users")
    raw.call("POST", "/users", json=user_body())
    batch = {"requests": [{"id": "1", "method": "GET", "url": "/users/%s" % user_id},
                          {"id": "2", "method": "GET", "url": "/organization"},
                          {"id": "3", "method": "PATCH", "url": "/users/%s" % user_id, "body": {"jobTitle": "Counted"},
                           "headers": {"Content-Type": "application/json"}}]}
    assert raw.call("POST", "/$batch", json=batch).status_code == 200
    raw.call("POST", "/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/organization"}]})
    raw.refresh_token()
    counters = sandbox.counters()
    http, ops = counters["http"], counters["operations"]
    assert (http["total"], http["read"], http["write"]) == (5, 3, 2)  # a read-only $batch counts as a read
    assert http["by_method"] == {"GET": 2, "POST": 3}
    assert http["by_route"] == {"GET /v1.0/users/{id}": 1, "GET /v1.0/users": 1, "POST /v1.0/users": 1,
                                "POST /v1.0/$batch": 2}
    assert (ops["total"], ops["read"], ops["write"]) == (7, 5, 2)
    assert ops["by_route"]["GET /v1.0/users/{id}"] == 2
    assert ops["by_route"]["GET /v1.0/organization"] == 2
    assert ops["by_route"]["PATCH /v1.0/users/{id}"] == 1
    assert "POST /v1.0/$batch" not in ops["by_route"]
    assert counters["tokens"] == 1
    assert sandbox.reset_counters()["http"]["total"] == 0


def test_counters_count_requests_per_module_named_in_the_user_agent(raw, sandbox):
    raw.refresh_token()
    sandbox.reset_counters()
    agent = lambda module: {"User-Agent": "m365.cloud_identity/0.1.0 %s" % module}
    raw.call("GET", "/users", headers=agent("aad_user"))
    raw.call("POST", "/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/organization"},
                                                   {"id": "2", "method": "GET", "url": "/users"}]},
             headers=agent("aad_user"))
    raw.call("GET", "/groups", headers=agent("aad_group"))
    raw.call("GET", "/groups", headers={"User-Agent": "m365.cloud_identity/0.1.0"})
    raw.call("GET", "/groups")  # another client's agent
    http = sandbox.counters()["http"]
    # HTTP requests, a $batch counted once, as in "total".
    assert http["by_module"] == {"aad_user": 2, "aad_group": 1, "m365.cloud_identity": 1, "other": 1}
    assert http["total"] == 5


def test_a_lost_response_fault_applies_the_write_then_drops_the_answer(raw, sandbox, restore_config):
    """The response is lost AFTER the write was applied and committed (issue 10), unlike "drop"."""
    body = user_body()
    sandbox.configure(faults={"sequence": ["lost_response"]})
    with pytest.raises(requests.exceptions.RequestException):
        raw.call("POST", "/users", json=body).json()
    created = raw.call("GET", "/users/%s" % body["userPrincipalName"])
    assert created.status_code == 200, created.text         # the write happened
    again = raw.call("POST", "/users", json=body)           # so a blind retry conflicts
    assert again.status_code == 400 and again.json()["error"]["details"][0]["code"] == "ObjectConflict"

    sandbox.configure(faults={"sequence": ["drop"]})        # "drop" loses the request before it is handled
    other = user_body()
    with pytest.raises(requests.exceptions.RequestException):
        raw.call("POST", "/users", json=other).json()
    assert raw.call("GET", "/users/%s" % other["userPrincipalName"]).status_code == 404


def test_a_lost_response_rate_applies_to_every_request(raw, sandbox, restore_config):
    sandbox.configure(faults={"rate_lost_response": 1.0, "path_prefix": "/v1.0/users"})
    body = user_body()
    with pytest.raises(requests.exceptions.RequestException):
        raw.call("POST", "/users", json=body).json()
    assert raw.call("GET", "/groups").status_code == 200    # outside the prefix
    sandbox.configure(faults={"rate_lost_response": 0})
    assert raw.call("GET", "/users/%s" % body["userPrincipalName"]).status_code == 200


def test_a_replication_lag_range_is_drawn_per_object(raw, sandbox, restore_config):
    sandbox.configure(replication_lag_seconds={"min": 0.6, "max": 1.2})
    created = [raw.call("POST", "/users", json=user_body()).json()["id"] for _ in range(3)]
    assert all(raw.call("GET", "/users/%s" % i).status_code == 404 for i in created)   # each at least 0.6 s
    time.sleep(1.3)
    assert all(raw.call("GET", "/users/%s" % i).status_code == 200 for i in created)   # none beyond 1.2 s


def test_a_lag_change_does_not_hide_objects_already_readable(raw, sandbox, restore_config):
    user = raw.call("POST", "/users", json=user_body()).json()
    sandbox.configure(replication_lag_seconds=5)
    assert raw.call("PATCH", "/users/%s" % user["id"], json={"jobTitle": "Later"}).status_code == 204
    assert raw.call("GET", "/users/%s" % user["id"]).status_code == 200   # updates do not hide an object


@pytest.mark.parametrize("settings", [
    {"replication_lag_seconds": -1}, {"replication_lag_seconds": {"min": 1, "most": 2}},
    {"faults": {"sequence": ["boom"]}}, {"missing_reference_removal": 500},
    {"group_license_delay_seconds": "soon"},
])
def test_invalid_settings_are_refused_and_change_nothing(sandbox, settings):
    before = sandbox.control("GET", "config")
    response = requests.patch(sandbox.url + "/_sandbox/config", json=settings, verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 400 and list(settings)[0] in response.json()["error"]
    assert sandbox.control("GET", "config") == before


def test_control_calls_are_not_counted_and_need_no_token(sandbox):
    sandbox.reset_counters()
    sandbox.control("GET", "config")
    sandbox.control("GET", "counters")
    assert sandbox.counters()["http"]["total"] == 0


# -- reset -------------------------------------------------------------------------------------------

def test_reset_returns_to_the_seed_with_default_config_and_zero_counters(raw, sandbox):
    created = raw.call("POST", "/users", json=user_body()).json()
    raw.call("PATCH", "/users/ada.admin@contoso.com", json={"jobTitle": "Changed"})
    sandbox.configure(replication_lag_seconds=5)
    assert sandbox.reset() == {"reset": True}
    assert sandbox.control("GET", "config")["replication_lag_seconds"] == 0
    assert sandbox.counters()["http"]["total"] == 0
    raw.refresh_token()  # tokens survive a reset (same app registrations and signing key) ...
    assert raw.call("GET", "/users/%s" % created["id"]).status_code == 404
    ada = raw.call("GET", "/users/ada.admin@contoso.com").json()
    assert ada["jobTitle"] == "Identity Administrator"
    assert len(raw.call("GET", "/users", params={"$top": "999"}).json()["value"]) == 6


# -- serve: restart, SIGTERM, start-up errors --------------------------------------------------------

def test_state_survives_a_restart_on_the_same_state_dir(sandbox_factory, tmp_path):
    state = tmp_path / "state"
    first = sandbox_factory(state_dir=state)
    with first.wire() as wire:
        token = wire.session.headers["Authorization"]
        user = wire.call("POST", "/users", json=user_body()).json()
        wire.call("PATCH", "/users/%s" % user["id"], json={"jobTitle": "Persisted"})
        wire.call("DELETE", "/users/ada.admin@contoso.com")
    first.stop()
    assert not (state / "connection.json").exists()

    second = sandbox_factory(state_dir=state)
    assert second.conn["client_secret"] == first.conn["client_secret"]
    assert second.conn["tenant_id"] == first.conn["tenant_id"]
    with second.wire() as again:
        again.session.headers["Authorization"] = token  # the signing key persists, so old tokens still work
        assert again.call("GET", "/users/%s" % user["id"], params={"$select": "jobTitle"}).json()["jobTitle"] == "Persisted"
        assert again.call("GET", "/users/ada.admin@contoso.com").status_code == 404
        deleted = again.call("GET", "/directory/deletedItems/microsoft.graph.user").json()["value"]
    assert [d["displayName"] for d in deleted] == ["Ada Admin"]


def test_state_is_owner_only_and_committed_before_the_answer(sandbox_factory):
    """Secrets live in the state directory (keys, the SQLite WAL): 0700 / 0600. A write the client was
    told about survives the server being killed right after it answered."""
    box = sandbox_factory()
    with box.wire() as wire:
        created = wire.call("POST", "/users", json=user_body())
        assert created.status_code == 201
        box.process.kill()      # SIGKILL: no shutdown hook runs
        box.process.wait()
    assert (box.state_dir.stat().st_mode & 0o777) == 0o700
    files = [p for p in box.state_dir.rglob("*") if p.is_file() and p.name != "sandbox.log"]
    assert {"tenant.sqlite", "tenant.sqlite-wal", "ca-key.pem", "token-signing-key.pem"} <= {p.name for p in files}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: "0o600" for p in files}
    again = sandbox_factory(state_dir=box.state_dir)
    with again.wire() as wire:
        assert wire.call("GET", "/users/%s" % created.json()["id"]).status_code == 200


def test_sigterm_stops_cleanly_and_removes_connection_json(sandbox_factory):
    box = sandbox_factory()
    with box.wire() as wire:
        assert wire.call("GET", "/users").status_code == 200  # leaves an idle keep-alive connection open
        started = time.monotonic()
        box.process.send_signal(signal.SIGTERM)
        assert box.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    assert not (box.state_dir / "connection.json").exists()
    assert "Traceback" not in box.log.read_text()


def serve(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "sandbox"))
    return subprocess.run([sys.executable, "-m", "graph_sandbox", "serve", "--host", "127.0.0.1"] + list(args),
                          env=env, capture_output=True, text=True, timeout=timeout)


def assert_clear_failure(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graph_sandbox: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve("--port", str(port), "--state-dir", str(tmp_path / "state"))
    assert_clear_failure(result, "port %d" % port, "already in use")
    assert not (tmp_path / "state" / "connection.json").exists()


def test_an_unwritable_state_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_clear_failure(serve("--port", "0", "--state-dir", str(blocker / "state")), "not writable")


@pytest.mark.parametrize("content,fragment", [
    (None, "cannot read seed file"),
    ("tenant: [unclosed", "not valid YAML"),
    ("users: []\n", "'tenant' section"),
    ("tenant: {id: t1, default_domain: a.com, verified_domains: [b.com]}\napps: [{client_id: x, client_secret: s}]\n",
     "default_domain"),
    ("tenant: {id: t1, default_domain: a.com, verified_domains: [a.com]}\n", "apps"),
])
def test_a_bad_seed_is_a_clear_error(tmp_path, content, fragment):
    seed = tmp_path / "seed.yaml"
    if content is not None:
        seed.write_text(content)
    result = serve("--port", "0", "--state-dir", str(tmp_path / "state"), "--seed", str(seed))
    assert_clear_failure(result, fragment)


def test_a_seed_with_an_invalid_user_is_a_clear_error(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("tenant: {id: t1, default_domain: a.com, verified_domains: [a.com]}\n"
                    "apps: [{client_id: x, client_secret: generate, roles: [User.Read.All]}]\n"
                    "users: [{userPrincipalName: someone@elsewhere.com, displayName: Someone, accountEnabled: true}]\n")
    assert_clear_failure(serve("--port", "0", "--state-dir", str(tmp_path / "state"), "--seed", str(seed)),
                         "someone@elsewhere.com")


def test_start_flags_set_the_initial_config(sandbox_factory):
    box = sandbox_factory(extra_args=["--throttling", "--replication-lag", "0.5"])
    config = box.control("GET", "config")
    assert config["throttling"]["enabled"] is True
    assert config["replication_lag_seconds"] == 0.5
    box.reset()  # reset goes back to the start flags, not to the built-in defaults
    assert box.control("GET", "config")["throttling"]["enabled"] is True


def test_a_custom_seed_defines_tenant_apps_and_users(sandbox_factory, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("tenant: {id: 7d0c4b8e-0000-4000-8000-000000000001, default_domain: fabrikam.onmicrosoft.com,\n"
                    "         verified_domains: [fabrikam.onmicrosoft.com, fabrikam.com]}\n"
                    "apps: [{name: only, client_id: 7d0c4b8e-0000-4000-8000-0000000000aa, client_secret: generate,\n"
                    "        roles: [User.ReadWrite.All]}]\n"
                    "users: [{userPrincipalName: one@fabrikam.com, displayName: One, accountEnabled: true}]\n")
    box = sandbox_factory(seed=seed)
    assert box.conn["tenant_id"] == "7d0c4b8e-0000-4000-8000-000000000001"
    assert box.conn["default_domain"] == "fabrikam.onmicrosoft.com"
    assert [a["name"] for a in box.conn["apps"]] == ["only"]
    with box.wire() as wire:
        users = wire.call("GET", "/users").json()["value"]
    assert [u["userPrincipalName"] for u in users] == ["one@fabrikam.com"]
    assert json.loads((box.state_dir / "connection.json").read_text())["graph_endpoint"] == box.url
