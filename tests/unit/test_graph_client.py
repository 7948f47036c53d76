"""GraphClient against a fake HTTP layer: retries, paging, batching, errors, auth options.

No network: the client's requests.Session.request is replaced by a script of
responses, MSAL by a stub, and sleeping by a recorder.
"""

import datetime
import email.utils
import importlib.util
import json
import math
import os
import uuid

import pytest
import requests
from requests.structures import CaseInsensitiveDict

try:
    from ansible_collections.m365.cloud_identity.plugins.module_utils import graph_client as gc
except ImportError:  # collection not laid out yet: load the file directly
    _PATH = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils", "graph_client.py")
    _SPEC = importlib.util.spec_from_file_location("graph_client", _PATH)
    gc = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(gc)

SECRET = "Very~Secret.Value_123"
BASE = "https://graph.microsoft.com/v1.0"


def make_response(status, body=None, headers=None, text=None):
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers or {})
    if body is not None:
        response._content = json.dumps(body).encode()
        response.headers.setdefault("Content-Type", "application/json")
    else:
        response._content = (text or "").encode()
    return response


def graph_error(status, code, message, request_id="req-1", details=None):
    error = {"code": code, "message": message,
             "innerError": {"date": "2025-02-13T10:17:05", "request-id": request_id, "client-request-id": "x"}}
    if details:
        error["details"] = details
    return make_response(status, {"error": error}, {"request-id": "header-" + request_id})


class FakeMsalApp(object):
    def __init__(self, result=None, exc=None):
        self.calls = 0
        self.result = result or {"access_token": "tok-abc", "token_type": "Bearer", "expires_in": 3599}
        self.exc = exc

    def acquire_token_for_client(self, scopes):
        self.calls += 1
        if self.exc:
            raise self.exc
        return self.result


