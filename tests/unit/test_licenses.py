"""Licence logic: SKU and plan names as people write them, plans of changes, seat checks."""

from __future__ import annotations

import importlib.util
import re
from urllib.parse import unquote
from pathlib import Path

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import sku_reference
from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import (
    LicenseError,
    SkuCatalog,
    direct_assignments,
    holds_license,
    members_in_error,
    parse_assignments,
    plan_changes,
    render_assignments,
    resolve_licenses,
    seat_shortfalls,
)

ROOT = Path(__file__).resolve().parents[2]

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
VISIO = "c5928f49-12ba-48f7-ada3-0d743a3601d5"
SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"
EXCHANGE_E = "efb87545-963c-4e0d-99df-69c6916d9eb0"
PSTN5 = sorted(sku_reference.sku_ids_by_part_number("MCOPSTN5"))


def graph_sku(sku_id, enabled=10, consumed=0):
    """A subscribedSku as Graph returns it, with the plans of Microsoft's table."""
    part_number, _product_names, plan_ids = sku_reference.SKUS[sku_id]
    return {
        "skuId": sku_id,
        "skuPartNumber": part_number,
        "prepaidUnits": {"enabled": enabled, "warning": 0, "suspended": 0, "lockedOut": 0},
        "consumedUnits": consumed,
        "capabilityStatus": "Enabled",
        "servicePlans": [{"servicePlanId": p, "servicePlanName": sku_reference.PLANS[p][0],
                          "provisioningStatus": "Success", "appliesTo": "User"} for p in plan_ids],
    }


@pytest.fixture
def catalog():
    return SkuCatalog([graph_sku(E3, 25, 20), graph_sku(E5, 5, 5), graph_sku(VISIO, 3, 0)])


# ---- the generated reference table -------------------------------------------------------


