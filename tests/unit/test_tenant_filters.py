"""The pure logic of the tenant roles (plugins/filter/tenant.py): stages, leavers, guard, summary, export."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.errors import AnsibleFilterError

from ansible_collections.m365.cloud_identity.plugins.filter.tenant import (
    FilterModule,
    tenant_export,
    tenant_guard,
    tenant_new_users,
    tenant_removals,
    tenant_scope_filter,
    tenant_stage,
    tenant_stages,
    tenant_summary,
    tenant_unplanned,
)

ROOT = Path(__file__).resolve().parents[2]

SPEC = {
    "groups": [
        {"unique_name": "sales", "display_name": "Sales", "membership_rule": 'user.department -eq "Sales"',
         "licenses": ["EMSPREMIUM"]},
        {"unique_name": "team", "display_name": "Team", "members": {"set": ["a@contoso.com", "new@contoso.com"]},
         "owners": {"add": ["a@contoso.com"]}},
        {"display_name": "Old", "state": "absent"},
    ],
    "users": [
        {"user_principal_name": "a@contoso.com", "display_name": "A", "licenses": [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]},
        {"user_principal_name": "new@contoso.com", "display_name": "New", "manager": "a@contoso.com",
         "groups": {"add": ["team", "planned-group"]}},
        {"user_principal_name": "gone@contoso.com", "state": "absent"},
    ],
    "guests": [{"email": "pat@fabrikam.com"}],
}


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        "tenant_stage", "tenant_planned_names", "tenant_new_users", "tenant_scope_filter", "tenant_removals",
        "tenant_guard", "tenant_failures", "tenant_export", "tenant_summary", "tenant_stages", "tenant_unplanned"}


def test_stages_split_the_spec_into_module_lists():
    groups = tenant_stage(SPEC, "groups")["items"]
    assert [g.get("unique_name") or g["display_name"] for g in groups] == ["sales", "team", "Old"]
    assert not [g for g in groups if {"members", "owners", "licenses"} & set(g)]
    users = tenant_stage(SPEC, "users")["items"]
    assert [u["user_principal_name"] for u in users] == ["a@contoso.com", "new@contoso.com"]
    assert not [u for u in users if "licenses" in u]
    # The manager goes with its user: aad_user links a manager it creates in the same call.
    assert [u.get("manager") for u in users] == [None, "a@contoso.com"]
    assert tenant_stage(SPEC, "memberships")["items"] == [
        {"unique_name": "team", "display_name": "Team", "members": {"set": ["a@contoso.com", "new@contoso.com"]},
         "owners": {"add": ["a@contoso.com"]}}]
    assert tenant_stage(SPEC, "licenses")["items"] == [
        {"user": "a@contoso.com", "licenses": {"set": [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]}},
        {"group": "sales", "licenses": {"set": ["EMSPREMIUM"]}}]
    assert tenant_stage(SPEC, "guests")["items"] == SPEC["guests"]
    with pytest.raises(AnsibleFilterError, match="unknown stage"):
        tenant_stage(SPEC, "app-registrations")
    with pytest.raises(AnsibleFilterError, match="unknown stage"):
        tenant_stage(SPEC, "managers")  # no stage of its own any more


APPS = [{"app": "Salesforce", "role": "User", "principals": {"groups": ["sales", "planned-group"]}},
        {"app": "Intranet", "principals": {"users": ["a@contoso.com"], "groups": ["team"]}, "state": "absent"}]


def test_the_apps_stage_is_one_assignment_per_principal_and_skips_planned_ones():
    stage = tenant_stage({"apps": APPS}, "apps", ["PLANNED-GROUP"])
    assert stage == {"skipped": 1, "items": [
        {"app": "Salesforce", "role": "User", "group": "sales"},
        {"app": "Intranet", "state": "absent", "user": "a@contoso.com"},
        {"app": "Intranet", "state": "absent", "group": "team"}]}
    assert tenant_stage(SPEC, "apps") == {"items": [], "skipped": 0}


def test_export_groups_app_assignments_by_app_and_role():
    assignments = [
        {"app": "Salesforce", "principal_type": "group", "group": "sales", "role": "User"},
        {"app": "Salesforce", "principal_type": "user", "user": "b@contoso.com", "role": "User"},
        {"app": "Salesforce", "principal_type": "user", "user": "a@contoso.com", "role": "User"},
        {"app": "Intranet", "principal_type": "group", "group": "team", "role": None},
        {"app": "Intranet", "principal_type": "servicePrincipal", "role": None},
    ]
    exported = tenant_export([], [], [], [], assignments)["apps"]
    assert exported == [
        {"app": "Intranet", "principals": {"groups": ["team"]}},
        {"app": "Salesforce", "role": "User", "principals": {"groups": ["sales"],
                                                             "users": ["a@contoso.com", "b@contoso.com"]}}]
    assert "apps" not in tenant_export([], [], [])
    summary = tenant_summary({"apps": {"summary": {"created": 2}}}, tenant_stages({"apps": APPS}, argument_spec()))
    assert summary["counts"]["apps"]["created"] == 2


def test_check_mode_leaves_out_and_counts_references_to_planned_objects():
    planned = ["NEW@contoso.com", "planned-group", "Sales"]
    users = tenant_stage(SPEC, "users", planned)
    assert users["items"][1]["groups"] == {"add": ["team"]} and users["skipped"] == 1
    memberships = tenant_stage(SPEC, "memberships", planned)
    assert memberships["items"][0]["members"] == {"set": ["a@contoso.com"]} and memberships["skipped"] == 1
    licenses = tenant_stage(SPEC, "licenses", planned)
    assert [list(item)[0] for item in licenses["items"]] == ["user"] and licenses["skipped"] == 1
    assert tenant_new_users(SPEC, [{"user_principal_name": "A@contoso.com"}]) == ["new@contoso.com"]


def test_scope_filter_never_means_the_whole_tenant():
    with pytest.raises(AnsibleFilterError, match="scope is empty"):
        tenant_scope_filter({})
    with pytest.raises(AnsibleFilterError, match="unknown key departement"):
        tenant_scope_filter({"departement": "Sales"})
    assert tenant_scope_filter({"domain": "contoso.com"}) == \
        "userType eq 'Member' and endswith(userPrincipalName,'@contoso.com')"
    assert tenant_scope_filter({"department": ["Sales", "R&D's"], "filter": "city eq 'Oslo'"}) == \
        "userType eq 'Member' and (department eq 'Sales' or department eq 'R&D''s') and (city eq 'Oslo')"


def test_leavers_are_users_in_scope_the_spec_does_not_name():
    scope_users = [{"user_principal_name": "a@contoso.com", "account_enabled": True},
                   {"user_principal_name": "left@contoso.com", "account_enabled": True},
                   {"user_principal_name": "off@contoso.com", "account_enabled": False}]
    absent = [{"user_principal_name": "gone@contoso.com", "state": "absent"}]
    assert tenant_removals(SPEC, scope_users) == absent  # leavers.action defaults to none
    disable = dict(SPEC, leavers={"action": "disable"})
    assert tenant_removals(disable, scope_users) == absent + [
        {"user_principal_name": "left@contoso.com", "account_enabled": False}]
    delete = dict(SPEC, leavers={"action": "delete"})
    assert tenant_removals(delete, scope_users)[1:] == [
        {"user_principal_name": "left@contoso.com", "state": "absent"},
        {"user_principal_name": "off@contoso.com", "state": "absent"}]
    with pytest.raises(AnsibleFilterError, match="leavers.action"):
        tenant_removals(dict(SPEC, leavers={"action": "purge"}), scope_users)


def plan(*actions):
    return {"results": [{"key": "user%d@contoso.com" % n, "action": a} for n, a in enumerate(actions)]}


def test_guard_counts_disables_and_deletions_against_max_changes():
    assert tenant_guard(plan("updated", "deleted", "unchanged"), {}, 2, 20, 5) == []
    reasons = tenant_guard(plan("updated", "deleted", "deleted"), {}, 2, 20, 5)
    assert len(reasons) == 1
    assert "would disable or delete 3 users, more than leavers.max_changes (2)" in reasons[0]
    assert "Nothing was disabled or deleted" in reasons[0] and "m365_tenant_max_changes=3" in reasons[0]


def test_guard_stops_a_group_losing_more_than_its_share():
    before = ["u%d" % n for n in range(20)]
    group = {"key": "team", "members_removed": before[:6], "diff": {"before": {"members": before}}}
    assert tenant_guard({}, {"results": [group]}, 10, 20, 5) != []  # 6 of 20 = 30 %
    assert tenant_guard({}, {"results": [group]}, 10, 30, 5) == []
    assert tenant_guard({}, {"results": [group]}, 10, 20, 6) == []  # within the floor
    assert "group team would lose 6 of its 20 members (30%" in tenant_guard({}, {"results": [group]}, 10, 20, 5)[0]


def test_summary_counts_each_object_type_and_names_failures():
    stages = {
        "groups": {"summary": {"created": 2, "unchanged": 1}},
        "users": {"summary": {"created": 3}, "results": [{"key": "x@contoso.com", "action": "failed", "error": "bad"}]},
        "licenses": {"msg": "Not enough seats", "failed": False},
        "guests": {"skipped": True, "skip_reason": "Conditional result was False"},
        "removals_plan": {"summary": {"updated": 2}, "changed": True},
        "removals": {"summary": {"updated": 2, "deleted": 1}},
    }
    result = tenant_summary(stages, tenant_stages(SPEC, argument_spec()))
    assert result["counts"]["users"]["disabled"] == 2 and result["counts"]["users"]["deleted"] == 1
    assert result["counts"]["licenses"]["failed"] == 1
    assert result["failures"] == ["users: x@contoso.com: bad", "licenses: Not enough seats"]
    assert result["changed"] and result["lines"][0] == "m365_tenant run"
    assert "groups:      2 created, 0 updated, 1 unchanged, 0 failed" in result["lines"]
    plan_only = tenant_summary({"groups": {"summary": {"created": 1}}}, tenant_stages(SPEC, argument_spec()),
                               ["new@contoso.com"], True)
    assert plan_only["lines"][1] == "groups:      1 to create, 0 to update, 0 unchanged, 0 failed"
    # new@ as a member of team; as a managed user it goes to aad_user, which plans users it creates itself
    assert plan_only["predicted"] == 1


def test_export_keeps_what_a_reapply_needs_and_nothing_else():
    skus = [{"sku_id": "s-e3", "sku_part_number": "SPE_E3", "plans": [{"plan_id": "p-sway", "name": "SWAY"}]},
            {"sku_id": "s-ems", "sku_part_number": "EMSPREMIUM", "plans": []}]
    users = [{"id": "1", "user_principal_name": "b@contoso.com", "display_name": "B", "job_title": None,
              "business_phones": [], "manager": "a@contoso.com",
              "licenses": [{"sku_id": "s-e3", "disabled_plans": ["p-sway"], "assigned_by_group": None},
                           {"sku_id": "s-ems", "disabled_plans": [], "assigned_by_group": "g1"}]},
             {"id": "2", "user_principal_name": "a@contoso.com", "display_name": "A", "manager": None, "licenses": []}]
    groups = [{"id": "g1", "display_name": "Sales", "unique_name": "sales", "group_type": "security",
               "membership_rule": "user.department -eq \"Sales\"", "members": {"set": ["b@contoso.com"]},
               "owners": {"set": []}, "is_assignable_to_role": False, "licenses": [{"sku_id": "s-ems", "disabled_plans": []}]},
              {"id": "g2", "display_name": "Mail", "group_type": "distribution"}]
    guests = [{"id": "3", "email": "pat@fabrikam.com", "display_name": "Pat", "department": None,
               "external_user_state": "Accepted"}]
    assert tenant_export(users, groups, guests, skus) == {
        "groups": [{"display_name": "Sales", "unique_name": "sales", "group_type": "security",
                    "membership_rule": "user.department -eq \"Sales\"", "licenses": ["EMSPREMIUM"]}],
        "users": [{"user_principal_name": "a@contoso.com", "display_name": "A"},
                  {"user_principal_name": "b@contoso.com", "display_name": "B", "manager": "a@contoso.com",
                   "licenses": [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]}],
        "guests": [{"email": "pat@fabrikam.com", "display_name": "Pat"}],
    }


def test_the_role_argument_spec_matches_the_modules():
    completed = subprocess.run([sys.executable, str(ROOT / "tools" / "role_argument_specs.py"), "--check"],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr


def test_a_scope_from_an_awx_survey_may_be_json_text():
    assert tenant_scope_filter('{"department": "Sales"}') == "userType eq 'Member' and department eq 'Sales'"
    with pytest.raises(AnsibleFilterError, match="not a JSON object"):
        tenant_scope_filter("department=Sales")


def argument_spec():
    """The options of m365_tenant as the role's entry point `validate` documents them."""
    specs = yaml.safe_load((ROOT / "roles" / "m365_tenant" / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["validate"]["options"]["m365_tenant"]


def test_stages_are_computed_once_from_a_valid_spec(tmp_path):
    spec = dict(SPEC, leavers={"scope": {"domain": "contoso.com"}, "action": "disable", "max_changes": "5"},
                apps=APPS)
    stages = tenant_stages(spec, argument_spec())
    assert stages["problems"] == []
    planned = ["NEW@contoso.com", "planned-group", "Sales"]
    for stage in ("groups", "users", "guests", "apps", "memberships", "licenses"):
        assert stages[stage] == tenant_stage(spec, stage)["items"], stage
        assert tenant_unplanned(stages, stage, planned) == tenant_stage(spec, stage, planned), stage
        assert tenant_unplanned(stages, stage)["items"] is stages[stage]
    # What the leavers stage needs: the same removals as from the whole spec, and the names to exclude.
    scope_users = [{"user_principal_name": "old@contoso.com"}, {"user_principal_name": "A@contoso.com"}]
    assert tenant_removals(stages["removals"], scope_users) == tenant_removals(spec, scope_users) == [
        {"user_principal_name": "gone@contoso.com", "state": "absent"},
        {"user_principal_name": "old@contoso.com", "account_enabled": False}]
    assert stages["user_names"] == ["a@contoso.com", "new@contoso.com", "gone@contoso.com"]
    # The same from a spec file, JSON or YAML, as m365_tenant_file gives it.
    for name, text in (("spec.json", json.dumps({"m365_tenant": spec})), ("spec.yml", yaml.safe_dump({"m365_tenant": spec}))):
        (tmp_path / name).write_text(text)
        assert tenant_stages(None, argument_spec(), str(tmp_path / name)) == stages
    # A file that cannot be used is a problem like any other (the role's task hides raised errors below -vvv).
    (tmp_path / "other.yml").write_text("users: []\n")
    assert "holds no m365_tenant" in tenant_stages(None, argument_spec(), str(tmp_path / "other.yml"))["problems"][0]
    assert "cannot read" in tenant_stages(None, argument_spec(), str(tmp_path / "missing.json"))["problems"][0]


def test_stages_carry_values_as_a_module_would_see_them():
    # Ansible converts these for a module (a name to a list of one, a number to text); the stages pass the
    # checked values on, so the licence stage never splits "SPE_E5" into letters, nor a planned-name check
    # meets a number where it lowers names.
    spec = {"users": [{"user_principal_name": "a@contoso.com", "display_name": "A", "licenses": "SPE_E5", "employee_id": 12345}],
            "groups": [{"unique_name": "g1", "display_name": 2024, "members": {"add": "a@contoso.com"}}]}
    stages = tenant_stages(spec, argument_spec())
    assert stages["problems"] == []
    assert stages["licenses"] == [{"user": "a@contoso.com", "licenses": {"set": ["SPE_E5"]}}]
    assert stages["users"][0]["employee_id"] == "12345"
    assert stages["memberships"] == [{"unique_name": "g1", "display_name": "2024", "members": {"add": ["a@contoso.com"]}}]
    assert tenant_unplanned(stages, "memberships", ["2024"])["items"] == []


def test_a_vaulted_spec_file_is_refused_with_the_way_to_give_it(tmp_path):
    (tmp_path / "spec.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162636465\n")
    [problem] = tenant_stages(None, argument_spec(), str(tmp_path / "spec.yml"))["problems"]
    assert "vault" in problem and "-e @" in problem


def test_main_leaves_m365_tenant_to_the_roles_own_check():
    """Ansible deep-copies every option an entry point lists: main lists the role's options only."""
    specs = yaml.safe_load((ROOT / "roles" / "m365_tenant" / "meta" / "argument_specs.yml").read_text())
    assert "m365_tenant" not in specs["argument_specs"]["main"]["options"]
    assert "m365_tenant_file" in specs["argument_specs"]["main"]["options"]
    validate = specs["argument_specs"]["validate"]["options"]
    assert set(validate["m365_tenant"]["options"]) == {"users", "groups", "guests", "apps", "leavers"}
    assert tenant_stages(None, validate["m365_tenant"], None)["problems"] == [
        "m365_tenant is required: give the spec as m365_tenant, or as a file in m365_tenant_file"]


@pytest.mark.parametrize("spec, problem", [
    ({"users": [{"user_principal_name": "a@contoso.com", "departmnt": "Sales"}]},
     "m365_tenant.users[0] (a@contoso.com): unknown option 'departmnt'; did you mean 'department'?"),
    ({"users": [{"user_principal_name": "a@contoso.com", "account_enabled": "maybe"}]},
     "m365_tenant.users[0].account_enabled (a@contoso.com): 'maybe' is not of type bool"),
    ({"users": [{"user_principal_name": "a@contoso.com"}, {"user_principal_name": "b@contoso.com", "state": "gone"}]},
     "m365_tenant.users[1].state (b@contoso.com): 'gone' is not valid; use one of present, absent"),
    ({"groups": [{"display_name": "Team", "members": {"sett": ["a@contoso.com"]}}]},
     "m365_tenant.groups[0].members (Team): unknown option 'sett'; did you mean 'set'?"),
    ({"apps": [{"app": "Salesforce"}]}, "m365_tenant.apps[0] (Salesforce): the option 'principals' is required; add it"),
    ({"leavers": {"action": "disable", "max_changes": "ten"}}, "m365_tenant.leavers.max_changes: 'ten' is not of type int"),
    ({"users": "a@contoso.com"}, "m365_tenant.users[0]: 'a@contoso.com' is not of type dict"),
    ({"colour": "blue"}, "m365_tenant: unknown option 'colour'; use one of apps, groups, guests, leavers, users"),
])
def test_a_bad_spec_is_named_option_item_and_fix(spec, problem):
    problems = tenant_stages(spec, argument_spec())["problems"]
    assert any(found.startswith(problem) for found in problems), problems


@pytest.mark.parametrize("spec", [
    {"users": [{"user_principal_name": "a@contoso.com", "departmnt": "Sales", "account_enabled": "maybe"}]},
    {"users": [{"user_principal_name": "a@contoso.com", "state": "gone"}], "leavers": {"max_changes": "ten"}},
    {"groups": [{"display_name": "Team", "members": {"sett": []}}], "apps": [{"app": "Salesforce"}]},
    {"guests": [{"email": "pat@fabrikam.com", "display_name": ["not", "a", "string"]}]},
    {"users": [{"user_principal_name": "a@contoso.com", "licenses": ["SPE_E3"], "manager": "b@contoso.com"}],
     "leavers": {"scope": {"domain": ["contoso.com"]}, "action": "delete", "max_changes": "3"}},
])
def test_the_one_pass_check_agrees_with_ansibles_own_validation(spec):
    """Whatever Ansible's role argument validation refuses, tenant_stages refuses, and the other way round."""
    validator = ArgumentSpecValidator({"m365_tenant": argument_spec()})
    ansible_errors = validator.validate({"m365_tenant": copy.deepcopy(spec)}, validate_role_argument_spec=True).error_messages
    problems = tenant_stages(spec, argument_spec())["problems"]
    assert bool(problems) == bool(ansible_errors), (problems, ansible_errors)
    assert len(problems) >= len(ansible_errors), (problems, ansible_errors)


def test_plain_values_carry_no_ansible_types():
    """The stages' lists are plain Python: cheaper for Ansible to finalise, pickle and send than tagged values."""
    from ansible.parsing.dataloader import DataLoader
    path = ROOT / "playbooks" / "examples" / "contoso.yml"
    loaded = DataLoader().load_from_file(str(path))["m365_tenant"]
    stages = tenant_stages(loaded, argument_spec())
    assert stages["problems"] == []

    def types(value):
        if isinstance(value, dict):
            return set([dict]).union(*[types(k) | types(v) for k, v in value.items()])
        if isinstance(value, list):
            return set([list]).union(*[types(v) for v in value])
        return {type(value)}
    assert types(stages) <= {dict, list, str, int, bool, float, type(None)}, types(stages)
