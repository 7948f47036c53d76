# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The figures of the tenant identity report: read the tenant once, aggregate in memory.

:func:`read_tenant` makes few requests whatever the tenant's size: the subscribed SKUs, every user
in pages of 999 (with their licence states, so licence errors need no per-group reads), every group
in pages of 999, and each group's member ids through ``$batch`` (20 groups a request).
:func:`build_report` turns what was read into the report's data: aggregates and top-N lists only,
so a 10,000-user tenant gives a report of a few hundred rows. It is pure (the time is passed in),
which is what the unit tests exercise. report_html.py draws the page from that data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import SkuCatalog, has_license_error

REPORT_VERSION = 1

USER_SELECT = ["id", "userPrincipalName", "displayName", "mail", "department", "accountEnabled", "usageLocation",
               "userType", "createdDateTime", "externalUserState", "externalUserStateChangeDateTime",
               "licenseAssignmentStates"]
GROUP_SELECT = ["id", "displayName", "uniqueName", "groupTypes", "securityEnabled", "mailEnabled",
                "membershipRule", "membershipRuleProcessingState", "assignedLicenses"]

NO_DEPARTMENT = "(no department)"
GROUP_KINDS = ("Security", "Microsoft 365", "Dynamic", "Distribution")
GUEST_STATES = ("PendingAcceptance", "Accepted", "Other")
# Invitation age buckets: (label, upper bound in days, exclusive); the last one is open.
AGE_BUCKETS = (("under 7 days", 7), ("7-30 days", 30), ("30-90 days", 90), ("90-365 days", 365),
               ("over a year", None))
# Actions of the writing modules that change the tenant, in the order the report lists them.
DRIFT_ACTIONS = ("created", "invited", "updated", "restored", "deleted", "failed")


# ---- reading ---------------------------------------------------------------------------------------


def read_tenant(client):
    """Everything the report needs, in a handful of requests. Returns a dict for build_report."""
    catalog = SkuCatalog.read(client)
    users = client.list("/users", select=USER_SELECT)
    groups = client.list("/groups", select=GROUP_SELECT)
    return dict(catalog=catalog, users=users, groups=groups, member_counts=member_counts(client, groups))


def member_counts(client, groups):
    """{group id: number of direct members}, 20 groups per $batch request, following each group's pages."""
    requests = [dict(id=str(index), method="GET", url="/groups/%s/members?$select=id&$top=999" % group["id"])
                for index, group in enumerate(groups)]
    counts = {}
    for group, answer in zip(groups, client.batch(requests) if requests else []):
        if not answer.ok:
            raise answer.error
        body = answer.body or {}
        count = len(body.get("value", []))
        next_link = body.get("@odata.nextLink")
        while next_link:
            page = client.get(next_link) or {}
            count += len(page.get("value", []))
            next_link = page.get("@odata.nextLink")
        counts[group["id"]] = count
    return counts


# ---- aggregating -----------------------------------------------------------------------------------


