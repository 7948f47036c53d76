"""Group planning, validation and reference resolution, against a small in-memory fake of GraphClient."""
import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult, GraphError
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import PERMISSION_HINT
from ansible_collections.m365.cloud_identity.plugins.module_utils.groups import (
    GroupManager, GroupSpecError, derive_mail_nickname, group_to_options, validate_spec)
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import Directory, ReferenceError

ADA = {"id": "00000000-0000-0000-0000-00000000000a", "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com"}
SAM = {"id": "00000000-0000-0000-0000-00000000000b", "userPrincipalName": "sam@contoso.com", "mail": None}


def group(gid, name, **extra):
    doc = {"id": "00000000-0000-0000-0000-0000000001%02d" % gid, "displayName": name, "groupTypes": [],
           "mailEnabled": False, "securityEnabled": True, "uniqueName": None}
    doc.update(extra)
    return doc


class FakeClient:
    """Answers list reads from fixed data and records writes; batch items can be made to fail."""

    base_url = "https://graph.microsoft.us/v1.0"  # bind URLs come from the client's own cloud

    def __init__(self, groups=(), users=(ADA, SAM), members=None, batch_answers=None, lagging=()):
        self.groups = list(groups)
        self.users = list(users)
        self.lagging = list(lagging)  # users that list reads do not show yet, but reads by key do
        self.members = members or {}
        self.calls = []
        self.batches = []
        self.batch_answers = batch_answers or (lambda request: (204, None))

    def list(self, path, select=None, filter=None, **kwargs):
        self.calls.append(("LIST", path, filter))
        if path == "/groups":
            return list(self.groups)
        if path == "/users":
            if filter and "userPrincipalName in" in filter:
                # Graph compares strings case-insensitively.
                return [u for u in self.users if "'%s'" % u["userPrincipalName"].lower() in filter.lower()]
            if filter and "mail in" in filter:
                return [u for u in self.users if u.get("mail") and "'%s'" % u["mail"].lower() in filter.lower()]
            return list(self.users)
        if path.endswith("/members") or path.endswith("/owners"):
            return list(self.members.get(path, []))
        return []

    def get(self, path, params=None, retry_not_found=0):
        self.calls.append(("GET", path, params))
        if path.startswith("/users/"):
            key = path.split("/")[2].lower()
            for user in self.users + self.lagging:
                if key in (user["id"], user["userPrincipalName"].lower()):
                    return dict(user)
            raise GraphError(404, "Request_ResourceNotFound", "Resource '%s' does not exist." % key)
        return {"value": self.members.get(path, [])}

    def post(self, path, json=None):
        self.calls.append(("POST", path, json))
        return {"value": [dict(u, **{"@odata.type": "#microsoft.graph.user"}) for u in self.users
                          if u["id"] in json["ids"]]}

    def batch(self, requests):
        self.batches.append(requests)
        results = []
        for n, request in enumerate(requests):
            status, body = self.batch_answers(request)
            results.append(BatchResult(str(n), status, body))
        return results

    @property
    def writes(self):
        return [r for batch in self.batches for r in batch]


def run(client, *specs, check=False):
    full = [dict({"state": "present", "force": False, "permanent": False}, **s) for s in specs]
    return GroupManager(client, check_mode=check).run(full)


# ---- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({}, "one of display_name, unique_name or id"),
    ({"display_name": "x", "mail_nickname": "a b"}, "mail_nickname"),
    ({"display_name": "x", "mail_nickname": "x" * 65}, "1 to 64"),
    # Private and Public apply to any group (FIDELITY 7.13); HiddenMembership to Microsoft 365 groups only.
    ({"display_name": "x", "group_type": "security", "visibility": "HiddenMembership"}, "microsoft365 groups only"),
    ({"display_name": "x", "group_type": "security", "security_enabled": False}, "always security-enabled"),
    ({"display_name": "x", "members": {"set": ["a"], "add": ["b"]}}, "either set"),
    ({"display_name": "x", "members": {"add": ["a"], "remove": ["a"]}}, "both add and remove"),
    ({"display_name": "x", "membership_rule": "user.department -eq", "is_assignable_to_role": False},
     "membership_rule is invalid at position"),
    ({"display_name": "x", "membership_rule": 'user.department -eq "a"', "is_assignable_to_role": True},
     "role-assignable"),
    ({"id": "not-a-guid"}, "GUID"),
])
def test_invalid_items_are_refused_before_any_call(spec, message):
    with pytest.raises(GroupSpecError) as error:
        validate_spec(spec)
    assert message in str(error.value)


