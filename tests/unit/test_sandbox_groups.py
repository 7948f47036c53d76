"""The sandbox's /groups (FIDELITY.md 2.2, 2.5, 3, 4) over the wire, with the collection's GraphClient."""
import json
from pathlib import Path

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "sandbox" / "graph_sandbox" / "data"
                     / "v1.0-identity-schema.json").read_text())
GROUP_PROPS = set(SCHEMA["types"]["group"]["properties"]) | {"id", "deletedDateTime"}
BIND = None  # "https://<the sandbox's Graph host>/v1.0/directoryObjects/%s" (FIDELITY.md 7.8), set below
SALES_RULE = '(user.department -eq "Sales") -and (user.accountEnabled -eq true)'


@pytest.fixture(scope="module", autouse=True)
def _bind_urls(sandbox):
    global BIND
    BIND = sandbox.object_url("%s")


@pytest.fixture(scope="module")
def uid(graph):
    users = graph.list("/users", select="id,userPrincipalName")
    return dict((u["userPrincipalName"].split("@")[0], u["id"]) for u in users)


_names = iter(range(10000))


def security(graph, **extra):
    n = next(_names)
    body = {"displayName": "Group %d" % n, "mailNickname": "group%d" % n, "mailEnabled": False, "securityEnabled": True}
    body.update(extra)
    return graph.post("/groups", json=body)


def unified(graph, **extra):
    n = next(_names)
    body = {"displayName": "Team %d" % n, "mailNickname": "team%d" % n, "mailEnabled": True,
            "securityEnabled": False, "groupTypes": ["Unified"]}
    body.update(extra)
    return graph.post("/groups", json=body)


def fails(call, *args, **kwargs):
    with pytest.raises(GraphError) as error:
        call(*args, **kwargs)
    return error.value


def ids(graph, path):
    return [o["id"] for o in graph.list(path, select="id")]


def add(graph, group_id, object_id, relation="members"):
    return graph.post("/groups/%s/%s/$ref" % (group_id, relation), json={"@odata.id": BIND % object_id})


# ---- create ------------------------------------------------------------------------------------------

def test_kinds_are_created_with_graphs_shape(graph):
    plain = security(graph)
    assert plain["groupTypes"] == [] and plain["securityEnabled"] and not plain["mailEnabled"]
    assert plain["mail"] is None
    team = unified(graph, visibility="Private")
    assert team["groupTypes"] == ["Unified"] and team["mail"] == "%s@contoso.onmicrosoft.com" % team["mailNickname"]
    assert team["visibility"] == "Private"
    dynamic = security(graph, groupTypes=["DynamicMembership"], membershipRule=SALES_RULE)
    assert dynamic["membershipRuleProcessingState"] == "On"
    for doc in (plain, team, dynamic):
        assert set(doc) - {"@odata.context"} <= GROUP_PROPS
        assert not [k for k in doc if k.startswith("_")]


@pytest.mark.parametrize("body, message", [
    ({"mailNickname": "x", "mailEnabled": False, "securityEnabled": True},
     "A value is required for property 'displayName' of resource 'Group'."),
    ({"displayName": "x", "mailEnabled": False, "securityEnabled": True},
     "A value is required for property 'mailNickname' of resource 'Group'."),
    ({"displayName": "x", "mailNickname": "a b", "mailEnabled": False, "securityEnabled": True},
     "Invalid value specified for property 'mailNickname' of resource 'Group'."),
    ({"displayName": "x", "mailNickname": "x", "mailEnabled": False, "securityEnabled": True,
      "groupTypes": ["DynamicMembership"]}, "A value is required for property 'membershipRule'."),
    ({"displayName": "x", "mailNickname": "x", "mailEnabled": True, "securityEnabled": True},
     "Cannot create a mail-enabled security groups and or distribution list."),
])
def test_create_errors(graph, body, message):
    error = fails(graph.post, "/groups", json=body)
    assert (error.status, error.code, error.message) == (400, "Request_BadRequest", message)


@pytest.mark.parametrize("rule, reason", [
    ('(user.department -eq "Sales"', "Unbalanced parentheses"),
    ('user.departmnt -eq "Sales"', "departmnt"),
    ('user.department -contians "Sales"', "-contians"),
])
def test_invalid_rule_is_a_validation_error(graph, rule, reason):
    error = fails(security, graph, groupTypes=["DynamicMembership"], membershipRule=rule)
    assert error.status == 400 and error.code == "Request_BadRequest"
    assert error.message.startswith("Dynamic membership rule validation error: ") and reason in error.message


