"""The HR attributes of users (hr_attributes.py, through users.py): validation, normalisation, plans."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import hr_attributes as hr
from ansible_collections.m365.cloud_identity.plugins.module_utils import users

from test_users import FakeGraph, item, run


@pytest.mark.parametrize("given,graph", [
    ("2024-05-01", "2024-05-01T00:00:00Z"),
    ("2024-05-01T09:30:00Z", "2024-05-01T09:30:00Z"),
    ("2024-05-01T09:30Z", "2024-05-01T09:30:00Z"),
    ("2024-05-01T09:30:00+02:00", "2024-05-01T07:30:00Z"),
    ("2024-05-01T01:00:00-0130", "2024-05-01T02:30:00Z"),
    ("2024-05-01 09:30:00", "2024-05-01T09:30:00Z"),
    ("2024-05-01T09:30:00.0000000Z", "2024-05-01T09:30:00Z"),
    ("2024-05-01T09:30:00.25Z", "2024-05-01T09:30:00.25Z"),
    (datetime.date(2024, 5, 1), "2024-05-01T00:00:00Z"),
])
def test_dates_normalise_to_graphs_utc_form(given, graph):
    assert hr.graph_datetime(given) == graph


@pytest.mark.parametrize("value", ["2024-13-01", "2024-02-30", "tomorrow", "01/05/2024", "2024-05-01T25:00:00Z",
                                   "2024-05-01T09:30:00+2"])
def test_an_invalid_date_names_the_option_and_the_form(value):
    problems = users.validate_item(item(employee_hire_date=value))
    assert len(problems) == 1
    assert problems[0].startswith("employee_hire_date '%s' is not an ISO 8601 date" % value)
    assert "2024-05-01T09:00:00Z" in problems[0]
    problems = users.validate_item(item(employee_leave_date_time=value))
    assert problems[0].startswith("employee_leave_date_time '%s'" % value)


@pytest.mark.parametrize("options,field,fix", [
    ({"age_group": "teen"}, "age_group 'teen'", "Minor, NotAdult, Adult"),
    ({"consent_provided_for_minor": "yes"}, "consent_provided_for_minor 'yes'", "Granted, Denied, NotRequired"),
    ({"employee_org_data": {"devision": "x"}}, "employee_org_data: unknown key 'devision'", "division or cost_center"),
    ({"mail": "José@contoso.com"}, "mail 'José@contoso.com'", "ASCII"),
    ({"mail": "adele"}, "mail 'adele'", "alias@domain"),
])
def test_bad_hr_input_names_the_option_and_the_fix(options, field, fix):
    problems = users.validate_item(item(**options))
    assert len(problems) == 1 and field in problems[0] and fix in problems[0]


def test_valid_hr_input_and_clearing_values_have_no_problems():
    assert users.validate_item(item(mail="a@contoso.com", employee_hire_date="2024-05-01", age_group="adult",
                                    consent_provided_for_minor="", employee_leave_date_time="",
                                    employee_org_data={"division": "", "cost_center": "CC-1"})) == []


def test_an_equal_moment_in_another_spelling_is_unchanged():
    doc = {"employeeHireDate": "2024-05-01T07:30:00Z"}
    changes, _before, _after = users.attribute_changes({"employee_hire_date": "2024-05-01T09:30:00+02:00"}, doc)
    assert changes == {}


def test_changes_and_diff_are_in_option_names_and_graph_form():
    doc = {"employeeHireDate": "2024-05-01T00:00:00Z", "ageGroup": "Minor", "employeeOrgData": None}
    changes, before, after = users.attribute_changes(
        {"employee_hire_date": "2024-06-01", "age_group": "adult", "employee_org_data": {"cost_center": "CC-9"},
         "fax_number": "+1 555 0100"}, doc)
    assert changes == {"employeeHireDate": "2024-06-01T00:00:00Z", "ageGroup": "Adult",
                       "employeeOrgData": {"division": None, "costCenter": "CC-9"}, "faxNumber": "+1 555 0100"}
    assert before["employee_hire_date"] == "2024-05-01T00:00:00Z" and after["employee_hire_date"] == "2024-06-01T00:00:00Z"
    assert (before["age_group"], after["age_group"]) == ("Minor", "Adult")
    assert before["employee_org_data"] == {"division": None, "cost_center": None}
    assert after["employee_org_data"] == {"division": None, "cost_center": "CC-9"}


def test_org_data_keeps_the_key_left_out_and_sends_both():
    doc = {"employeeOrgData": {"division": "Retail", "costCenter": "CC-1"}}
    changes, _before, _after = users.attribute_changes({"employee_org_data": {"cost_center": "CC-2"}}, doc)
    assert changes == {"employeeOrgData": {"division": "Retail", "costCenter": "CC-2"}}
    changes, _before, _after = users.attribute_changes({"employee_org_data": {"division": "Retail"}}, doc)
    assert changes == {}


def test_empty_strings_clear_hr_attributes():
    doc = {"employeeHireDate": "2024-05-01T00:00:00Z", "ageGroup": "Adult", "mail": "a@contoso.com",
           "employeeOrgData": {"division": "Retail", "costCenter": None}}
    changes, _before, after = users.attribute_changes(
        {"employee_hire_date": "", "age_group": "", "mail": "", "employee_org_data": {"division": ""}}, doc)
    assert changes == {"employeeHireDate": None, "ageGroup": None, "mail": None,
                       "employeeOrgData": {"division": None, "costCenter": None}}
    assert after["employee_hire_date"] is None
    assert users.attribute_changes({"employee_hire_date": "", "age_group": ""}, {})[0] == {}


def test_user_to_options_returns_hr_attributes_in_option_names():
    doc = {"id": "1", "userPrincipalName": "a@contoso.com", "mail": "a@contoso.com", "faxNumber": "1",
           "employeeHireDate": "2024-05-01T00:00:00Z", "employeeOrgData": {"division": "Retail", "costCenter": None},
           "ageGroup": "Adult", "consentProvidedForMinor": None}
    options = users.user_to_options(doc)
    assert options["mail"] == "a@contoso.com" and options["fax_number"] == "1"
    assert options["employee_hire_date"] == "2024-05-01T00:00:00Z"
    assert options["employee_org_data"] == {"division": "Retail", "cost_center": None}
    assert options["age_group"] == "Adult" and options["consent_provided_for_minor"] is None
    # Not read (it needs its own permission), so not reported.
    assert "employee_leave_date_time" not in options
    assert users.user_to_options(dict(doc, employeeLeaveDateTime=None))["employee_leave_date_time"] is None


def test_the_leave_date_is_selected_only_when_an_item_sets_it():
    assert "employeeLeaveDateTime" not in users.USER_SELECT
    assert "employeeHireDate" in users.USER_SELECT and "employeeOrgData" in users.USER_SELECT
    assert users.user_select([item(), item(employee_leave_date_time="")]) == users.LEAVE_DATE_SELECT
    assert users.user_select([item()]) == users.USER_SELECT


def test_an_invalid_date_in_a_list_writes_nothing_for_that_item_only():
    graph = FakeGraph()
    _engine, plans = run(graph, [item("bad@contoso.com", display_name="Bad", employee_hire_date="2024-02-30"),
                                 item("good@contoso.com", display_name="Good", employee_hire_date="2024-02-29")])
    assert plans[0].failed and "employee_hire_date '2024-02-30'" in plans[0].error
    assert plans[1].action == "created"
    assert graph.writes == [("POST", "/users")]
    created = graph.users[plans[1].new_id]
    assert created["employeeHireDate"] == "2024-02-29T00:00:00Z"


def test_create_then_rerun_with_hr_attributes_is_unchanged():
    graph = FakeGraph()
    options = dict(display_name="Alice", mail="alice@contoso.com", employee_hire_date="2024-05-01",
                   employee_org_data={"division": "Retail", "cost_center": None}, age_group="adult")
    run(graph, [item(**options)])
    _engine, plans = run(graph, [item(**options)])
    assert plans[0].action == "unchanged"
