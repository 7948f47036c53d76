"""The tenant report's figures (tenant_report) and its page (report_html), from made-up Graph objects."""

from __future__ import annotations

import datetime
import json
import re
from html.parser import HTMLParser

from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import SkuCatalog
from ansible_collections.m365.cloud_identity.plugins.module_utils.report_html import bar_chart, render
from ansible_collections.m365.cloud_identity.plugins.module_utils.tenant_report import (
    build_report,
    drift_section,
    group_kind,
    headline,
    parse_time,
)

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
VISIO = "c5928f49-12ba-48f7-ada3-0d743a3601d5"
NOW = datetime.datetime(2026, 6, 30, 12, 0, tzinfo=datetime.timezone.utc)


def sku(sku_id, part, enabled, consumed):
    return {"skuId": sku_id, "skuPartNumber": part, "capabilityStatus": "Enabled", "appliesTo": "User",
            "prepaidUnits": {"enabled": enabled, "warning": 0, "suspended": 0, "lockedOut": 0},
            "consumedUnits": consumed, "servicePlans": []}


def user(n, department="Sales", enabled=True, location="US", states=()):
    return {"id": "u%d" % n, "userPrincipalName": "user%d@contoso.com" % n, "displayName": "User %d" % n,
            "department": department, "accountEnabled": enabled, "usageLocation": location, "userType": "Member",
            "licenseAssignmentStates": list(states)}


def guest(n, state, invited):
    return {"id": "g%d" % n, "userPrincipalName": "guest%d_fabrikam.com#EXT#@contoso.onmicrosoft.com" % n,
            "mail": "guest%d@fabrikam.com" % n, "userType": "Guest", "externalUserState": state,
            "createdDateTime": "2025-01-01T00:00:00Z", "externalUserStateChangeDateTime": invited}


def tenant(users, groups=(), counts=None, skus=None):
    catalog = SkuCatalog(skus if skus is not None else [sku(E3, "SPE_E3", 25, 20), sku(VISIO, "VISIOCLIENT", 3, 3)])
    return dict(catalog=catalog, users=list(users), groups=list(groups), member_counts=counts or {})


def test_licences_show_seats_utilisation_and_who_is_in_error_by_group():
    team = {"id": "grp1", "displayName": "Visio Team", "groupTypes": [], "securityEnabled": True}
    error = {"skuId": VISIO.upper(), "assignedByGroup": "grp1", "state": "Error", "error": "CountViolation"}
    active = {"skuId": VISIO, "assignedByGroup": "grp1", "state": "Active", "error": "None"}
    users = [user(1, states=[active]), user(3, states=[error]), user(2, states=[error])]
    report = build_report(tenant(users, [team]), NOW, top=1)
    e3, visio = report["licenses"]["skus"]
    assert (e3["display_name"], e3["free"], e3["utilisation"], e3["in_error"]) == ("Microsoft 365 E3", 5, 80.0, 0)
    assert (visio["in_error"], visio["errors_by_code"]) == (2, {"CountViolation": 2})
    # Top 1: the first by name, attributed to the group by its name.
    assert visio["users_in_error"] == [dict(user_principal_name="user2@contoso.com", group="Visio Team",
                                            direct=False, state="Error", error="CountViolation")]
    assert report["licenses"]["totals"] == dict(enabled=28, consumed=23, free=5, in_error=2)


def test_departments_are_ranked_with_the_rest_folded_into_one_row():
    users = ([user(n, "Sales") for n in range(5)] + [user(10 + n, "IT", enabled=False) for n in range(3)]
             + [user(20, "Legal"), user(21, ""), user(22, None, location=None)])
    data = build_report(tenant(users), NOW, top=2)["users"]
    assert [(d["department"], d["users"], d["enabled"], d["disabled"]) for d in data["by_department"]] == [
        ("Sales", 5, 5, 0), ("IT", 3, 0, 3), ("2 other departments", 3, 3, 0)]
    assert (data["total"], data["enabled"], data["disabled"], data["department_count"]) == (11, 8, 3, 4)
    assert data["without_usage_location"] == 1
    assert data["without_usage_location_sample"][0]["user_principal_name"] == "user22@contoso.com"


