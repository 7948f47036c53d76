"""The m365_tenant and m365_export roles through playbooks/site.yml and playbooks/export.yml.

Each test starts from the sandbox's seed (reset) and checks the tenant through Graph, not through the
roles' own output: a plan writes nothing, a run builds the example company, a rerun and the re-apply
of an export change nothing, leavers are disabled, and the deletion guard stops a mistaken spec.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import REPO_ROOT

EXAMPLE = "playbooks/examples/contoso.yml"
SUMMARY_TASK = "Summary | count what each stage did (or, in check mode, would do)"


def summary(play):
    """The m365_tenant_summary fact the role set at the end of the run."""
    tasks = [task for task in play.tasks if task.name.endswith(SUMMARY_TASK)]
    assert tasks, "the role did not reach its summary:\n" + play.stdout
    return tasks[-1].result["ansible_facts"]["m365_tenant_summary"]


def changes(counts):
    return dict((name, dict((column, count) for column, count in row.items()
                            if count and column not in ("unchanged",)))
                for name, row in counts.items() if any(count for column, count in row.items() if column != "unchanged"))


def write_spec(tmp_path, spec, name="spec.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"m365_tenant": spec}, sort_keys=False))
    return path


@pytest.fixture
def fresh(sandbox):
    sandbox.reset()
    return sandbox


@pytest.fixture
def site(run_playbook, tmp_path):
    def run(spec_file, **options):
        # New users get generated passwords, which aad_user writes only to a password file.
        extra_vars = dict(options.pop("extra_vars", {}), m365_tenant_spec_file=str(spec_file),
                          m365_tenant_password_file=str(tmp_path / "passwords.jsonl"))
        return run_playbook("playbooks/site.yml", extra_vars=extra_vars, **options)
    return run


def group_by_unique_name(graph, unique_name):
    # The alternate key, as Graph documents it: uniqueName cannot be filtered on (FIDELITY 7.2).
    return graph.get("/groups(uniqueName='%s')" % unique_name, params={"$select": "id,groupTypes"})


def member_upns(graph, group_id):
    return sorted(m.get("userPrincipalName") for m in graph.list("/groups/%s/members" % group_id,
                                                                   select=["id", "userPrincipalName"]))


def app_assignments(graph, app_name):
    """(principal display name, role value) of an enterprise application's assignments, read through Graph."""
    found = graph.list("/servicePrincipals", filter="displayName eq '%s'" % app_name, select=["id", "appRoles"])
    assert len(found) == 1
    roles = dict((role["id"], role["value"]) for role in found[0]["appRoles"])
    return set((a["principalDisplayName"], roles.get(a["appRoleId"]))
               for a in graph.list("/servicePrincipals/%s/appRoleAssignedTo" % found[0]["id"]))


