"""Licensing (FIDELITY.md 2.3): subscribedSkus, assignLicense on users and groups, group-based licences.

Stored state is only what an administrator sets: a SKU's prepaid units, a user's direct licences
(``_licenses`` on the user) and a group's licences (``_licenses`` on the group). Everything Graph derives
from it (a user's ``assignedLicenses``, ``licenseAssignmentStates`` and ``assignedPlans``, a SKU's
``consumedUnits``, a group's ``hasMembersWithLicenseErrors``) is computed at read time from the current
state, cached on ``tenant.version``, so inheritance can never drift from membership.

Seat order: direct assignments consume first (they were only accepted with a free seat); then group
licences in the order they were assigned, each group's members in the order they joined. A member left
without a seat gets ``state: Error`` / ``error: CountViolation`` and consumes nothing. A member without a
usage location is licensed with the directory's location, as Entra documents for group-based licensing
(entra-docs ``docs/identity/users/licensing-admin-center.md``): it is not an error.

Error texts: the usage-location, no-seat and missing-parameter messages are observed Graph text
(FIDELITY.md 2.3 and msgraph-sdk-powershell#3229); the invalid-SKU, invalid-plan and not-assigned
messages are best-known wording (marked ASSUMED below).
"""
import difflib
import importlib.util
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import schema
from ..http import (GraphHTTPError, METADATA, collection_response, entity_response, graph_json, iso, not_found,
                    read_json, require, sandbox_of, tenant_of)
from . import groups as groups_resource
from .users import live_user

_REFERENCE_PATH = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "sku_reference.py"


def _load_reference():
    # The collection's generated copy of Microsoft's table, loaded by path (it has no Ansible imports).
    spec = importlib.util.spec_from_file_location("graph_sandbox_sku_reference", str(_REFERENCE_PATH))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _load_reference()