def test_unique_name_is_unique_and_immutable(graph):
    first = security(graph, uniqueName="sbx-unique")
    error = fails(security, graph, uniqueName="SBX-UNIQUE")
    assert "same value for property uniqueName" in error.message
    assert error.details[0]["target"] == "uniqueName"
    error = fails(graph.patch, "/groups/%s" % first["id"], json={"uniqueName": "other"})
    assert error.status == 400
    plain = security(graph)
    graph.patch("/groups/%s" % plain["id"], json={"uniqueName": "sbx-set-later"})
    assert graph.get("/groups/%s" % plain["id"])["uniqueName"] == "sbx-set-later"


def test_role_assignable_needs_role_management_permission_and_is_create_only(graph):
    error = fails(security, graph, isAssignableToRole=True)
    assert (error.status, error.code) == (403, "Authorization_RequestDenied")
    plain = security(graph)
    error = fails(graph.patch, "/groups/%s" % plain["id"], json={"isAssignableToRole": True})
    assert error.status == 400


def test_reader_app_cannot_write(new_client):
    reader = new_client("m365-reader")
    assert reader.list("/groups", select="id")
    error = fails(security, reader)
    assert (error.status, error.code) == (403, "Authorization_RequestDenied")


# ---- members and owners ----------------------------------------------------------------------------------

def test_member_references(graph, uid):
    group = security(graph)
    assert add(graph, group["id"], uid["ada.admin"]) is None                 # 204
    error = fails(add, graph, group["id"], uid["ada.admin"])
    assert error.status == 400 and error.message == (
        "One or more added object references already exist for the following modified properties: 'members'.")
    error = fails(add, graph, group["id"], "00000000-0000-0000-0000-000000000000")
    assert (error.status, error.code) == (404, "Request_ResourceNotFound")
    error = fails(graph.delete, "/groups/%s/members/%s/$ref" % (group["id"], uid["sam.seller"]))
    assert error.status == 404
    graph.delete("/groups/%s/members/%s/$ref" % (group["id"], uid["ada.admin"]))
    assert ids(graph, "/groups/%s/members" % group["id"]) == []


def test_bind_patch_is_limited_to_20_and_all_or_nothing(graph, uid):
    group = security(graph)
    add(graph, group["id"], uid["ada.admin"])
    body = {"members@odata.bind": [BIND % uid["sam.seller"], BIND % uid["ada.admin"]]}
    fails(graph.patch, "/groups/%s" % group["id"], json=body)
    assert ids(graph, "/groups/%s/members" % group["id"]) == [uid["ada.admin"]]   # sam not added
    error = fails(graph.patch, "/groups/%s" % group["id"], json={"members@odata.bind": [BIND % uid["sam.seller"]] * 21})
    assert error.status == 400
    graph.patch("/groups/%s" % group["id"], json={"members@odata.bind": [BIND % uid["sam.seller"]]})
    assert ids(graph, "/groups/%s/members" % group["id"]) == [uid["ada.admin"], uid["sam.seller"]]


def test_binds_on_create_count_together(graph, uid):
    refs = [BIND % uid["ada.admin"]] * 11
    error = fails(security, graph, **{"members@odata.bind": refs[:10] + [BIND % uid["sam.seller"]],
                                      "owners@odata.bind": refs})
    assert error.status == 400
    group = security(graph, **{"members@odata.bind": [BIND % uid["sam.seller"]], "owners@odata.bind": [BIND % uid["ada.admin"]]})
    assert ids(graph, "/groups/%s/owners" % group["id"]) == [uid["ada.admin"]]
    assert ids(graph, "/groups/%s/members" % group["id"]) == [uid["sam.seller"]]


def test_last_owner_of_a_microsoft365_group_stays(graph, uid):
    team = unified(graph, **{"owners@odata.bind": [BIND % uid["ada.admin"]]})
    error = fails(graph.delete, "/groups/%s/owners/%s/$ref" % (team["id"], uid["ada.admin"]))
    assert error.message == "The group must have at least one owner, hence this owner cannot be removed."
    add(graph, team["id"], uid["sam.seller"], "owners")
    graph.delete("/groups/%s/owners/%s/$ref" % (team["id"], uid["ada.admin"]))
    assert ids(graph, "/groups/%s/owners" % team["id"]) == [uid["sam.seller"]]


