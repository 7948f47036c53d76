"""aad_app_assignment, aad_app_assignment_info and aad_contact_info through ansible-playbook against the sandbox.

The tenant's state is asserted through Graph (the `graph` fixture); "no write" and "one list read" through the
sandbox's request counters.
"""
import uuid

ASSIGNED_TO = "/v1.0/servicePrincipals/{id}/appRoleAssignedTo"


def app(graph, name):
    found = graph.list("/servicePrincipals", select=["id", "appId", "displayName", "appRoles"],
                       filter="displayName eq '%s'" % name)
    assert len(found) == 1
    return found[0]


def role_id(sp, value):
    return next(role["id"] for role in sp["appRoles"] if role["value"] == value)


def assigned(graph, sp):
    """{(principal id, role id)} of the app's assignments, read through Graph."""
    return {(a["principalId"], a["appRoleId"]) for a in graph.list("/servicePrincipals/%s/appRoleAssignedTo" % sp["id"])}


def assignment_task(name="assign", **options):
    return {"name": name, "m365.cloud_identity.aad_app_assignment": options, "register": "out"}


def dynamic_group(graph, department):
    name = "apps-%s" % uuid.uuid4().hex[:8]
    return graph.post("/groups", json={
        "displayName": name, "mailNickname": name, "uniqueName": name, "mailEnabled": False, "securityEnabled": True,
        "groupTypes": ["DynamicMembership"], "membershipRule": 'user.department -eq "%s"' % department,
        "membershipRuleProcessingState": "On"})


def test_assign_a_dynamic_group_and_a_user_rerun_check_mode_diff_and_remove(run_play, sandbox, graph, tenant):
    sales = dynamic_group(graph, "Sales")
    user = tenant.user()
    sp = app(graph, "Salesforce")
    task = assignment_task(assignments=[
        {"app": "Salesforce", "group": sales["uniqueName"], "role": "User"},
        {"app": sp["appId"], "user": user["userPrincipalName"], "role": "System Administrator"},
    ])
    wanted = {(sales["id"], role_id(sp, "User")), (user["id"], role_id(sp, "Admin"))}

    sandbox.reset_counters()
    checked = run_play([task], check=True, diff=True).task("assign")
    assert checked.status == "changed" and checked.result["summary"]["created"] == 2
    assert sandbox.counters()["http"]["write"] == 0
    assert not wanted & assigned(graph, sp)

    applied = run_play([task], diff=True).task("assign")
    assert applied.status == "changed" and applied.result["summary"]["created"] == 2
    assert wanted <= assigned(graph, sp)
    diffs = {d["after_header"]: d for d in applied.result["diff"]}
    group_diff = next(d for header, d in diffs.items() if sales["uniqueName"] in header)
    assert group_diff["before"] == {}
    assert group_diff["after"] == {"app": "Salesforce", "group": sales["uniqueName"], "role": "User"}
    user_diff = next(d for header, d in diffs.items() if user["userPrincipalName"] in header)
    assert user_diff["after"] == {"app": "Salesforce", "user": user["userPrincipalName"], "role": "Admin"}

    again = run_play([task]).task("assign")
    assert again.status == "ok" and again.result["summary"]["unchanged"] == 2

    # The single form, removing the group's assignment.
    remove = assignment_task(app="Salesforce", group=sales["displayName"], role="User", state="absent")
    removed = run_play([remove], diff=True).task("assign")
    assert removed.status == "changed" and removed.result["action"] == "deleted"
    assert removed.result["diff"] == {"before": {"app": "Salesforce", "group": sales["uniqueName"], "role": "User"},
                                      "after": {}}
    assert removed.result["assignment"]["state"] == "absent"
    assert assigned(graph, sp) & wanted == {(user["id"], role_id(sp, "Admin"))}
    assert run_play([remove]).task("assign").status == "ok"


def test_an_unknown_role_fails_naming_the_apps_roles_before_any_write(run_play, sandbox, tenant):
    user = tenant.user()
    sandbox.reset_counters()
    failed = run_play([assignment_task(app="ServiceNow", user=user["userPrincipalName"], role="Superuser")],
                      expect_failure=True).task("assign")
    assert failed.status == "failed"
    message = failed.result["msg"]
    assert "Superuser" in message and "User (ITIL User)" in message and "Admin (Administrator)" in message
    assert "Integration" not in message  # an application-only role is not offered to users
    assert sandbox.counters()["http"]["write"] == 0


def test_role_is_required_when_the_app_has_roles_and_default_access_otherwise(run_play, graph, tenant):
    user = tenant.user()
    failed = run_play([assignment_task(app="Salesforce", user=user["userPrincipalName"])],
                      expect_failure=True).task("assign")
    assert "name one in role" in failed.result["msg"] and "Admin (System Administrator)" in failed.result["msg"]
    done = run_play([assignment_task(app="Contoso Intranet", user=user["id"])]).task("assign")
    assert done.status == "changed" and done.result["assignment"]["role"] is None
    intranet = app(graph, "Contoso Intranet")
    assert (user["id"], "00000000-0000-0000-0000-000000000000") in assigned(graph, intranet)


