"""GraphClient against a live Graph sandbox (issue 3 acceptance): real MSAL, real TLS, real HTTP.

Faults are injected through /_sandbox/config and what reached the server is read from
/_sandbox/counters, so each test checks both what the caller sees and what went over the wire.
"""

import secrets
import time
import uuid

import pytest
import requests

from ansible_collections.m365.cloud_identity.plugins.module_utils import graph_client as gc
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key

NO_FAULTS = {"faults": {"rate_429": 0, "rate_503": 0, "rate_drop": 0, "retry_after": 1, "path_prefix": None, "sequence": []},
             "throttling": {"enabled": False}, "replication_lag_seconds": 0}


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox):
    """Every test starts without faults and with zeroed counters."""
    sandbox.configure(**NO_FAULTS)
    sandbox.reset_counters()
    yield
    sandbox.configure(**NO_FAULTS)


def new_user_body(upn):
    password = secrets.token_urlsafe(12) + "Aa1!"
    return {"accountEnabled": True, "displayName": upn.split("@")[0], "mailNickname": uuid.uuid4().hex[:12],
            "userPrincipalName": upn, "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": True}}


def graph_requests(sandbox):
    return sandbox.counters()["http"]


# ---- authentication -------------------------------------------------------------------

def test_token_is_acquired_once_per_client(sandbox, new_client):
    client = new_client()
    first = client.list("/users", select=["id"], top=5)
    for user in first[:3]:
        client.get("/users/" + user["id"])
    client.get("/users", params={"$top": 1})
    counters = sandbox.counters()
    assert counters["tokens"] == 1 and client.stats["token_requests"] == 1
    assert counters["http"]["total"] == client.stats["requests"] >= 5


def test_wrong_secret_gives_a_clear_message(sandbox, new_client):
    wrong = "wrong-" + secrets.token_urlsafe(16)
    client = new_client(client_secret=wrong)
    with pytest.raises(GraphError) as caught:
        client.get("/users")
    error = caught.value
    assert error.status == 401 and error.code == "invalid_client"
    assert error.message.startswith("Token request for client %s failed: AADSTS7000215: Invalid client secret provided."
                                    % sandbox.conn["client_id"])
    assert "\n" not in str(error) and "Trace ID" not in error.message
    for text in (str(error), repr(error), repr(client), repr(client.stats)):
        assert wrong not in text and sandbox.conn["client_secret"] not in text
    assert sandbox.counters()["tokens"] == 1 and graph_requests(sandbox)["total"] == 0


def test_unknown_tenant_gives_a_clear_message(new_client):
    client = new_client(tenant_id=str(uuid.uuid4()))
    with pytest.raises(GraphError, match="Authentication against 127.0.0.1:[0-9]+ failed: Unable to get authority configuration"):
        client.get("/users")


@pytest.mark.parametrize("msal_computes_thumbprint", [True, False], ids=["x5t#S256-PS256", "x5t-RS256"])
def test_certificate_auth(sandbox, new_client, monkeypatch, msal_computes_thumbprint):
    if not msal_computes_thumbprint:
        monkeypatch.setattr(gc, "_msal_version", lambda: (1, 33))  # the pre-1.34 credential form
    app = sandbox.app("m365-cloud-identity-cert")
    client = new_client(app["name"], client_certificate_path=app["certificate_path"])
    users = client.list("/users", select=["id", "userPrincipalName"])
    assert any(user["userPrincipalName"] == "ada.admin@contoso.com" for user in users)
    assert sandbox.counters()["tokens"] == 1


def test_ca_path_wins_over_a_global_requests_ca_bundle(sandbox, new_client, monkeypatch):
    # REQUESTS_CA_BUNDLE (set globally on these machines) must not replace the sandbox's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    assert new_client().get("/users", params={"$top": 1})["value"]
    # Without ca_path the system bundle applies, and the failure says which host and CA.
    with pytest.raises(GraphError) as caught:
        new_client(ca_path=None).get("/users")
    assert caught.value.message.startswith("TLS verification failed for the login host 127.0.0.1:")
    assert "default CA bundle" in caught.value.message


