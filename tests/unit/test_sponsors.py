"""Sponsors of guests (sponsors.py): the add / remove / set rules and the checks before any request."""

from ansible_collections.m365.cloud_identity.plugins.module_utils import invitations, sponsors

RESOLVED = {"ada@contoso.com": {"id": "u1"}, "Partners": {"id": "g1"}, "u2": {"id": "u2"}}


def test_set_adds_the_missing_and_removes_the_others():
    assert sponsors.sponsor_changes({"set": ["ada@contoso.com", "Partners"]}, ["g1", "u9"], RESOLVED) == (["u1"], ["u9"])
    assert sponsors.sponsor_changes({"set": []}, ["g1"], RESOLVED) == ([], ["g1"])


def test_add_and_remove_touch_only_what_they_name():
    assert sponsors.sponsor_changes({"add": ["Partners", "ada@contoso.com"], "remove": ["u2"]}, ["g1", "u2", "u9"],
                                    RESOLVED) == (["u1"], ["u2"])
    assert sponsors.sponsor_changes({"add": ["Partners"], "remove": ["ada@contoso.com"]}, ["g1"], RESOLVED) == ([], [])


def test_set_with_add_is_refused_before_any_request():
    problems = invitations.spec_errors({"email": "ann@fabrikam.com", "state": "present",
                                        "sponsors": {"set": ["a@contoso.com"], "add": ["b@contoso.com"]}})
    assert problems == ["sponsors: use either set, or add and remove, not both"]


def test_guest_hr_input_is_checked_with_the_users_rules():
    problems = invitations.spec_errors({"email": "ann@fabrikam.com", "state": "present", "age_group": "kid",
                                        "employee_hire_date": "2024-02-30"})
    assert any(p.startswith("employee_hire_date '2024-02-30'") for p in problems)
    assert any(p.startswith("age_group 'kid'") for p in problems)


def test_guest_org_data_is_shown_in_option_names():
    view = invitations.guest_view({"id": "g", "mail": "ann@fabrikam.com",
                                   "employeeOrgData": {"division": "X", "costCenter": None}})
    assert view["employee_org_data"] == {"division": "X", "cost_center": None}
