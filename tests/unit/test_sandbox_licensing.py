"""The sandbox's licensing (FIDELITY.md 2.3): subscribedSkus, assignLicense, group-based licences.

Everything is observed through Graph calls on a live sandbox, as a client would see it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import sku_reference
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "sandbox" / "graph_sandbox" / "data" / "v1.0-identity-schema.json").read_text())

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
VISIO = "c5928f49-12ba-48f7-ada3-0d743a3601d5"
SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"
LICENSE_SELECT = {"$select": "id,assignedLicenses,licenseAssignmentStates,assignedPlans"}


@pytest.fixture(scope="module", autouse=True)
def instant_group_licensing(sandbox):
    """These tests look at what group licences lead to; their delay (FIDELITY.md 7.6) is tested below."""
    sandbox.configure(group_license_delay_seconds=0)


def assign(graph, kind, obj, add=(), remove=(), disabled=()):
    body = {"addLicenses": [{"skuId": sku, "disabledPlans": list(disabled)} for sku in add],
            "removeLicenses": list(remove)}
    return graph.post("/%s/%s/assignLicense" % (kind, obj["id"]), json=body)


def licence_view(graph, user):
    return graph.get("/users/%s" % user["id"], params=LICENSE_SELECT)


def sku(graph, sku_id):
    return next(s for s in graph.get("/subscribedSkus")["value"] if s["skuId"] == sku_id)


def graph_error(call, *args, **kwargs):
    with pytest.raises(GraphError) as error:
        call(*args, **kwargs)
    return error.value


# ---- subscribedSkus ---------------------------------------------------------------------------------------


def test_subscribed_skus_have_graph_shape_and_reference_plans(graph, sandbox):
    skus = graph.get("/subscribedSkus")["value"]
    assert {s["skuPartNumber"] for s in skus} >= {"SPE_E3", "SPE_E5", "VISIOCLIENT"}
    properties = set(SCHEMA["types"]["subscribedSku"]["properties"]) | {"id"}
    e3 = next(s for s in skus if s["skuId"] == E3)
    assert set(e3) == properties
    assert e3["id"] == "%s_%s" % (sandbox.conn["tenant_id"], E3)
    assert set(e3["prepaidUnits"]) == {"enabled", "suspended", "warning", "lockedOut"}
    assert isinstance(e3["consumedUnits"], int)
    assert [p["servicePlanId"] for p in e3["servicePlans"]] == list(sku_reference.SKUS[E3][2])
    assert all(p["provisioningStatus"] == "Success" and p["appliesTo"] == "User" for p in e3["servicePlans"])
    assert graph.get("/subscribedSkus/%s" % e3["id"])["skuPartNumber"] == "SPE_E3"


def test_subscribed_skus_support_select_only(graph):
    page = graph.get("/subscribedSkus", params={"$select": "skuPartNumber,consumedUnits"})
    assert page["@odata.context"].endswith("#subscribedSkus(skuPartNumber,consumedUnits)")
    assert all(set(s) == {"id", "skuPartNumber", "consumedUnits"} for s in page["value"])
    error = graph_error(graph.get, "/subscribedSkus", params={"$filter": "skuPartNumber eq 'SPE_E3'"})
    assert error.status == 400


def test_reading_skus_needs_organization_read_and_assigning_needs_a_write_permission(new_client, tenant):
    reader = new_client("m365-reader")
    assert reader.get("/subscribedSkus")["value"]
    user = tenant.user()
    error = graph_error(assign, reader, "users", user, add=[E3])
    assert (error.status, error.code) == (403, "Authorization_RequestDenied")


# ---- direct assignment -----------------------------------------------------------------------------------


def test_assign_license_returns_the_user_and_consumes_a_seat(graph, tenant):
    user = tenant.user()
    before = sku(graph, VISIO)["consumedUnits"]
    answer = assign(graph, "users", user, add=[VISIO])
    assert answer["id"] == user["id"] and answer["userPrincipalName"] == user["userPrincipalName"]
    view = licence_view(graph, user)
    assert view["assignedLicenses"] == [{"skuId": VISIO, "disabledPlans": []}]
    state, = view["licenseAssignmentStates"]
    assert (state["assignedByGroup"], state["state"], state["error"]) == (None, "Active", "None")
    assert sku(graph, VISIO)["consumedUnits"] == before + 1
    assign(graph, "users", user, remove=[VISIO])
    assert licence_view(graph, user)["assignedLicenses"] == []
    assert sku(graph, VISIO)["consumedUnits"] == before


def test_disabled_plans_are_kept_and_left_out_of_assigned_plans(graph, tenant):
    user = tenant.user()
    assign(graph, "users", user, add=[E3], disabled=[SWAY])
    view = licence_view(graph, user)
    assert view["assignedLicenses"] == [{"skuId": E3, "disabledPlans": [SWAY]}]
    plans = {p["servicePlanId"] for p in view["assignedPlans"]}
    assert SWAY not in plans and plans == set(sku_reference.SKUS[E3][2]) - {SWAY}
    assert all(p["capabilityStatus"] == "Enabled" for p in view["assignedPlans"])
    # Re-adding with other disabled plans updates the assignment in place.
    assign(graph, "users", user, add=[E3])
    assert licence_view(graph, user)["assignedLicenses"] == [{"skuId": E3, "disabledPlans": []}]


@pytest.mark.parametrize("body, message", [
    ({"addLicenses": []}, "The missing parameters are: removeLicenses."),
    ({"removeLicenses": []}, "The missing parameters are: addLicenses."),
    ({"addLicenses": [{"skuId": "SPE_E3"}], "removeLicenses": []}, "expected type 'Edm.Guid'"),
    ({"addLicenses": [{"skuId": "11111111-2222-3333-4444-555555555555"}], "removeLicenses": []},
     "does not correspond to a valid company License"),
    ({"addLicenses": [{"skuId": E3, "disabledPlans": [VISIO]}], "removeLicenses": []}, "is not part of the subscription"),
    ({"addLicenses": [], "removeLicenses": [VISIO]}, "User does not have a corresponding license."),
])
def test_assign_license_errors(graph, tenant, body, message):
    user = tenant.user()
    error = graph_error(graph.post, "/users/%s/assignLicense" % user["id"], json=body)
    assert (error.status, error.code) == (400, "Request_BadRequest")
    assert message in error.message
    assert licence_view(graph, user)["assignedLicenses"] == []


def test_a_user_without_usage_location_cannot_be_licensed(graph, tenant):
    user = tenant.user(usage_location=None)
    error = graph_error(assign, graph, "users", user, add=[VISIO])
    assert error.message == "License assignment cannot be done for user with invalid usage location."


def test_no_free_seat_is_refused_and_the_control_api_sets_seats(graph, tenant, sandbox):
    seats = sandbox.control("PATCH", "skus/SPE_E5", json={"prepaid": sku(graph, E5)["consumedUnits"] + 1})
    assert seats["prepaidUnits"]["enabled"] == seats["consumedUnits"] + 1
    assign(graph, "users", tenant.user(), add=[E5])
    error = graph_error(assign, graph, "users", tenant.user(), add=[E5])
    assert error.message == "Subscription with SKU %s does not have any available licenses." % E5
    listed = {s["skuPartNumber"]: s for s in sandbox.control("GET", "skus")}
    assert listed["SPE_E5"]["consumedUnits"] == listed["SPE_E5"]["prepaidUnits"]["enabled"]
    sandbox.control("PATCH", "skus/SPE_E5", json={"prepaid": 100})


def test_assign_license_works_in_a_batch(graph, tenant):
    users = tenant.users(3)
    results = graph.batch([{"method": "POST", "url": "/users/%s/assignLicense" % u["id"],
                            "body": {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}}
                           for u in users])
    assert [r.status for r in results] == [200, 200, 200]
    assert all(licence_view(graph, u)["assignedLicenses"][0]["skuId"] == E3 for u in users)


# ---- group-based licensing -------------------------------------------------------------------------------------


def test_group_licence_is_inherited_by_members_and_follows_membership(graph, tenant):
    alice, bob = tenant.user(), tenant.user()
    group = tenant.group([alice])
    response = graph.request("POST", "/groups/%s/assignLicense" % group["id"],
                             json={"addLicenses": [{"skuId": E3, "disabledPlans": [SWAY]}], "removeLicenses": []})
    assert response["id"] == group["id"]
    assert graph.get("/groups/%s" % group["id"], params={"$select": "assignedLicenses"})["assignedLicenses"] == [
        {"skuId": E3, "disabledPlans": [SWAY]}]
    state, = licence_view(graph, alice)["licenseAssignmentStates"]
    assert (state["assignedByGroup"], state["state"], state["disabledPlans"]) == (group["id"], "Active", [SWAY])
    # A new member inherits; a member who leaves loses it.
    tenant.add_member(group, bob)
    assert licence_view(graph, bob)["assignedLicenses"] == [{"skuId": E3, "disabledPlans": [SWAY]}]
    graph.delete("/groups/%s/members/%s/$ref" % (group["id"], alice["id"]))
    assert licence_view(graph, alice)["licenseAssignmentStates"] == []
    # Removing the group's licence removes it from every member.
    assign(graph, "groups", group, remove=[E3])
    assert licence_view(graph, bob)["assignedLicenses"] == []


def test_group_assign_license_answers_202_with_location(tenant, raw):
    group = tenant.group()
    response = raw.call("POST", "/groups/%s/assignLicense" % group["id"],
                        json={"addLicenses": [{"skuId": VISIO, "disabledPlans": []}], "removeLicenses": []})
    assert response.status_code == 202
    assert group["id"] in response.headers["Location"]
    assert response.json()["id"] == group["id"]


def test_direct_and_inherited_assignments_are_distinct_and_use_one_seat(graph, tenant):
    user = tenant.user()
    assign(graph, "users", user, add=[E3], disabled=[SWAY])
    consumed = sku(graph, E3)["consumedUnits"]
    group = tenant.group([user])
    assign(graph, "groups", group, add=[E3])
    states = licence_view(graph, user)["licenseAssignmentStates"]
    assert sorted((s["assignedByGroup"] or "", s["state"]) for s in states) == [("", "Active"), (group["id"], "Active")]
    # assignedLicenses is the union: a plan enabled by any assignment is enabled.
    assert licence_view(graph, user)["assignedLicenses"] == [{"skuId": E3, "disabledPlans": []}]
    assert sku(graph, E3)["consumedUnits"] == consumed
    error = graph_error(assign, graph, "users", tenant.user(), remove=[E3])
    assert "does not have a corresponding license" in error.message
    inherited_only = tenant.user()
    tenant.add_member(group, inherited_only)
    error = graph_error(assign, graph, "users", inherited_only, remove=[E3])
    assert "inherited from a group" in error.message


def test_members_beyond_the_free_seats_get_count_violation_and_consume_nothing(graph, tenant, sandbox):
    sandbox.control("PATCH", "skus/VISIOCLIENT", json={"prepaid": sku(graph, VISIO)["consumedUnits"] + 2})
    members = tenant.users(3)
    group = tenant.group(members)
    assign(graph, "groups", group, add=[VISIO])
    states = [licence_view(graph, m)["licenseAssignmentStates"][0] for m in members]
    assert [(s["state"], s["error"]) for s in states] == [("Active", "None"), ("Active", "None"),
                                                          ("Error", "CountViolation")]
    assert licence_view(graph, members[2])["assignedLicenses"] == []
    listed = sku(graph, VISIO)
    assert listed["consumedUnits"] == listed["prepaidUnits"]["enabled"]
    assert graph.get("/groups/%s" % group["id"], params={"$select": "hasMembersWithLicenseErrors"})[
        "hasMembersWithLicenseErrors"] is True
    in_error = graph.get("/groups/%s/membersWithLicenseErrors" % group["id"])["value"]
    assert [u["id"] for u in in_error] == [members[2]["id"]]
    # A seat freed elsewhere goes to the member in error.
    sandbox.control("PATCH", "skus/VISIOCLIENT", json={"prepaid": listed["prepaidUnits"]["enabled"] + 1})
    assert licence_view(graph, members[2])["licenseAssignmentStates"][0]["state"] == "Active"


def test_a_member_without_usage_location_inherits_with_the_tenant_location(graph, tenant):
    # Entra: "any users without a usage location specified inherit the location of the directory".
    user = tenant.user(usage_location=None)
    group = tenant.group([user])
    assign(graph, "groups", group, add=[E3])
    state, = licence_view(graph, user)["licenseAssignmentStates"]
    assert (state["state"], state["error"]) == ("Active", "None")


def test_group_licences_need_a_security_enabled_group(graph):
    name = "lic-m365-%s" % uuid.uuid4().hex[:8]
    group = graph.post("/groups", json={"displayName": name, "mailNickname": name, "mailEnabled": True,
                                        "securityEnabled": False, "groupTypes": ["Unified"]})
    error = graph_error(assign, graph, "groups", group, add=[E3])
    assert error.status == 400


def test_a_seed_can_give_users_direct_licences(sandbox_factory, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "tenant: {id: 3f0c9a52-6b1e-4d7a-8c2f-9e4b5a6d7c81, default_domain: fabrikam.onmicrosoft.com,"
        " verified_domains: [fabrikam.onmicrosoft.com]}\n"
        "apps: [{name: app, client_id: 7d4c2b1a-0e9f-4a8b-b7c6-d5e4f3a2b1c0, client_secret: generate,"
        " roles: [User.Read.All, Organization.Read.All]}]\n"
        "skus: [{part_number: SPE_E3, prepaid: 3}]\n"
        "users: [{userPrincipalName: lee@fabrikam.onmicrosoft.com, displayName: Lee, accountEnabled: true,"
        " usageLocation: US, licenses: [Microsoft 365 E3]}]\n")
    box = sandbox_factory(seed=seed)
    client = box.client("app")
    try:
        user = client.get("/users/lee@fabrikam.onmicrosoft.com", params=LICENSE_SELECT)
        assert user["assignedLicenses"] == [{"skuId": E3, "disabledPlans": []}]
        assert [s["assignedByGroup"] for s in user["licenseAssignmentStates"]] == [None]
        assert sku(client, E3)["consumedUnits"] == 1
    finally:
        client.close()


def test_group_licences_reach_members_only_after_the_processing_delay(graph, tenant, sandbox):
    """FIDELITY.md 7.6: group licence processing is asynchronous; the group shows its licence at once."""
    import time
    sandbox.configure(group_license_delay_seconds=1.5)
    try:
        member = tenant.user()
        group = tenant.group([member])
        assign(graph, "groups", group, add=[E3])
        assert licence_view(graph, member)["licenseAssignmentStates"] == []
        queued = graph.get("/groups/%s" % group["id"], params={"$select": "assignedLicenses,licenseProcessingState"})
        assert [lic["skuId"] for lic in queued["assignedLicenses"]] == [E3]
        assert queued["licenseProcessingState"] == {"state": "QueuedForProcessing"}
        time.sleep(1.6)
        state, = licence_view(graph, member)["licenseAssignmentStates"]
        assert (state["skuId"], state["assignedByGroup"], state["state"]) == (E3, group["id"], "Active")
        done = graph.get("/groups/%s" % group["id"], params={"$select": "licenseProcessingState"})
        assert done["licenseProcessingState"] == {"state": "ProcessingComplete"}
    finally:
        sandbox.configure(group_license_delay_seconds=0)


def test_licences_only_on_security_enabled_groups_and_a_microsoft_365_group_can_be_one(graph, sandbox):
    """FIDELITY.md 7.6."""
    name = uuid.uuid4().hex[:8]
    team = graph.post("/groups", json={"displayName": name, "mailNickname": name, "mailEnabled": True,
                                       "securityEnabled": False, "groupTypes": ["Unified"]})
    with pytest.raises(GraphError) as refused:
        assign(graph, "groups", team, add=[E3])
    assert refused.value.status == 400 and refused.value.code == "Request_BadRequest"
    graph.patch("/groups/%s" % team["id"], json={"securityEnabled": True})
    assert assign(graph, "groups", team, add=[E3])["id"] == team["id"]


def test_licence_states_kept_up_to_date_in_place_equal_a_full_recompute(graph, tenant, sandbox):
    """Direct assignments and member adds / removals update the derived licence state in place (issue 13);
    what clients read must be exactly what a recompute from scratch gives, seats running out included."""
    visio = sku(graph, VISIO)
    sandbox.control("PATCH", "skus/VISIOCLIENT", json={"prepaid": visio["consumedUnits"] + 3})
    visio = sku(graph, VISIO)
    users = tenant.users(6)   # 3 free Visio seats for 5 members of the first group
    first, second = tenant.group(users[:2]), tenant.group()
    assign(graph, "groups", first, add=[VISIO, E3])
    assign(graph, "groups", second, add=[E3])
    assign(graph, "users", users[2], add=[E5])

    def then_read(change):
        change()
        graph.get("/subscribedSkus")   # a read between changes keeps the derived state current, so the
                                       # next change is applied in place where that is safe
    for user in users[3:]:
        then_read(lambda: tenant.add_member(second, user))
        then_read(lambda: tenant.add_member(first, user))          # Visio seats run out: CountViolation
    then_read(lambda: graph.delete("/groups/%s/members/%s/$ref" % (first["id"], users[0]["id"])))
    then_read(lambda: graph.delete("/groups/%s/members/%s/$ref" % (second["id"], users[4]["id"])))
    then_read(lambda: assign(graph, "users", users[1], add=[E5]))

    def everything():
        states = {u["id"]: licence_view(graph, u) for u in users}
        errors = {g["id"]: sorted(m["id"] for m in graph.list("/groups/%s/membersWithLicenseErrors" % g["id"]))
                  for g in (first, second)}
        seats = {s["skuId"]: s["consumedUnits"] for s in graph.get("/subscribedSkus")["value"]}
        return states, errors, seats

    in_place = everything()
    assert any(s["state"] == "Error" for view in in_place[0].values() for s in view["licenseAssignmentStates"])
    sandbox.control("PATCH", "skus/VISIOCLIENT", json={"prepaid": visio["prepaidUnits"]["enabled"]})  # forces a recompute
    assert everything() == in_place
