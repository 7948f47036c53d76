"""aad_license and aad_license_info through ansible-playbook against the Graph sandbox.

The tenant's state is asserted through Graph (the `graph` fixture); "no write" through the sandbox's
request counters.
"""
import uuid

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import quote_key

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
OFFICE_E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"   # ENTERPRISEPACK, "Office 365 E3"
EMS_E5 = "b05e124f-c7cc-45a0-a6aa-8cf78c946968"      # EMSPREMIUM
VISIO = "c5928f49-12ba-48f7-ada3-0d743a3601d5"       # VISIOCLIENT, "Visio Plan 2"
SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"
EXCHANGE_E = "efb87545-963c-4e0d-99df-69c6916d9eb0"  # EXCHANGE_S_ENTERPRISE
TEAMS = "57ff2da0-773e-42df-b2af-ffb7a2317929"       # TEAMS1


# ---- helpers -------------------------------------------------------------------------------------------


def direct_licences(graph, upn):
    """{sku id: sorted disabled plan ids} of the user's direct assignments, read through Graph."""
    user = graph.get("/users/%s" % quote_key(upn), params={"$select": "licenseAssignmentStates"})
    return dict((s["skuId"], sorted(s["disabledPlans"])) for s in user["licenseAssignmentStates"]
                if not s["assignedByGroup"])


def licence_states(graph, user):
    return graph.get("/users/%s" % user["id"], params={"$select": "licenseAssignmentStates"})["licenseAssignmentStates"]


def writes(sandbox):
    return sandbox.counters()["http"]["write"]


def seats(sandbox, part_number, free):
    """Leave exactly `free` seats of a SKU."""
    current = next(s for s in sandbox.control("GET", "skus") if s["skuPartNumber"] == part_number)
    sandbox.control("PATCH", "skus/%s" % part_number, json={"prepaid": current["consumedUnits"] + free})


def license_task(**options):
    return {"name": "licence", "m365.cloud_identity.aad_license": options, "register": "out"}


def info_task(**options):
    return {"name": "info", "m365.cloud_identity.aad_license_info": options}


def result(play, name="licence"):
    """What the task of this name returned."""
    return play.task(name).result


def check_then_apply(run_play, sandbox, task, diff=False):
    """Check mode (asserting it wrote nothing), then the real run; returns both task results."""
    sandbox.reset_counters()
    checked = run_play([task], check=True, diff=diff)
    assert writes(sandbox) == 0
    applied = run_play([task], diff=diff)
    return checked.task("licence"), applied.task("licence")


# ---- direct assignments -------------------------------------------------------------------------------


@pytest.mark.parametrize("sku, sku_id", [
    ("SPE_E3", E3),                 # part number
    (OFFICE_E3, OFFICE_E3),         # SKU id
    ("Visio Plan 2", VISIO),        # product name (two SKU ids share it in Microsoft's table; one is subscribed)
])
def test_assign_by_part_number_guid_or_product_name(run_play, sandbox, graph, tenant, sku, sku_id):
    user = tenant.user()
    task = license_task(user=user["userPrincipalName"], licenses={"add": [sku]})
    checked, applied = check_then_apply(run_play, sandbox, task)
    assert checked.status == "changed"
    assert applied.status == "changed"
    assert applied.result["license"]["licenses"][0]["sku_id"] == sku_id
    assert direct_licences(graph, user["userPrincipalName"]) == {sku_id: []}
    sandbox.reset_counters()
    again = run_play([task])
    assert again.task("licence").status == "ok"
    assert writes(sandbox) == 0


