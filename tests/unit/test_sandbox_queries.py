"""Graph's query options on /users (FIDELITY.md 2.0 and 2.1): $top, paging, $filter, $count, $search."""
import time
from urllib.parse import parse_qs, urlsplit

import pytest

PAGED_USERS = 1200  # more than one 999-item page
STRONG_PASSWORD = "Str0ng-Passw0rd!"
ADVANCED = {"ConsistencyLevel": "eventual"}


def list_users(raw, params=None, headers=None):
    """One page of GET /users, which must succeed."""
    response = raw.call("GET", "/users", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def pager_body(n):
    return {"accountEnabled": n % 2 == 0, "displayName": "Pager %04d" % n, "mailNickname": "pager%04d" % n,
            "userPrincipalName": "pager%04d@contoso.com" % n, "usageLocation": "NL",
            "otherMails": ["pager%04d@example.org" % n],
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}


@pytest.fixture(scope="module", autouse=True)
def paged_users(raw):
    """PAGED_USERS extra users, created through $batch (20 creates a request) before the module's tests."""
    started = time.monotonic()
    for first in range(0, PAGED_USERS, 20):
        batch = {"requests": [{"id": str(n), "method": "POST", "url": "/users", "body": pager_body(n),
                               "headers": {"Content-Type": "application/json"}} for n in range(first, first + 20)]}
        response = raw.call("POST", "/$batch", json=batch)
        assert response.status_code == 200
        assert {item["status"] for item in response.json()["responses"]} == {201}
    assert time.monotonic() - started < 60, "creating %d users through $batch is too slow" % PAGED_USERS


def assert_error(response, status, code, message=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    return error


def upns(page):
    return sorted(u["userPrincipalName"] for u in page["value"])


# -- $top and paging ---------------------------------------------------------------------------------

@pytest.mark.parametrize("top", ["1000", "0", "-1", "ten"])
def test_top_out_of_bounds_is_refused_with_graphs_message(raw, top):
    assert_error(raw.call("GET", "/users", params={"$top": top}), 400, "Request_BadRequest",
                 "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % top)


def test_top_999_and_1_are_accepted(raw):
    assert len(list_users(raw, {"$top": "999"})["value"]) == 999
    assert len(list_users(raw, {"$top": "1"})["value"]) == 1


def test_default_page_is_100_items_with_a_next_link(raw):
    page = list_users(raw)
    assert len(page["value"]) == 100
    assert "@odata.nextLink" in page


def test_paging_over_more_than_999_users_returns_each_once(raw, sandbox):
    params = {"$top": "999", "$select": "id,userPrincipalName"}
    page = list_users(raw, params)
    seen = [u["id"] for u in page["value"]]
    links = []
    while "@odata.nextLink" in page:
        links.append(page["@odata.nextLink"])
        page = raw.call("GET", links[-1]).json()
        seen.extend(u["id"] for u in page["value"])
    assert len(links) >= 1
    assert len(seen) == len(set(seen)) >= PAGED_USERS
    # The next link is absolute, keeps the original query, and adds an opaque $skiptoken.
    parts = urlsplit(links[0])
    assert links[0].startswith(sandbox.url + "/v1.0/users?")
    query = parse_qs(parts.query)
    assert query["$top"] == ["999"] and query["$select"] == ["id,userPrincipalName"]
    token = query["$skiptoken"][0]
    assert not token.isdigit() and token not in seen
    assert set(page["value"][0]) == {"id", "userPrincipalName"}


def test_a_user_created_between_pages_does_not_shift_the_next_page(raw):
    params = {"$top": "50", "$filter": "startswith(userPrincipalName,'pager')", "$select": "id,userPrincipalName"}
    first = list_users(raw, params)
    extra = pager_body(9999)
    extra["userPrincipalName"] = extra["mailNickname"] = "pager0000a"
    extra["userPrincipalName"] += "@contoso.com"
    raw.call("POST", "/users", json=extra)
    second = raw.call("GET", first["@odata.nextLink"]).json()
    assert not set(upns(first)) & set(upns(second))
    raw.call("DELETE", "/users/pager0000a@contoso.com")


def test_a_garbage_skiptoken_is_a_400(raw):
    assert raw.call("GET", "/users", params={"$skiptoken": "%%%not-a-token"}).status_code == 400


def test_skip_is_not_supported(raw):
    assert_error(raw.call("GET", "/users", params={"$skip": "10"}), 400, "Request_BadRequest")


# -- $filter by default ------------------------------------------------------------------------------

@pytest.mark.parametrize("expression,expected", [
    ("userPrincipalName eq 'pager0007@contoso.com'", ["pager0007@contoso.com"]),
    ("startswith(displayName,'Pager 001')", ["pager%04d@contoso.com" % n for n in range(10, 20)]),
    ("mailNickname in ('pager0001','pager0002','nobody')", ["pager0001@contoso.com", "pager0002@contoso.com"]),
    ("otherMails/any(x:x eq 'pager0042@example.org')", ["pager0042@contoso.com"]),
    ("startswith(displayName,'Pager 000') and accountEnabled eq false",
     ["pager0001@contoso.com", "pager0003@contoso.com", "pager0005@contoso.com", "pager0007@contoso.com",
      "pager0009@contoso.com"]),
    ("userPrincipalName eq 'pager0003@contoso.com' or userPrincipalName eq 'ada.admin@contoso.com'",
     ["ada.admin@contoso.com", "pager0003@contoso.com"]),
    ("USERPRINCIPALNAME eq 'Pager0008@Contoso.com'", ["pager0008@contoso.com"]),
])
def test_default_filters_work_without_extra_parameters(raw, expression, expected):
    assert upns(list_users(raw, {"$filter": expression, "$top": "999"})) == expected


def test_proxy_addresses_any_startswith_is_a_default_filter(raw):
    raw.call("PATCH", "/users/pager0011@contoso.com", json={"mail": "pager0011@contoso.com"})
    found = list_users(raw, {"$filter": "proxyAddresses/any(x:startswith(x,'SMTP:pager0011'))"})
    assert upns(found) == ["pager0011@contoso.com"]


@pytest.mark.parametrize("expression,operator", [
    ("userPrincipalName ne 'pager0001@contoso.com'", "ne"),
    ("not(startswith(displayName,'Pager'))", "not"),
    ("endswith(userPrincipalName,'@contoso.com')", "endsWith"),
])
def test_advanced_operators_need_consistency_level_and_count(raw, expression, operator):
    message = ("Operator '%s' is not supported because the required parameters might be missing. Try adding "
               "$count=true query parameter and ConsistencyLevel:eventual header. Refer to "
               "https://aka.ms/graph-docs/advanced-queries for more information" % operator)
    assert_error(raw.call("GET", "/users", params={"$filter": expression}), 400, "Request_UnsupportedQuery", message)
    # The header alone, or $count=true alone, is not enough.
    assert_error(raw.call("GET", "/users", params={"$filter": expression}, headers=ADVANCED), 400, "Request_UnsupportedQuery")
    assert_error(raw.call("GET", "/users", params={"$filter": expression, "$count": "true"}), 400, "Request_UnsupportedQuery")
    answer = list_users(raw, {"$filter": expression, "$count": "true", "$top": "999"}, ADVANCED)
    assert answer["@odata.count"] >= len(answer["value"]) > 0


def test_advanced_filter_results_are_right(raw):
    params = {"$filter": "startswith(displayName,'Pager 000') and not(accountEnabled eq false)", "$count": "true"}
    answer = list_users(raw, params, ADVANCED)
    assert upns(answer) == ["pager%04d@contoso.com" % n for n in (0, 2, 4, 6, 8)]
    assert answer["@odata.count"] == 5
    ends = list_users(raw, {"$filter": "endswith(userPrincipalName,'0999@contoso.com')", "$count": "true"}, ADVANCED)
    assert upns(ends) == ["pager0999@contoso.com"]


def test_a_property_that_is_advanced_only_is_refused_by_default(raw):
    error = assert_error(raw.call("GET", "/users", params={"$filter": "companyName eq 'Contoso'"}), 400,
                         "Request_UnsupportedQuery",
                         "Unsupported or invalid query filter clause specified for property 'companyName' of resource 'User'.")
    assert error
    assert list_users(raw, {"$filter": "companyName eq 'Contoso'", "$count": "true"}, ADVANCED)["@odata.count"] == 0


def test_a_malformed_filter_is_a_400(raw):
    response = raw.call("GET", "/users", params={"$filter": "displayName eq 'unterminated"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("BadRequest", "Request_BadRequest")


# -- $count and $search ------------------------------------------------------------------------------

def test_count_true_without_the_header_is_ignored(raw):
    page = list_users(raw, {"$count": "true", "$filter": "startswith(userPrincipalName,'pager')"})
    assert "@odata.count" not in page and len(page["value"]) == 100


def test_count_is_on_the_first_page_only(raw):
    params = {"$count": "true", "$top": "500", "$filter": "startswith(userPrincipalName,'pager')"}
    first = list_users(raw, params, ADVANCED)
    assert first["@odata.count"] == PAGED_USERS
    second = raw.call("GET", first["@odata.nextLink"], headers=ADVANCED).json()
    assert "@odata.count" not in second and len(second["value"]) == 500


def test_users_count_segment_needs_consistency_level(raw):
    assert_error(raw.call("GET", "/users/$count"), 400, "Request_BadRequest", "$count is not currently supported.")
    response = raw.call("GET", "/users/$count", params={"$filter": "startswith(userPrincipalName,'pager')"},
                          headers=ADVANCED)
    assert response.status_code == 200 and response.text == str(PAGED_USERS)
    assert response.headers["Content-Type"].startswith("text/plain")


def test_search_needs_consistency_level(raw):
    assert_error(raw.call("GET", "/users", params={"$search": '"displayName:Pager 0123"'}), 400,
                 "Request_UnsupportedQuery",
                 "Request with $search query parameter only works through MSGraph with a special request header: "
                 "'ConsistencyLevel: eventual'")


def test_search_matches_word_prefixes_of_display_name(raw):
    found = list_users(raw, {"$search": '"displayName:0123"', "$count": "true"}, ADVANCED)
    assert upns(found) == ["pager0123@contoso.com"]
    sales = list_users(raw, {"$search": '"displayName:sal"'}, ADVANCED)
    assert upns(sales) == ["sid.sales@contoso.com", "sofia.sales@contoso.com"]


def test_orderby_display_name_with_advanced_query(raw):
    page = list_users(raw, {"$orderby": "displayName desc", "$filter": "startswith(displayName,'Pager')",
                        "$count": "true", "$top": "3"}, ADVANCED)
    assert [u["displayName"] for u in page["value"]] == ["Pager 1199", "Pager 1198", "Pager 1197"]
