"""aad_group and aad_group_info through ansible-playbook against the Graph sandbox.

State is asserted through Graph (the `graph` fixture), never through the sandbox's database.
"""
import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import quote_key

SALES_RULE = '(user.department -eq "Sales") -and (user.accountEnabled -eq true)'


# ---------------------------------------------------------------------------------------------------
# helpers reading the tenant through Graph

def find_groups(graph, display_name):
    return graph.list("/groups", select="id,displayName,uniqueName,description,groupTypes,visibility,"
                      "membershipRule,membershipRuleProcessingState",
                      filter="displayName eq '%s'" % display_name.replace("'", "''"))


def one_group(graph, display_name):
    groups = find_groups(graph, display_name)
    assert len(groups) == 1, groups
    return groups[0]


def member_names(graph, group_id, relation="members"):
    objects = graph.list("/groups/%s/%s" % (group_id, relation), select="id,userPrincipalName,displayName,uniqueName")
    return sorted(o.get("userPrincipalName") or o.get("uniqueName") or o["displayName"] for o in objects)


def deleted_group_ids(graph):
    return [g["id"] for g in graph.list("/directory/deletedItems/microsoft.graph.group", select="id")]


def create_users(graph, prefix, count):
    """`count` users prefix0000@contoso.com... created through $batch; returns their UPNs."""
    upns = ["%s%04d@contoso.com" % (prefix, n) for n in range(count)]
    requests = [{"method": "POST", "url": "/users", "body": {
        "accountEnabled": True, "displayName": upn.split("@")[0], "mailNickname": upn.split("@")[0],
        "userPrincipalName": upn,
        "passwordProfile": {"password": "Bulk!Passw0rd%04d" % n, "forceChangePasswordNextSignIn": True}}}
        for n, upn in enumerate(upns)]
    assert all(r.ok for r in graph.batch(requests))
    return upns


def group_task(base=None, **options):
    """An aad_group task named "group": the options of `base`, then the keyword options over them."""
    merged = dict(base or {})
    merged.update(options)
    return {"name": "group", "m365.cloud_identity.aad_group": merged, "register": "out"}


# ---------------------------------------------------------------------------------------------------
# each kind: check-mode create, create, rerun, update, delete

def test_security_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="Finance Team", unique_name="finance-team", description="Finance",
                members={"add": ["ada.admin@contoso.com"]}, owners={"add": ["ada.admin@contoso.com"]})
    sandbox.reset_counters()
    checked = run_play([group_task(spec)], check=True).task("group")
    assert checked.status == "changed"
    assert checked.result["action"] == "created"
    assert checked.result["members_added"] == ["ada.admin@contoso.com"]
    assert find_groups(graph, "Finance Team") == []
    assert sandbox.counters()["http"]["write"] == 0

    created = run_play([group_task(spec)]).task("group")
    assert created.status == "changed"
    group = one_group(graph, "Finance Team")
    assert group["uniqueName"] == "finance-team" and group["groupTypes"] == []
    assert member_names(graph, group["id"]) == ["ada.admin@contoso.com"]
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]
    assert created.result["group"]["id"] == group["id"]

    sandbox.reset_counters()
    again = run_play([group_task(spec)]).task("group")
    assert again.status == "ok" and again.result["action"] == "unchanged"
    assert sandbox.counters()["http"]["write"] == 0

    updated = run_play([group_task(spec, description="Finance and controlling")], diff=True).task("group")
    assert updated.status == "changed"
    assert updated.result["diff"] == {"before": {"description": "Finance"},
                                      "after": {"description": "Finance and controlling"}}
    assert one_group(graph, "Finance Team")["description"] == "Finance and controlling"

    refused = run_play([group_task(unique_name="finance-team", state="absent")],
                       expect_failure=True).task("group")
    assert "has members" in refused.result["msg"] and "force: true" in refused.result["msg"]
    assert len(find_groups(graph, "Finance Team")) == 1

    deleted = run_play([group_task(unique_name="finance-team", state="absent", force=True)]).task("group")
    assert deleted.result["action"] == "deleted"
    assert find_groups(graph, "Finance Team") == []
    assert group["id"] not in deleted_group_ids(graph)   # security groups are gone for good
    gone = run_play([group_task(unique_name="finance-team", state="absent")]).task("group")
    assert gone.status == "ok"