class Transport(object):
    """Replays scripted responses (or exceptions) and records every call."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def __call__(self, method, url, **kwargs):
        self.calls.append(dict(kwargs, method=method, url=url))
        step = self.script.pop(0)
        if callable(step) and not isinstance(step, requests.Response):
            step = step(method, url, kwargs)
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def ca_file(tmp_path):
    """A CA bundle file (any PEM certificate: these tests never open a connection)."""
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(monkeypatch, sleeps):
    def factory(script, **options):
        options.setdefault("client_secret", SECRET)
        client = gc.GraphClient("tenant-1", "client-1", **options)
        client._msal_app = FakeMsalApp()
        client._sleep = sleeps.append
        client._clock = lambda: sum(sleeps)  # time passes only by the client's own waits
        client._random = lambda: 0.5
        transport = Transport(script)
        monkeypatch.setattr(client._session, "request", transport)
        client.transport = transport
        return client
    return factory


def dropped_connection():
    """A connection that broke after the request went out."""
    return requests.exceptions.ConnectionError(
        requests.packages.urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


def refused_connection():
    """A connection that was never opened: the request was not sent."""
    reason = requests.packages.urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.exceptions.ConnectionError(
        requests.packages.urllib3.exceptions.MaxRetryError(None, "/v1.0/users", reason))


# ---- helpers -----------------------------------------------------------------

def test_quote_key_encodes_hash_and_keeps_at():
    assert gc.quote_key("ann_fabrikam.com#EXT#@contoso.onmicrosoft.com") == \
        "ann_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
    assert gc.quote_key("a/b c") == "a%2Fb%20c"


@pytest.mark.parametrize("value,expected", [("2", 2.0), ("0.25", 0.25), ("-3", 0.0), ("soon", None), (None, None)])
def test_parse_retry_after_seconds(value, expected):
    assert gc.parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    later = email.utils.format_datetime(now + datetime.timedelta(seconds=7), usegmt=True)
    assert gc.parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)


def test_backoff_is_exponential_capped_and_jittered():
    low = [gc.backoff_delay(n, 1.0, 30.0, lambda: 0.0) for n in range(7)]
    high = [gc.backoff_delay(n, 1.0, 30.0, lambda: 1.0) for n in range(7)]
    assert low == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert high == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


# ---- cloud and authority options -------------------------------------------------

@pytest.mark.parametrize("cloud,login,graph", [
    ("public", "login.microsoftonline.com", "graph.microsoft.com"),
    ("usgov", "login.microsoftonline.us", "graph.microsoft.us"),
    ("usgov_dod", "login.microsoftonline.us", "dod-graph.microsoft.us"),
    ("china", "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"),
])
def test_cloud_picks_login_and_graph_hosts(monkeypatch, cloud, login, graph):
    seen = {}

    def fake_app(client_id, **kwargs):
        seen.update(kwargs, client_id=client_id)
        return FakeMsalApp()

    monkeypatch.setattr(gc.msal, "ConfidentialClientApplication", fake_app)
    client = gc.GraphClient("tenant-1", "client-1", client_secret=SECRET, cloud=cloud)
    assert client.base_url == "https://%s/v1.0" % graph
    assert client.scope == "https://%s/.default" % graph
    client._access_token()
    assert seen["authority"] == "https://%s/tenant-1" % login
    # Microsoft's hosts keep MSAL's own discovery behaviour.
    assert "instance_discovery" not in seen and "azure_region" not in seen


def test_custom_hosts_disable_instance_discovery_and_region(monkeypatch):
    seen = {}

    def fake_app(client_id, **kwargs):
        seen.update(kwargs)
        return FakeMsalApp()

    monkeypatch.setattr(gc.msal, "ConfidentialClientApplication", fake_app)
    client = gc.GraphClient("tenant-1", "client-1", client_secret=SECRET,
                            authority_host="https://127.0.0.1:8443/", graph_endpoint="https://127.0.0.1:8443/v1.0")
    client._access_token()
    assert seen["authority"] == "https://127.0.0.1:8443/tenant-1"
    assert seen["instance_discovery"] is False and seen["azure_region"] is False
    assert client.base_url == "https://127.0.0.1:8443/v1.0"
    assert client.scope == "https://127.0.0.1:8443/.default"


def test_plain_http_authority_is_rejected():
    with pytest.raises(gc.GraphError) as caught:
        gc.GraphClient("t", "c", client_secret=SECRET, authority_host="http://127.0.0.1:8080")
    assert "https" in caught.value.message


@pytest.mark.parametrize("options, words", [
    ({}, ["No credential", "client_secret", "client_certificate_path", "federated_token_file"]),
    ({"client_secret": "s", "client_certificate_path": "/x.pem"},
     ["More than one credential", "client_secret", "client_certificate_path", "Set auth"]),
])
def test_exactly_one_credential_is_required(options, words):
    with pytest.raises(gc.GraphError) as caught:
        gc.GraphClient("t", "c", **options)
    assert all(word in caught.value.message for word in words), caught.value.message


def test_unknown_cloud_lists_the_valid_ones():
    with pytest.raises(gc.GraphError, match="china, public, usgov, usgov_dod"):
        gc.GraphClient("t", "c", client_secret=SECRET, cloud="mars")


# ---- requests, headers, CA -------------------------------------------------------

def test_request_headers_json_and_no_verify_override(make_client):
    client = make_client([make_response(200, {"id": "u1"}), make_response(204)])
    assert client.get("/users/u1") == {"id": "u1"}
    assert client.patch("/users/u1", json={"jobTitle": "x"}) is None
    first, second = client.transport.calls
    assert first["url"] == BASE + "/users/u1" and first["timeout"] == 60
    assert first["headers"]["Authorization"] == "Bearer tok-abc"
    assert first["headers"]["User-Agent"] == "m365.cloud_identity/" + gc.COLLECTION_VERSION
    uuid.UUID(first["headers"]["client-request-id"])
    assert first["headers"]["client-request-id"] != second["headers"]["client-request-id"]
    assert second["json"] == {"jobTitle": "x"}
    # Without ca_path, verify=True: requests' own CA handling (REQUESTS_CA_BUNDLE, proxies) stays in charge
    # (test_default_trust_keeps_requests_ca_bundle), and verification can never be off.
    assert first["verify"] is True and second["verify"] is True
    assert client.stats["requests"] == 2 and client.stats["by_method"] == {"GET": 1, "PATCH": 1}


def test_ca_path_is_passed_on_every_request_and_to_msal(make_client, monkeypatch, ca_file):
    client = make_client([make_response(429, {}, {"Retry-After": "0"}), make_response(200, {"value": []})],
                         ca_path=ca_file)
    client.get("/users")
    assert [call["verify"] for call in client.transport.calls] == [ca_file] * 2

    seen = {}
    monkeypatch.setattr(gc.msal, "ConfidentialClientApplication", lambda cid, **kw: seen.update(kw) or FakeMsalApp())
    client._msal_app = None
    client._access_token()
    client.transport.script.append(make_response(200, {"token_endpoint": "x"}))
    seen["http_client"].get("https://login.example/tenant-1/v2.0/.well-known/openid-configuration")
    assert client.transport.calls[-1]["verify"] == ca_file


# ---- retries -----------------------------------------------------------------------

def test_429_honours_fractional_retry_after(make_client, sleeps):
    client = make_client([graph_error(429, "TooManyRequests", "Please retry again later."),
                          make_response(429, {}, {"Retry-After": "1.5"}),
                          make_response(200, {"id": "u1"})])
    client.transport.script[0].headers["Retry-After"] = "2"
    assert client.get("/users/u1") == {"id": "u1"}
    assert sleeps == [2.0, 1.5]
    assert client.stats["retries"] == 2 and client.stats["wait_seconds"] == 3.5 and client.stats["requests"] == 3


def test_503_and_504_without_retry_after_back_off_exponentially(make_client, sleeps):
    client = make_client([make_response(503, text="busy"), make_response(504, text="timeout"),
                          make_response(503, text="busy"), make_response(200, {"ok": True})])
    assert client.get("/users") == {"ok": True}
    assert sleeps == [0.75, 1.5, 3.0]  # base 1 s, doubling, equal jitter at random()=0.5


def test_retry_stops_at_the_wait_budget(make_client, sleeps):
    client = make_client([make_response(429, {}, {"Retry-After": "50"})] * 3, max_retry_wait=120)
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users")
    assert sleeps == [50.0, 50.0]  # a third wait would pass 120 s
    assert caught.value.status == 429 and "gave up after 2 retries" in caught.value.message


def test_retry_stops_at_max_retries(make_client, sleeps):
    client = make_client([make_response(503, text="x")] * 4)
    client.max_retries = 3
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users")
    assert len(client.transport.calls) == 4 and caught.value.status == 503


@pytest.mark.parametrize("status,code", [(400, "Request_BadRequest"), (401, "InvalidAuthenticationToken"),
                                         (403, "Authorization_RequestDenied"), (404, "Request_ResourceNotFound")])
def test_client_errors_are_not_retried_and_carry_graph_fields(make_client, sleeps, status, code):
    details = [{"code": "ObjectConflict", "message": "dup", "target": "userPrincipalName"}]
    client = make_client([graph_error(status, code, "Graph says no.", request_id="rid-9", details=details)])
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users/x")
    error = caught.value
    assert (error.status, error.code, error.message, error.request_id) == (status, code, "Graph says no.", "rid-9")
    assert error.details == details
    assert sleeps == [] and len(client.transport.calls) == 1


def test_request_id_falls_back_to_the_header_and_non_json_bodies(make_client):
    client = make_client([make_response(502, text="<html>Bad Gateway</html>", headers={"request-id": "hdr-1"})])
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users")
    assert caught.value.request_id == "hdr-1" and caught.value.code is None
    assert caught.value.message == "HTTP 502: <html>Bad Gateway</html>"


def test_concurrency_violation_is_retried(make_client, sleeps):
    client = make_client([graph_error(400, "Directory_ConcurrencyViolation", "busy"), make_response(204)])
    client.patch("/groups/g1", json={"description": "x"})
    assert len(sleeps) == 1


def test_get_retries_connection_errors(make_client, sleeps):
    client = make_client([dropped_connection(), requests.exceptions.ReadTimeout("read timed out"),
                          make_response(200, {"id": "u1"})])
    assert client.get("/users/u1") == {"id": "u1"}
    assert len(sleeps) == 2


@pytest.mark.parametrize("send", [lambda c: c.post("/users", json={"userPrincipalName": "a@contoso.com"}),
                                  lambda c: c.request("POST", "/users", json={"userPrincipalName": "a@contoso.com"})])
def test_post_is_not_resent_after_a_dropped_connection(make_client, sleeps, send):
    client = make_client([dropped_connection(), make_response(201, {"id": "twin"})])
    with pytest.raises(gc.GraphError) as caught:
        send(client)
    assert caught.value.code == "OutcomeUnknown" and "outcome is unknown" in caught.value.message
    assert len(client.transport.calls) == 1 and sleeps == []


def test_post_is_resent_when_the_connection_never_opened(make_client, sleeps):
    client = make_client([refused_connection(), make_response(201, {"id": "u1"})])
    assert client.post("/users", json={})["id"] == "u1"
    assert len(client.transport.calls) == 2


def test_post_retries_429_and_enveloped_503_but_not_504(make_client, sleeps):
    client = make_client([graph_error(429, "TooManyRequests", "later"),
                          graph_error(503, "serviceNotAvailable", "later"),
                          make_response(201, {"id": "u1"})])
    assert client.post("/users", json={})["id"] == "u1"
    client = make_client([make_response(504, text="gateway timeout")])
    with pytest.raises(gc.GraphError, match="outcome of this POST is unknown"):
        client.post("/users", json={})
    client = make_client([make_response(503, text="proxy busy")])
    with pytest.raises(gc.GraphError):
        client.post("/users", json={})
    assert len(client.transport.calls) == 1


def test_idempotent_post_may_be_resent(make_client):
    client = make_client([dropped_connection(), make_response(200, {"id": "u1"})])
    assert client.post("/users/u1/assignLicense", json={}, idempotent=True)["id"] == "u1"


def test_tls_failure_is_not_retried_and_names_the_ca(make_client, sleeps, ca_file):
    client = make_client([requests.exceptions.SSLError("certificate verify failed")], ca_path=ca_file)
    with pytest.raises(gc.GraphError, match="TLS verification failed .*ca_path " + ca_file):
        client.get("/users")
    assert sleeps == []


def test_get_retries_404_for_a_bounded_time(make_client, sleeps):
    not_found = graph_error(404, "Request_ResourceNotFound", "Resource 'u1' does not exist")
    client = make_client([not_found, not_found, make_response(200, {"id": "u1"})])
    assert client.get("/users/u1", retry_not_found=10) == {"id": "u1"}
    assert sleeps == [0.5, 1.0]

    clock = iter([0.0, 0.0, 0.0, 0.0, 4.0])  # start, then at each send and each 404 (4 s after the start)
    client = make_client([not_found, not_found, make_response(200, {})])
    client._clock = lambda: next(clock)
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users/u1", retry_not_found=4)
    assert caught.value.status == 404 and len(client.transport.calls) == 2


# ---- paging --------------------------------------------------------------------------

def test_list_follows_next_links_with_select_top_filter_and_headers(make_client):
    next1 = BASE + "/users?$select=id,displayName&$top=999&$skiptoken=abc"
    next2 = BASE + "/users?$select=id,displayName&$top=999&$skiptoken=def"
    client = make_client([make_response(200, {"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": next1}),
                          make_response(200, {"value": [{"id": "3"}], "@odata.nextLink": next2}),
                          make_response(200, {"value": [{"id": "4"}]})])
    items = client.list("/users", select=["id", "displayName"], filter="endswith(mail,'@contoso.com')",
                        params={"$count": "true"}, headers={"ConsistencyLevel": "eventual"})
    assert [item["id"] for item in items] == ["1", "2", "3", "4"]
    first, second, third = client.transport.calls
    assert first["params"] == {"$select": "id,displayName", "$filter": "endswith(mail,'@contoso.com')",
                               "$top": 999, "$count": "true"}
    assert (second["url"], second["params"]) == (next1, None)
    assert third["url"] == next2
    assert all(call["headers"]["ConsistencyLevel"] == "eventual" for call in client.transport.calls)


def test_list_refuses_a_next_link_to_another_host(make_client):
    client = make_client([make_response(200, {"value": [], "@odata.nextLink": "https://evil.example/v1.0/users?x"})])
    with pytest.raises(gc.GraphError, match="another host"):
        client.list("/users")
    assert len(client.transport.calls) == 1  # the token never left for evil.example


# ---- batching ---------------------------------------------------------------------------

def batch_answer(statuses=None, headers=None, reverse=True):
    """A fake /$batch endpoint: each item gets statuses.get(id, 200), responses in reverse order."""
    statuses = statuses or {}

    def answer(method, url, kwargs):
        responses = []
        for item in kwargs["json"]["requests"]:
            status = statuses.get(item["id"], 200)
            if callable(status):
                status = status(item)
            body = {"id": item["id"], "url": item["url"]} if status < 400 else {
                "error": {"code": "Code%d" % status, "message": "Message %d" % status,
                          "innerError": {"request-id": "r-" + item["id"]}}}
            responses.append({"id": item["id"], "status": status, "body": body,
                              "headers": (headers or {}).get(item["id"], {})})
        if reverse:
            responses.reverse()
        return make_response(200, {"responses": responses})
    return answer


def test_batch_of_45_is_sent_as_20_20_5_in_input_order(make_client):
    client = make_client([batch_answer()] * 3)
    results = client.batch([{"method": "get", "url": "/users/u%d" % n} for n in range(45)])
    sizes = [len(call["json"]["requests"]) for call in client.transport.calls]
    assert sizes == [20, 20, 5]
    assert all(call["url"] == BASE + "/$batch" and call["method"] == "POST" for call in client.transport.calls)
    assert [r.body["url"] for r in results] == ["/users/u%d" % n for n in range(45)]
    assert [r.id for r in results] == [str(n + 1) for n in range(45)]
    assert all(r.ok and r.error is None for r in results)


def test_batch_ids_content_type_and_depends_on_on_the_wire(make_client):
    client = make_client([batch_answer(), batch_answer()])
    client.batch([{"id": "2", "method": "POST", "url": "/groups", "body": {"displayName": "g"}},
                  {"method": "PATCH", "url": BASE + "/users/u1", "body": {"jobTitle": "x"},
                   "headers": {"content-type": "application/json; charset=utf-8"}, "depends_on": ["2"]},
                  {"method": "GET", "url": "/users", "headers": {"ConsistencyLevel": "eventual"}}])
    # The chain 2 -> 1 and the independent 3 travel in separate batches (FIDELITY 7.1).
    sent = client.transport.calls[0]["json"]["requests"] + client.transport.calls[1]["json"]["requests"]
    assert [item["id"] for item in sent] == ["2", "1", "3"]
    assert sent[0]["headers"] == {"Content-Type": "application/json"}
    assert sent[1]["headers"] == {"content-type": "application/json; charset=utf-8"}
    assert sent[1]["url"] == "/users/u1" and sent[1]["dependsOn"] == ["2"]
    assert sent[2]["headers"] == {"ConsistencyLevel": "eventual"} and "body" not in sent[2]


def test_batch_keeps_dependent_requests_in_one_chunk(make_client):
    items = [{"id": "a%d" % n, "method": "GET", "url": "/users/%d" % n} for n in range(19)]
    items.append({"id": "child", "method": "PATCH", "url": "/groups/g", "body": {}, "depends_on": ["parent"]})
    items.append({"id": "parent", "method": "POST", "url": "/groups", "body": {}})
    client = make_client([batch_answer(), batch_answer()])
    results = client.batch(items)
    chunks = [[item["id"] for item in call["json"]["requests"]] for call in client.transport.calls]
    assert chunks == [["child", "parent"], ["a%d" % n for n in range(19)]]
    assert [r.id for r in results] == [item["id"] for item in items]


def test_batch_rejects_oversized_dependency_groups_and_unknown_ids():
    chain = [{"id": str(n), "method": "GET", "url": "/x", "depends_on": [str(n - 1)] if n else []} for n in range(21)]
    with pytest.raises(ValueError, match="21 batch requests are linked"):
        gc._chunks(gc._normalize_batch_items(chain))
    with pytest.raises(ValueError, match="unknown ids: nope"):
        gc._normalize_batch_items([{"method": "GET", "url": "/x", "depends_on": ["nope"]}])
    with pytest.raises(ValueError, match="unique"):
        gc._normalize_batch_items([{"id": "A", "method": "GET", "url": "/x"}, {"id": "a", "method": "GET", "url": "/y"}])


def test_batch_retries_throttled_items_after_the_largest_retry_after(make_client, sleeps):
    # Graph refuses a batch mixing a dependsOn chain with independent items (FIDELITY 7.1), so the
    # chain 2 -> 4 travels in a batch of its own; the throttled items of both batches are re-sent.
    chain = batch_answer({"2": 429, "4": 424}, headers={"2": {"Retry-After": "2"}})
    parallel = batch_answer({"3": 429, "5": 429}, headers={"3": {"retry-after": "3.5"}, "5": {"Retry-After": "1"}})
    client = make_client([chain, batch_answer(), parallel, batch_answer()])
    results = client.batch([{"id": "1", "method": "GET", "url": "/users/1"},
                            {"id": "2", "method": "GET", "url": "/users/2"},
                            {"id": "3", "method": "GET", "url": "/users/3"},
                            {"id": "4", "method": "PATCH", "url": "/users/4", "body": {}, "depends_on": ["2"]},
                            {"id": "5", "method": "GET", "url": "/users/5"}])
    sent = [[item["id"] for item in call["json"]["requests"]] for call in client.transport.calls]
    assert sent == [["2", "4"], ["2", "4"], ["1", "3", "5"], ["3", "5"]]
    assert client.transport.calls[1]["json"]["requests"][1]["dependsOn"] == ["2"]
    # Throttled once, the client keeps the last Retry-After (shortened by pace_decay per answer that was
    # not throttled) between its requests: the third call waits 1.8 s instead of going at once.
    assert sleeps == [2.0, pytest.approx(2.0 * client.pace_decay), 3.5]
    assert [r.status for r in results] == [200, 200, 200, 200, 200]


class WriteBudget(object):
    """A fake /$batch under a write budget: a bucket of `capacity` writes refilled at `rate` a second
    (time is the sum of the client's waits); an item over budget gets 429 and a whole-second Retry-After."""

    def __init__(self, sleeps, capacity, rate):
        self.sleeps, self.capacity, self.rate = sleeps, capacity, rate
        self.level, self.stamp, self.throttled, self.written = float(capacity), 0.0, 0, 0

    def __call__(self, method, url, kwargs):
        now = sum(self.sleeps)
        self.level, self.stamp = min(self.capacity, self.level + (now - self.stamp) * self.rate), now
        responses = []
        for item in kwargs["json"]["requests"]:
            if self.level >= 1:
                self.level -= 1
                self.written += 1
                responses.append({"id": item["id"], "status": 204, "body": None, "headers": {}})
            else:
                self.throttled += 1
                wait = max(1, int(math.ceil((1 - self.level) / self.rate)))
                responses.append({"id": item["id"], "status": 429, "headers": {"Retry-After": str(wait)},
                                  "body": {"error": {"code": "TooManyRequests", "message": "Please retry again later."}}})
        return make_response(200, {"responses": responses})


def test_a_throttled_client_paces_itself_instead_of_retrying_at_once(make_client, sleeps):
    # 1,000 writes against 20 writes a second with room for 100 at once: the budget's floor is 45 s.
    budget = WriteBudget(sleeps, capacity=100, rate=20.0)
    client = make_client([budget] * 200)
    writes = [{"id": str(n), "method": "PATCH", "url": "/users/u%d" % n, "body": {}} for n in range(1000)]
    results = []
    for start in range(0, len(writes), 20):  # as engine.Sender sends them: one batch of 20 at a time
        results += client.batch(writes[start:start + 20])
    assert all(result.status == 204 for result in results) and budget.written == 1000
    calls = len(client.transport.calls)
    # Without pacing every batch after the first 100 writes would be answered 429 and re-sent (about 2
    # calls a batch, and 900 refused items); paced, about one call in five re-sends the few items refused.
    assert calls <= 1.25 * 1000 / 20, calls
    assert budget.throttled <= 100, budget.throttled
    assert sum(sleeps) <= 1.2 * (1000 - 100) / 20.0, sum(sleeps)


def test_batch_never_mixes_a_chain_with_independent_items(make_client):
    items = [{"id": "a%d" % n, "method": "GET", "url": "/users/%d" % n} for n in range(3)]
    items += [{"id": "restore", "method": "POST", "url": "/directory/deletedItems/u/restore"},
              {"id": "patch", "method": "PATCH", "url": "/users/u", "body": {}, "depends_on": ["restore"]}]
    items += [{"id": "b%d" % n, "method": "GET", "url": "/users/%d" % n} for n in range(3, 6)]
    chunks = [[i["id"] for i in chunk] for chunk in gc._chunks(gc._normalize_batch_items(items))]
    assert chunks == [["restore", "patch"], ["a0", "a1", "a2", "b3", "b4", "b5"]]
    for chunk in gc._chunks(gc._normalize_batch_items(items)):
        linked = [bool(i["depends_on"]) for i in chunk]
        assert not any(linked) or linked == [False] + [True] * (len(chunk) - 1)


def test_batch_gives_up_on_throttled_items_within_the_wait_budget(make_client, sleeps):
    throttled = batch_answer({"1": 429}, headers={"1": {"Retry-After": "100"}})
    client = make_client([throttled, throttled], max_retry_wait=150)
    results = client.batch([{"method": "GET", "url": "/users/1"}])
    assert sleeps == [100.0] and results[0].status == 429 and results[0].error.code == "Code429"


def test_batch_424_explains_the_failed_dependency(make_client):
    client = make_client([batch_answer({"1": 400, "2": 424})])
    results = client.batch([{"method": "POST", "url": "/groups", "body": {}},
                            {"method": "POST", "url": "/groups/x/members/$ref", "body": {}, "depends_on": ["1"]}])
    assert not results[0].ok and results[0].error.message == "Message 400" and results[0].error.request_id == "r-1"
    error = results[1].error
    assert error.status == 424 and "depends on request '1', which failed" in error.message


def test_batch_with_creates_is_not_resent_after_a_dropped_connection(make_client):
    client = make_client([dropped_connection()])
    with pytest.raises(gc.GraphError, match="outcome is unknown"):
        client.batch([{"method": "POST", "url": "/users", "body": {}}])


# ---- authentication and secrets ------------------------------------------------------------

def test_token_is_acquired_through_one_msal_app(make_client, monkeypatch):
    built = []
    monkeypatch.setattr(gc.msal, "ConfidentialClientApplication", lambda cid, **kw: built.append(kw) or FakeMsalApp())
    client = make_client([make_response(200, {})] * 3)
    client._msal_app = None
    for _attempt in range(3):
        client.get("/organization")
    assert len(built) == 1 and built[0]["client_credential"] == SECRET


def test_token_error_is_clear_and_has_no_secret(make_client):
    client = make_client([])
    client._msal_app = FakeMsalApp(result={
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided (%s).\r\nTrace ID: 1\r\nTimestamp: now" % SECRET,
        "error_codes": [7000215]})
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users")
    error = caught.value
    assert (error.status, error.code) == (401, "invalid_client")
    assert error.message.startswith("Token request for client client-1 failed: AADSTS7000215: Invalid client secret")
    assert "Trace ID" not in error.message
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert client.transport.calls == []


def test_token_error_on_one_line_drops_the_trace(make_client):
    client = make_client([])
    client._msal_app = FakeMsalApp(result={
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Trace ID: 1 Correlation ID: 2 Timestamp: now"})
    with pytest.raises(gc.GraphError) as caught:
        client.get("/users")
    assert caught.value.message == "Token request for client client-1 failed: AADSTS7000215: Invalid client secret provided."


def test_unreachable_login_host_is_named(make_client):
    client = make_client([], authority_host="https://login.example.test:9443")
    client._msal_app = FakeMsalApp(exc=refused_connection())
    with pytest.raises(gc.GraphError, match="Cannot reach the login host login.example.test:9443"):
        client.get("/users")


def test_secret_never_in_repr_or_stats(make_client):
    client = make_client([make_response(200, {})], client_certificate_password=None)
    client.get("/users")
    for text in (repr(client), str(client), json.dumps(client.stats)):
        assert SECRET not in text and "tok-abc" not in text


# ---- certificates ---------------------------------------------------------------------------------

@pytest.fixture
def certificate_pem(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "automation")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path = tmp_path / "app.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pem-pass-42")))
    return str(path), cert.fingerprint(hashes.SHA1()).hex().upper()


