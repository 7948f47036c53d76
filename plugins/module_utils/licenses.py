# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Licence assignments: resolve SKUs and plans, plan the changes, apply them.

The tenant's subscribed SKUs are read once per run (:class:`SkuCatalog`); a
SKU can be named by part number (``SPE_E3``), SKU id or product display name
(``Microsoft 365 E3``, from Microsoft's reference table in sku_reference),
and a service plan by name, friendly name or id. Idempotency compares the
*direct* assignments only (``licenseAssignmentStates`` with
``assignedByGroup`` null), so licences a user inherits from a group never
cause churn. Before any write, the run checks usage locations and free seats.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import time

from ansible_collections.m365.cloud_identity.plugins.module_utils import sku_reference
from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import (
    BATCH_LIMIT,
    batch_items,
    list_each,
    query_url,
    quote_key,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import failed_item, item_result
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    IN_CHUNK,
    REPLICATION_WAIT,
    Directory,
    ReferenceError,
    chunks,
    in_filter,
    is_object_id,
    send_reads,
    unique,
)


SKU_SELECT = ["skuId", "skuPartNumber", "capabilityStatus", "appliesTo", "prepaidUnits", "consumedUnits",
              "servicePlans"]
SKU_URL = query_url("/subscribedSkus", {"$select": ",".join(SKU_SELECT)})
USER_SELECT = ["id", "userPrincipalName", "displayName", "usageLocation", "assignedLicenses",
               "licenseAssignmentStates"]
GROUP_SELECT = ["id", "displayName", "uniqueName", "assignedLicenses", "securityEnabled"]
MEMBER_SELECT = ["id", "userPrincipalName", "displayName", "usageLocation", "licenseAssignmentStates"]

USER_TYPE = "#microsoft.graph.user"
# Seconds a task waits for Graph to apply a group's licences to its members; after that the result says
# the group is still processing (a large group can take minutes).
GROUP_PROCESSING_WAIT = 30
PROCESSING_COMPLETE = "ProcessingComplete"
FULL_READ_THRESHOLD = 45    # above this many users, one full list read is cheaper
CLOSE_MATCHES = 5


class LicenseError(ValueError):
    """A licence specification that cannot be applied (unknown SKU, no seats, ...)."""


def _fold(text):
    return " ".join((text or "").split()).casefold()


# ---- the tenant's SKUs -------------------------------------------------------


class SkuCatalog:
    """The tenant's subscribed SKUs, named with Microsoft's reference table."""

    def __init__(self, subscribed_skus):
        self.skus = {}
        for raw in subscribed_skus:
            sku = _sku_from_graph(raw)
            self.skus[sku["id"]] = sku

    @classmethod
    def read(cls, client):
        """One read of GET /subscribedSkus (it supports $select only, no paging options)."""
        page = client.get("/subscribedSkus", params={"$select": ",".join(SKU_SELECT)}) or {}
        items = list(page.get("value", []))
        while page.get("@odata.nextLink"):
            page = client.get(page["@odata.nextLink"]) or {}
            items.extend(page.get("value", []))
        return cls(items)

    def get(self, sku_id):
        return self.skus.get((sku_id or "").lower())

    def label(self, sku_id):
        """A SKU as people name it: its part number, else the id."""
        sku = self.get(sku_id)
        if sku:
            return sku["part_number"]
        known = sku_reference.SKUS.get((sku_id or "").lower())
        return known[0] if known else sku_id

    def describe(self, sku_id):
        sku = self.get(sku_id)
        if sku is None:
            return self.label(sku_id)
        return "%s (%s)" % (sku["part_number"], sku["display_name"])

    def resolve(self, ref):
        """The tenant SKU a reference names: SKU id, part number or product name."""
        if not isinstance(ref, str) or not ref.strip():
            raise LicenseError("Invalid SKU %r: give a part number, SKU id or product name" % (ref,))
        ref = ref.strip()
        if is_object_id(ref):
            sku = self.get(ref)
            if sku is None:
                raise LicenseError("SKU %s%s is not subscribed in this tenant. %s" % (
                    ref, _reference_note(ref), self._subscribed_list()))
            return sku
        by_part = [s for s in self.skus.values() if _fold(s["part_number"]) == _fold(ref)]
        if len(by_part) == 1:
            return by_part[0]
        by_name = [s for s in self.skus.values() if _fold(ref) in [_fold(n) for n in s["display_names"]]]
        matches = by_part or by_name
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LicenseError("SKU '%s' is ambiguous: it names %s. Give the SKU id instead." % (
                ref, ", ".join("%s %s" % (self.describe(s["id"]), s["id"]) for s in _by_part(matches))))
        raise LicenseError(self._unknown_sku_message(ref))

    def _unknown_sku_message(self, ref):
        known = sku_reference.sku_ids_by_part_number(ref) or sku_reference.sku_ids_by_display_name(ref)
        if known:
            message = "SKU '%s' (%s) is not subscribed in this tenant." % (
                ref, ", ".join(known))
        else:
            message = "Unknown SKU '%s'." % ref
        names = {}
        for sku in self.skus.values():
            for name in [sku["part_number"]] + sku["display_names"]:
                names[name] = sku["id"]
        close = difflib.get_close_matches(ref, list(names), n=CLOSE_MATCHES, cutoff=0.5)
        close += [n for n in names if _fold(ref) in _fold(n) and n not in close][:CLOSE_MATCHES]
        if close:
            suggestions = []
            for name in close:
                described = self.describe(names[name])
                if described not in suggestions:
                    suggestions.append(described)
            return "%s Did you mean: %s?" % (message, ", ".join(suggestions))
        return "%s %s" % (message, self._subscribed_list())

    def _subscribed_list(self):
        if not self.skus:
            return "The tenant has no subscribed SKUs."
        return "Subscribed SKUs: %s." % ", ".join(self.describe(s["id"]) for s in _by_part(self.skus.values()))

    def resolve_plans(self, sku, refs):
        """Service plan ids of a SKU from names, friendly names or ids."""
        plan_ids = []
        for ref in refs:
            plan_id = self._resolve_plan(sku, ref)
            if plan_id not in plan_ids:
                plan_ids.append(plan_id)
        return plan_ids

    def _resolve_plan(self, sku, ref):
        if not isinstance(ref, str) or not ref.strip():
            raise LicenseError("Invalid service plan %r for %s: give a plan name or id" % (ref, sku["part_number"]))
        ref = ref.strip()
        plans = sku["plans"]
        if is_object_id(ref):
            for plan in plans:
                if plan["id"] == ref.lower():
                    return plan["id"]
        else:
            matches = [p for p in plans if _fold(ref) == _fold(p["name"])]
            matches = matches or [p for p in plans if _fold(ref) == _fold(p["friendly_name"])]
            if len(matches) == 1:
                return matches[0]["id"]
            if len(matches) > 1:
                raise LicenseError("Service plan '%s' is ambiguous in %s: %s. Give the plan id instead." % (
                    ref, sku["part_number"], ", ".join("%s %s" % (p["name"], p["id"]) for p in matches)))
        names = [p["name"] for p in plans] + [p["friendly_name"] for p in plans if p["friendly_name"]]
        close = difflib.get_close_matches(ref, names, n=CLOSE_MATCHES, cutoff=0.5)
        hint = ("Did you mean: %s?" % ", ".join(close)) if close else (
            "Its plans: %s." % ", ".join(sorted(p["name"] for p in plans)))
        raise LicenseError("%s has no service plan '%s'. %s" % (sku["part_number"], ref, hint))

    def plan_name(self, sku_id, plan_id):
        sku = self.get(sku_id)
        for plan in (sku or {}).get("plans", []):
            if plan["id"] == plan_id:
                return plan["name"]
        known = sku_reference.plan_names(plan_id or "")
        return known[0] if known else plan_id

    def free_seats(self, sku_id):
        sku = self.get(sku_id)
        return max(0, sku["enabled"] - sku["consumed"]) if sku else 0

    def summary(self, sku_id):
        """The SKU as aad_license_info reports it."""
        sku = self.get(sku_id)
        return dict(
            sku_id=sku["id"],
            sku_part_number=sku["part_number"],
            display_name=sku["display_name"],
            capability_status=sku["capability_status"],
            applies_to=sku["applies_to"],
            enabled=sku["enabled"],
            consumed=sku["consumed"],
            free=self.free_seats(sku_id),
            warning=sku["warning"],
            suspended=sku["suspended"],
            locked_out=sku["locked_out"],
            plans=[dict(plan_id=p["id"], name=p["name"], friendly_name=p["friendly_name"],
                        provisioning_status=p["provisioning_status"], applies_to=p["applies_to"])
                   for p in sku["plans"]],
        )

    def summaries(self):
        return [self.summary(s["id"]) for s in _by_part(self.skus.values())]


def _by_part(skus):
    return sorted(skus, key=lambda s: (s["part_number"].lower(), s["id"]))


def _reference_note(sku_id):
    known = sku_reference.SKUS.get(sku_id.lower())
    return " (%s, %s)" % (known[0], known[1][0]) if known else ""


def _sku_from_graph(raw):
    sku_id = (raw.get("skuId") or "").lower()
    known = sku_reference.SKUS.get(sku_id)
    part_number = raw.get("skuPartNumber") or (known[0] if known else sku_id)
    display_names = list(known[1]) if known else [part_number]
    prepaid = raw.get("prepaidUnits") or {}
    plans = []
    for plan in raw.get("servicePlans") or []:
        plan_id = (plan.get("servicePlanId") or "").lower()
        reference = sku_reference.plan_names(plan_id)
        plans.append(dict(
            id=plan_id,
            name=plan.get("servicePlanName") or (reference[0] if reference else plan_id),
            friendly_name=reference[1] if reference else "",
            provisioning_status=plan.get("provisioningStatus"),
            applies_to=plan.get("appliesTo"),
        ))
    return dict(
        id=sku_id,
        part_number=part_number,
        display_name=display_names[0],
        display_names=display_names,
        capability_status=raw.get("capabilityStatus"),
        applies_to=raw.get("appliesTo"),
        enabled=int(prepaid.get("enabled") or 0),
        warning=int(prepaid.get("warning") or 0),
        suspended=int(prepaid.get("suspended") or 0),
        locked_out=int(prepaid.get("lockedOut") or 0),
        consumed=int(raw.get("consumedUnits") or 0),
        plans=plans,
    )


# ---- the requested licences ----------------------------------------------


def parse_license_items(items, where):
    """[(sku ref, [plan refs] or None)] from strings or {sku, disabled_plans} dicts."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise LicenseError("%s must be a list of SKUs" % where)
    parsed = []
    for item in items:
        if isinstance(item, str):
            parsed.append((item, None))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            raise LicenseError(
                "%s: each licence is a SKU (part number, SKU id or product name) or a dict "
                "{sku: ..., disabled_plans: [...]}, got %r" % (where, item))
        unknown = sorted(set(item) - set(["sku", "disabled_plans"]))
        if unknown:
            raise LicenseError("%s: unknown key(s) %s in %r; a licence takes sku and disabled_plans" % (
                where, ", ".join(unknown), item))
        plans = item.get("disabled_plans")
        if plans is not None and (not isinstance(plans, list) or not all(isinstance(p, str) for p in plans)):
            raise LicenseError("%s: disabled_plans of %s must be a list of plan names or ids" % (where, item["sku"]))
        parsed.append((item["sku"], plans))
    return parsed


def resolve_licenses(catalog, licenses, where="licenses"):
    """Resolve a {add, remove, set} spec to SKU and plan ids.

    Returns {"add": {sku_id: frozenset(disabled) or None}, "remove": set(sku_id),
    "set": {...} or None}. None as disabled plans means "keep the current ones
    (none for a new assignment)".
    """
    if not isinstance(licenses, dict):
        raise LicenseError("%s must be a dict with add, remove or set" % where)
    unknown = sorted(set(k for k, v in licenses.items() if v is not None) - set(["add", "remove", "set"]))
    if unknown:
        raise LicenseError("%s: unknown key(s) %s; use add, remove or set" % (where, ", ".join(unknown)))
    if licenses.get("set") is not None and (licenses.get("add") or licenses.get("remove")):
        raise LicenseError("%s: set cannot be combined with add or remove" % where)
    if all(licenses.get(key) is None for key in ("add", "remove", "set")):
        raise LicenseError("%s: give add, remove or set" % where)
    resolved = {"add": {}, "remove": set(), "set": None}
    for key in ("add", "set"):
        if licenses.get(key) is None:
            continue
        wanted = {}
        for sku_ref, plan_refs in parse_license_items(licenses[key], "%s.%s" % (where, key)):
            sku = catalog.resolve(sku_ref)
            if sku["id"] in wanted:
                raise LicenseError("%s.%s names %s twice" % (where, key, catalog.describe(sku["id"])))
            plans = None if plan_refs is None else frozenset(catalog.resolve_plans(sku, plan_refs))
            wanted[sku["id"]] = plans
        resolved[key] = wanted
    for sku_ref, plan_refs in parse_license_items(licenses.get("remove"), "%s.remove" % where):
        sku = catalog.resolve(sku_ref)
        if sku["id"] in resolved["add"]:
            raise LicenseError("%s: %s is both added and removed" % (where, catalog.describe(sku["id"])))
        resolved["remove"].add(sku["id"])
    return resolved


# ---- current state and the plan ------------------------------------------


def direct_assignments(target, target_type):
    """{sku_id: frozenset(disabled plan ids)} assigned to the target itself.

    For a user, the direct entries of licenseAssignmentStates (assignedByGroup
    null); inherited licences are not the module's to manage.
    """
    if target_type == "user" and target.get("licenseAssignmentStates") is not None:
        entries = [s for s in target["licenseAssignmentStates"] if not s.get("assignedByGroup")]
    else:
        entries = target.get("assignedLicenses") or []
    return dict(((e.get("skuId") or "").lower(), frozenset(p.lower() for p in e.get("disabledPlans") or []))
                for e in entries)


def inherited_assignments(user):
    """The licenseAssignmentStates a user holds through groups."""
    return [s for s in user.get("licenseAssignmentStates") or [] if s.get("assignedByGroup")]


def holds_license(user, sku_id):
    """True when the user already consumes a seat of the SKU (direct or inherited, active)."""
    states = user.get("licenseAssignmentStates")
    if states is None:
        return any((a.get("skuId") or "").lower() == sku_id for a in user.get("assignedLicenses") or [])
    return any((s.get("skuId") or "").lower() == sku_id and (s.get("state") or "Active").startswith("Active")
               for s in states)


def plan_changes(current, desired):
    """What to send to assignLicense to go from current to desired.

    current: {sku_id: frozenset(disabled)}; desired: the output of
    resolve_licenses. Returns (after, add_licenses, remove_ids) where
    add_licenses are new SKUs and SKUs whose disabled plans change.
    """
    after = dict(current)
    wanted = desired["set"] if desired["set"] is not None else desired["add"]
    if desired["set"] is not None:
        for sku_id in list(after):
            if sku_id not in wanted:
                del after[sku_id]
    for sku_id in desired["remove"]:
        after.pop(sku_id, None)
    add = []
    for sku_id in sorted(wanted):
        disabled = wanted[sku_id]
        if disabled is None:
            disabled = current.get(sku_id, frozenset())
        if current.get(sku_id) != disabled:
            add.append({"skuId": sku_id, "disabledPlans": sorted(disabled)})
        after[sku_id] = disabled
    remove = sorted(sku_id for sku_id in current if sku_id not in after)
    return after, add, remove


def render_assignments(catalog, assignments):
    """Direct assignments by part number and plan name, for diffs."""
    rendered = []
    for sku_id, disabled in assignments.items():
        rendered.append(dict(
            sku=catalog.label(sku_id),
            disabled_plans=sorted(catalog.plan_name(sku_id, p) for p in disabled),
        ))
    return sorted(rendered, key=lambda item: item["sku"].lower())


def describe_assignments(catalog, assignments):
    """Direct assignments as the module returns them."""
    described = []
    for sku_id, disabled in assignments.items():
        sku = catalog.get(sku_id)
        described.append(dict(
            sku_id=sku_id,
            sku_part_number=catalog.label(sku_id),
            sku_display_name=sku["display_name"] if sku else sku_reference.display_name(sku_id),
            disabled_plans=sorted(catalog.plan_name(sku_id, p) for p in disabled),
            disabled_plan_ids=sorted(disabled),
        ))
    return sorted(described, key=lambda item: item["sku_part_number"].lower())


def describe_states(catalog, states):
    """licenseAssignmentStates, named."""
    described = []
    for state in states:
        sku_id = (state.get("skuId") or "").lower()
        disabled = [p.lower() for p in state.get("disabledPlans") or []]
        described.append(dict(
            sku_id=sku_id,
            sku_part_number=catalog.label(sku_id),
            assigned_by_group=state.get("assignedByGroup"),
            state=state.get("state"),
            error=state.get("error"),
            disabled_plans=sorted(catalog.plan_name(sku_id, p) for p in disabled),
            last_updated=state.get("lastUpdatedDateTime"),
        ))
    return sorted(described, key=lambda item: (item["sku_part_number"].lower(), item["assigned_by_group"] or ""))


def has_license_error(state):
    """True for a licenseAssignmentState in error (Graph writes error "None" when there is none)."""
    return state.get("state") not in ("Active", None) or state.get("error") not in (None, "None")


def members_in_error(catalog, group_id, members):
    """Members whose licence from this group is in an error state."""
    found = []
    for member in members:
        for state in member.get("licenseAssignmentStates") or []:
            if state.get("assignedByGroup") != group_id:
                continue
            if not has_license_error(state):
                continue
            sku_id = (state.get("skuId") or "").lower()
            found.append(dict(
                id=member.get("id"),
                user_principal_name=member.get("userPrincipalName"),
                sku_part_number=catalog.label(sku_id),
                state=state.get("state"),
                error=state.get("error"),
            ))
    return sorted(found, key=lambda m: ((m["user_principal_name"] or "").lower(), m["sku_part_number"]))


def seat_shortfalls(catalog, needed):
    """Messages for SKUs this run needs more seats of than are free.

    needed: {sku_id: set(user ids that would start consuming a seat)}.
    """
    problems = []
    for sku_id in sorted(needed, key=catalog.label):
        count = len(needed[sku_id])
        free = catalog.free_seats(sku_id)
        if count > free:
            problems.append("%s: %d needed, %d free" % (catalog.describe(sku_id), count, free))
    return problems


# ---- reading targets ---------------------------------------------------------


class TargetReader:
    """Reads users and groups with their licence state, with few requests."""

    def __init__(self, client):
        self.client = client
        self.directory = Directory(client, group_select=GROUP_SELECT)

    def users(self, refs):
        """{ref: user or LicenseError} for user references (id, UPN or mail)."""
        return self.read(refs, [])[0]

    def groups(self, refs):
        """{ref: group or LicenseError} for group references (id, uniqueName, displayName)."""
        return self.read([], refs)[1]

    def read(self, user_refs, group_refs, members=False, first=()):
        """Users, groups and (with ``members``) the groups' direct user members, in two rounds of reads.

        1. One ``$batch`` (more only past 20 reads) of reads that need nothing else: ``first``, the
           caller's own ((request, take(result)) pairs, the SKUs say), the first page of the full user
           list when there are many user references, the groups by id and unique name, and keyed reads
           of the users (the last ones, when there are many) in the batch's spare slots.
        2. The users still missing, by whichever costs fewer requests, the rest of the full list
           (estimated from the share of references the first page held) or keyed reads (IN_CHUNK to a
           filter, 20 filters to a $batch), in the same batches as the members of the groups found.

        Returns (users {ref: user or LicenseError}, groups {ref: group or LicenseError},
        members {group id: [user]}).
        """
        wanted = unique(user_refs)
        found = {}
        on_first_page = {}
        next_link = []

        def take_first_page(result):
            if not result.ok:
                raise result.error
            body = result.body or {}
            _match_users(body.get("value", []), wanted, on_first_page)
            if body.get("@odata.nextLink"):
                next_link.append(body["@odata.nextLink"])

        reads = list(first)
        if len(wanted) > FULL_READ_THRESHOLD:
            url = query_url("/users", {"$select": ",".join(USER_SELECT), "$top": 999})
            reads.append(({"method": "GET", "url": url}, take_first_page))
        try:
            reads += self.directory.group_reads(group_refs)
        except ReferenceError:
            pass  # an invalid reference, reported per reference below
        keyed = _keyed_user_reads(wanted)
        # Many references: the batch's spare slots (free: the batch is sent anyway) read the last ones by key,
        # those the first page is least likely to hold when the list follows the order users were created in.
        spare = len(keyed) if len(wanted) <= FULL_READ_THRESHOLD else (-len(reads)) % BATCH_LIMIT
        early = keyed[max(0, len(keyed) - spare):]
        for _chunk, (path, params) in early:
            reads.append(({"method": "GET", "url": query_url(path, dict(params, **{"$top": 999}))},
                          lambda result: _match_users(batch_items(self.client, result), wanted, found)))
        # References a keyed read answered (found or not) are not read by key again.
        looked_up = set(ref for chunk, _read in early for ref in chunk)
        send_reads(self.client, reads)

        found.update(on_first_page)
        rest = [r for r in wanted if r not in found and r not in looked_up]
        if next_link and rest and _pages_left(len(wanted), len(on_first_page)) <= keyed_requests(len(rest)):
            _match_users(self.client.list(next_link[0], top=None), rest, found)
            rest = [r for r in rest if r not in found]

        groups = self._resolve_groups(group_refs)
        group_ids = unique(g["id"] for g in groups.values() if not isinstance(g, Exception)) if members else []
        keyed = _keyed_user_reads(rest)
        answers = list_each(self.client, [read for _chunk, read in keyed] + _member_reads(group_ids), select=None)
        for answer in answers[:len(keyed)]:
            if isinstance(answer, Exception):
                raise answer
            _match_users(answer, rest, found)
        # Anything else (a mail address) goes through the shared resolver.
        for ref in wanted:
            if ref not in found:
                found[ref] = self._user_by_reference(ref)
        return found, groups, _members_by_group(group_ids, answers[len(keyed):])

    def _resolve_groups(self, refs):
        """{ref: group or LicenseError}: from what the first round read, and display names read now."""
        found = {}
        refs = unique(refs)
        try:
            self.directory.groups(refs)  # every reference in one go; a miss is reported per reference below
        except ReferenceError:
            pass
        for ref in refs:
            try:
                found[ref] = self.directory.group(ref)
            except ReferenceError as error:
                found[ref] = LicenseError(str(error))
        return found

    def _user_by_reference(self, ref):
        try:
            user = self.directory.user(ref)
        except ReferenceError as error:
            return LicenseError(str(error))
        return self.client.get("/users/%s" % quote_key(user["id"]), params={"$select": ",".join(USER_SELECT)})

    def members(self, group_id):
        """The group's direct user members with their licence states."""
        return self.members_of([group_id])[group_id]

    def members_of(self, group_ids):
        """{group id: its direct user members with their licence states}, 20 groups to a $batch."""
        group_ids = unique(group_ids)
        return _members_by_group(group_ids, list_each(self.client, _member_reads(group_ids)) if group_ids else [])


def _keyed_user_reads(refs):
    """(references, (path, params)) reads of users by id or UPN, IN_CHUNK references to a filter."""
    ids = [r for r in refs if is_object_id(r)]
    names = [r for r in refs if not is_object_id(r)]
    return [(chunk, ("/users", {"$filter": in_filter(prop, chunk), "$select": ",".join(USER_SELECT)}))
            for prop, values in (("id", ids), ("userPrincipalName", names)) for chunk in chunks(values, IN_CHUNK)]


def _member_reads(group_ids):
    # Group-based licensing applies to direct members only (no nesting).
    return [("/groups/%s/members" % quote_key(group_id), {"$select": ",".join(MEMBER_SELECT)})
            for group_id in group_ids]


def _members_by_group(group_ids, answers):
    found = {}
    for group_id, answer in zip(group_ids, answers):
        if isinstance(answer, Exception):
            raise answer
        found[group_id] = [m for m in answer if m.get("@odata.type", USER_TYPE) == USER_TYPE]
    return found


def keyed_requests(count):
    """Requests that read ``count`` users by key: IN_CHUNK to a filter, BATCH_LIMIT filters to a $batch."""
    filters = -(-count // IN_CHUNK)
    return -(-filters // BATCH_LIMIT)


def _pages_left(wanted, on_first_page):
    """Pages after the first of a full list read, estimated from the share of ``wanted`` the first held."""
    if not on_first_page:
        return float("inf")
    return -(-wanted // on_first_page) - 1


def _match_users(users, refs, found):
    """Put into ``found`` each of ``refs`` that one of ``users`` answers to by id or UPN."""
    by_key = {}
    for user in users:
        for key in (user.get("id"), user.get("userPrincipalName")):
            if key:
                by_key[key.lower()] = user
    for ref in refs:
        if ref.lower() in by_key:
            found[ref] = by_key[ref.lower()]


# ---- one module run ------------------------------------------------------------

USAGE_LOCATION_MSG = (
    "User %s has no usage location, and Microsoft 365 licences can only be assigned to users that "
    "have one. Set usage_location (a two-letter country code such as US) with "
    "m365.cloud_identity.aad_user first."
)
NOT_SECURITY_ENABLED_MSG = (
    "Group %s is not security-enabled, and Microsoft 365 assigns licences only to security-enabled groups. "
    "Set security_enabled: true on it with m365.cloud_identity.aad_group first."
)
OVERCOMMIT_MSG = (
    "Not enough free seats for this task, so nothing was changed: %s. Add seats to the subscription, "
    "assign fewer licences, or set allow_overcommit: true to send the assignments anyway (Graph then "
    "refuses direct ones beyond the free seats and marks group members CountViolation)."
)


class Assignment(Plan):
    """One target (a user or a group) and the licences wanted on it."""

    def __init__(self, target_type, ref, licenses, index=0):
        super(Assignment, self).__init__(index, licenses, ref)
        self.target_type = target_type
        self.ref = ref
        self.licenses = licenses
        self.desired = None
        self.target = None
        self.members = None
        self.after = None
        self.add = []
        self.remove = []
        self.processing = None      # a group's licenseProcessingState after the assignment

    @property
    def changed(self):
        return bool(self.add or self.remove)

    def assign_url(self):
        collection = "users" if self.target_type == "user" else "groups"
        return "/%s/%s/assignLicense" % (collection, quote_key(self.target["id"]))

    def body(self):
        # Graph requires both parameters, even empty (non-nullable in the v1.0 CSDL).
        return {"addLicenses": self.add, "removeLicenses": self.remove}


def parse_assignments(single, assignments):
    """Assignment objects from the module's single form or `assignments` list."""
    items = [single] if single is not None else list(assignments or [])
    parsed = []
    for index, item in enumerate(items):
        where = "assignments[%d]" % index if single is None else "the task"
        targets = [key for key in ("user", "group") if item.get(key)]
        if len(targets) != 1:
            raise LicenseError("%s: give exactly one of user or group" % where)
        if item.get("licenses") is None:
            raise LicenseError("%s: licenses is required ({add, remove or set})" % where)
        parsed.append(Assignment(targets[0], item[targets[0]], item["licenses"], index))
    return parsed


class LicenseRun:
    """Reads, plans and (unless check mode) applies licence assignments."""

    def __init__(self, client, check_mode=False, allow_overcommit=False):
        self.client = client
        self.check_mode = check_mode
        self.allow_overcommit = allow_overcommit
        self.reader = TargetReader(client)
        self.sender = Sender(client)
        self._clock = time.monotonic
        self._sleep = time.sleep
        self.catalog = None
        self.targets = None         # (users, groups, members) as TargetReader.read returns them
        self.warnings = []

    def run(self, assignments):
        """Item results (graph_module.item_result dicts), in input order.

        Raises LicenseError, before any write, when the run needs more seats
        than are free.
        """
        engine.run(self, assignments, self.check_mode)
        results = []
        for assignment in assignments:
            if assignment.error is not None:
                results.append(failed_item(assignment.key, assignment.error, obj=self._object(assignment),
                                           written=assignment.written, not_attempted=assignment.not_attempted))
                continue
            results.append(item_result(assignment.key, assignment.action, obj=self._object(assignment),
                                       diff=self._diff(assignment)))
        return results

    # ---- the engine's protocol (engine.run calls these in this order) ------

    def plan(self, index, assignment):
        assignment.index = index
        return assignment

    def validate(self, assignments):
        """Reads the SKUs and every target together (the SKU read shares the targets' first $batch), then
        resolves each assignment's licences against the SKUs."""
        skus = []
        read_skus = ({"method": "GET", "url": SKU_URL}, lambda result: skus.extend(batch_items(self.client, result)))
        self.targets = self.reader.read([a.ref for a in assignments if a.target_type == "user"],
                                        [a.ref for a in assignments if a.target_type == "group"],
                                        members=True, first=[read_skus])
        self.catalog = SkuCatalog(skus)
        self._resolve(assignments)

    def read(self, assignments):
        self._read_targets(assignments)

    def decide(self, assignment):
        self._plan([assignment])
        assignment.action = "updated" if assignment.changed else "unchanged"

    def preview(self, assignments):
        """Check mode reports a seat shortfall as the real run would."""
        self._check_seats(assignments)

    def waves(self):
        return [self._assign_wave, self._processing_wave]

    def _assign_wave(self, assignments):
        self._check_seats(assignments)  # raises before anything is sent
        return [Write(a, "POST", a.assign_url(), a.body(), "assign licences to %s %s" % (a.target_type, a.ref))
                for a in assignments]

    def _processing_wave(self, assignments):
        """No writes: wait for the groups' licence processing, then re-read their members."""
        groups = [a for a in assignments if a.target_type == "group"]
        for assignment in groups:
            assignment.processing = self._await_group_processing(assignment.target["id"])
        # Re-read: members whose inherited licence failed (no seats, ...).
        members = self.reader.members_of([a.target["id"] for a in groups]) if groups else {}
        for assignment in groups:
            assignment.members = members[assignment.target["id"]]
        return []

    def _resolve(self, assignments):
        for assignment in assignments:
            try:
                assignment.desired = resolve_licenses(self.catalog, assignment.licenses)
            except LicenseError as error:
                assignment.error = error

    def _read_targets(self, assignments):
        """Gives each live assignment its target (read in validate), or the error that names a missing or
        repeated one."""
        live = [a for a in assignments if a.error is None]
        users, groups, members = self.targets
        seen = {}
        for assignment in live:
            target = (users if assignment.target_type == "user" else groups)[assignment.ref]
            if isinstance(target, Exception):
                assignment.error = target
                continue
            identity = (assignment.target_type, target["id"])
            if identity in seen:
                assignment.error = LicenseError("%s %s is also the target of %s in this task; give each target once" % (
                    assignment.target_type, assignment.ref, seen[identity]))
                continue
            seen[identity] = assignment.ref
            assignment.target = target
        for assignment in live:
            if assignment.error is None and assignment.target_type == "group":
                assignment.members = members[assignment.target["id"]]

    def _plan(self, assignments):
        for assignment in assignments:
            if assignment.error is not None:
                continue
            assignment.current = direct_assignments(assignment.target, assignment.target_type)
            assignment.after, assignment.add, assignment.remove = plan_changes(assignment.current, assignment.desired)
            if assignment.target_type == "user":
                self._check_user(assignment)
            elif assignment.add and not assignment.target.get("securityEnabled"):
                assignment.error = LicenseError(NOT_SECURITY_ENABLED_MSG % assignment.ref)

    def _check_user(self, assignment):
        user = assignment.target
        if assignment.add and not user.get("usageLocation"):
            assignment.error = LicenseError(USAGE_LOCATION_MSG % (user.get("userPrincipalName") or assignment.ref))
            return
        inherited = set((s.get("skuId") or "").lower() for s in inherited_assignments(user))
        for sku_id in assignment.desired["remove"]:
            if sku_id not in assignment.current and sku_id in inherited:
                self.warnings.append(
                    "%s is not assigned to %s directly but inherited from a group; remove it from the group "
                    "to take it away" % (self.catalog.label(sku_id), assignment.ref))

    def _check_seats(self, assignments):
        needed = {}
        for assignment in assignments:
            if assignment.error is not None:
                continue
            new_skus = [entry["skuId"] for entry in assignment.add if entry["skuId"] not in assignment.current]
            holders = [assignment.target] if assignment.target_type == "user" else assignment.members
            for sku_id in new_skus:
                for user in holders:
                    if not holds_license(user, sku_id):
                        needed.setdefault(sku_id, set()).add(user["id"])
        shortfalls = seat_shortfalls(self.catalog, needed)
        if not shortfalls:
            return
        if not self.allow_overcommit:
            raise LicenseError(OVERCOMMIT_MSG % "; ".join(shortfalls))
        self.warnings.append("allow_overcommit: assigning beyond the free seats (%s)" % "; ".join(shortfalls))

    def _await_group_processing(self, group_id):
        """Group licences reach members asynchronously (FIDELITY 7.6): wait, within GROUP_PROCESSING_WAIT,
        for licenseProcessingState to say ProcessingComplete. Returns the last state seen."""
        deadline = self._clock() + GROUP_PROCESSING_WAIT
        wait = 0.5
        while True:
            group = self.client.get("/groups/%s" % quote_key(group_id), params={"$select": "id,licenseProcessingState"},
                                    retry_not_found=REPLICATION_WAIT) or {}
            state = (group.get("licenseProcessingState") or {}).get("state") or PROCESSING_COMPLETE
            if state == PROCESSING_COMPLETE or self._clock() + wait > deadline:
                return state
            self._sleep(wait)
            wait = min(wait * 2, 4.0)

    def _object(self, assignment):
        if assignment.target is None:
            return None
        target = assignment.target
        state = assignment.current if assignment.error is not None else assignment.after
        obj = dict(
            target_type=assignment.target_type,
            id=target["id"],
            display_name=target.get("displayName"),
            licenses=describe_assignments(self.catalog, state if state is not None else {}),
        )
        if assignment.target_type == "user":
            obj["user_principal_name"] = target.get("userPrincipalName")
            obj["usage_location"] = target.get("usageLocation")
            obj["inherited_licenses"] = describe_states(self.catalog, inherited_assignments(target))
        else:
            obj["unique_name"] = target.get("uniqueName")
            obj["member_count"] = len(assignment.members or [])
            obj["members_in_error"] = members_in_error(self.catalog, target["id"], assignment.members or [])
            if assignment.processing is not None:
                obj["license_processing_state"] = assignment.processing
        return obj

    def _diff(self, assignment):
        if not assignment.changed:
            return None
        diff = {
            "before": {"licenses": render_assignments(self.catalog, assignment.current)},
            "after": {"licenses": render_assignments(self.catalog, assignment.after)},
            "before_header": "%s %s" % (assignment.target_type, assignment.ref),
            "after_header": "%s %s" % (assignment.target_type, assignment.ref),
        }
        return diff
