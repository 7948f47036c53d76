"""The HR attributes of aad_user / aad_user_info, and a dynamic group on the hire date, via ansible-playbook.

State is asserted through Graph (the `graph` fixture), write counts through the sandbox's counters.
"""
import datetime

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import quote_key

from test_aad_user import get_user, member_ids, user_task, writes

HR_SELECT = ("id,mail,proxyAddresses,faxNumber,employeeHireDate,employeeLeaveDateTime,employeeOrgData,ageGroup,"
             "consentProvidedForMinor,department")


def hr_state(graph, upn):
    return graph.get("/users/%s" % quote_key(upn), params={"$select": HR_SELECT})


def test_hr_attributes_set_rerun_change_and_clear(graph, run_play, sandbox, tmp_path):
    upn = "hana.hr@contoso.com"
    # A new user's generated password goes to a password file (never to results).
    spec = dict(user_principal_name=upn, display_name="Hana HR", mail="hana.hr@contoso.com",
                password_file=str(tmp_path / "passwords.jsonl"),
                fax_number="+1 425 555 0199", employee_hire_date="2024-05-01",
                employee_leave_date_time="2025-09-30T17:00:00+02:00",
                employee_org_data={"division": "Retail", "cost_center": "CC-1234"},
                age_group="adult", consent_provided_for_minor="NotRequired")

    sandbox.reset_counters()
    checked = run_play([user_task(**spec)], check=True).task("user")
    assert checked.status == "changed" and checked.result["user"]["employee_hire_date"] == "2024-05-01T00:00:00Z"
    assert get_user(graph, upn) is None and writes(sandbox) == 0

    created = run_play([user_task(**spec)]).task("user")
    assert created.status == "changed" and created.result["action"] == "created"
    user = hr_state(graph, upn)
    assert user["mail"] == "hana.hr@contoso.com" and user["proxyAddresses"] == ["SMTP:hana.hr@contoso.com"]
    assert user["faxNumber"] == "+1 425 555 0199"
    assert user["employeeHireDate"] == "2024-05-01T00:00:00Z"
    assert user["employeeLeaveDateTime"] == "2025-09-30T15:00:00Z"
    assert user["employeeOrgData"] == {"division": "Retail", "costCenter": "CC-1234"}
    assert (user["ageGroup"], user["consentProvidedForMinor"]) == ("Adult", "NotRequired")

    # Graph answers in its own UTC form: the same moments given differently are unchanged.
    sandbox.reset_counters()
    rerun = dict(spec)
    rerun["employee_leave_date_time"] = "2025-09-30T15:00:00Z"
    again = run_play([user_task(**rerun)]).task("user")
    assert again.status == "ok" and again.result["action"] == "unchanged"
    assert writes(sandbox) == 0

    change = dict(user_principal_name=upn, employee_hire_date="2024-06-03T08:00:00Z", age_group="NotAdult",
                  consent_provided_for_minor="granted", employee_org_data={"cost_center": "CC-9"},
                  mail="hana.h@contoso.com", fax_number="+1 425 555 0100")
    checked = run_play([user_task(**change)], check=True, diff=True).task("user")
    assert checked.status == "changed" and hr_state(graph, upn)["ageGroup"] == "Adult"
    changed = run_play([user_task(**change)], diff=True).task("user")
    assert changed.status == "changed" and changed.result["action"] == "updated"
    assert changed.result["diff"] == checked.result["diff"] == {
        "before": {"employee_hire_date": "2024-05-01T00:00:00Z", "age_group": "Adult",
                   "consent_provided_for_minor": "NotRequired",
                   "employee_org_data": {"division": "Retail", "cost_center": "CC-1234"},
                   "mail": "hana.hr@contoso.com", "fax_number": "+1 425 555 0199"},
        "after": {"employee_hire_date": "2024-06-03T08:00:00Z", "age_group": "NotAdult",
                  "consent_provided_for_minor": "Granted",
                  "employee_org_data": {"division": "Retail", "cost_center": "CC-9"},
                  "mail": "hana.h@contoso.com", "fax_number": "+1 425 555 0100"}}
    user = hr_state(graph, upn)
    assert user["employeeHireDate"] == "2024-06-03T08:00:00Z" and user["ageGroup"] == "NotAdult"
    assert user["consentProvidedForMinor"] == "Granted" and user["mail"] == "hana.h@contoso.com"
    assert user["employeeOrgData"] == {"division": "Retail", "costCenter": "CC-9"}

    clear = dict(user_principal_name=upn, mail="", fax_number="", employee_hire_date="",
                 employee_leave_date_time="", employee_org_data={"division": "", "cost_center": ""},
                 age_group="", consent_provided_for_minor="")
    cleared = run_play([user_task(**clear)], diff=True).task("user")
    assert cleared.status == "changed"
    assert cleared.result["diff"]["after"] == {
        "mail": None, "fax_number": None, "employee_hire_date": None, "employee_leave_date_time": None,
        "employee_org_data": {"division": None, "cost_center": None}, "age_group": None,
        "consent_provided_for_minor": None}
    user = hr_state(graph, upn)
    assert [user[p] for p in ("mail", "faxNumber", "employeeHireDate", "employeeLeaveDateTime", "ageGroup",
                              "consentProvidedForMinor")] == [None] * 6
    assert user["employeeOrgData"] in (None, {"division": None, "costCenter": None})
    assert user["proxyAddresses"] == []

    sandbox.reset_counters()
    assert run_play([user_task(**clear)]).task("user").status == "ok"
    assert writes(sandbox) == 0