def test_disable_plans_by_name_change_them_and_remove(run_play, sandbox, graph, tenant):
    upn = tenant.user()["userPrincipalName"]
    add = license_task(user=upn, licenses={"add": [{"sku": "SPE_E3", "disabled_plans": ["SWAY", "Exchange Online (Plan 2)"]}]})
    checked, applied = check_then_apply(run_play, sandbox, add, diff=True)
    assert checked.status == applied.status == "changed"
    assert direct_licences(graph, upn) == {E3: sorted([SWAY, EXCHANGE_E])}
    # The diff names SKUs and plans, not GUIDs.
    assert applied.result["diff"]["after"] == {
        "licenses": [{"sku": "SPE_E3", "disabled_plans": ["EXCHANGE_S_ENTERPRISE", "SWAY"]}]}
    assert applied.result["diff"]["before"] == {"licenses": []}

    sandbox.reset_counters()
    assert run_play([add]).task("licence").status == "ok"
    assert writes(sandbox) == 0

    change = license_task(user=upn, licenses={"add": [{"sku": "SPE_E3", "disabled_plans": ["TEAMS1"]}]})
    checked, applied = check_then_apply(run_play, sandbox, change, diff=True)
    assert checked.status == applied.status == "changed"
    assert applied.result["action"] == "updated"
    assert applied.result["diff"]["before"]["licenses"][0]["disabled_plans"] == ["EXCHANGE_S_ENTERPRISE", "SWAY"]
    assert direct_licences(graph, upn) == {E3: [TEAMS]}

    remove = license_task(user=upn, licenses={"remove": ["Microsoft 365 E3"]})
    checked, applied = check_then_apply(run_play, sandbox, remove)
    assert checked.status == applied.status == "changed"
    assert direct_licences(graph, upn) == {}
    assert run_play([remove]).task("licence").status == "ok"


def test_set_replaces_the_direct_assignments(run_play, sandbox, graph, tenant):
    upn = tenant.user()["userPrincipalName"]
    run_play([license_task(user=upn, licenses={"add": ["SPE_E3", "VISIOCLIENT"]})])
    checked, applied = check_then_apply(run_play, sandbox, license_task(user=upn, licenses={"set": ["ENTERPRISEPACK"]}))
    assert checked.status == applied.status == "changed"
    assert direct_licences(graph, upn) == {OFFICE_E3: []}


def test_user_without_usage_location_fails_clearly_and_writes_nothing(run_play, sandbox, graph, tenant):
    upn = tenant.user(usage_location=None)["userPrincipalName"]
    sandbox.reset_counters()
    play = run_play([license_task(user=upn, licenses={"add": ["SPE_E3"]})], expect_failure=True)
    message = result(play)["msg"]
    assert "has no usage location" in message and "usage_location" in message and "aad_user" in message
    assert writes(sandbox) == 0
    assert direct_licences(graph, upn) == {}


def test_unknown_sku_fails_with_close_matches(run_play, tenant):
    upn = tenant.user()["userPrincipalName"]
    play = run_play([license_task(user=upn, licenses={"add": ["SPE_E4"]})], expect_failure=True)
    assert "Unknown SKU 'SPE_E4'" in result(play)["msg"]
    assert "SPE_E3 (Microsoft 365 E3)" in result(play)["msg"]


# ---- bulk ---------------------------------------------------------------------------------------------------


def test_bulk_needing_more_seats_than_free_fails_before_any_write(run_play, sandbox, graph, tenant):
    users = tenant.users(8)
    seats(sandbox, "EMSPREMIUM", free=5)
    task = license_task(assignments=[{"user": u["userPrincipalName"], "licenses": {"add": ["EMSPREMIUM"]}}
                                     for u in users])
    sandbox.reset_counters()
    play = run_play([task], expect_failure=True)
    assert "EMSPREMIUM (Enterprise Mobility + Security E5): 8 needed, 5 free" in result(play)["msg"]
    assert writes(sandbox) == 0
    assert all(direct_licences(graph, u["userPrincipalName"]) == {} for u in users)

    # With allow_overcommit the writes go out; Graph refuses the three beyond the free seats.
    task["m365.cloud_identity.aad_license"]["allow_overcommit"] = True
    play = run_play([task], expect_failure=True)
    out = result(play)
    assert out["summary"]["updated"] == 5 and out["summary"]["failed"] == 3
    refused = [r for r in out["results"] if r["action"] == "failed"]
    assert all("does not have any available licenses" in r["error"] for r in refused)