@pytest.mark.parametrize("version,wants_thumbprint", [((1, 33), True), ((1, 34), False)])
def test_certificate_credential_for_msal(monkeypatch, certificate_pem, version, wants_thumbprint):
    path, thumbprint = certificate_pem
    monkeypatch.setattr(gc, "_msal_version", lambda: version)
    client = gc.GraphClient("t", "c", client_certificate_path=path, client_certificate_password="pem-pass-42")
    credential = client._credential()
    assert "BEGIN CERTIFICATE" in credential["public_certificate"]
    assert "PRIVATE KEY" in credential["private_key"] and "ENCRYPTED" not in credential["private_key"]
    assert credential.get("thumbprint") == (thumbprint if wants_thumbprint else None)
    assert "pem-pass-42" not in repr(client)


def test_wrong_certificate_password_is_clear(certificate_pem):
    path, _password = certificate_pem
    client = gc.GraphClient("t", "c", client_certificate_path=path, client_certificate_password="nope-nope")
    with pytest.raises(gc.GraphError) as caught:
        client._access_token()
    assert "wrong or missing client_certificate_password" in caught.value.message
    assert "nope-nope" not in str(caught.value)


def test_certificate_without_key_is_rejected(tmp_path):
    path = tmp_path / "cert-only.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    client = gc.GraphClient("t", "c", client_certificate_path=str(path))
    with pytest.raises(gc.GraphError, match="both the private key and the certificate"):
        client._access_token()