def test_invalid_rule_message_points_at_the_position():
    with pytest.raises(GroupSpecError) as error:
        validate_spec({"display_name": "x", "membership_rule": 'user.department -contians "Sales"'})
    lines = str(error.value).splitlines()
    assert "-contians" in lines[0] and "did you mean '-contains'" in lines[0]
    assert lines[2].index("^") == lines[1].index("-contians")


def test_mail_nickname_is_derived_from_the_name():
    assert derive_mail_nickname("Sales & Marketing (EMEA)") == "Sales-Marketing-EMEA"
    assert derive_mail_nickname("Équipe") == "quipe"
    assert derive_mail_nickname("@@@") == "group"
    assert len(derive_mail_nickname("x" * 100)) == 64


def test_options_shape_names_every_kind():
    assert group_to_options({"groupTypes": ["Unified"], "mailEnabled": True})["group_type"] == "microsoft365"
    assert group_to_options({"groupTypes": [], "mailEnabled": True, "securityEnabled": True})["group_type"] == \
        "mail_enabled_security"
    assert group_to_options({"groupTypes": [], "mailEnabled": True})["group_type"] == "distribution"
    dynamic = group_to_options({"groupTypes": ["DynamicMembership"], "membershipRule": "r",
                                "membershipRuleProcessingState": "On", "securityEnabled": True})
    assert (dynamic["group_type"], dynamic["membership_rule"]) == ("security", "r")


# ---- planning ----------------------------------------------------------------------------------------

def test_create_sends_first_twenty_references_on_the_post_and_the_rest_in_bind_patches():
    users = [{"id": "00000000-0000-0000-0000-%012d" % n, "userPrincipalName": "u%d@contoso.com" % n}
             for n in range(65)]
    created = {"id": "00000000-0000-0000-0000-999999999999", "displayName": "Big", "groupTypes": []}
    client = FakeClient(users=users, batch_answers=lambda r: (201, created) if r["method"] == "POST" else (204, None))
    [result] = run(client, {"display_name": "Big", "members": {"set": [u["userPrincipalName"] for u in users]}})
    assert result["action"] == "created"
    post = client.batches[0][0]
    assert post["url"] == "/groups" and len(post["body"]["members@odata.bind"]) == 20
    patches = client.batches[1]
    assert [len(p["body"]["members@odata.bind"]) for p in patches] == [20, 20, 5]
    assert len(client.batches) == 2          # one create call, one batch of bind PATCHes
    assert len(result["members_added"]) == 65
    # More than 45 user references: one full read of users instead of filtered reads.
    assert [c for c in client.calls if c[1] == "/users"] == [("LIST", "/users", None)]


def test_already_a_member_race_falls_back_to_single_adds():
    finance = group(1, "Finance")

    def answer(request):
        if request["method"] == "PATCH":
            return 400, {"error": {"code": "Request_BadRequest", "message": "One or more added object references "
                                   "already exist for the following modified properties: 'members'."}}
        if request["url"].endswith("/members/$ref") and ADA["id"] in request["body"]["@odata.id"]:
            return 400, {"error": {"code": "Request_BadRequest", "message": "One or more added object references "
                                   "already exist for the following modified properties: 'members'."}}
        return 204, None

    client = FakeClient(groups=[finance], batch_answers=answer)
    [result] = run(client, {"display_name": "Finance", "members": {"add": ["ada@contoso.com", "sam@contoso.com"]}})
    assert result["action"] == "updated" and result["error"] is None
    singles = client.batches[1]
    assert [r["method"] for r in singles] == ["POST", "POST"]