def test_bulk_writes_in_one_batch_and_reports_per_item(run_play, sandbox, graph, tenant):
    users = tenant.users(3)
    missing = "nobody-%s@contoso.com" % uuid.uuid4().hex[:6]
    items = [{"user": u["userPrincipalName"], "licenses": {"add": ["SPE_E3"]}} for u in users]
    items.append({"user": missing, "licenses": {"add": ["SPE_E3"]}})
    sandbox.reset_counters()
    play = run_play([license_task(assignments=items)], expect_failure=True)
    out = result(play)
    assert [r["action"] for r in out["results"]] == ["updated", "updated", "updated", "failed"]
    assert missing in out["results"][3]["error"]
    counters = sandbox.counters()
    assert counters["http"]["write"] == 1
    # Two $batch calls: one for the reads (the SKUs and the four users together), one for the three writes.
    assert counters["http"]["by_route"].get("POST /v1.0/$batch") == 2
    assert all(direct_licences(graph, u["userPrincipalName"]) == {E3: []} for u in users)


# ---- group-based licensing ---------------------------------------------------------------------------------


def test_group_licence_is_inherited_and_stays_apart_from_direct_ones(run_play, sandbox, graph, tenant):
    alice, bob = tenant.user(), tenant.user()
    group = tenant.group([alice, bob])
    task = license_task(group=group["uniqueName"], licenses={"add": [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]})
    checked, applied = check_then_apply(run_play, sandbox, task)
    assert checked.status == applied.status == "changed"
    assert applied.result["license"]["members_in_error"] == []
    assert applied.result["license"]["member_count"] == 2

    info = run_play([info_task(user=alice["userPrincipalName"])])
    licences = result(info, "info")["user"]["licenses"]
    assert [(l["sku_part_number"], l["direct"], l["assigned_by_group"], l["assigned_by_group_name"], l["state"])
            for l in licences] == [("SPE_E3", False, group["id"], group["uniqueName"], "Active")]
    assert licences[0]["disabled_plans"] == ["SWAY"]

    # A new member inherits.
    carol = tenant.user()
    tenant.add_member(group, carol)
    info = run_play([info_task(group=group["id"])])
    members = {m["user_principal_name"]: m["licenses"] for m in result(info, "info")["group"]["members"]}
    assert [l["state"] for l in members[carol["userPrincipalName"]]] == ["Active"]
    assert result(info, "info")["group"]["licenses"][0]["sku_part_number"] == "SPE_E3"

    # A direct assignment of the same SKU on a member is a separate entry, and changes nothing inherited.
    direct = license_task(user=bob["userPrincipalName"], licenses={"add": ["SPE_E3"]})
    assert run_play([direct]).task("licence").status == "changed"
    states = licence_states(graph, bob)
    assert sorted(s["assignedByGroup"] or "direct" for s in states) == sorted([group["id"], "direct"])
    assert run_play([direct]).task("licence").status == "ok"

    # Re-running the group task changes nothing.
    sandbox.reset_counters()
    assert run_play([task]).task("licence").status == "ok"
    assert writes(sandbox) == 0
    # And the user task never removes the inherited licence.
    assert run_play([license_task(user=alice["userPrincipalName"], licenses={"set": []})]).task("licence").status == "ok"
    assert [s["assignedByGroup"] for s in licence_states(graph, alice)] == [group["id"]]


def test_group_members_beyond_free_seats_are_reported_in_error(run_play, sandbox, tenant):
    members = tenant.users(3)
    group = tenant.group(members)
    seats(sandbox, "VISIOCLIENT", free=2)
    task = license_task(group=group["displayName"], licenses={"add": ["VISIOCLIENT"]})
    play = run_play([task], expect_failure=True)
    assert "VISIOCLIENT (Visio Plan 2): 3 needed, 2 free" in result(play)["msg"]

    task["m365.cloud_identity.aad_license"]["allow_overcommit"] = True
    out = result(run_play([task]))
    assert out["changed"] is True
    in_error = out["license"]["members_in_error"]
    assert [(m["user_principal_name"], m["state"], m["error"]) for m in in_error] == [
        (members[2]["userPrincipalName"], "Error", "CountViolation")]
    info = run_play([info_task(skus=["VISIOCLIENT"], group=group["id"])])
    visio = result(info, "info")["skus"][0]
    assert (visio["free"], visio["consumed"]) == (0, visio["enabled"])
    assert len(result(info, "info")["group"]["members_in_error"]) == 1