def test_microsoft365_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="Project Falcon", group_type="microsoft365", visibility="Private",
                owners={"add": ["ada.admin@contoso.com"]})
    run_play([group_task(spec)], check=True)
    assert find_groups(graph, "Project Falcon") == []

    created = run_play([group_task(spec)]).task("group")
    assert created.result["group"]["group_type"] == "microsoft365"
    group = one_group(graph, "Project Falcon")
    assert group["groupTypes"] == ["Unified"] and group["visibility"] == "Private"
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]

    sandbox.reset_counters()
    assert run_play([group_task(spec)]).task("group").status == "ok"
    assert sandbox.counters()["http"]["write"] == 0

    run_play([group_task(spec, visibility="Public", description="Falcon")])
    group = one_group(graph, "Project Falcon")
    assert (group["visibility"], group["description"]) == ("Public", "Falcon")

    run_play([group_task(display_name="Project Falcon", state="absent")])
    assert find_groups(graph, "Project Falcon") == []
    assert group["id"] in deleted_group_ids(graph)     # soft-deleted

    restored = run_play([group_task(display_name="Project Falcon", group_type="microsoft365")]).task("group")
    assert restored.result["action"] == "restored"
    assert one_group(graph, "Project Falcon")["id"] == group["id"]
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]

    run_play([group_task(display_name="Project Falcon", state="absent", permanent=True)])
    assert group["id"] not in deleted_group_ids(graph)


def test_dynamic_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="All Sales", membership_rule=SALES_RULE)
    checked = run_play([group_task(spec)], check=True).task("group")
    preview = checked.result["membership_preview"]
    assert find_groups(graph, "All Sales") == []

    run_play([group_task(spec)])
    group = one_group(graph, "All Sales")
    assert group["groupTypes"] == ["DynamicMembership"]
    assert group["membershipRuleProcessingState"] == "On"
    members = member_names(graph, group["id"])
    expected = sorted(u["userPrincipalName"] for u in graph.list(
        "/users", select="userPrincipalName,department,accountEnabled")
        if u.get("department") == "Sales" and u.get("accountEnabled"))
    assert members == expected and len(expected) >= 2
    assert preview == {"count": len(members), "users": members, "truncated": False}

    sandbox.reset_counters()
    assert run_play([group_task(spec)]).task("group").status == "ok"
    assert sandbox.counters()["http"]["write"] == 0

    # Changing a user's department moves them in or out.
    eli = graph.get("/users/%s" % quote_key("eli.engineer@contoso.com"))
    graph.patch("/users/%s" % eli["id"], json={"department": "Sales"})
    assert "eli.engineer@contoso.com" in member_names(graph, group["id"])
    graph.patch("/users/%s" % eli["id"], json={"department": "Engineering"})
    assert "eli.engineer@contoso.com" not in member_names(graph, group["id"])

    # Paused keeps the membership computed last.
    run_play([group_task(display_name="All Sales", membership_rule_processing_state="Paused")])
    assert one_group(graph, "All Sales")["membershipRuleProcessingState"] == "Paused"
    graph.patch("/users/%s" % eli["id"], json={"department": "Sales"})
    assert member_names(graph, group["id"]) == members
    graph.patch("/users/%s" % eli["id"], json={"department": "Engineering"})

    refused = run_play([group_task(display_name="All Sales", members={"add": ["eli.engineer@contoso.com"]})],
                       expect_failure=True).task("group")
    assert "dynamic membership" in refused.result["msg"]

    new_rule = 'user.department -in ["Sales", "Marketing"]'
    changed = run_play([group_task(display_name="All Sales", membership_rule=new_rule,
                                   membership_rule_processing_state="On")]).task("group")
    assert changed.status == "changed"
    assert one_group(graph, "All Sales")["membershipRule"] == new_rule
    assert "mia.marketing@contoso.com" in member_names(graph, group["id"])

    run_play([group_task(display_name="All Sales", state="absent", force=True)])
    assert find_groups(graph, "All Sales") == []


@pytest.mark.parametrize("rule, problem", [
    ('(user.department -eq "Sales"', "Unbalanced parentheses"),
    ('user.departmnt -eq "Sales"', "departmnt"),
    ('user.department -contians "Sales"', "-contians"),
])
def test_invalid_rule_fails_naming_the_problem_and_writes_nothing(graph, run_play, sandbox, rule, problem):
    sandbox.reset_counters()
    failed = run_play([group_task(display_name="Broken Rule", membership_rule=rule)], expect_failure=True)
    message = failed.task("group").result["msg"]
    assert "membership_rule is invalid at position" in message and problem in message
    assert sandbox.counters()["http"]["write"] == 0
    assert find_groups(graph, "Broken Rule") == []