def test_paging_select_and_directory_object_types(graph, uid):
    group = security(graph)
    inner = security(graph)
    graph.patch("/groups/%s" % group["id"], json={"members@odata.bind": [BIND % i for i in list(uid.values())[:5]]
                                                  + [BIND % inner["id"]]})
    page = graph.get("/groups/%s/members" % group["id"], params={"$top": "2", "$select": "id,userPrincipalName"})
    assert len(page["value"]) == 2 and "@odata.nextLink" in page
    assert set(page["value"][0]) == {"@odata.type", "id", "userPrincipalName"}
    everything = graph.list("/groups/%s/members" % group["id"], select="id,displayName", top=2)
    assert len(everything) == 6
    assert {o["@odata.type"] for o in everything} == {"#microsoft.graph.user", "#microsoft.graph.group"}
    error = fails(graph.get, "/groups/%s/members" % group["id"], params={"$top": "1000"})
    assert error.status == 400


def test_nested_groups_member_of_and_transitive(graph, uid):
    outer, inner = security(graph), security(graph)
    add(graph, inner["id"], uid["mia.marketing"])
    add(graph, outer["id"], inner["id"])
    assert set(ids(graph, "/groups/%s/transitiveMembers" % outer["id"])) == {inner["id"], uid["mia.marketing"]}
    assert inner["id"] in ids(graph, "/users/%s/memberOf" % uid["mia.marketing"])
    assert outer["id"] not in ids(graph, "/users/%s/memberOf" % uid["mia.marketing"])
    assert outer["id"] in ids(graph, "/users/%s/transitiveMemberOf" % quote_key("mia.marketing@contoso.com"))


# ---- dynamic membership -------------------------------------------------------------------------------------

def test_dynamic_membership_follows_user_attributes(graph, uid):
    group = security(graph, groupTypes=["DynamicMembership"], membershipRule=SALES_RULE)
    path = "/groups/%s/members" % group["id"]
    sales = [u["id"] for u in graph.list("/users", select="id,department,accountEnabled")
             if u.get("department") == "Sales" and u.get("accountEnabled")]
    assert sorted(ids(graph, path)) == sorted(sales)
    assert group["id"] in ids(graph, "/users/%s/memberOf" % sales[0])

    graph.patch("/users/%s" % uid["eli.engineer"], json={"department": "Sales"})
    assert uid["eli.engineer"] in ids(graph, path)
    graph.patch("/users/%s" % uid["eli.engineer"], json={"department": "Engineering"})
    assert uid["eli.engineer"] not in ids(graph, path)

    error = fails(add, graph, group["id"], uid["ada.admin"])
    assert (error.status, error.code) == (403, "Authorization_RequestDenied")
    error = fails(graph.delete, "/groups/%s/members/%s/$ref" % (group["id"], sales[0]))
    assert error.status == 403

    graph.patch("/groups/%s" % group["id"], json={"membershipRuleProcessingState": "Paused"})
    graph.patch("/users/%s" % uid["eli.engineer"], json={"department": "Sales"})
    assert sorted(ids(graph, path)) == sorted(sales)        # paused: the last computed membership
    graph.patch("/groups/%s" % group["id"], json={"membershipRuleProcessingState": "On"})
    assert uid["eli.engineer"] in ids(graph, path)
    graph.patch("/users/%s" % uid["eli.engineer"], json={"department": "Engineering"})

    error = fails(graph.patch, "/groups/%s" % group["id"], json={"membershipRule": "user.department -eq"})
    assert error.message.startswith("Dynamic membership rule validation error: ")


# ---- delete ------------------------------------------------------------------------------------------------

def test_microsoft365_groups_are_soft_deleted_and_security_groups_are_not(graph, uid):
    team = unified(graph, **{"owners@odata.bind": [BIND % uid["ada.admin"]]})
    plain = security(graph)
    graph.delete("/groups/%s" % team["id"])
    graph.delete("/groups/%s" % plain["id"])
    deleted = ids(graph, "/directory/deletedItems/microsoft.graph.group")
    assert team["id"] in deleted and plain["id"] not in deleted
    assert fails(graph.get, "/groups/%s" % plain["id"]).status == 404
    graph.post("/directory/deletedItems/%s/restore" % team["id"])
    assert ids(graph, "/groups/%s/owners" % team["id"]) == [uid["ada.admin"]]