def test_guests_by_state_and_invitation_age_oldest_pending_first():
    guests = [guest(1, "PendingAcceptance", "2026-06-28T10:00:00.1234567Z"),     # 2 days
              guest(2, "PendingAcceptance", "2026-03-01T00:00:00Z"),             # 121 days
              guest(3, "Accepted", "2026-06-01T00:00:00Z"),                      # invited 2025-01-01
              guest(4, None, None)]
    data = build_report(tenant(guests), NOW, top=5)["guests"]
    assert data["by_state"] == {"PendingAcceptance": 2, "Accepted": 1, "Other": 1}
    ages = dict((a["age"], (a["PendingAcceptance"], a["Accepted"], a["Other"])) for a in data["by_age"])
    assert ages["under 7 days"] == (1, 0, 0) and ages["90-365 days"] == (1, 0, 0)
    assert ages["over a year"] == (0, 1, 1)  # both created 2025-01-01
    assert [(g["mail"], g["age_days"], g["invited"]) for g in data["oldest_pending"]] == [
        ("guest2@fabrikam.com", 121, "2026-03-01"), ("guest1@fabrikam.com", 2, "2026-06-28")]
    assert build_report(tenant(guests), NOW)["users"]["total"] == 0


def test_groups_by_kind_largest_and_dynamic_rules():
    groups = [
        {"id": "a", "displayName": "All Sales", "groupTypes": ["DynamicMembership"], "securityEnabled": True,
         "membershipRule": 'user.department -eq "Sales"', "membershipRuleProcessingState": "On"},
        {"id": "b", "displayName": "Falcon", "groupTypes": ["Unified"], "securityEnabled": False,
         "assignedLicenses": [{"skuId": E3}]},
        {"id": "c", "displayName": "Admins", "groupTypes": [], "securityEnabled": True},
        {"id": "d", "displayName": "News", "groupTypes": [], "securityEnabled": False, "mailEnabled": True},
    ]
    data = build_report(tenant([], groups, counts={"a": 40, "b": 7, "c": 7}), NOW, top=3)["groups"]
    assert data["by_kind"] == {"Security": 1, "Microsoft 365": 1, "Dynamic": 1, "Distribution": 1}
    assert [(g["name"], g["members"]) for g in data["largest"]] == [("All Sales", 40), ("Admins", 7), ("Falcon", 7)]
    assert data["dynamic"] == [dict(name="All Sales", rule='user.department -eq "Sales"', processing="On",
                                    members=40)]
    assert data["licensed"] == 1
    assert group_kind({"groupTypes": ["Unified", "DynamicMembership"]}) == "Dynamic"


def test_drift_lists_changing_items_with_the_attributes_they_change_never_their_values():
    stages = [{"name": "Users", "summary": {"created": 1, "updated": 2, "unchanged": 7},
               "results": [
                   {"key": "a@contoso.com", "action": "updated",
                    "diff": {"before": {"job_title": "Dev"}, "after": {"job_title": "Lead", "password": "<changed>"}}},
                   {"key": "b@contoso.com", "action": "created", "diff": {"before": {}, "after": {"city": "Oslo"}}},
                   {"key": "c@contoso.com", "action": "unchanged"},
                   {"key": "d@contoso.com", "action": "updated", "diff": None}]},
              {"name": "Licences", "error": "No group found for 'x'"}]
    drift = drift_section(stages, top=2)
    users, licences = drift["stages"]
    assert users["items"] == [dict(key="a@contoso.com", action="updated", changes=["job_title", "password"], error=None),
                              dict(key="b@contoso.com", action="created", changes=["city"], error=None)]
    assert (users["changing"], users["more_items"], users["summary"]["unchanged"]) == (3, 1, 7)
    assert (licences["changing"], licences["error"]) == (0, "No group found for 'x'")
    assert (drift["changing"], drift["errors"]) == (3, 1)
    assert "Lead" not in json.dumps(drift) and "<changed>" not in json.dumps(drift)