class PagedCollections(object):
    """Collections of 25 objects served 10 a page through $batch; `/groups/gone/members` is 404."""

    base_url = BASE

    def __init__(self):
        self.batches = []

    def batch(self, requests_):
        self.batches.append([r["url"] for r in requests_])
        results = []
        for request in requests_:
            path, _, query = request["url"].partition("?")
            if path == "/groups/gone/members":
                results.append(gc.BatchResult(request["id"], 404, {"error": {"code": "Request_ResourceNotFound",
                                                                             "message": "gone"}}))
                continue
            start = int(query.split("$skiptoken=")[1]) if "$skiptoken=" in query else 0
            body = {"value": [{"id": "%s-%d" % (path, n)} for n in range(start, min(start + 10, 25))]}
            if start + 10 < 25:
                body["@odata.nextLink"] = "%s%s?$top=10&$skiptoken=%d" % (BASE, path, start + 10)
            results.append(gc.BatchResult(request["id"], 200, body))
        return results


def test_list_each_batches_first_pages_then_each_next_link_and_reports_errors_per_path():
    graph = PagedCollections()
    paths = ["/groups/%d/members" % n for n in range(21)] + ["/groups/gone/members"]
    answers = gc.list_each(graph, paths, select=["id", "userPrincipalName"], top=10)
    assert [len(a) for a in answers[:21]] == [25] * 21
    assert answers[0][-1] == {"id": "/groups/0/members-24"}
    assert isinstance(answers[21], gc.GraphError) and answers[21].status == 404
    # Three rounds: 22 first pages, then the 21 second and the 21 third (GraphClient.batch sends 20 a call).
    assert [len(b) for b in graph.batches] == [22, 21, 21]
    assert graph.batches[0][0] == "/groups/0/members?$select=id,userPrincipalName&$top=10"


def test_query_url_quotes_filter_values_for_a_batch_item():
    url = gc.query_url("/users", {"$filter": "id in ('a b', 'c')", "$expand": "manager($select=id)"})
    assert url == "/users?$filter=id%20in%20('a%20b',%20'c')&$expand=manager($select=id)"