def test_other_write_errors_fail_the_item_with_context():
    finance = group(1, "Finance")
    client = FakeClient(groups=[finance], batch_answers=lambda r: (
        403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}))
    [result] = run(client, {"display_name": "Finance", "description": "new"})
    assert result["action"] == "failed"
    assert result["error"] == "Failed to update group Finance: Insufficient privileges" + PERMISSION_HINT


def test_static_member_changes_on_a_dynamic_group_are_refused_before_any_write():
    dynamic = group(1, "Sales", groupTypes=["DynamicMembership"], membershipRule='user.department -eq "Sales"')
    client = FakeClient(groups=[dynamic])
    [result] = run(client, {"display_name": "Sales", "members": {"add": ["ada@contoso.com"]}})
    assert result["action"] == "failed" and "dynamic membership" in result["error"]
    assert client.batches == []


def test_removing_the_last_owner_of_a_microsoft365_group_says_so():
    team = group(1, "Team", groupTypes=["Unified"], mailEnabled=True, securityEnabled=False)
    owners = {"/groups/%s/owners" % team["id"]: [dict(ADA, **{"@odata.type": "#microsoft.graph.user"})]}
    client = FakeClient(groups=[team], members=owners)
    [result] = run(client, {"display_name": "Team", "owners": {"remove": ["ada@contoso.com"]}})
    assert "last owner" in result["error"] and "ada@contoso.com" in result["error"]
    assert client.batches == []


def test_two_groups_with_one_display_name_fail_listing_both_ids():
    client = FakeClient(groups=[group(1, "Twins"), group(2, "Twins")])
    [result] = run(client, {"display_name": "Twins"})
    assert result["action"] == "failed"
    assert group(1, "x")["id"] in result["error"] and group(2, "x")["id"] in result["error"]


def test_unique_name_adopts_a_group_without_one_and_never_changes_one_that_is_set():
    client = FakeClient(groups=[group(1, "Ops")])
    [result] = run(client, {"display_name": "Ops", "unique_name": "ops"}, check=True)
    assert result["action"] == "updated" and result["diff"]["after"] == {"unique_name": "ops"}
    client = FakeClient(groups=[group(1, "Ops", uniqueName="ops")])
    [result] = run(client, {"id": group(1, "x")["id"], "unique_name": "ops2"})
    assert "unique_name cannot change" in result["error"]


def test_check_mode_writes_nothing_and_previews_dynamic_membership():
    users = [dict(ADA, department="Sales", accountEnabled=True), dict(SAM, department="IT", accountEnabled=True)]
    client = FakeClient(users=users)
    [result] = run(client, {"display_name": "Sales", "membership_rule": 'user.department -eq "sales"'}, check=True)
    assert result["action"] == "created"
    assert result["membership_preview"] == {"count": 1, "users": ["ada@contoso.com"], "truncated": False}
    assert client.batches == []


def test_security_group_with_members_needs_force_to_delete():
    finance = group(1, "Finance")
    client = FakeClient(groups=[finance], members={"/groups/%s/members" % finance["id"]: [ADA]})
    [result] = run(client, {"display_name": "Finance", "state": "absent"})
    assert "force: true" in result["error"]
    [result] = run(client, {"display_name": "Finance", "state": "absent", "force": True})
    assert result["action"] == "deleted"
    last = client.writes[-1]
    assert (last["method"], last["url"]) == ("DELETE", "/groups/%s" % finance["id"])


# ---- references -------------------------------------------------------------------------------------------

def test_directory_resolves_users_by_upn_then_mail_and_reports_missing_ones():
    client = FakeClient()
    directory = Directory(client)
    found = directory.users(["ADA@contoso.com", "sam@contoso.com"])
    assert found["ADA@contoso.com"]["id"] == ADA["id"]
    with pytest.raises(ReferenceError) as error:
        directory.users(["nobody@contoso.com"])
    assert "nobody@contoso.com" in str(error.value)
    # Before giving up, the missing UPN was read by key, allowing for replication.
    assert ("GET", "/users/nobody@contoso.com", {"$select": "id,userPrincipalName,mail,displayName,userType"}) in client.calls


