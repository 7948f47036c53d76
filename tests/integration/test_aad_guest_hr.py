"""aad_guest's HR attributes and sponsors through ansible-playbook against the Graph sandbox.

State is asserted through Graph, write counts through the sandbox's counters.
"""
from test_aad_guest import find_guest, guest_task, writes

HR_SELECT = "id,employeeHireDate,employeeOrgData,ageGroup,consentProvidedForMinor,faxNumber"
SPONSOR_GROUP = {"displayName": "Partner managers", "mailNickname": "partnermanagers", "mailEnabled": False,
                 "securityEnabled": True, "groupTypes": []}


def sponsor_names(graph, guest_id):
    sponsors = graph.list("/users/%s/sponsors" % guest_id, select="id,userPrincipalName,displayName")
    return sorted(s.get("userPrincipalName") or s["displayName"] for s in sponsors)


def test_guest_hr_attributes_and_sponsors(graph, run_play, sandbox):
    graph.post("/groups", json=SPONSOR_GROUP)
    email = "dee@tailspintoys.com"
    spec = dict(email=email, display_name="Dee", employee_hire_date="2024-09-01",
                employee_org_data={"cost_center": "CC-7700"}, age_group="Adult", fax_number="+1 555 0101",
                sponsors={"set": ["ada.admin@contoso.com", "Partner managers"]})

    sandbox.reset_counters()
    checked = run_play([guest_task(spec)], check=True, diff=True).task("guest")
    assert checked.status == "changed" and checked.result["action"] == "invited"
    assert checked.result["guest"]["sponsors"] == ["Partner managers", "ada.admin@contoso.com"]
    assert writes(sandbox) == 0 and find_guest(graph, email) is None

    invited = run_play([guest_task(spec)]).task("guest")
    assert invited.status == "changed" and invited.result["action"] == "invited"
    guest_id = find_guest(graph, email)["id"]
    state = graph.get("/users/%s" % guest_id, params={"$select": HR_SELECT})
    assert state["employeeHireDate"] == "2024-09-01T00:00:00Z"
    assert state["employeeOrgData"] == {"division": None, "costCenter": "CC-7700"}
    assert (state["ageGroup"], state["faxNumber"]) == ("Adult", "+1 555 0101")
    assert sponsor_names(graph, guest_id) == ["Partner managers", "ada.admin@contoso.com"]
    assert invited.result["guest"]["employee_org_data"] == {"division": None, "cost_center": "CC-7700"}

    sandbox.reset_counters()
    again = run_play([guest_task(spec)]).task("guest")
    assert again.status == "ok" and again.result["action"] == "unchanged"
    assert writes(sandbox) == 0

    change = dict(email=email, sponsors={"set": ["eli.engineer@contoso.com"]}, age_group="", employee_hire_date="",
                  employee_org_data={"cost_center": ""})
    changed = run_play([guest_task(change)], diff=True).task("guest")
    assert changed.status == "changed" and changed.result["action"] == "updated"
    assert changed.result["diff"]["before"]["sponsors"] == ["Partner managers", "ada.admin@contoso.com"]
    assert changed.result["diff"]["after"]["sponsors"] == ["eli.engineer@contoso.com"]
    assert sponsor_names(graph, guest_id) == ["eli.engineer@contoso.com"]
    state = graph.get("/users/%s" % guest_id, params={"$select": HR_SELECT})
    assert state["employeeHireDate"] is None and state["ageGroup"] is None
    assert state["employeeOrgData"] == {"division": None, "costCenter": None}

    swap = {"add": ["Partner managers"], "remove": ["eli.engineer@contoso.com"]}
    added = run_play([guest_task(email=email, sponsors=swap)]).task("guest")
    assert added.status == "changed"
    assert sponsor_names(graph, guest_id) == ["Partner managers"]
    sandbox.reset_counters()
    assert run_play([guest_task(email=email, sponsors={"add": ["Partner managers"]})]).task("guest").status == "ok"
    assert writes(sandbox) == 0

    # aad_guest_info returns the sponsors in the form aad_guest takes.
    info_options = {"email": email, "include_sponsors": True}
    info = run_play([{"name": "info", "m365.cloud_identity.aad_guest_info": info_options}]).task("info")
    assert info.result["guests"][0]["sponsors"] == {"set": ["Partner managers"]}
    assert info.result["guests"][0]["fax_number"] == "+1 555 0101"


def test_guest_bad_hr_input_or_sponsor_fails_before_any_write(graph, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([guest_task(email="eve@tailspintoys.com", employee_hire_date="next monday")],
                    expect_failure=True)
    assert "employee_hire_date 'next monday' is not an ISO 8601 date" in play.task("guest").result["msg"]
    play = run_play([guest_task(email="eve@tailspintoys.com", sponsors={"set": ["nobody@contoso.com"]})],
                    expect_failure=True)
    assert "nobody@contoso.com" in play.task("guest").result["msg"]
    assert writes(sandbox) == 0
    assert find_guest(graph, "eve@tailspintoys.com") is None


def test_sponsors_reach_a_guest_graph_has_not_replicated_yet(graph, run_play, sandbox):
    sandbox.configure(replication_lag_seconds=1.5)
    try:
        invited = run_play([guest_task(email="lea.lag@fabrikam.com",
                                       sponsors={"add": ["ada.admin@contoso.com"]})]).task("guest")
    finally:
        sandbox.configure(replication_lag_seconds=0)
    assert invited.result["action"] == "invited"
    assert invited.result["guest"]["sponsors"] == ["ada.admin@contoso.com"]
    assert sponsor_names(graph, invited.result["guest"]["id"]) == ["ada.admin@contoso.com"]