READ_SKUS = ("Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All", "Directory.ReadWrite.All")
ASSIGN_USER = ("LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
ASSIGN_GROUP = ("LicenseAssignment.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

NO_USAGE_LOCATION = "License assignment cannot be done for user with invalid usage location."
NO_SEATS = "Subscription with SKU %s does not have any available licenses."
MISSING_PARAMETERS = ("One or more parameters of the operation 'assignLicense' are missing from the request payload. "
                      "The missing parameters are: %s.")
BAD_GUID = "Cannot convert a primitive value to the expected type 'Edm.Guid'. See the inner exception for more details."
INVALID_SKU = "License %s does not correspond to a valid company License."  # ASSUMED wording
INVALID_PLAN = "Service plan %s is not part of the subscription %s."  # ASSUMED wording
USER_NOT_ASSIGNED = "User does not have a corresponding license."  # ASSUMED wording (observed in tools)
INHERITED_ONLY = ("User license is inherited from a group membership and it cannot be removed directly from the "
                  "user.")  # ASSUMED wording (observed in tools)
GROUP_NOT_ASSIGNED = "Group does not have a corresponding license."  # ASSUMED wording
BOTH_ADDED_AND_REMOVED = "License %s cannot be both added and removed in the same request."  # ASSUMED wording
NOT_SECURITY_GROUP = "Licenses can only be assigned to security-enabled groups."  # ASSUMED wording

# A few well-known Graph service names for assignedPlans.service; others use the plan name.
SERVICE_PREFIXES = (("EXCHANGE", "exchange"), ("SHAREPOINT", "SharePoint"), ("MCO", "MicrosoftCommunicationsOnline"),
                    ("TEAMS", "TeamspaceAPI"), ("OFFICESUBSCRIPTION", "MicrosoftOffice"), ("YAMMER", "YammerEnterprise"),
                    ("INTUNE", "SCO"), ("AAD_PREMIUM", "AADPremiumService"), ("RMS_S", "RMSOnline"),
                    ("MFA_PREMIUM", "MultiFactorService"), ("POWERAPPS", "PowerAppsService"), ("FLOW", "ProcessSimple"))


class SeedSkuError(ValueError):
    pass


# ---- seeding and control ---------------------------------------------------------------------------


def sku_ids_for(name):
    """SKU ids a seed or control call names: a SKU id, a part number or a product name."""
    if GUID.match(name or ""):
        return [name.lower()] if name.lower() in REFERENCE.SKUS else []
    return REFERENCE.sku_ids_by_part_number(name) or REFERENCE.sku_ids_by_display_name(name)


def resolve_sku_name(name):
    ids = sku_ids_for(str(name))
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise SeedSkuError("SKU '%s' is ambiguous in Microsoft's table: %s; give sku_id instead" % (
            name, ", ".join("%s (%s)" % (i, REFERENCE.SKUS[i][1][0]) for i in ids)))
    names = sorted(set(s[0] for s in REFERENCE.SKUS.values()))
    close = difflib.get_close_matches(str(name), names, n=5)
    raise SeedSkuError("Unknown SKU '%s'%s" % (name, (": did you mean %s?" % ", ".join(close)) if close else ""))


def new_sku_doc(tenant, sku_id, prepaid, warning=0, suspended=0, capability_status="Enabled"):
    part_number, _, plan_ids = REFERENCE.SKUS[sku_id]
    plans = [{"servicePlanId": p, "servicePlanName": REFERENCE.PLANS[p][0], "provisioningStatus": "Success",
              "appliesTo": "User"} for p in plan_ids]
    return {"id": "%s_%s" % (tenant.id, sku_id), "skuId": sku_id, "skuPartNumber": part_number,
            "accountId": tenant.id, "accountName": tenant.info.get("display_name", "Sandbox"), "appliesTo": "User",
            "capabilityStatus": capability_status, "subscriptionIds": [str(uuid.uuid4())],
            "prepaidUnits": {"enabled": int(prepaid), "suspended": int(suspended), "warning": int(warning),
                             "lockedOut": 0},
            "servicePlans": plans}


def seed_skus(tenant, specs):
    """Create the seed's subscriptions: [{"part_number": "SPE_E3", "prepaid": 25}, ...] (or sku_id)."""
    for spec in specs:
        name = spec.get("sku_id") or spec.get("part_number")
        try:
            sku_id = resolve_sku_name(name)
        except SeedSkuError as exc:
            from ..seed import SeedError
            raise SeedError("skus: %s" % exc)
        tenant.save("sku", new_sku_doc(tenant, sku_id, spec.get("prepaid", 0), spec.get("warning", 0),
                                        spec.get("suspended", 0), spec.get("capability_status", "Enabled")))


def seed_user_licenses(tenant, user, names):
    """Give a seeded user direct licences, by part number, SKU id or product name of subscribed SKUs."""
    from ..seed import SeedError
    licenses = []
    for name in names:
        try:
            sku_id = resolve_sku_name(name)
        except SeedSkuError as exc:
            raise SeedError("users: %s" % exc)
        if sku_id not in tenant.skus:
            raise SeedError("users: %s licenses SKU '%s', which the seed's skus do not subscribe" % (
                user["userPrincipalName"], name))
        licenses.append({"skuId": sku_id, "disabledPlans": [], "assignedDateTime": iso()})
    user["_licenses"] = licenses
    tenant.save("user", user)


def _sku_control_view(tenant, doc):
    state = license_state(tenant)
    return {"skuId": doc["skuId"], "skuPartNumber": doc["skuPartNumber"], "prepaidUnits": doc["prepaidUnits"],
            "consumedUnits": state.consumed.get(doc["skuId"], 0), "capabilityStatus": doc["capabilityStatus"]}


async def control_list_skus(request):
    tenant = tenant_of(request)
    return JSONResponse([_sku_control_view(tenant, d) for d in tenant.skus.values()])


async def control_add_sku(request):
    """POST /_sandbox/skus {"part_number" | "sku_id", "prepaid", "warning"?, "suspended"?}: add a subscription."""
    tenant = tenant_of(request)
    try:
        body = await request.json()
        sku_id = resolve_sku_name(body.get("sku_id") or body.get("part_number"))
        doc = new_sku_doc(tenant, sku_id, int(body.get("prepaid", 0)), int(body.get("warning", 0)),
                          int(body.get("suspended", 0)), body.get("capability_status", "Enabled"))
    except (ValueError, TypeError, AttributeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if sku_id in tenant.skus:
        return JSONResponse({"error": "SKU %s is already subscribed; PATCH it" % sku_id}, status_code=409)
    tenant.save("sku", doc)
    tenant.commit()
    return JSONResponse(_sku_control_view(tenant, doc), status_code=201)


async def control_patch_sku(request):
    """PATCH /_sandbox/skus/{sku id or part number} {"prepaid"?, "warning"?, "suspended"?, "capability_status"?}."""
    tenant = tenant_of(request)
    name = request.path_params["sku"]
    matches = [d for d in tenant.skus.values()
               if d["skuId"] == name.lower() or d["skuPartNumber"].lower() == name.lower()]
    if len(matches) != 1:
        return JSONResponse({"error": "%d subscribed SKUs match '%s'" % (len(matches), name)},
                            status_code=404 if not matches else 400)
    doc = matches[0]
    try:
        body = await request.json()
        units = dict(doc["prepaidUnits"])
        for key, prop in (("prepaid", "enabled"), ("warning", "warning"), ("suspended", "suspended")):
            if key in body:
                units[prop] = int(body[key])
    except (ValueError, TypeError, AttributeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    doc["prepaidUnits"] = units
    if body.get("capability_status"):
        doc["capabilityStatus"] = body["capability_status"]
    tenant.save("sku", doc)
    tenant.commit()
    return JSONResponse(_sku_control_view(tenant, doc))


# ---- the derived licence state ---------------------------------------------------------------------


class LicenseState:
    """Every user's licence entries and every SKU's consumed seats, for one tenant version."""

    def __init__(self):
        self.version = None
        self.entries = {}    # user id -> [licenseAssignmentState dicts]
        self.consumed = {}   # sku id -> seats in use
        self.holders = {}    # sku id -> user ids holding an active licence
        self.pending_until = None   # epoch seconds when the next queued group licence is processed
        self.pending_groups = set()
        self.group_skus = set()     # SKUs some group licenses
        self.errors = {}            # sku id -> members refused a seat of it (CountViolation)

    def current(self, version):
        """Still right for this licence version, with no queued group licence due since it was computed."""
        return self.version == version and (self.pending_until is None or time.time() < self.pending_until)

    def apply_direct(self, user, before, after):
        """Update in place for a user's direct licences going from ``before`` to ``after`` (SKU ids), when no
        group licenses those SKUs: then no one else's seats or states can change, so no recompute is needed."""
        for sku_id in before - after:
            self.holders.get(sku_id, set()).discard(user["id"])
            self.consumed[sku_id] = self.consumed.get(sku_id, 0) - 1
        for sku_id in after - before:
            self.holders.setdefault(sku_id, set()).add(user["id"])
            self.consumed[sku_id] = self.consumed.get(sku_id, 0) + 1
        entries = [e for e in self.entries.get(user["id"], []) if e["assignedByGroup"] is not None]
        entries[:0] = [_entry(lic["skuId"], lic["disabledPlans"], None, "Active", None, lic["assignedDateTime"])
                       for lic in user.get("_licenses") or []]
        self.entries[user["id"]] = entries


_CACHE = {}
_computing = set()


def license_state(tenant):
    key = id(tenant)
    cached = _CACHE.get(key)
    if cached and cached.current(tenant.license_version):
        return cached
    _computing.add(key)
    try:
        state = _compute(tenant)
    finally:
        _computing.discard(key)
    state.version = tenant.license_version
    _CACHE[key] = state
    return state


def _entry(sku_id, disabled, group_id, status, error, updated):
    return {"skuId": sku_id, "disabledPlans": list(disabled), "assignedByGroup": group_id, "state": status,
            "error": error or "None", "lastUpdatedDateTime": updated}


def _joined_at(added_at):
    """A membership's added_at (nanoseconds since the epoch) as a DateTimeOffset; "" when unknown."""
    if isinstance(added_at, int) and added_at > 10 ** 15:
        return iso(datetime.fromtimestamp(added_at / 1e9, timezone.utc))
    return ""


def _compute(tenant):
    state = LicenseState()

    def grant(user_id, sku_id):
        holders = state.holders.setdefault(sku_id, set())
        if user_id not in holders:
            holders.add(user_id)
            state.consumed[sku_id] = state.consumed.get(sku_id, 0) + 1

    for user_id in sorted(tenant.indexes.licensed_users):
        user = tenant.users[user_id]
        for lic in user.get("_licenses") or []:
            state.entries.setdefault(user["id"], []).append(
                _entry(lic["skuId"], lic["disabledPlans"], None, "Active", None, lic["assignedDateTime"]))
            grant(user["id"], lic["skuId"])

    assignments = []
    now = time.time()
    for group_id in sorted(tenant.indexes.licensed_groups):
        group = tenant.groups[group_id]
        for lic in group.get("_licenses") or []:
            state.group_skus.add(lic["skuId"])
            if lic.get("_processAt", 0) > now:   # queued: members see nothing of it yet
                state.pending_until = min(state.pending_until or lic["_processAt"], lic["_processAt"])
                state.pending_groups.add(group["id"])
                continue
            assignments.append((lic["assignedDateTime"], group["id"], group, lic))
    for _, _, group, lic in sorted(assignments, key=lambda a: (a[0], a[1])):
        sku = tenant.skus.get(lic["skuId"])
        if sku is None:
            continue
        joined = group.get("_members") or {}
        for member_id in groups_resource.member_ids(tenant, group):
            if member_id not in tenant.users:
                continue  # nested groups do not pass licences on
            updated = max(lic["assignedDateTime"], _joined_at(joined.get(member_id)))
            if member_id in state.holders.get(lic["skuId"], ()):
                status, error = "Active", None
            elif state.consumed.get(lic["skuId"], 0) < sku["prepaidUnits"]["enabled"]:
                status, error = "Active", None
                grant(member_id, lic["skuId"])
            else:
                status, error = "Error", "CountViolation"
                state.errors[lic["skuId"]] = state.errors.get(lic["skuId"], 0) + 1
            state.entries.setdefault(member_id, []).append(
                _entry(lic["skuId"], lic["disabledPlans"], group["id"], status, error, updated))
    return state


def _processed(group):
    now = time.time()
    return [lic for lic in group.get("_licenses") or [] if lic.get("_processAt", 0) <= now]


def _members_changed(tenant, group, added, removed, version_before):
    """Members joined or left a static group: update the derived licence state in place when that
    cannot move anyone else's seat (seats left for every joiner, no one refused a seat the leavers free);
    otherwise leave it to be recomputed. Keeps member adds and removals linear in what they touch."""
    state = _CACHE.get(id(tenant))
    licences = _processed(group)
    if state is None or not state.current(version_before) or tenant.license_version == version_before:
        return
    added = [i for i in added if i in tenant.users]
    removed = [i for i in removed if i in tenant.users]
    for lic in licences:
        sku_id = lic["skuId"]
        needed = sum(1 for i in added if i not in state.holders.get(sku_id, ()))
        sku = tenant.skus.get(sku_id)
        if sku is None or state.consumed.get(sku_id, 0) + needed > sku["prepaidUnits"]["enabled"]:
            return
        if removed and state.errors.get(sku_id):
            return
    joined = group.get("_members") or {}
    for user_id in added:
        for lic in licences:
            updated = max(lic["assignedDateTime"], _joined_at(joined.get(user_id)))
            state.entries.setdefault(user_id, []).append(
                _entry(lic["skuId"], lic["disabledPlans"], group["id"], "Active", None, updated))
            if user_id not in state.holders.setdefault(lic["skuId"], set()):
                state.holders[lic["skuId"]].add(user_id)
                state.consumed[lic["skuId"]] = state.consumed.get(lic["skuId"], 0) + 1
        state.entries[user_id].sort(key=lambda e: _assignment_order(tenant, e))
    for user_id in removed:
        kept = [e for e in state.entries.get(user_id, []) if e["assignedByGroup"] != group["id"]]
        state.entries[user_id] = kept
        for lic in licences:
            if not any(e["skuId"] == lic["skuId"] and e["state"] == "Active" for e in kept):
                state.holders.get(lic["skuId"], set()).discard(user_id)
                state.consumed[lic["skuId"]] = state.consumed.get(lic["skuId"], 0) - 1
    state.version = tenant.license_version


def _assignment_order(tenant, entry):
    """Where an entry comes in a user's list: direct licences first, then groups' in assignment order."""
    if entry["assignedByGroup"] is None:
        return (0, "", "")
    group = tenant.groups.get(entry["assignedByGroup"]) or {}
    assigned = next((lic["assignedDateTime"] for lic in group.get("_licenses") or [] if lic["skuId"] == entry["skuId"]), "")
    return (1, assigned, entry["assignedByGroup"])


groups_resource.MEMBERSHIP_LISTENERS.append(_members_changed)


def user_states(tenant, doc):
    if id(tenant) in _computing:
        # A dynamic rule evaluated while inheritance is being computed sees direct licences only.
        return [_entry(lic["skuId"], lic["disabledPlans"], None, "Active", None, lic["assignedDateTime"])
                for lic in doc.get("_licenses") or []]
    return [dict(e) for e in license_state(tenant).entries.get(doc["id"], [])]


def user_assigned_licenses(tenant, doc):
    """One entry per SKU the user holds; a plan enabled by any assignment is enabled."""
    merged = {}
    for entry in user_states(tenant, doc):
        if entry["state"] != "Active":
            continue
        disabled = set(entry["disabledPlans"])
        merged[entry["skuId"]] = disabled if entry["skuId"] not in merged else merged[entry["skuId"]] & disabled
    return [{"skuId": sku_id, "disabledPlans": sorted(disabled)} for sku_id, disabled in sorted(merged.items())]


def _service_of(plan_name):
    for prefix, service in SERVICE_PREFIXES:
        if plan_name.upper().startswith(prefix):
            return service
    return plan_name


def user_assigned_plans(tenant, doc):
    plans = []
    dates = {}
    for entry in user_states(tenant, doc):
        if entry["state"] == "Active":
            dates[entry["skuId"]] = min(dates.get(entry["skuId"], entry["lastUpdatedDateTime"]),
                                        entry["lastUpdatedDateTime"])
    for lic in user_assigned_licenses(tenant, doc):
        sku = tenant.skus.get(lic["skuId"])
        for plan in (sku or {}).get("servicePlans", []):
            if plan["servicePlanId"] in lic["disabledPlans"]:
                continue
            plans.append({"assignedDateTime": dates.get(lic["skuId"]), "capabilityStatus": "Enabled",
                          "service": _service_of(plan["servicePlanName"]), "servicePlanId": plan["servicePlanId"]})
    return plans


def group_assigned_licenses(tenant, doc):
    return [{"skuId": lic["skuId"], "disabledPlans": list(lic["disabledPlans"])} for lic in doc.get("_licenses") or []]


def group_members_in_error(tenant, group):
    state = license_state(tenant)
    return [tenant.users[user_id] for user_id, entries in state.entries.items()
            if user_id in tenant.users
            and any(e["assignedByGroup"] == group["id"] and e["state"] == "Error" for e in entries)]


def group_processing_state(tenant, doc):
    """licenseProcessingState: QueuedForProcessing until the group's licences reach its members."""
    if not doc.get("_licenses"):
        return None
    pending = doc["id"] in license_state(tenant).pending_groups
    return {"state": "QueuedForProcessing" if pending else "ProcessingComplete"}


def sku_consumed_units(tenant, doc):
    return license_state(tenant).consumed.get(doc["skuId"], 0)


schema.register_derived("user", "assignedLicenses", user_assigned_licenses)
schema.register_derived("user", "licenseAssignmentStates", user_states)
schema.register_derived("user", "assignedPlans", user_assigned_plans)
schema.register_derived("group", "licenseProcessingState", group_processing_state)
schema.register_derived("group", "assignedLicenses", group_assigned_licenses)
schema.register_derived("group", "hasMembersWithLicenseErrors",
                        lambda tenant, doc: bool(group_members_in_error(tenant, doc)))
schema.register_derived("subscribedSku", "consumedUnits", sku_consumed_units)


# ---- GET /subscribedSkus -----------------------------------------------------------------------------


def _reject_unsupported_query(request):
    # The endpoint supports $select only (DC subscribedsku-list.md). ASSUMED: a filter or search is refused.
    for option in ("$filter", "$search", "$orderby"):
        if option in request.query_params:
            raise GraphHTTPError(400, "Request_UnsupportedQuery",
                                 "Query option '%s' is not supported on subscribedSkus." % option)


async def list_skus(request):
    require(request, *READ_SKUS)
    _reject_unsupported_query(request)
    tenant = tenant_of(request)
    select = schema.parse_select("subscribedSku", request.query_params.get("$select"))
    context = "subscribedSkus" if not select else "subscribedSkus(%s)" % ",".join(select)
    docs = sorted(tenant.skus.values(), key=lambda d: d["skuPartNumber"])
    return graph_json({"@odata.context": "%s#%s" % (METADATA, context),
                       "value": [schema.project("subscribedSku", d, select, tenant) for d in docs]})


async def get_sku(request):
    require(request, *READ_SKUS)
    tenant = tenant_of(request)
    key = request.path_params["id"].lower()
    doc = next((d for d in tenant.skus.values() if d["id"].lower() == key), None)
    if doc is None:
        raise not_found(request.path_params["id"])
    return entity_response(request, "subscribedSku", doc, context="subscribedSkus/$entity")


# ---- POST .../assignLicense ----------------------------------------------------------------------------


def _guid(value):
    if not isinstance(value, str) or not GUID.match(value):
        raise GraphHTTPError(400, "Request_BadRequest", BAD_GUID)
    return value.lower()


def parse_assign_body(tenant, body):
    """(adds {sku id: [disabled plan ids]}, removes [sku ids]) after Graph's checks on the body."""
    missing = [p for p in ("addLicenses", "removeLicenses") if body.get(p) is None]
    if missing:
        raise GraphHTTPError(400, "Request_BadRequest", MISSING_PARAMETERS % ", ".join(missing))
    if not isinstance(body["addLicenses"], list) or not isinstance(body["removeLicenses"], list):
        raise GraphHTTPError(400, "Request_BadRequest", "Invalid value specified for the parameters of 'assignLicense'.")
    adds = {}
    for item in body["addLicenses"]:
        if not isinstance(item, dict):
            raise GraphHTTPError(400, "Request_BadRequest", "Invalid value specified for parameter 'addLicenses'.")
        sku_id = _guid(item.get("skuId"))
        sku = tenant.skus.get(sku_id)
        if sku is None:
            raise GraphHTTPError(400, "Request_BadRequest", INVALID_SKU % sku_id)
        disabled = [_guid(p) for p in item.get("disabledPlans") or []]
        plan_ids = set(p["servicePlanId"] for p in sku["servicePlans"])
        for plan_id in disabled:
            if plan_id not in plan_ids:
                raise GraphHTTPError(400, "Request_BadRequest", INVALID_PLAN % (plan_id, sku_id))
        adds[sku_id] = sorted(set(disabled))
    removes = []
    for value in body["removeLicenses"]:
        sku_id = _guid(value)
        if sku_id not in tenant.skus:
            raise GraphHTTPError(400, "Request_BadRequest", INVALID_SKU % sku_id)
        if sku_id in adds:
            raise GraphHTTPError(400, "Request_BadRequest", BOTH_ADDED_AND_REMOVED % sku_id)
        removes.append(sku_id)
    return adds, removes


def _apply(licenses, adds, removes, process_at=None):
    """The new _licenses list: removes dropped, adds inserted or their disabled plans replaced.

    ``process_at`` (epoch seconds): when a group's added or changed licences reach its members.
    """
    now = iso()
    kept = [dict(lic) for lic in licenses if lic["skuId"] not in removes]
    by_sku = {lic["skuId"]: lic for lic in kept}
    for sku_id, disabled in adds.items():
        if sku_id in by_sku:
            by_sku[sku_id]["disabledPlans"] = disabled
        else:
            by_sku[sku_id] = {"skuId": sku_id, "disabledPlans": disabled, "assignedDateTime": now}
            kept.append(by_sku[sku_id])
        if process_at is not None:
            by_sku[sku_id]["_processAt"] = process_at
    return kept


async def assign_user_license(request):
    require(request, *ASSIGN_USER)
    tenant = tenant_of(request)
    user = live_user(request)
    adds, removes = parse_assign_body(tenant, await read_json(request))
    direct = set(lic["skuId"] for lic in user.get("_licenses") or [])
    for sku_id in removes:
        if sku_id not in direct:
            inherited = any(e["skuId"] == sku_id for e in user_states(tenant, user))
            raise GraphHTTPError(400, "Request_BadRequest", INHERITED_ONLY if inherited else USER_NOT_ASSIGNED)
    if adds and not user.get("usageLocation"):
        raise GraphHTTPError(400, "Request_BadRequest", NO_USAGE_LOCATION)
    state = license_state(tenant)
    for sku_id in adds:
        if user["id"] in state.holders.get(sku_id, ()):
            continue  # already consumes a seat of it (directly or through a group)
        if state.consumed.get(sku_id, 0) >= tenant.skus[sku_id]["prepaidUnits"]["enabled"]:
            raise GraphHTTPError(400, "Request_BadRequest", NO_SEATS % sku_id)
    before = set(lic["skuId"] for lic in user.get("_licenses") or [])
    user["_licenses"] = _apply(user.get("_licenses") or [], adds, removes)
    tenant.save("user", user)
    if state.current(tenant.license_version - 1) and not (set(adds) | set(removes)) & state.group_skus:
        # Only this user's direct licences changed: update the derived state instead of recomputing it.
        state.apply_direct(user, before, set(lic["skuId"] for lic in user["_licenses"]))
        state.version = tenant.license_version
    return entity_response(request, "user", user, context="users/$entity")


async def assign_group_license(request):
    require(request, *ASSIGN_GROUP)
    tenant = tenant_of(request)
    group = groups_resource.live_group(request)
    adds, removes = parse_assign_body(tenant, await read_json(request))
    if not group.get("securityEnabled"):
        raise GraphHTTPError(400, "Request_BadRequest", NOT_SECURITY_GROUP)
    assigned = set(lic["skuId"] for lic in group.get("_licenses") or [])
    if any(sku_id not in assigned for sku_id in removes):
        raise GraphHTTPError(400, "Request_BadRequest", GROUP_NOT_ASSIGNED)
    # Group licences reach members asynchronously (FIDELITY.md 7.6), after the configured delay.
    process_at = time.time() + sandbox_of(request).control.group_license_delay
    group["_licenses"] = _apply(group.get("_licenses") or [], adds, removes, process_at)
    tenant.save("group", group)
    # Graph processes group licences in the background and answers 202 with a Location.
    location = "%sv1.0/groups/%s" % (str(request.base_url), group["id"])
    return entity_response(request, "group", group, status=202, context="groups/$entity",
                           headers={"Location": location})


async def members_with_license_errors(request):
    require(request, *READ_USERS)
    tenant = tenant_of(request)
    group = groups_resource.live_group(request)
    docs = [dict(u, _kind="user") for u in group_members_in_error(tenant, group)]
    return collection_response(request, "user", docs, "directoryObjects", odata_type=True)


routes = [
    Route("/v1.0/subscribedSkus", list_skus, methods=["GET"]),
    Route("/v1.0/subscribedSkus/{id}", get_sku, methods=["GET"]),
    Route("/v1.0/users/{id}/assignLicense", assign_user_license, methods=["POST"]),
    Route("/v1.0/groups/{id}/assignLicense", assign_group_license, methods=["POST"]),
    Route("/v1.0/groups/{id}/membersWithLicenseErrors", members_with_license_errors, methods=["GET"]),
    Route("/_sandbox/skus", control_list_skus, methods=["GET"]),
    Route("/_sandbox/skus", control_add_sku, methods=["POST"]),
    Route("/_sandbox/skus/{sku}", control_patch_sku, methods=["PATCH"]),
]