def test_example_plan_apply_rerun_export_reapply(fresh, graph, site, run_playbook, tmp_path):
    # The plan: every stage counted, nothing written, references to planned objects predicted.
    fresh.reset_counters()
    plan = summary(site(EXAMPLE, check=True))
    assert fresh.counters()["operations"]["write"] == 0
    assert plan["counts"]["groups"]["created"] == 11
    assert plan["counts"]["users"]["created"] == 60
    assert plan["counts"]["guests"]["invited"] == 2
    assert plan["predicted"] > 0 and plan["failures"] == []
    assert graph.list("/users", filter="userType eq 'Guest'", select=["id"]) == []
    assert app_assignments(graph, "Salesforce") == set()

    # The run builds the company.
    applied = summary(site(EXAMPLE))
    assert applied["failures"] == [] and applied["guard"] == []
    assert applied["counts"]["users"]["created"] == 60
    assert "managers" not in applied["counts"]  # linked by the users stage, counted with the users it updates
    assert applied["counts"]["licenses"]["updated"] == 10
    people = [u for u in graph.list("/users", select=["userPrincipalName", "companyName", "department"])
              if u.get("companyName") == "Contoso Ltd"]
    assert len(people) == 60
    example = yaml.safe_load((REPO_ROOT / EXAMPLE).read_text())["m365_tenant"]
    managed = dict((u["user_principal_name"], u["manager"]) for u in example["users"] if u.get("manager"))
    assert len(managed) == 59
    for upn, manager in managed.items():
        assert graph.get("/users/%s/manager" % upn, params={"$select": "userPrincipalName"})["userPrincipalName"] == manager
    engineering = group_by_unique_name(graph, "dept-engineering")
    engineers = member_upns(graph, engineering["id"])
    assert len(engineers) == 14 and all(upn.endswith("@contoso.com") for upn in engineers)
    wren = graph.get("/users/wren.walsh@contoso.com", params={"$select": "licenseAssignmentStates"})
    assert engineering["id"] in [state["assignedByGroup"] for state in wren["licenseAssignmentStates"]]
    oakley = graph.get("/users/oakley.ortiz@contoso.com", params={"$select": "licenseAssignmentStates"})
    direct = [state for state in oakley["licenseAssignmentStates"] if state["assignedByGroup"] is None]
    assert len(direct) == 1 and len(direct[0]["disabledPlans"]) == 1
    falcon = group_by_unique_name(graph, "project-falcon")
    assert falcon["groupTypes"] == ["Unified"]
    guests = graph.list("/users", filter="userType eq 'Guest'", select=["id", "mail"])
    assert sorted(g["mail"] for g in guests) == ["pat.partner@fabrikam.com", "robin.reseller@fabrikam.com"]
    assert set(g["id"] for g in guests) <= set(m["id"] for m in graph.list("/groups/%s/members" % falcon["id"],
                                                                           select=["id"]))
    # The apps stage: the Sales and Support department groups and one user, each with its app role.
    assert applied["counts"]["apps"]["created"] == 3
    assert app_assignments(graph, "Salesforce") == {("Sales", "User"), ("Avery Adams", "Admin")}
    assert app_assignments(graph, "ServiceNow") == {("Support", "User")}

    # A rerun changes nothing and writes nothing.
    fresh.reset_counters()
    rerun = site(EXAMPLE)
    assert changes(summary(rerun)["counts"]) == {}
    assert fresh.counters()["operations"]["write"] == 0
    assert " changed=0 " in rerun.stdout

    # The export re-applies with zero changes; it holds no password, guests as guests, rules not members.
    export_path = tmp_path / "export.yml"
    run_playbook("playbooks/export.yml", extra_vars={"m365_export_path": str(export_path),
                                                     "m365_export_apps": ["Salesforce", "ServiceNow"]})
    exported = yaml.safe_load(export_path.read_text())["m365_tenant"]
    assert "password" not in export_path.read_text()
    assert exported["apps"] == [
        {"app": "Salesforce", "role": "Admin", "principals": {"users": ["avery.adams@contoso.com"]}},
        {"app": "Salesforce", "role": "User", "principals": {"groups": ["dept-sales"]}},
        {"app": "ServiceNow", "role": "User", "principals": {"groups": ["dept-support"]}},
    ]
    assert sorted(g["email"] for g in exported["guests"]) == ["pat.partner@fabrikam.com", "robin.reseller@fabrikam.com"]
    assert not [u for u in exported["users"] if "#EXT#" in u["user_principal_name"]]
    dynamic = [g for g in exported["groups"] if g.get("membership_rule")]
    assert len(dynamic) == 8 and not [g for g in dynamic if "members" in g]
    by_upn = dict((u["user_principal_name"], u) for u in exported["users"])
    assert by_upn["oakley.ortiz@contoso.com"]["licenses"] == [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]
    assert "licenses" not in by_upn["wren.walsh@contoso.com"] or by_upn["wren.walsh@contoso.com"]["licenses"] == ["SPE_E3"]
    assert dict((g["unique_name"], g.get("licenses")) for g in exported["groups"])["dept-engineering"] == ["EMSPREMIUM"]
    fresh.reset_counters()
    reapplied = summary(site(export_path))
    assert changes(reapplied["counts"]) == {} and reapplied["counts"]["apps"]["unchanged"] == 3
    assert fresh.counters()["operations"]["write"] == 0

    # A mover: the export was taken before Blake moved to Support; re-applying it moves Blake back
    # (and the dynamic groups follow), and a second re-apply changes nothing.
    graph.patch("/users/blake.brooks@contoso.com", json={"department": "Support"})
    support = group_by_unique_name(graph, "dept-support")
    assert "blake.brooks@contoso.com" in member_upns(graph, support["id"])
    moved_back = summary(site(export_path))
    assert changes(moved_back["counts"]) == {"users": {"updated": 1}}
    assert "blake.brooks@contoso.com" not in member_upns(graph, support["id"])
    assert changes(summary(site(export_path))["counts"]) == {}