def test_license_info_reports_seats_and_plans(run_play, graph):
    play = run_play([info_task()])
    skus = {s["sku_part_number"]: s for s in result(play, "info")["skus"]}
    e3 = skus["SPE_E3"]
    assert e3["display_name"] == "Microsoft 365 E3"
    listed = next(s for s in graph.get("/subscribedSkus")["value"] if s["skuId"] == E3)
    assert (e3["enabled"], e3["consumed"]) == (listed["prepaidUnits"]["enabled"], listed["consumedUnits"])
    assert e3["free"] == e3["enabled"] - e3["consumed"]
    assert {"name": "SWAY", "plan_id": SWAY} in [{"name": p["name"], "plan_id": p["plan_id"]} for p in e3["plans"]]


# ---- scale ------------------------------------------------------------------------------------------------


def create_licensable_users(graph, prefix, count):
    """`count` users with a usage location, created 20 to a $batch; returns their UPNs."""
    upns = ["%s%04d@contoso.com" % (prefix, n) for n in range(count)]
    assert all(r.ok for r in graph.batch([{"method": "POST", "url": "/users", "body": {
        "accountEnabled": True, "displayName": upn.split("@")[0], "mailNickname": upn.split("@")[0],
        "userPrincipalName": upn, "usageLocation": "US",
        "passwordProfile": {"password": "Bulk!Passw0rd%04d" % n, "forceChangePasswordNextSignIn": True}}}
        for n, upn in enumerate(upns)]))
    return upns


def test_a_no_op_of_1000_users_and_5_groups_stays_within_the_request_bound(run_play, sandbox, graph, tenant):
    """Issue 13's bound, ceil(N/999)+3 requests for N = 1,005 licence targets, is 5: the SKUs, the first page
    of the users, the groups by unique name and keyed user reads in its spare slots share one $batch; the other
    users (the rest of the list or by key, whichever is cheaper) then share the next with the groups' members."""
    upns = create_licensable_users(graph, "lic", 1200)
    licensed = [upn for n, upn in enumerate(upns) if n % 6]   # 1,000 of the 1,200
    groups = [tenant.group([graph.get("/users/%s" % upns[6 * g + k]) for k in range(3)]) for g in range(5)]
    seats(sandbox, "EMSPREMIUM", free=len(licensed))
    seats(sandbox, "SPE_E3", free=20)
    task = license_task(assignments=[{"user": upn, "licenses": {"set": ["EMSPREMIUM"]}} for upn in licensed]
                        + [{"group": g["uniqueName"], "licenses": {"add": ["SPE_E3"]}} for g in groups])
    assert result(run_play([task]))["summary"]["updated"] == 1005
    bound = -(-1005 // 999) + 3

    for check in (True, False):
        sandbox.reset_counters()
        again = result(run_play([task], check=check))
        http = sandbox.counters()["http"]
        assert again["summary"]["unchanged"] == 1005 and http["write"] == 0
        assert http["total"] <= bound, http["by_route"]
        assert http["by_module"] == {"aad_license": http["total"]}

    # A licence removed behind Ansible's back shows in a check-mode diff, at the same cost.
    user = graph.get("/users/%s" % licensed[-1])
    graph.post("/users/%s/assignLicense" % user["id"], json={"addLicenses": [], "removeLicenses": [EMS_E5]})
    sandbox.reset_counters()
    drift = result(run_play([task], check=True, diff=True))
    changed = [r for r in drift["results"] if r["action"] == "updated"]
    assert [r["key"] for r in changed] == [licensed[-1]]
    assert changed[0]["diff"]["before"] == {"licenses": []}
    assert changed[0]["diff"]["after"] == {"licenses": [{"sku": "EMSPREMIUM", "disabled_plans": []}]}
    http = sandbox.counters()["http"]
    assert http["write"] == 0 and http["total"] <= bound