def test_reference_module_is_generated_from_the_project_csv():
    spec = importlib.util.spec_from_file_location("generate_sku_reference", ROOT / "tools" / "generate_sku_reference.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    expected = generator.render(*generator.collect(generator.read_rows(generator.CSV_PATH)))
    assert (ROOT / "plugins" / "module_utils" / "sku_reference.py").read_text(encoding="utf-8") == expected


def test_reference_keeps_the_published_quirks():
    assert len(sku_reference.SKUS) == 617
    assert len(PSTN5) == 2
    # A renamed product keeps both names under one SKU id.
    copilot_studio = sku_reference.sku_ids_by_display_name("Microsoft Copilot Studio User License")
    assert copilot_studio == sku_reference.sku_ids_by_display_name("Power Virtual Agent User License")
    # One product name used by two SKU ids.
    assert len(sku_reference.sku_ids_by_display_name("microsoft 365 business basic")) == 2
    assert sku_reference.display_name(E3) == "Microsoft 365 E3"
    assert sku_reference.plan_names(SWAY)[0] == "SWAY"


# ---- resolving SKUs and plans ------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["SPE_E3", "spe_e3", E3, E3.upper(), "Microsoft 365 E3", "microsoft 365  e3"])
def test_a_sku_is_found_by_part_number_id_or_product_name(catalog, ref):
    assert catalog.resolve(ref)["id"] == E3


def test_a_sku_not_subscribed_says_so_with_its_reference_name(catalog):
    with pytest.raises(LicenseError) as error:
        catalog.resolve("ENTERPRISEPACK")
    assert "is not subscribed in this tenant" in str(error.value)


def test_an_unknown_sku_lists_close_matches(catalog):
    with pytest.raises(LicenseError) as error:
        catalog.resolve("SPE_E4")
    message = str(error.value)
    assert message.startswith("Unknown SKU 'SPE_E4'")
    assert "SPE_E3 (Microsoft 365 E3)" in message and "SPE_E5 (Microsoft 365 E5)" in message


def test_a_part_number_naming_two_subscribed_skus_is_ambiguous_never_guessed():
    catalog = SkuCatalog([graph_sku(PSTN5[0]), graph_sku(PSTN5[1])])
    with pytest.raises(LicenseError) as error:
        catalog.resolve("MCOPSTN5")
    message = str(error.value)
    assert "ambiguous" in message and PSTN5[0] in message and PSTN5[1] in message
    # The SKU id still picks one.
    assert catalog.resolve(PSTN5[1])["id"] == PSTN5[1]


def test_plans_are_found_by_name_friendly_name_or_id(catalog):
    sku = catalog.get(E3)
    assert catalog.resolve_plans(sku, ["sway", "Exchange Online (Plan 2)", SWAY]) == [SWAY, EXCHANGE_E]


def test_an_unknown_plan_lists_close_matches(catalog):
    with pytest.raises(LicenseError) as error:
        catalog.resolve_plans(catalog.get(E3), ["SWAYY"])
    assert "SPE_E3 has no service plan 'SWAYY'" in str(error.value)
    assert "SWAY" in str(error.value).split("Did you mean:")[1]


# ---- the requested licences ----------------------------------------------------------------------


def test_licenses_spec_resolves_strings_and_dicts(catalog):
    desired = resolve_licenses(catalog, {"add": ["VISIOCLIENT", {"sku": "SPE_E3", "disabled_plans": ["SWAY"]}],
                                         "remove": ["Microsoft 365 E5"]})
    assert desired == {"add": {VISIO: None, E3: frozenset([SWAY])}, "remove": {E5}, "set": None}


@pytest.mark.parametrize("spec, words", [
    ({"set": ["SPE_E3"], "add": ["VISIOCLIENT"]}, "set cannot be combined"),
    ({"add": ["SPE_E3", E3]}, "names SPE_E3 (Microsoft 365 E3) twice"),
    ({"add": ["SPE_E3"], "remove": ["spe_e3"]}, "both added and removed"),
    ({"add": [{"sku": "SPE_E3", "plans": []}]}, "unknown key(s) plans"),
    ({"add": [{"disabled_plans": []}]}, "each licence is a SKU"),
    ({"add": None, "remove": None, "set": None}, "give add, remove or set"),
])
def test_invalid_licenses_spec_is_refused_with_the_reason(catalog, spec, words):
    with pytest.raises(LicenseError) as error:
        resolve_licenses(catalog, spec)
    assert words in str(error.value)


def test_an_assignment_needs_exactly_one_target():
    with pytest.raises(LicenseError):
        parse_assignments(None, [{"user": "a@contoso.com", "group": "g", "licenses": {"add": []}}])
    assert parse_assignments(None, [{"group": "g", "licenses": {"add": []}}])[0].target_type == "group"


# ---- planning the change -------------------------------------------------------------------------------


USER = {
    "id": "u1",
    "licenseAssignmentStates": [
        {"skuId": E3, "disabledPlans": [SWAY], "assignedByGroup": None, "state": "Active", "error": "None"},
        {"skuId": E3, "disabledPlans": [], "assignedByGroup": "g1", "state": "Active", "error": "None"},
        {"skuId": E5, "disabledPlans": [], "assignedByGroup": "g2", "state": "Error", "error": "CountViolation"},
    ],
}


def test_only_direct_assignments_are_managed():
    assert direct_assignments(USER, "user") == {E3: frozenset([SWAY])}
    group = {"id": "g1", "assignedLicenses": [{"skuId": E5, "disabledPlans": []}]}
    assert direct_assignments(group, "group") == {E5: frozenset()}


def test_a_licence_in_error_does_not_hold_a_seat():
    assert holds_license(USER, E3)
    assert not holds_license(USER, E5)


def test_unchanged_when_the_direct_assignment_matches(catalog):
    current = {E3: frozenset([SWAY])}
    for spec in ({"add": ["SPE_E3"]}, {"add": [{"sku": "SPE_E3", "disabled_plans": ["SWAY"]}]}, {"set": ["SPE_E3"]}):
        after, add, remove = plan_changes(current, resolve_licenses(catalog, spec))
        assert (after, add, remove) == (current, [], [])


def test_changing_only_disabled_plans_is_an_update(catalog):
    desired = resolve_licenses(catalog, {"add": [{"sku": "SPE_E3", "disabled_plans": []}]})
    after, add, remove = plan_changes({E3: frozenset([SWAY])}, desired)
    assert add == [{"skuId": E3, "disabledPlans": []}] and remove == []
    assert after == {E3: frozenset()}


def test_set_removes_other_direct_skus_and_remove_ignores_missing_ones(catalog):
    current = {E3: frozenset(), VISIO: frozenset()}
    after, add, remove = plan_changes(current, resolve_licenses(catalog, {"set": ["SPE_E5", "SPE_E3"]}))
    assert add == [{"skuId": E5, "disabledPlans": []}]
    assert remove == [VISIO]
    after, add, remove = plan_changes(current, resolve_licenses(catalog, {"remove": ["SPE_E5", "VISIOCLIENT"]}))
    assert (add, remove, after) == ([], [VISIO], {E3: frozenset()})


def test_diff_names_skus_and_plans_not_guids(catalog):
    rendered = render_assignments(catalog, {E3: frozenset([SWAY, EXCHANGE_E]), VISIO: frozenset()})
    assert rendered == [{"sku": "SPE_E3", "disabled_plans": ["EXCHANGE_S_ENTERPRISE", "SWAY"]},
                        {"sku": "VISIOCLIENT", "disabled_plans": []}]


# ---- seats and errors ----------------------------------------------------------------------------------


def test_seat_shortfall_says_needed_and_free(catalog):
    needed = {E3: set("u%d" % i for i in range(8)), VISIO: set(["u1"])}
    assert seat_shortfalls(catalog, needed) == ["SPE_E3 (Microsoft 365 E3): 8 needed, 5 free"]
    assert seat_shortfalls(catalog, {E3: set("u%d" % i for i in range(5))}) == []


def test_members_in_error_reads_graph_error_none_as_no_error(catalog):
    members = [
        {"id": "u1", "userPrincipalName": "b@contoso.com", "licenseAssignmentStates": [
            {"skuId": E3, "assignedByGroup": "g1", "state": "Active", "error": "None"}]},
        {"id": "u2", "userPrincipalName": "a@contoso.com", "licenseAssignmentStates": [
            {"skuId": E3, "assignedByGroup": "g1", "state": "Error", "error": "CountViolation"},
            {"skuId": E5, "assignedByGroup": "other", "state": "Error", "error": "CountViolation"}]},
    ]
    assert members_in_error(catalog, "g1", members) == [
        {"id": "u2", "user_principal_name": "a@contoso.com", "sku_part_number": "SPE_E3", "state": "Error",
         "error": "CountViolation"}]


# ---- group licensing (FIDELITY 7.6) --------------------------------------------------------------------

GROUP_ID = "00000000-0000-0000-0000-0000000000g1".replace("g", "a")


class GroupLicensingGraph:
    """Subscribed SKUs, one group and its licence processing state, which completes after `polls` reads."""

    base_url = "https://graph.microsoft.com/v1.0"

    def __init__(self, security_enabled=True, polls=2):
        self.group = {"id": GROUP_ID, "displayName": "Sales", "uniqueName": None, "securityEnabled": security_enabled,
                      "groupTypes": ["Unified"], "mailEnabled": True, "assignedLicenses": []}
        self.polls = polls
        self.writes = []

    def list(self, path, select=None, filter=None, **kwargs):
        if path == "/subscribedSkus":
            return [graph_sku(E3, 25, 0)]
        if path == "/groups":
            return [dict(self.group)]
        if path.endswith("/members"):
            return []
        raise AssertionError("unexpected list " + path)

    def get(self, path, params=None, **kwargs):
        if path == "/subscribedSkus":
            return {"value": [graph_sku(E3, 25, 0)]}
        assert path == "/groups/" + GROUP_ID and "licenseProcessingState" in params["$select"]
        self.polls -= 1
        return {"id": GROUP_ID, "licenseProcessingState": {
            "state": "ProcessingComplete" if self.polls <= 0 else "QueuedForProcessing"}}

    def batch(self, requests):
        from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult
        results = []
        for request in requests:
            if request["method"] == "GET" and request["url"].startswith("/subscribedSkus?"):
                results.append(BatchResult(request["id"], 200, {"value": [graph_sku(E3, 25, 0)]}))
            elif request["method"] == "GET":
                results.append(BatchResult(request["id"], 404, {"error": {"code": "Request_ResourceNotFound",
                                                                          "message": "no such unique name"}}))
            else:
                self.writes.append(request)
                results.append(BatchResult(request["id"], 200, {}))
        return results


def license_run(graph):
    from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import LicenseRun
    run = LicenseRun(graph)
    sleeps = []
    run._sleep = sleeps.append
    run._clock = lambda: sum(sleeps)
    return run, sleeps


def test_a_group_that_is_not_security_enabled_is_refused_before_any_write():
    graph = GroupLicensingGraph(security_enabled=False)
    run, _sleeps = license_run(graph)
    [result] = run.run(parse_assignments({"group": "Sales", "licenses": {"add": ["SPE_E3"]}}, None))
    assert result["action"] == "failed" and "security_enabled: true" in result["error"]
    assert graph.writes == []


def test_group_licences_are_waited_for_then_reported_as_processed():
    graph = GroupLicensingGraph(polls=3)
    run, sleeps = license_run(graph)
    [result] = run.run(parse_assignments({"group": "Sales", "licenses": {"add": ["SPE_E3"]}}, None))
    assert result["action"] == "updated" and len(graph.writes) == 1
    assert result["object"]["license_processing_state"] == "ProcessingComplete" and len(sleeps) == 2


def test_group_licences_still_processing_after_the_wait_are_reported_so():
    graph = GroupLicensingGraph(polls=10 ** 6)
    run, sleeps = license_run(graph)
    [result] = run.run(parse_assignments({"group": "Sales", "licenses": {"add": ["SPE_E3"]}}, None))
    assert result["action"] == "updated"
    assert result["object"]["license_processing_state"] == "QueuedForProcessing"
    assert sum(sleeps) <= 30


class PagedUsersGraph:
    """A tenant of `size` users: the full list in pages of 999, or keyed `id in` reads, through $batch."""

    base_url = "https://graph.microsoft.com/v1.0"

    def __init__(self, size):
        self.users = [{"id": "00000000-0000-0000-0000-%012d" % n, "userPrincipalName": "u%05d@contoso.com" % n}
                      for n in range(size)]
        self.requests = []
        self.keyed_reads = 0

    def list(self, path, **kwargs):
        assert "skiptoken" in path
        self.requests.extend("page %d" % (n + 2) for n in range(-(-(len(self.users) - 999) // 999)))
        return self.users[999:]

    def batch(self, requests):
        from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult
        self.requests.extend("batch" for _ in range(-(-len(requests) // 20)))
        results = []
        for request in requests:
            url = unquote(request["url"])
            assert url.startswith("/users?") and "$top=999" in url
            if "$filter" not in url:  # the first page of the full list
                more = {"@odata.nextLink": self.base_url + "/users?$skiptoken=x"} if len(self.users) > 999 else {}
                results.append(BatchResult(request["id"], 200, dict(value=self.users[:999], **more)))
                continue
            self.keyed_reads += 1
            wanted = set(re.findall(r"'([^']+)'", url))
            results.append(BatchResult(request["id"], 200, {"value": [u for u in self.users if u["id"] in wanted]}))
        return results


@pytest.mark.parametrize("tenant, targets, requests, keyed_reads", [
    # Nearly everyone: the first page and the 19 keyed reads in its batch's spare slots find 1,284 of 2,500,
    # and finishing the list (estimated 2 more pages) is cheaper than 82 more keyed reads (5 requests).
    (3000, 2500, ["batch", "page 2", "page 3", "page 4"], 19),
    # 1 in 10: 100 on the first page, 280 in the spare slots, the other 620 by key, 300 a request.
    (10000, 1000, ["batch", "batch", "batch", "batch"], 19 + 42),
    (10000, 46, ["batch"], 4),   # the first page and every keyed read in one batch
    (10000, 270, ["batch"], 18),
])
def test_licence_targets_are_read_by_whichever_costs_fewer_requests(tenant, targets, requests, keyed_reads):
    from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import TargetReader
    graph = PagedUsersGraph(tenant)
    step = tenant // targets
    refs = [graph.users[n * step]["id"] for n in range(targets)]
    found = TargetReader(graph).users(refs)
    assert [found[r]["id"] for r in refs] == refs
    assert graph.requests == requests
    assert graph.keyed_reads == keyed_reads


class GroupTargetsGraph:
    """SKUs, a group found by unique name, one found only by display name, and their (empty) member lists."""

    base_url = "https://graph.microsoft.com/v1.0"
    by_unique = {"id": "00000000-0000-0000-0000-00000000000a", "uniqueName": "sales-eu", "displayName": "Sales EU",
                 "securityEnabled": True, "assignedLicenses": [{"skuId": E3, "disabledPlans": []}]}
    by_name = {"id": "00000000-0000-0000-0000-00000000000b", "uniqueName": None, "displayName": "Sales Team",
               "securityEnabled": True, "assignedLicenses": []}

    def __init__(self):
        self.calls = []

    def batch(self, requests):
        from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult
        self.calls.append(["batch"] + [unquote(r["url"]).split("?")[0] for r in requests])
        results = []
        for request in requests:
            url = unquote(request["url"])
            if url.startswith("/subscribedSkus"):
                results.append(BatchResult(request["id"], 200, {"value": [graph_sku(E3, 25, 1)]}))
            elif url.startswith("/groups(uniqueName='sales-eu')"):
                results.append(BatchResult(request["id"], 200, dict(self.by_unique)))
            elif url.startswith("/groups("):
                results.append(BatchResult(request["id"], 404, {"error": {"code": "Request_ResourceNotFound"}}))
            else:
                assert url.split("?")[0].endswith("/members"), url
                results.append(BatchResult(request["id"], 200, {"value": []}))
        return results

    def list(self, path, select=None, filter=None, **kwargs):
        self.calls.append(["list", path, filter])
        assert path == "/groups" and "assignedLicenses" in select
        return [dict(self.by_name)] if "Sales Team" in filter else []


def test_group_targets_are_read_once_with_their_licences_and_beside_the_skus():
    from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import TargetReader
    graph = GroupTargetsGraph()
    skus = []
    read_skus = ({"method": "GET", "url": "/subscribedSkus?$select=skuId"},
                 lambda result: skus.extend(result.body["value"]))
    users, groups, members = TargetReader(graph).read([], ["sales-eu", "Sales Team"], members=True, first=[read_skus])
    ids = [GroupTargetsGraph.by_unique["id"], GroupTargetsGraph.by_name["id"]]
    assert graph.calls == [
        ["batch", "/subscribedSkus", "/groups(uniqueName='sales-eu')", "/groups(uniqueName='Sales Team')"],
        ["list", "/groups", "displayName in ('Sales Team')"],   # its unique name is not read again
        ["batch"] + ["/groups/%s/members" % group_id for group_id in ids],
    ]
    assert len(skus) == 1 and users == {}
    assert groups["sales-eu"]["assignedLicenses"] == GroupTargetsGraph.by_unique["assignedLicenses"]
    assert groups["Sales Team"]["id"] == GroupTargetsGraph.by_name["id"]
    assert members == {ids[0]: [], ids[1]: []}