def test_managers_created_in_the_same_run_are_linked_without_waiting(fresh, graph, site, tmp_path):
    # Each report is listed before its manager, and every manager is new: the users stage links them after
    # its creates, from the ids Graph returned, without reading a manager that does not exist yet (a wait
    # would show as the same user read again and again while Graph answers 404).
    users = [{"user_principal_name": "report%d@contoso.com" % n, "display_name": "Report %d" % n,
              "manager": "boss%d@contoso.com" % (n % 2)} for n in range(4)]
    users += [{"user_principal_name": "boss%d@contoso.com" % n, "display_name": "Boss %d" % n} for n in range(2)]
    fresh.reset_counters()
    built = summary(site(write_spec(tmp_path, {"users": users})))
    assert built["failures"] == [] and built["counts"]["users"]["created"] == 6
    assert not [line for line in built["lines"] if line.startswith("managers")]
    # The build reads in $batch and list requests; a wait is a direct GET /users/{id} retried on its 404.
    requests = fresh.counters()["http"]
    assert "GET /v1.0/users/{id}" not in requests["by_route"] and "404" not in requests["by_status"], requests
    for n in range(4):
        manager = graph.get("/users/report%d@contoso.com/manager" % n, params={"$select": "userPrincipalName"})
        assert manager["userPrincipalName"] == "boss%d@contoso.com" % (n % 2)
    fresh.reset_counters()
    assert changes(summary(site(tmp_path / "spec.yml"))["counts"]) == {}
    assert fresh.counters()["operations"]["write"] == 0


def small_company(count=8, **leavers):
    users = [{"user_principal_name": "staff%02d@contoso.com" % number, "display_name": "Staff %02d" % number,
              "company_name": "Leavers Test Ltd", "usage_location": "US"} for number in range(count)]
    spec = {"users": users, "groups": [{"unique_name": "lt-team", "display_name": "Leavers Test Team",
                                         "members": {"set": [u["user_principal_name"] for u in users]}}]}
    spec["leavers"] = dict({"scope": {"filter": "companyName eq 'Leavers Test Ltd'"}, "action": "disable"}, **leavers)
    return spec


def enabled(graph, upn):
    return graph.get("/users/" + upn, params={"$select": "accountEnabled"})["accountEnabled"]


def test_leavers_are_disabled_and_the_guard_stops_a_mass_change(fresh, graph, site, tmp_path):
    spec = small_company(8, max_changes=2)
    site(write_spec(tmp_path, spec, "all.yml"))
    upns = [u["user_principal_name"] for u in spec["users"]]

    # Two people left: they are disabled, the others and the seeded users (out of scope) are untouched.
    left = dict(spec, users=spec["users"][:6])
    left["groups"] = [dict(spec["groups"][0], members={"set": upns[:6]})]
    result = summary(site(write_spec(tmp_path, left, "two-left.yml")))
    assert result["counts"]["users"]["disabled"] == 2
    assert [enabled(graph, upn) for upn in upns] == [True] * 6 + [False] * 2
    assert enabled(graph, "ada.admin@contoso.com") is True

    # A spec that lost four more people (over max_changes 2) and would empty a group: nothing is
    # disabled, no member removed, and the run fails saying how many and how to raise the limit.
    mistake = dict(left, users=spec["users"][:2])
    mistake["groups"] = [dict(spec["groups"][0], members={"set": upns[:2]})]
    fresh.reset_counters()
    play = site(write_spec(tmp_path, mistake, "mistake.yml"), expect_failure=True,
                extra_vars={"m365_tenant_member_removal_floor": 2})
    guard = summary(play)["guard"]
    assert any("would disable or delete 4 users, more than leavers.max_changes (2)" in reason and
               "m365_tenant_max_changes=4" in reason for reason in guard), guard
    assert any("group lt-team would lose 4 of its 6 members" in reason for reason in guard), guard
    assert fresh.counters()["operations"]["write"] == 0
    assert [enabled(graph, upn) for upn in upns[:6]] == [True] * 6
    team = group_by_unique_name(graph, "lt-team")
    assert member_upns(graph, team["id"]) == sorted(upns[:6])

    # With the limits raised for this run (as the message says), the same spec goes through.
    raised = summary(site(tmp_path / "mistake.yml", extra_vars={"m365_tenant_max_changes": 4,
                                                                 "m365_tenant_max_member_removal_percent": 70,
                                                                 "m365_tenant_member_removal_floor": 2}))
    assert raised["guard"] == [] and raised["counts"]["users"]["disabled"] == 4
    assert [enabled(graph, upn) for upn in upns[:6]] == [True] * 2 + [False] * 4