def test_parse_time_takes_graph_forms():
    assert parse_time("2026-06-28T10:00:00.1234567Z") == datetime.datetime(
        2026, 6, 28, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert parse_time("2026-06-28T10:00:00Z").tzinfo is not None
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time(None) is None and parse_time("soon") is None


class PageParser(HTMLParser):
    """Collects the tags and attributes a reader's browser would meet."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page):
    parser = PageParser()
    parser.feed(page)
    return parser.tags


def sample_report(**kwargs):
    users = [user(1, "R&D <Labs>"), user(2, "Sales", enabled=False)]
    return build_report(tenant(users), NOW, **kwargs)


def test_page_is_self_contained_accessible_and_escaped():
    page = render(sample_report(drift=[{"name": "Users", "summary": {"updated": 1}, "results": []}]))
    tags = parse(page)
    assert not [t for t, a in tags if t in ("script", "link", "img", "iframe", "object")]
    assert not [a for t, a in tags for k, v in a.items() if k in ("src", "href") and not v.startswith("#")]
    charts = [a for t, a in tags if t == "svg"]
    assert [c["id"] for c in charts] == ["chart-licences", "chart-departments", "chart-guest-states",
                                         "chart-guest-ages", "chart-group-kinds", "chart-largest-groups", "chart-drift"]
    for chart in charts:
        assert chart["role"] == "img"
        title_id, desc_id = chart["aria-labelledby"].split()
        assert ("title", {"id": title_id}) in tags and ("desc", {"id": desc_id}) in tags
    assert "R&amp;D &lt;Labs&gt;" in page and "<Labs>" not in page
    assert page.count("<table") >= 7


def test_bar_chart_draws_one_bar_per_value_scaled_to_the_largest():
    svg = bar_chart("c", "Title", "Description", ["a", "b"], [("Bought", "purchased", [10, 5]),
                                                              ("In use", "consumed", [5, 0])])
    bars = re.findall(r'<rect class="bar (\w+)" x="[\d.]+" y="[\d.]+" width="([\d.]+)"[^>]*data-value="(\d+)"', svg)
    expected = [("purchased", "10"), ("consumed", "5"), ("purchased", "5"), ("consumed", "0")]
    assert [(drawn_bar[0], drawn_bar[2]) for drawn_bar in bars] == expected
    widths = [float(drawn_bar[1]) for drawn_bar in bars]
    assert widths[0] == 2 * widths[1] == 2 * widths[2] and widths[3] == 0
    assert 'data-bars="4"' in svg
    # Nothing to draw: no division by zero, a note instead of bars.
    empty = bar_chart("e", "T", "D", [], [("Members", "count", [])])
    assert "Nothing to show." in empty and "rect class=\"bar" not in empty
    zeros = bar_chart("z", "T", "D", ["a"], [("Members", "count", [0])])
    assert 'width="0.0"' in zeros


def test_ten_thousand_users_make_a_small_page():
    departments = ["Department %d" % (n % 40) for n in range(10000)]
    users = [user(n, departments[n], enabled=n % 7 != 0, location=None if n % 50 == 0 else "US")
             for n in range(10000)]
    groups = [{"id": "g%d" % n, "displayName": "Group %d" % n, "groupTypes": [], "securityEnabled": True}
              for n in range(500)]
    report = build_report(tenant(users, groups, counts=dict(("g%d" % n, n) for n in range(500))), NOW, top=10)
    page = render(report)
    assert len(page.encode("utf-8")) < 200_000
    assert len(report["users"]["by_department"]) == 11 and len(report["groups"]["largest"]) == 10
    assert headline(report)["users_without_usage_location"] == 200