# ---- paging -----------------------------------------------------------------------------

def test_paging_over_more_than_999_objects(sandbox, new_client):
    client = new_client()
    existing = len(client.list("/users", select=["id"]))
    needed = max(0, 1010 - existing)
    created = client.batch([{"method": "POST", "url": "/users", "body": new_user_body("page%04d@contoso.onmicrosoft.com" % n)}
                            for n in range(needed)])
    assert all(result.status == 201 for result in created)

    sandbox.reset_counters()
    users = client.list("/users", select=["id", "userPrincipalName"])
    assert len(users) == existing + needed >= 1010 and len(set(u["id"] for u in users)) == len(users)
    assert sandbox.counters()["http"]["by_route"] == {"GET /v1.0/users": 2}  # $top=999: two pages

    # An advanced query pages too, and needs ConsistencyLevel on every page.
    sandbox.reset_counters()
    paged = client.list("/users", select=["id"], filter="endswith(userPrincipalName,'@contoso.onmicrosoft.com')",
                        params={"$count": "true"}, headers={"ConsistencyLevel": "eventual"}, top=400)
    assert len(paged) == sum(1 for u in users if u["userPrincipalName"].endswith("@contoso.onmicrosoft.com")) >= 1000
    assert sandbox.counters()["http"]["by_route"]["GET /v1.0/users"] == (len(paged) + 399) // 400


# ---- retries ------------------------------------------------------------------------------

def test_429_is_retried_after_retry_after(sandbox, new_client):
    client = new_client()
    client.get("/users", params={"$top": 1})  # token first, so only the retries are timed
    sandbox.configure(faults={"sequence": [429, 429], "retry_after": 1.5})
    started = time.monotonic()
    assert client.get("/users", params={"$top": 1})["value"]
    elapsed = time.monotonic() - started
    assert 3.0 <= elapsed < 8.0
    assert client.stats["wait_seconds"] == 3.0
    assert sandbox.counters()["http"]["by_status"] == {"429": 2, "200": 2}


def test_503_is_retried(sandbox, new_client):
    sandbox.configure(faults={"sequence": [503, 503]})
    client = new_client()
    client.backoff_base = 0.2
    assert client.get("/users", params={"$top": 1})["value"]
    assert client.stats["retries"] == 2
    assert sandbox.counters()["http"]["by_status"] == {"503": 2, "200": 1}


def test_retries_stop_at_the_wait_budget(sandbox, new_client):
    sandbox.configure(faults={"sequence": [429, 429, 429], "retry_after": 1})
    client = new_client(max_retry_wait=1.5)
    with pytest.raises(GraphError) as caught:
        client.get("/users")
    assert caught.value.status == 429 and caught.value.code == "TooManyRequests"
    assert "gave up after 1 retries" in caught.value.message
    assert sandbox.counters()["http"]["total"] == 2


def test_a_read_is_resent_after_a_dropped_connection_but_a_create_is_not(sandbox, new_client):
    client = new_client()
    client.backoff_base = 0.1
    sandbox.configure(faults={"sequence": ["drop"]})
    assert client.get("/users", params={"$top": 1})["value"]
    assert client.stats["retries"] == 1

    upn = "dropped-%s@contoso.com" % uuid.uuid4().hex[:8]
    sandbox.configure(faults={"sequence": ["drop"]})
    with pytest.raises(GraphError) as caught:
        client.post("/users", json=new_user_body(upn))
    assert caught.value.code == "OutcomeUnknown" and "outcome is unknown" in caught.value.message
    assert client.stats["by_method"]["POST"] == 1  # not re-sent


def post_an_incomplete_user(client):
    return client.post("/users", json={"accountEnabled": True})


def post_a_user(client):
    return client.post("/users", json=new_user_body("denied@contoso.com"))


def get_a_missing_user(client):
    return client.get("/users/" + str(uuid.uuid4()))