def parse_time(value):
    """A Graph DateTimeOffset as an aware datetime, or None."""
    if not value or value.startswith("0001-"):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python before 3.11 takes at most 6 digits of fractions
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = head + "." + digits[:6].ljust(6, "0") + rest[len(digits):]
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def percent(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def group_kind(group):
    """One kind per group: dynamic first, then Microsoft 365, security, distribution."""
    types = group.get("groupTypes") or []
    if "DynamicMembership" in types:
        return "Dynamic"
    if "Unified" in types:
        return "Microsoft 365"
    if group.get("securityEnabled"):
        return "Security"
    return "Distribution"


def group_name(group):
    return group.get("displayName") or group.get("uniqueName") or group.get("id")


def _top(rows, top, key):
    return sorted(rows, key=key)[:top]


def license_section(catalog, users, groups_by_id, top):
    """Seats per SKU, with the assignments in error and who holds them."""
    errors = {}
    for user in users:
        for state in user.get("licenseAssignmentStates") or []:
            if not has_license_error(state):
                continue
            group_id = state.get("assignedByGroup")
            errors.setdefault((state.get("skuId") or "").lower(), []).append(dict(
                user_principal_name=user.get("userPrincipalName"),
                group=group_name(groups_by_id[group_id]) if group_id in groups_by_id else group_id,
                direct=group_id is None,
                state=state.get("state"),
                error=state.get("error"),
            ))
    skus = []
    for summary in catalog.summaries():
        in_error = sorted(errors.get(summary["sku_id"], []), key=lambda e: (e["user_principal_name"] or "").lower())
        skus.append(dict(
            sku_id=summary["sku_id"],
            sku_part_number=summary["sku_part_number"],
            display_name=summary["display_name"],
            capability_status=summary["capability_status"],
            enabled=summary["enabled"],
            consumed=summary["consumed"],
            free=summary["free"],
            utilisation=percent(summary["consumed"], summary["enabled"]),
            in_error=len(in_error),
            errors_by_code=_counts(e["error"] or e["state"] for e in in_error),
            users_in_error=in_error[:top],
        ))
    return dict(
        skus=skus,
        totals=dict(
            enabled=sum(s["enabled"] for s in skus),
            consumed=sum(s["consumed"] for s in skus),
            free=sum(s["free"] for s in skus),
            in_error=sum(s["in_error"] for s in skus),
        ),
    )


def _counts(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def user_section(members, top):
    """Member accounts: per department, enabled or not, without a usage location."""
    departments = {}
    for user in members:
        name = (user.get("department") or "").strip() or NO_DEPARTMENT
        entry = departments.setdefault(name, dict(department=name, users=0, enabled=0, disabled=0))
        entry["users"] += 1
        entry["enabled" if user.get("accountEnabled") else "disabled"] += 1
    ranked = sorted(departments.values(), key=lambda d: (-d["users"], d["department"].lower()))
    shown = ranked[:top]
    others = ranked[top:]
    if others:
        shown.append(dict(department="%d other departments" % len(others), users=sum(d["users"] for d in others),
                          enabled=sum(d["enabled"] for d in others), disabled=sum(d["disabled"] for d in others),
                          other=True))
    no_location = [u for u in members if not u.get("usageLocation")]
    enabled = sum(1 for u in members if u.get("accountEnabled"))
    return dict(
        total=len(members),
        enabled=enabled,
        disabled=len(members) - enabled,
        department_count=len(departments),
        by_department=shown,
        without_usage_location=len(no_location),
        without_usage_location_sample=[
            dict(user_principal_name=u.get("userPrincipalName"), display_name=u.get("displayName"),
                 department=u.get("department"), enabled=bool(u.get("accountEnabled")))
            for u in _top(no_location, top, key=lambda u: (u.get("userPrincipalName") or "").lower())],
    )


def invited_at(guest):
    """When the guest's current invitation was sent: a pending guest's last state change (a re-sent
    invitation resets it), else the account's creation, which is when it was first invited."""
    if guest.get("externalUserState") == "PendingAcceptance":
        return parse_time(guest.get("externalUserStateChangeDateTime")) or parse_time(guest.get("createdDateTime"))
    return parse_time(guest.get("createdDateTime"))


def age_bucket(days):
    for label, bound in AGE_BUCKETS:
        if bound is None or days < bound:
            return label
    return AGE_BUCKETS[-1][0]  # pragma: no cover - the last bucket is open


def guest_section(guests, now, top):
    """Guests by invitation state and by the age of their invitation; the oldest pending ones."""
    by_state = dict((state, 0) for state in GUEST_STATES)
    by_age = [dict(age=label, PendingAcceptance=0, Accepted=0, Other=0) for label, bound in AGE_BUCKETS]
    index = dict((label, n) for n, (label, bound) in enumerate(AGE_BUCKETS))
    pending = []
    for guest in guests:
        state = guest.get("externalUserState")
        state = state if state in by_state else "Other"
        by_state[state] += 1
        sent = invited_at(guest)
        days = max(0, (now - sent).days) if sent else None
        if days is not None:
            by_age[index[age_bucket(days)]][state] += 1
        if state == "PendingAcceptance":
            pending.append(dict(mail=guest.get("mail") or guest.get("userPrincipalName"),
                                display_name=guest.get("displayName"),
                                invited=sent.strftime("%Y-%m-%d") if sent else None, age_days=days))
    oldest = _top(pending, top, key=lambda g: (-(g["age_days"] or 0), (g["mail"] or "").lower()))
    return dict(total=len(guests), by_state=by_state, by_age=by_age, oldest_pending=oldest)


def group_section(groups, counts, top):
    """Groups by kind, the largest ones, and every dynamic group's rule (dynamic groups are few)."""
    by_kind = dict((kind, 0) for kind in GROUP_KINDS)
    for group in groups:
        by_kind[group_kind(group)] += 1
    rows = [dict(name=group_name(group), unique_name=group.get("uniqueName"), kind=group_kind(group),
                 members=counts.get(group["id"], 0)) for group in groups]
    largest = _top(rows, top, key=lambda g: (-g["members"], (g["name"] or "").lower()))
    dynamic = [dict(name=group_name(group), rule=group.get("membershipRule"),
                    processing=group.get("membershipRuleProcessingState"), members=counts.get(group["id"], 0))
               for group in groups if group_kind(group) == "Dynamic"]
    dynamic.sort(key=lambda g: (g["name"] or "").lower())
    licensed = sum(1 for group in groups if group.get("assignedLicenses"))
    return dict(total=len(groups), by_kind=by_kind, largest=largest, dynamic=dynamic, licensed=licensed)


def drift_section(stages, top):
    """What applying the spec would change, from the writing modules' check-mode results.

    stages: [{name, summary?, results?, error?}] where summary and results are a list-form module's
    return values. Only changing items are listed, with the names of the attributes they change.
    """
    rows = []
    for stage in stages or []:
        summary = dict((action, int((stage.get("summary") or {}).get(action) or 0))
                       for action in DRIFT_ACTIONS + ("unchanged",))
        items = []
        for result in stage.get("results") or []:
            action = result.get("action")
            if action not in DRIFT_ACTIONS:
                continue
            diff = result.get("diff") or {}
            changes = sorted(set(diff.get("before") or {}) | set(diff.get("after") or {}), key=str)
            items.append(dict(key=str(result.get("key")), action=action, changes=changes,
                              error=result.get("error")))
        changing = sum(summary[action] for action in DRIFT_ACTIONS)
        rows.append(dict(name=stage.get("name"), summary=summary, changing=changing, error=stage.get("error"),
                         items=items[:top], more_items=max(0, len(items) - top)))
    return dict(stages=rows, changing=sum(stage["changing"] for stage in rows),
                errors=sum(1 for stage in rows if stage["error"]))


def build_report(tenant, now, top=10, drift=None, title=None):
    """The report's data (what the JSON holds and the HTML draws)."""
    users = tenant["users"]
    groups = tenant["groups"]
    members = [u for u in users if u.get("userType") != "Guest"]
    guests = [u for u in users if u.get("userType") == "Guest"]
    groups_by_id = dict((group["id"], group) for group in groups)
    report = dict(
        report_version=REPORT_VERSION,
        title=title or "Tenant identity report",
        generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        top=top,
        licenses=license_section(tenant["catalog"], users, groups_by_id, top),
        users=user_section(members, top),
        guests=guest_section(guests, now, top),
        groups=group_section(groups, tenant["member_counts"], top),
        drift=drift_section(drift, top) if drift is not None else None,
    )
    return report


def headline(report):
    """The few figures the module returns (the rest is in the files)."""
    licenses = report["licenses"]["totals"]
    result = dict(
        users=report["users"]["total"],
        users_disabled=report["users"]["disabled"],
        users_without_usage_location=report["users"]["without_usage_location"],
        guests=report["guests"]["total"],
        guests_pending=report["guests"]["by_state"]["PendingAcceptance"],
        groups=report["groups"]["total"],
        seats_enabled=licenses["enabled"],
        seats_consumed=licenses["consumed"],
        seats_in_error=licenses["in_error"],
    )
    if report.get("drift") is not None:
        result["drift_changes"] = report["drift"]["changing"]
    return result