def test_info_exports_hr_attributes_that_re_apply_unchanged(graph, run_play, sandbox, tmp_path):
    upn = "ines.info@contoso.com"
    run_play([user_task(user_principal_name=upn, display_name="Ines Info", employee_hire_date="2023-01-09",
                        password_file=str(tmp_path / "passwords.jsonl"),
                        employee_leave_date_time="2026-01-31", employee_org_data={"division": "Online"},
                        fax_number="+44 20 7946 0000", age_group="Adult")])
    info = run_play([{"name": "info", "m365.cloud_identity.aad_user_info": {
        "user_principal_name": upn, "include": ["employee_leave_date_time"]}, "register": "out"}]).task("info")
    exported = info.result["users"][0]
    assert exported["employee_hire_date"] == "2023-01-09T00:00:00Z"
    assert exported["employee_leave_date_time"] == "2026-01-31T00:00:00Z"
    assert exported["employee_org_data"] == {"division": "Online", "cost_center": None}
    assert (exported["fax_number"], exported["age_group"]) == ("+44 20 7946 0000", "Adult")
    plain = run_play([{"name": "info", "m365.cloud_identity.aad_user_info": {"user_principal_name": upn},
                       "register": "out"}]).task("info")
    assert "employee_leave_date_time" not in plain.result["users"][0]

    sandbox.reset_counters()
    reapplied = run_play([{"name": "users", "m365.cloud_identity.aad_user": {"users": [exported]}}]).task("users")
    assert reapplied.status == "ok" and reapplied.result["summary"]["unchanged"] == 1
    assert writes(sandbox) == 0


def test_an_invalid_date_fails_before_any_write_naming_the_option(graph, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([user_task(user_principal_name="ivan.invalid@contoso.com", display_name="Ivan Invalid",
                               employee_hire_date="2024-02-30", department="Sales")], expect_failure=True)
    task = play.task("user")
    assert task.status == "failed"
    assert "employee_hire_date '2024-02-30' is not an ISO 8601 date" in task.result["msg"]
    assert writes(sandbox) == 0
    assert get_user(graph, "ivan.invalid@contoso.com") is None

    existing = "ada.admin@contoso.com"
    before = hr_state(graph, existing)
    play = run_play([user_task(user_principal_name=existing, department="Changed",
                               employee_leave_date_time="31/12/2025")], expect_failure=True)
    assert "employee_leave_date_time '31/12/2025'" in play.task("user").result["msg"]
    assert writes(sandbox) == 0
    assert hr_state(graph, existing) == before


def test_dynamic_group_on_recent_hires(graph, run_play, sandbox, tmp_path):
    today = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    hires = {"new.five@contoso.com": 5, "new.twentynine@contoso.com": 29,
             "old.fortyfive@contoso.com": 45, "future.ten@contoso.com": -10}
    run_play([{"name": "hires", "m365.cloud_identity.aad_user": {"users": [
        {"user_principal_name": upn, "display_name": upn.split("@", maxsplit=1)[0],
         "employee_hire_date": (today - datetime.timedelta(days=days)).isoformat()}
        for upn, days in hires.items()], "password_file": str(tmp_path / "passwords.jsonl")}}])
    recent = sorted(upn for upn, days in hires.items() if 0 <= days <= 30)

    # The rule form published rules use, a window ending today (future hires stay out).
    rule = "user.employeeHireDate -ge (system.now -minus P30D) -and user.employeeHireDate -le system.now"
    group = {"name": "group", "m365.cloud_identity.aad_group": {"display_name": "Recent hires",
                                                                "membership_rule": rule}}
    sandbox.reset_counters()
    checked = run_play([group], check=True).task("group")
    assert checked.status == "changed" and writes(sandbox) == 0
    assert checked.result["membership_preview"] == {"count": len(recent), "users": recent, "truncated": False}

    created = run_play([group]).task("group")
    group_id = created.result["group"]["id"]
    members = sorted(graph.get("/users/%s" % m, params={"$select": "userPrincipalName"})["userPrincipalName"]
                     for m in member_ids(graph, group_id))
    assert members == recent

    # Moving a hire date moves the user in or out.
    run_play([user_task(user_principal_name="old.fortyfive@contoso.com",
                        employee_hire_date=(today - datetime.timedelta(days=2)).isoformat())])
    assert len(member_ids(graph, group_id)) == len(recent) + 1

    # The documented form (DC groups-dynamic-membership: system.now -plus p1d) selects future hires.
    future = {"name": "group", "m365.cloud_identity.aad_group": {
        "display_name": "Starting soon", "membership_rule": "user.employeeHireDate -ge system.now -plus p1d"}}
    preview = run_play([future], check=True).task("group").result["membership_preview"]
    assert preview["users"] == ["future.ten@contoso.com"]