# ---------------------------------------------------------------------------------------------------
# members and owners

def test_members_add_remove_set_and_nested_groups(graph, run_play):
    run_play([group_task(display_name="Inner", unique_name="inner", members={"add": ["mia.marketing@contoso.com"]}),
              group_task(display_name="Outer", members={"add": ["ada.admin@contoso.com", "inner"]})])
    outer = one_group(graph, "Outer")
    assert member_names(graph, outer["id"]) == ["ada.admin@contoso.com", "inner"]
    transitive = graph.list("/groups/%s/transitiveMembers" % outer["id"], select="id,userPrincipalName")
    assert "mia.marketing@contoso.com" in [t.get("userPrincipalName") for t in transitive]

    removed = run_play([group_task(display_name="Outer", members={"remove": ["inner", "sid.sales@contoso.com"]})],
                       diff=True).task("group")
    assert removed.result["members_removed"] == ["inner"]
    assert removed.result["diff"]["before"]["members"] == ["ada.admin@contoso.com", "inner"]
    assert removed.result["diff"]["after"]["members"] == ["ada.admin@contoso.com"]
    assert member_names(graph, outer["id"]) == ["ada.admin@contoso.com"]

    exact = ["sam.seller@contoso.com", "Inner", "sofia.sales@contoso.com"]
    replaced = run_play([group_task(display_name="Outer", members={"set": exact})]).task("group")
    assert replaced.result["members_added"] == ["inner", "sam.seller@contoso.com", "sofia.sales@contoso.com"]
    assert replaced.result["members_removed"] == ["ada.admin@contoso.com"]
    assert member_names(graph, outer["id"]) == ["inner", "sam.seller@contoso.com", "sofia.sales@contoso.com"]
    assert run_play([group_task(display_name="Outer", members={"set": exact})]).task("group").status == "ok"

    missing = run_play([group_task(display_name="Outer", members={"add": ["nobody@contoso.com"]})],
                       expect_failure=True).task("group")
    assert "nobody@contoso.com" in missing.result["msg"]


def test_1200_members_in_one_task_with_at_most_5_writes(graph, run_play, sandbox):
    upns = create_users(graph, "bulk", 1200)

    sandbox.reset_counters()
    created = run_play([group_task(display_name="Everyone Bulk", members={"set": upns})]).task("group")
    writes = sandbox.counters()["http"]["write"]
    assert created.status == "changed"
    assert writes <= 5, writes
    group = one_group(graph, "Everyone Bulk")
    assert member_names(graph, group["id"]) == upns

    sandbox.reset_counters()
    again = run_play([group_task(display_name="Everyone Bulk", members={"set": upns})]).task("group")
    assert again.status == "ok"
    assert sandbox.counters()["http"]["write"] == 0
    print("1,200 members: %d write HTTP calls on create, 0 on rerun" % writes)


def test_last_owner_of_microsoft365_group_is_refused(graph, run_play, sandbox):
    run_play([group_task(display_name="Owned", group_type="microsoft365", owners={"add": ["ada.admin@contoso.com"]})])
    sandbox.reset_counters()
    failed = run_play([group_task(display_name="Owned", owners={"remove": ["ada.admin@contoso.com"]})],
                      expect_failure=True).task("group")
    assert "last owner" in failed.result["msg"]
    assert sandbox.counters()["http"]["write"] == 0
    replaced = run_play([group_task(display_name="Owned", owners={"set": ["sam.seller@contoso.com"]})]).task("group")
    assert replaced.result["owners_added"] == ["sam.seller@contoso.com"]
    assert member_names(graph, one_group(graph, "Owned")["id"], "owners") == ["sam.seller@contoso.com"]


# ---------------------------------------------------------------------------------------------------
# keys, create-only options, bulk, info

def test_same_display_name_twice_is_a_clear_error(graph, run_play):
    ids = [graph.post("/groups", json={"displayName": "Twins", "mailNickname": "twins%d" % n, "mailEnabled": False,
                                       "securityEnabled": True})["id"] for n in range(2)]
    failed = run_play([group_task(display_name="Twins", description="x")], expect_failure=True)
    message = failed.task("group").result["msg"]
    assert all(i in message for i in ids) and "unique_name or id" in message