def test_a_microsoft_365_group_is_refused_before_any_write(run_play, sandbox, graph):
    name = "apps-m365-%s" % uuid.uuid4().hex[:6]
    graph.post("/groups", json={"displayName": name, "mailNickname": name, "mailEnabled": True,
                                "securityEnabled": False, "groupTypes": ["Unified"]})
    sandbox.reset_counters()
    failed = run_play([assignment_task(app="Salesforce", group=name, role="User")], expect_failure=True).task("assign")
    assert "not security-enabled" in failed.result["msg"]
    assert sandbox.counters()["http"]["write"] == 0


def test_two_hundred_assignments_take_one_list_read_and_batched_writes(run_play, sandbox, graph, tenant):
    users = tenant.users(200)
    sp = app(graph, "ServiceNow")
    task = assignment_task(assignments=[{"app": "ServiceNow", "user": u["userPrincipalName"], "role": "User"}
                                        for u in users])
    sandbox.reset_counters()
    applied = run_play([task]).task("assign")
    assert applied.result["summary"]["created"] == 200
    counters = sandbox.counters()
    assert counters["operations"]["by_route"].get("GET " + ASSIGNED_TO) == 1
    assert counters["operations"]["by_route"].get("POST " + ASSIGNED_TO) == 200
    assert counters["http"]["by_route"].get("POST " + ASSIGNED_TO) is None  # none outside $batch
    assert counters["http"]["by_route"]["POST /v1.0/$batch"] == 10
    assert {(u["id"], role_id(sp, "User")) for u in users} <= assigned(graph, sp)

    # Removing them all: the same one list read, deletes in $batch.
    removal = assignment_task(state="absent", assignments=task["m365.cloud_identity.aad_app_assignment"]["assignments"])
    sandbox.reset_counters()
    assert run_play([removal]).task("assign").result["summary"]["deleted"] == 200
    counters = sandbox.counters()
    assert counters["operations"]["by_route"].get("GET " + ASSIGNED_TO) == 1
    assert counters["http"]["by_route"]["POST /v1.0/$batch"] == 10
    assert not {(u["id"], role_id(sp, "User")) for u in users} & assigned(graph, sp)


def test_info_by_app_and_by_user_feeds_back_unchanged(run_play, graph, tenant):
    user = tenant.user()
    group = tenant.group(members=[user])
    run_play([assignment_task(assignments=[
        {"app": "Salesforce", "user": user["userPrincipalName"], "role": "Admin"},
        {"app": "Salesforce", "group": group["uniqueName"], "role": "User"},
    ])])
    play = run_play([
        {"name": "by app", "m365.cloud_identity.aad_app_assignment_info": {"app": "Salesforce"}},
        {"name": "by user", "m365.cloud_identity.aad_app_assignment_info": {"user": user["userPrincipalName"]}},
    ])
    by_app = play.task("by app").result["assignments"]
    mine = [a for a in by_app if a["principal_id"] in (user["id"], group["id"])]
    assert sorted((a["principal_type"], a.get("user") or a.get("group"), a["role"]) for a in mine) == [
        ("group", group["uniqueName"], "User"), ("user", user["userPrincipalName"], "Admin")]
    by_user = play.task("by user").result["assignments"]
    assert sorted((a["principal_type"], a["role"]) for a in by_user) == [("group", "User"), ("user", "Admin")]
    # The info output is the module's input: feeding it back changes nothing.
    export = [{"app": a["app"], a["principal_type"]: a[a["principal_type"]], "role": a["role"]} for a in mine]
    assert run_play([assignment_task(assignments=export)]).task("assign").status == "ok"


def test_contact_info_lists_contacts_with_mail_and_company(run_play):
    play = run_play([
        {"name": "all", "m365.cloud_identity.aad_contact_info": {}},
        {"name": "fabrikam", "m365.cloud_identity.aad_contact_info": {"filter": "companyName eq 'Fabrikam'",
                                                                      "include_groups": False}},
    ])
    contacts = {c["mail"]: c for c in play.task("all").result["contacts"]}
    assert contacts["pat.partner@fabrikam.com"]["company_name"] == "Fabrikam"
    assert contacts["quinn@northwindtraders.com"]["groups"] == []
    assert [c["display_name"] for c in play.task("fabrikam").result["contacts"]] == ["Pat Partner"]
    assert "groups" not in play.task("fabrikam").result["contacts"][0]


def test_lost_answers_converge_without_twins_or_failures(run_play, sandbox, graph, tenant):
    """The answers to the first two $batch calls are lost after Graph applied them (FIDELITY 7.13)."""
    users = tenant.users(30)
    sp = app(graph, "Salesforce")
    items = [{"app": "Salesforce", "user": u["userPrincipalName"], "role": "User"} for u in users]
    sandbox.configure(faults={"path_prefix": "/v1.0/$batch", "sequence": ["lost_response", "lost_response"]})
    try:
        applied = run_play([assignment_task(assignments=items)]).task("assign")
    finally:
        sandbox.configure(faults={"path_prefix": None, "sequence": []})
    assert applied.status == "changed"
    assert applied.result["summary"]["created"] == 30 and applied.result["summary"]["failed"] == 0
    listed = [a for a in graph.list("/servicePrincipals/%s/appRoleAssignedTo" % sp["id"])
              if a["principalId"] in {u["id"] for u in users}]
    assert len(listed) == 30
    assert run_play([assignment_task(assignments=items)]).task("assign").status == "ok"