def test_users_marked_absent_count_against_the_guard(fresh, graph, site, tmp_path):
    spec = small_company(4, action="none", max_changes=1)
    site(write_spec(tmp_path, spec))
    spec["users"] = [dict(user, state="absent") for user in spec["users"]]
    spec["groups"] = []
    play = site(write_spec(tmp_path, spec, "absent.yml"), expect_failure=True)
    assert any("would disable or delete 4 users" in reason for reason in summary(play)["guard"])
    assert all(enabled(graph, u["user_principal_name"]) for u in spec["users"])


def test_a_typo_in_the_spec_fails_before_anything_is_written(fresh, site, tmp_path):
    spec = small_company(2)
    spec["users"][1]["departmnt"] = "Sales"
    fresh.reset_counters()
    play = site(write_spec(tmp_path, spec), expect_failure=True)
    assert "departmnt" in play.output and "m365_tenant.users" in play.output
    assert fresh.counters()["operations"]["total"] == 0


def test_validate_checks_a_spec_without_touching_the_tenant(fresh, run_playbook, tmp_path):
    """playbooks/validate.yml (the role's entry point validate), for CI: a spec checked, Graph never called."""
    example = yaml.safe_load((REPO_ROOT / EXAMPLE).read_text())
    fresh.reset_counters()
    run_playbook("playbooks/validate.yml", extra_vars=example)
    spec = small_company(2)
    spec["users"][1]["departmnt"] = "Sales"
    play = run_playbook("playbooks/validate.yml", extra_vars={"m365_tenant": spec}, expect_failure=True)
    assert "departmnt" in play.output and "m365_tenant" in play.output
    assert fresh.counters()["http"]["total"] == 0


def test_a_generated_tenant_of_1000_users_round_trips_through_export(fresh, site, run_playbook, tmp_path):
    spec_path = tmp_path / "generated.yml"
    spec_path.write_text(subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "generate_tenant_spec.py"), "--users", "1000", "--groups", "60",
         "--guests", "20"], check=True, capture_output=True, text=True).stdout)
    applied = summary(site(spec_path))
    assert applied["failures"] == []
    assert applied["counts"]["users"]["created"] == 1000
    assert applied["counts"]["groups"]["created"] == 60
    assert applied["counts"]["guests"]["invited"] == 20

    export_path = tmp_path / "export.yml"
    run_playbook("playbooks/export.yml", extra_vars={"m365_export_path": str(export_path)})
    exported = yaml.safe_load(export_path.read_text())["m365_tenant"]
    assert len(exported["guests"]) == 20 and len(exported["groups"]) == 60
    fresh.reset_counters()
    assert changes(summary(site(export_path))["counts"]) == {}
    assert fresh.counters()["operations"]["write"] == 0


def test_a_dry_run_from_a_survey_plans_and_writes_nothing(fresh, graph, site, tmp_path):
    fresh.reset_counters()
    plan = summary(site(write_spec(tmp_path, small_company(3)), extra_vars={"m365_dry_run": "true"}))
    assert plan["lines"][0] == "m365_tenant plan (check mode, nothing was written)"
    assert plan["counts"]["users"]["created"] == 3 and plan["counts"]["groups"]["created"] == 1
    assert fresh.counters()["operations"]["write"] == 0
    assert graph.list("/users", filter="startswith(userPrincipalName,'staff')", select=["id"]) == []