@pytest.mark.parametrize("case, app_name, call, expected", [
    ("400", None, post_an_incomplete_user, (400, "Request_BadRequest")),
    ("403", "m365-reader", post_a_user, (403, "Authorization_RequestDenied")),
    ("404", None, get_a_missing_user, (404, "Request_ResourceNotFound")),
], ids=["400", "403", "404"])
def test_client_errors_are_not_retried_and_carry_code_and_request_id(sandbox, new_client, case, app_name, call, expected):
    client = new_client(app_name)
    with pytest.raises(GraphError) as caught:
        call(client)
    error = caught.value
    assert (error.status, error.code) == expected and error.message
    uuid.UUID(error.request_id)
    assert client.stats["retries"] == 0
    assert sandbox.counters()["http"]["by_status"] == {case: 1}


def test_read_after_write_waits_for_replication(sandbox, new_client):
    sandbox.configure(replication_lag_seconds=1.0)
    client = new_client()
    upn = "lagging-%s@contoso.com" % uuid.uuid4().hex[:8]
    user_id = client.post("/users", json=new_user_body(upn))["id"]
    with pytest.raises(GraphError) as caught:
        client.get("/users/" + user_id)
    assert caught.value.status == 404
    assert client.get("/users/" + user_id, retry_not_found=10)["userPrincipalName"] == upn


def test_quote_key_reaches_a_guest_style_upn(new_client):
    client = new_client()
    upn = "pat_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    client.post("/users", json=new_user_body(upn))
    assert client.get("/users/" + quote_key(upn))["userPrincipalName"] == upn


# ---- $batch --------------------------------------------------------------------------------------

def test_batch_of_45_is_split_20_20_5_with_per_item_results(sandbox, new_client, monkeypatch):
    client = new_client()
    existing = [user["id"] for user in client.list("/users", select=["id"])]
    ids = [existing[n % len(existing)] for n in range(40)]
    missing = [str(uuid.uuid4()) for _number in range(5)]
    sizes = []
    send = client._session.request

    def spy(method, url, **kwargs):
        if url.endswith("/$batch"):
            sizes.append(len(kwargs["json"]["requests"]))
        return send(method, url, **kwargs)

    monkeypatch.setattr(client._session, "request", spy)
    sandbox.reset_counters()
    results = client.batch([{"method": "GET", "url": "/users/%s?$select=id" % oid} for oid in ids + missing])
    assert sizes == [20, 20, 5]
    counters = sandbox.counters()
    assert counters["http"]["by_route"] == {"POST /v1.0/$batch": 3} and counters["operations"]["total"] == 45
    assert [r.body["id"] for r in results[:len(ids)]] == ids  # input order, though Graph answers in any order
    assert all(r.ok for r in results[:len(ids)])
    for result in results[len(ids):]:
        assert not result.ok and result.error.status == 404 and result.error.code == "Request_ResourceNotFound"


def test_batch_failed_dependency_is_reported(new_client):
    client = new_client()
    results = client.batch([{"id": "create", "method": "POST", "url": "/users", "body": {"accountEnabled": True}},
                            {"id": "rename", "method": "PATCH", "url": "/users/x", "body": {"jobTitle": "y"},
                             "depends_on": ["create"]}])
    assert results[0].status == 400 and results[0].error.code == "Request_BadRequest"
    assert results[1].status == 424
    assert results[1].error.message.startswith("Not executed: it depends on request 'create', which failed")


def test_batch_items_throttled_with_429_are_retried(sandbox, new_client):
    client = new_client()
    existing = [user["id"] for user in client.list("/users", select=["id"])]
    ids = [existing[n % len(existing)] for n in range(20)]
    sandbox.configure(throttling={"enabled": True, "ru_per_10s": 15, "writes_per_150s": 3000})
    started = time.monotonic()
    results = client.batch([{"method": "GET", "url": "/users/" + oid} for oid in ids])
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == [200] * 20
    assert client.stats["retries"] >= 1 and elapsed >= client.stats["wait_seconds"] > 0
    assert sandbox.counters()["http"]["by_route"]["POST /v1.0/$batch"] == client.stats["retries"] + 1
