"""JSON batching (FIDELITY.md 2.6): limits, ids, dependsOn and 424, per-item 429, any order."""
import uuid

import pytest
import requests

STRONG_PASSWORD = "Str0ng-Passw0rd!"
JSON = {"Content-Type": "application/json"}


def batch(raw, items):
    """Send one $batch; its answers by item id."""
    response = raw.call("POST", "/$batch", json={"requests": items})
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["responses"]}


def create_item(item_id, alias=None, **extra):
    alias = alias or "b%s" % uuid.uuid4().hex[:10]
    body = {"accountEnabled": True, "displayName": "Batch %s" % alias, "mailNickname": alias,
            "userPrincipalName": "%s@contoso.com" % alias,
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}
    body.update(extra)
    return {"id": item_id, "method": "POST", "url": "/users", "body": body, "headers": JSON}


def get_item(item_id, url="/users/ada.admin@contoso.com", **extra):
    return dict({"id": item_id, "method": "GET", "url": url}, **extra)


def assert_batch_refused(raw, payload, fragment=None):
    response = raw.call("POST", "/$batch", json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    if fragment:
        assert fragment in error["message"]


def test_twenty_items_are_served_and_each_answers_like_a_direct_call(raw):
    responses = batch(raw, [get_item(str(n)) for n in range(19)] + [get_item("missing", "/users/%s" % uuid.uuid4())])
    assert len(responses) == 20
    assert {responses[str(n)]["status"] for n in range(19)} == {200}
    assert responses["0"]["body"]["userPrincipalName"] == "ada.admin@contoso.com"
    assert responses["0"]["headers"]["Content-Type"].startswith("application/json")
    missing = responses["missing"]
    assert missing["status"] == 404 and missing["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert missing["body"]["error"]["innerError"]["request-id"]


def test_more_than_twenty_items_fail_the_whole_batch(raw):
    before = raw.call("GET", "/users", params={"$select": "id", "$top": "999"}).json()["value"]
    assert_batch_refused(raw, {"requests": [create_item(str(n)) for n in range(21)]}, "20")
    after = raw.call("GET", "/users", params={"$select": "id", "$top": "999"}).json()["value"]
    assert len(after) == len(before)  # nothing of the refused batch ran


def test_duplicate_ids_fail_the_batch_case_insensitively(raw):
    assert_batch_refused(raw, {"requests": [get_item("a"), get_item("b"), get_item("A")]})


@pytest.mark.parametrize("payload", [
    {"requests": []},
    {"value": [{"id": "1", "method": "GET", "url": "/users"}]},
    {"requests": [{"id": "1", "url": "/users"}]},
    {"requests": [{"id": "1", "method": "POST", "url": "/users", "body": {"displayName": "no content type"}}]},
    {"requests": [get_item("1", dependsOn=["nope"])]},
])
def test_a_malformed_batch_is_a_400(raw, payload):
    assert_batch_refused(raw, payload)


def test_an_absolute_or_versioned_item_url_fails_that_item(raw):
    responses = batch(raw, [get_item("v", "/v1.0/users"), get_item("ok", "/users?$top=1")])
    assert responses["v"]["status"] == 400
    assert responses["ok"]["status"] == 200 and len(responses["ok"]["body"]["value"]) == 1


def test_depends_on_runs_in_order_and_a_failed_dependency_gives_424(raw):
    alias = "dep%s" % uuid.uuid4().hex[:8]
    items = [
        get_item("read", "/users/%s@contoso.com" % alias, dependsOn=["create"]),
        create_item("create", alias),
        create_item("dup", alias, displayName="Duplicate"),  # conflicts: the UPN is taken by "create"
        dict(get_item("after-dup", "/users/%s@contoso.com" % alias), dependsOn=["dup"]),
        dict(get_item("chain", "/users/%s@contoso.com" % alias), dependsOn=["after-dup"]),
    ]
    items[2]["dependsOn"] = ["create"]
    responses = batch(raw, items)
    assert responses["create"]["status"] == 201
    assert responses["read"]["status"] == 200 and responses["read"]["body"]["id"] == responses["create"]["body"]["id"]
    assert responses["dup"]["status"] == 400
    assert responses["dup"]["body"]["error"]["details"][0]["code"] == "ObjectConflict"
    assert responses["after-dup"]["status"] == 424
    assert responses["after-dup"]["body"]["error"]["code"] == "FailedDependency"
    assert responses["chain"]["status"] == 424


@pytest.mark.parametrize("shape", ["independent items beside a chain", "two chains"])
def test_a_batch_mixing_chains_and_independent_items_is_refused_whole(raw, shape):
    """FIDELITY.md 7.1: fully parallel or fully sequential; a mixed batch runs nothing."""
    aliases = ["mix%s" % uuid.uuid4().hex[:8] for _ in range(4)]
    if shape == "independent items beside a chain":
        items = [create_item("a", aliases[0]), dict(get_item("a2", "/users/%s@contoso.com" % aliases[0]), dependsOn=["a"]),
                 create_item("b", aliases[1])]
    else:
        items = [create_item("a", aliases[2]), dict(get_item("a2", "/users/%s@contoso.com" % aliases[2]), dependsOn=["a"]),
                 create_item("b", aliases[3]), dict(get_item("b2", "/users/%s@contoso.com" % aliases[3]), dependsOn=["b"])]
    response = raw.call("POST", "/$batch", json={"requests": items})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BadRequest"
    assert response.json()["error"]["message"] == "Batch should be either fully sequential or fully parallel"
    for alias in aliases:
        assert raw.call("GET", "/users/%s@contoso.com" % alias).status_code == 404


def test_a_circular_dependency_fails_the_batch(raw):
    assert_batch_refused(raw, {"requests": [get_item("1", dependsOn=["2"]), get_item("2", dependsOn=["1"])]})


def test_item_headers_carry_consistency_level(raw):
    search = '/users?$search="displayName:Ada"&$count=true'
    responses = batch(raw, [get_item("plain", search), get_item("eventual", search, headers={"ConsistencyLevel": "eventual"})])
    assert responses["plain"]["status"] == 400
    assert responses["eventual"]["status"] == 200
    assert responses["eventual"]["body"]["@odata.count"] == 1


def test_writes_in_a_batch_land_like_direct_writes(raw):
    create = batch(raw, [create_item("c")])["c"]
    user_id = create["body"]["id"]
    responses = batch(raw, [
        {"id": "patch", "method": "PATCH", "url": "/users/%s" % user_id, "body": {"jobTitle": "Batched"}, "headers": JSON},
        dict(get_item("read", "/users/%s?$select=jobTitle" % user_id), dependsOn=["patch"]),
        dict({"id": "delete", "method": "DELETE", "url": "/users/%s" % user_id}, dependsOn=["read"]),
    ])
    assert responses["patch"]["status"] == 204 and "body" not in responses["patch"]
    assert responses["read"]["body"]["jobTitle"] == "Batched"
    assert responses["delete"]["status"] == 204
    assert raw.call("GET", "/users/%s" % user_id).status_code == 404


def test_responses_come_back_in_any_order(raw):
    orders = set()
    for _ in range(5):
        items = [get_item(str(n)) for n in range(10)]
        response = raw.call("POST", "/$batch", json={"requests": items})
        orders.add(tuple(item["id"] for item in response.json()["responses"]))
    # Clients must match responses by id: the sandbox does not keep the request order.
    assert orders != {tuple(str(n) for n in range(10))}


def test_throttled_items_get_their_own_429_with_retry_after(raw, sandbox):
    sandbox.configure(throttling={"enabled": True, "ru_per_10s": 10})
    try:
        responses = batch(raw, [get_item(str(n), "/users?$top=999") for n in range(20)])
    finally:
        sandbox.configure(throttling={"enabled": False, "ru_per_10s": 3500})
    statuses = [responses[str(n)]["status"] for n in range(20)]
    assert 200 in statuses and 429 in statuses
    throttled = next(r for r in responses.values() if r["status"] == 429)
    assert float(throttled["headers"]["Retry-After"]) > 0
    assert throttled["body"]["error"]["code"] == "TooManyRequests"


def test_a_read_only_app_gets_403_per_item(sandbox):
    with sandbox.wire("m365-reader") as reader:
        response = reader.call("POST", "/$batch", json={"requests": [get_item("read"), create_item("write")]})
    responses = {item["id"]: item for item in response.json()["responses"]}
    assert responses["read"]["status"] == 200
    assert responses["write"]["status"] == 403
    assert responses["write"]["body"]["error"]["code"] == "Authorization_RequestDenied"


def test_a_batch_without_a_token_is_401(sandbox):
    response = requests.post(sandbox.url + "/v1.0/$batch", json={"requests": [get_item("1")]},
                             verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_parallel_batch_runs_its_items_in_any_order(raw):
    """FIDELITY.md 7.1: without dependsOn, a later item may run before an earlier one."""
    outcomes = set()
    for _ in range(20):   # both orders are drawn with probability 1/2: all 20 alike is a 1-in-500,000 chance
        alias = "par%s" % uuid.uuid4().hex[:8]
        responses = batch(raw, [create_item("create", alias), get_item("read", "/users/%s@contoso.com" % alias)])
        assert responses["create"]["status"] == 201
        outcomes.add(responses["read"]["status"])
    assert outcomes == {200, 404}   # the read ran after the create sometimes, before it other times