def test_create_only_options_fail_clearly(graph, run_play):
    run_play([group_task(display_name="Fixed", unique_name="fixed")])
    failed = run_play([group_task(unique_name="fixed", is_assignable_to_role=True)], expect_failure=True)
    assert "is_assignable_to_role is set at creation only" in failed.task("group").result["msg"]
    failed = run_play([group_task(unique_name="fixed", group_type="microsoft365")], expect_failure=True)
    assert "group_type cannot change" in failed.task("group").result["msg"]
    assert one_group(graph, "Fixed")["groupTypes"] == []


def test_bulk_groups_one_read_batched_writes_per_item_results(graph, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([{"name": "bulk", "m365.cloud_identity.aad_group": {"groups": [
        {"display_name": "Bulk Child", "unique_name": "bulk-child", "members": {"add": ["eli.engineer@contoso.com"]}},
        {"display_name": "Bulk Parent", "members": {"add": ["bulk-child", "ada.admin@contoso.com"]}},
        {"display_name": "Bad Nick", "mail_nickname": "bad nick"},
    ]}}], expect_failure=True)
    out = play.task("bulk").result
    assert [r["action"] for r in out["results"]] == ["created", "created", "failed"]
    assert out["summary"]["created"] == 2 and out["summary"]["failed"] == 1
    assert "mail_nickname" in out["msg"]
    counters = sandbox.counters()["http"]
    assert counters["by_route"].get("GET /v1.0/groups") == 1
    assert counters["write"] <= 2
    parent = one_group(graph, "Bulk Parent")
    assert member_names(graph, parent["id"]) == ["ada.admin@contoso.com", "bulk-child"]


def test_info_output_feeds_back_unchanged(graph, run_play):
    run_play([group_task(display_name="Exported", unique_name="exported", description="Export me",
                         members={"add": ["ada.admin@contoso.com"]}, owners={"add": ["sam.seller@contoso.com"]})])
    info = run_play([{"name": "info", "m365.cloud_identity.aad_group_info": {
        "unique_name": "exported", "include": ["members", "owners"]}, "register": "info"}])
    group = info.task("info").result["group"]
    assert group["members"] == {"set": ["ada.admin@contoso.com"]}
    assert group["owners"] == {"set": ["sam.seller@contoso.com"]}
    assert group["description"] == "Export me"
    again = run_play([group_task(group)]).task("group")
    assert again.status == "ok"


def test_a_no_op_of_45_groups_reads_their_members_20_groups_a_request_and_no_user(graph, run_play, sandbox):
    """Members come 20 groups to a $batch ($top=999), and the member references resolve from them: a
    no-op of 45 groups makes ceil(45/20) = 3 member reads and reads no user (60 distinct members would
    otherwise be one full list read of the users)."""
    create_users(graph, "noop", 60)
    groups = [{"display_name": "Noop Group %02d" % g,
               "members": {"set": ["noop%04d@contoso.com" % ((g + k) % 60) for k in range(8)]}} for g in range(45)]
    task = {"name": "groups", "register": "out", "m365.cloud_identity.aad_group": {"groups": groups}}
    assert run_play([task]).task("groups").result["summary"]["created"] == 45

    for check in (True, False):
        sandbox.reset_counters()
        again = run_play([task], check=check).task("groups").result
        http = sandbox.counters()["http"]
        assert again["summary"]["unchanged"] == 45 and http["write"] == 0
        assert not [route for route in http["by_route"] if route.startswith("GET /v1.0/users")], http["by_route"]
        assert http["by_route"] == {"GET /v1.0/groups": 1, "POST /v1.0/$batch": 3}, http["by_route"]
        assert http["by_module"] == {"aad_group": 4}

    # One member removed behind Ansible's back is added again, without reading every user.
    group = one_group(graph, "Noop Group 00")
    graph.delete("/groups/%s/members/%s/$ref" % (group["id"], graph.get("/users/noop0000@contoso.com")["id"]))
    sandbox.reset_counters()
    fixed = run_play([task]).task("groups").result
    assert fixed["summary"]["updated"] == 1
    assert member_names(graph, group["id"]) == sorted("noop%04d@contoso.com" % k for k in range(8))
    assert sandbox.counters()["http"]["by_route"].get("GET /v1.0/users", 0) <= 1