def test_directory_finds_a_user_that_list_reads_do_not_show_yet():
    fresh = {"id": "00000000-0000-4000-8000-0000000000ff", "userPrincipalName": "fresh@contoso.com",
             "displayName": "Fresh", "mail": None, "userType": "Member"}
    directory = Directory(FakeClient(lagging=[fresh]))
    assert directory.users(["fresh@contoso.com", "sam@contoso.com"])["fresh@contoso.com"]["id"] == fresh["id"]


def test_directory_group_by_display_name_is_ambiguous_when_shared():
    client = FakeClient(groups=[group(1, "Dup"), group(2, "Dup"), group(3, "Solo", uniqueName="solo")])
    directory = Directory(client)
    directory.add_groups(client.groups, complete=True)
    assert directory.group("solo")["displayName"] == "Solo"
    assert directory.group("Solo")["uniqueName"] == "solo"
    with pytest.raises(ReferenceError) as error:
        directory.group("Dup")
    assert sorted(error.value.ids) == [group(1, "x")["id"], group(2, "x")["id"]]


# ---- Graph's rules the client applies before writing (FIDELITY 7.2, 7.4, 7.8) ------------------------------

def test_a_group_named_twice_is_refused_before_any_write():
    client = FakeClient(batch_answers=lambda r: (201, group(9, "Twice")))
    results = run(client, {"display_name": "Twice"}, {"display_name": "twice"})
    assert results[0]["action"] == "created"
    assert results[1]["action"] == "failed" and "more than once" in results[1]["error"]
    assert len([r for batch in client.batches for r in batch if r["method"] == "POST"]) == 1


@pytest.mark.parametrize("target, member, reason", [
    ({"group_type": "security"}, group(2, "Team", groupTypes=["Unified"]), "Microsoft 365 group cannot be a member"),
    ({"group_type": "microsoft365"}, group(2, "Team"), "cannot have groups as members"),
    ({"group_type": "security", "is_assignable_to_role": True}, group(2, "Team"), "role-assignable"),
])
def test_invalid_nesting_is_refused_before_any_write(target, member, reason):
    client = FakeClient(groups=[member])
    [result] = run(client, dict(target, display_name="Outer", members={"add": ["Team"]}))
    assert result["action"] == "failed" and reason in result["error"]
    assert client.batches == []


def test_a_group_cannot_own_a_group():
    client = FakeClient(groups=[group(2, "Team")])
    [result] = run(client, {"display_name": "Outer", "owners": {"add": ["Team"]}})
    assert "owners must be users or service principals" in result["error"] and client.batches == []


def test_unique_name_creates_by_upsert_and_owners_are_added_by_ref_on_the_clients_own_host():
    created = group(9, "Sales", uniqueName="sales")
    client = FakeClient(batch_answers=lambda r: (201, created) if r["method"] == "PATCH" and "uniqueName" in r["url"]
                        else (204, None))
    [result] = run(client, {"display_name": "Sales", "unique_name": "sales", "owners": {"add": ["ada@contoso.com"]},
                            "members": {"add": ["sam@contoso.com"]}})
    assert result["action"] == "created", result
    upsert = client.batches[0][0]
    assert (upsert["method"], upsert["url"]) == ("PATCH", "/groups(uniqueName='sales')")
    assert upsert["headers"] == {"Prefer": "create-if-missing"} and "uniqueName" not in upsert["body"]
    writes = [r for batch in client.batches[1:] for r in batch]
    owner = [r for r in writes if r["url"].endswith("/owners/$ref")]
    assert owner and owner[0]["method"] == "POST"
    assert owner[0]["body"]["@odata.id"] == "https://graph.microsoft.us/v1.0/directoryObjects/" + ADA["id"]
    members = [r for r in writes if "members@odata.bind" in (r.get("body") or {})]
    assert members[0]["body"]["members@odata.bind"] == ["https://graph.microsoft.us/v1.0/directoryObjects/" + SAM["id"]]
    assert not any("owners@odata.bind" in (r.get("body") or {}) for r in writes)
    assert not any(c for c in client.calls if c[0] == "LIST" and c[2] and "uniqueName" in c[2])
