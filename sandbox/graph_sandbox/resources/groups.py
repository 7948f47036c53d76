"""/groups: security, Microsoft 365 and dynamic groups, their members and owners (FIDELITY.md 2.2, 2.5, 3, 4).

Members and owners live in the group document as ``_members`` / ``_owners`` ({object id: added_at}).
A dynamic group's members are not stored: they are computed from its rule against the current users
(cached per ``tenant.version``), with the same parser the collection's modules use
(plugins/module_utils/membership_rule.py, loaded by file path). A paused group keeps the membership
computed last, which is stored in ``_members`` when processing is paused.
"""
import importlib.util
import re
import time
import uuid
from pathlib import Path

from starlette.routing import Route

from .. import schema
from ..http import (GraphHTTPError, advanced_query, collection_response, entity_response, graph_json, iso,
                    no_content, not_found, page_size, paginate, plain_count, read_json, reference_id, require, sandbox_of,
                    tenant_of, METADATA)
from .users import live_user, soft_delete


def _load_membership_rule():
    path = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "membership_rule.py"
    spec = importlib.util.spec_from_file_location("graph_sandbox_membership_rule", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


membership_rule = _load_membership_rule()

# Called as listener(tenant, group, added ids, removed ids, tenant.license_version before the save) after
# a static group's members change by $ref, so derived state (licensing) can follow without a recompute.
MEMBERSHIP_LISTENERS = []


def _save_members(tenant, group, added=(), removed=()):
    version_before = tenant.license_version
    tenant.save("group", group)
    for listener in MEMBERSHIP_LISTENERS:
        listener(tenant, group, list(added), list(removed), version_before)

# FIDELITY.md section 4.
READ = ("Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All", "GroupMember.ReadWrite.All",
        "Directory.Read.All", "Directory.ReadWrite.All")
CREATE = ("Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All")
WRITE = ("Group.ReadWrite.All", "Directory.ReadWrite.All")
MEMBERS_WRITE = ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
ROLE_WRITE = ("RoleManagement.ReadWrite.Directory",)
MEMBER_OF_READ = READ + ("User.Read.All", "User.ReadWrite.All")

BIND_LIMIT = 20
REQUIRED_ON_CREATE = ("displayName", "mailEnabled", "securityEnabled", "mailNickname")
READ_ONLY = {"id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses", "renewedDateTime",
             "securityIdentifier", "expirationDateTime", "onPremisesDomainName", "onPremisesLastSyncDateTime",
             "onPremisesNetBiosName", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
             "onPremisesSyncEnabled", "onPremisesProvisioningErrors", "serviceProvisioningErrors",
             "assignedLicenses", "assignedLabels", "licenseProcessingState", "hasMembersWithLicenseErrors",
             "createdByAppId", "isManagementRestricted"}
GROUP_TYPES = ("Unified", "DynamicMembership")
VISIBILITIES = ("Public", "Private", "HiddenMembership")
PROCESSING_STATES = ("On", "Paused")
NICKNAME_FORBIDDEN = set('@()\\[]";:.<>, ')

ALREADY_EXIST = "One or more added object references already exist for the following modified properties: '%s'."
LAST_OWNER = "The group must have at least one owner, hence this owner cannot be removed."
NOT_REMOVED = "One or more removed object references do not exist for the following modified properties: '%s'."
NOT_REPLICATED = "The source resource object or one of the objects being referenced do not exist."
# Member types a group may hold (FIDELITY.md 7.4, DC api/group-post-members.md); wording ASSUMED.
UNIFIED_AS_MEMBER = "A Microsoft 365 group cannot be a member of another group."
SECURITY_IN_UNIFIED = "A security group cannot be a member of a Microsoft 365 group."
GROUP_IN_ROLE_GROUP = "A role-assignable group cannot have groups as members."
OWNERS_BIND_ON_UPDATE = ("Property 'owners@odata.bind' is only supported when a group is created; "
                         "add owners with POST /groups/{id}/owners/$ref.")  # wording ASSUMED
MISSING_RULE = "A value is required for property 'membershipRule'."


def invalid(prop):
    return GraphHTTPError(400, "Request_BadRequest", "Invalid value specified for property '%s' of resource 'Group'." % prop)


def bad_request(message):
    return GraphHTTPError(400, "Request_BadRequest", message)


def denied():
    return GraphHTTPError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


# ---------------------------------------------------------------------------------------------------
# Kinds and dynamic membership

def is_unified(group):
    return "Unified" in (group.get("groupTypes") or [])


def is_dynamic(group):
    return "DynamicMembership" in (group.get("groupTypes") or [])


def is_read_only_kind(group):
    """Mail-enabled security groups and distribution lists cannot be managed through Graph."""
    return bool(group.get("mailEnabled")) and not is_unified(group)


_RULES = {}
_DYNAMIC = {}          # group id -> (tenant.version, rule text, [user ids])
_EVALUATING = set()    # guards against a rule that reads a property derived from group membership


def _parsed(rule_text):
    if rule_text not in _RULES:
        _RULES[rule_text] = membership_rule.parse(rule_text)
    return _RULES[rule_text]


def _rule_input(tenant, user, rule):
    """The user as the rule sees it: stored properties plus derived ones the rule reads."""
    derived = schema.derived_properties("user")
    wanted = [p for p in rule.properties() if p in derived]
    doc = dict(user, **{p: derived[p](tenant, user) for p in wanted}) if wanted else user
    if rule.uses_member_of:
        doc = dict(doc, memberOf=[g["id"] for g in tenant.groups.values()
                                  if not is_dynamic(g) and user["id"] in (g.get("_members") or {})])
    return doc


def dynamic_member_ids(tenant, group):
    """Users the rule of a dynamic group selects now (or when it was paused)."""
    if group.get("membershipRuleProcessingState") == "Paused":
        return _stored_ids(group, "_members")
    rule_text = group.get("membershipRule") or ""
    cached = _DYNAMIC.get(group["id"])
    if cached and cached[0] == tenant.version and cached[1] == rule_text:
        return cached[2]
    if group["id"] in _EVALUATING:
        return cached[2] if cached else []
    _EVALUATING.add(group["id"])
    try:
        rule = _parsed(rule_text)
        if rule.object_type != "user":
            ids = []
        else:
            ids = [u["id"] for u in tenant.users.values() if rule.matches(_rule_input(tenant, u, rule))]
    except membership_rule.RuleError:
        ids = []
    finally:
        _EVALUATING.discard(group["id"])
    _DYNAMIC[group["id"]] = (tenant.version, rule_text, ids)
    return ids


def _stored_ids(group, relation):
    entries = group.get(relation) or {}
    return [object_id for object_id, _ in sorted(entries.items(), key=lambda kv: kv[1])]


def member_ids(tenant, group):
    """Ids of the group's live direct members, in the order they were added (dynamic: evaluated)."""
    ids = dynamic_member_ids(tenant, group) if is_dynamic(group) else _stored_ids(group, "_members")
    return [i for i in ids if i in tenant.users or i in tenant.groups]


def owner_ids(tenant, group):
    return [i for i in _stored_ids(group, "_owners") if i in tenant.users]


def groups_of(tenant, object_id):
    """The live groups the object is a direct member of (dynamic memberships included)."""
    found = [group for kind, group in tenant.groups_holding(object_id)
             if kind == "group" and not is_dynamic(group) and object_id in (group.get("_members") or {})]
    found += [group for group in tenant.groups.values() if is_dynamic(group) and object_id in member_ids(tenant, group)]
    return found


def transitive_member_ids(tenant, group):
    """Members of the group and of every nested group, each once (cycles are harmless)."""
    seen, order, pending = {group["id"]}, [], [group]
    while pending:
        current = pending.pop(0)
        for member_id in member_ids(tenant, current):
            if member_id in seen:
                continue
            seen.add(member_id)
            order.append(member_id)
            if member_id in tenant.groups:
                pending.append(tenant.groups[member_id])
    return order


def transitive_groups_of(tenant, object_id):
    seen, order, pending = set(), [], [object_id]
    while pending:
        current = pending.pop(0)
        for group in groups_of(tenant, current):
            if group["id"] not in seen:
                seen.add(group["id"])
                order.append(group)
                pending.append(group["id"])
    return order


# ---------------------------------------------------------------------------------------------------
# Validation

def _check_rule(text):
    if not isinstance(text, str) or not text.strip():
        raise bad_request(MISSING_RULE)
    try:
        _parsed(text)
    except membership_rule.RuleError as exc:
        raise bad_request(str(exc))


def _check_types(tenant, body, existing=None):
    known = schema.type_properties("group")
    for prop, value in body.items():
        if prop.endswith("@odata.bind"):
            continue
        if prop not in known:
            raise bad_request("Property '%s' does not exist on type 'microsoft.graph.group'." % prop)
        if prop in READ_ONLY:
            raise bad_request("Property '%s' is read-only and cannot be set." % prop)
    for prop in ("mailEnabled", "securityEnabled", "isAssignableToRole"):
        if prop in body and not isinstance(body[prop], bool):
            raise invalid(prop)
    for prop in ("displayName", "description", "mailNickname", "uniqueName", "membershipRule", "visibility",
                 "membershipRuleProcessingState"):
        if body.get(prop) is not None and not isinstance(body[prop], str):
            raise invalid(prop)
    if "displayName" in body and (not body["displayName"] or len(body["displayName"]) > 256):
        raise invalid("displayName")
    if "mailNickname" in body:
        nickname = body["mailNickname"] or ""
        if not nickname or len(nickname) > 64 or any(c in NICKNAME_FORBIDDEN or ord(c) > 127 for c in nickname):
            raise invalid("mailNickname")
    if "groupTypes" in body:
        types = body["groupTypes"]
        if not isinstance(types, list) or any(t not in GROUP_TYPES for t in types) or len(set(types)) != len(types):
            raise invalid("groupTypes")
    if body.get("membershipRuleProcessingState") is not None and body["membershipRuleProcessingState"] not in PROCESSING_STATES:
        raise invalid("membershipRuleProcessingState")
    if body.get("visibility") is not None and body["visibility"] not in VISIBILITIES:
        raise invalid("visibility")
    if body.get("uniqueName"):
        _check_unique_name(tenant, body["uniqueName"], existing)


def _check_unique_name(tenant, name, existing):
    lowered = name.lower()
    others = list(tenant.groups.values()) + [e["doc"] for e in tenant.deleted.values() if e["kind"] == "group"]
    for other in others:
        if (other.get("uniqueName") or "").lower() == lowered and (existing is None or other["id"] != existing["id"]):
            raise GraphHTTPError(400, "Request_BadRequest",
                                 "Another object with the same value for property uniqueName already exists.",
                                 details=[{"code": "ObjectConflict", "message": "", "target": "uniqueName"},
                                          {"code": "ConflictingObjects", "message": "", "target": "Group_%s" % other["id"]}])


def _check_shape(group):
    """Rules about the combination of kind properties, on the group as it would be stored."""
    unified, dynamic = is_unified(group), is_dynamic(group)
    if unified and not group.get("mailEnabled"):
        raise invalid("mailEnabled")
    if not unified and group.get("mailEnabled"):
        # Graph cannot create (or turn a group into) a mail-enabled security group or distribution list.
        raise bad_request("Cannot create a mail-enabled security groups and or distribution list.")
    if not unified and not group.get("securityEnabled"):
        raise invalid("securityEnabled")
    if dynamic:
        _check_rule(group.get("membershipRule"))
    elif group.get("membershipRule"):
        raise bad_request("The property 'membershipRule' can only be set on groups with 'DynamicMembership' "
                          "in groupTypes.")
    if group.get("visibility") == "HiddenMembership" and not unified:
        # Private and Public suit any group; HiddenMembership only Microsoft 365 groups (FIDELITY.md 7.13).
        raise bad_request("Visibility 'HiddenMembership' can only be set when a Microsoft 365 group is created.")
    if group.get("isAssignableToRole"):
        if not group.get("securityEnabled"):
            raise bad_request("A role-assignable group must be security enabled (securityEnabled: true).")
        if dynamic:
            raise bad_request("A role-assignable group cannot have dynamic membership.")


def _unified_mail_conflict(tenant, nickname, except_id=None):
    mail = "%s@%s" % (nickname, tenant.default_domain)
    lowered = mail.lower()
    holders = [g for g in tenant.groups.values() if g["id"] != except_id and (g.get("mail") or "").lower() == lowered]
    holders += [u for u in tenant.users.values() if (u.get("mail") or "").lower() == lowered]
    if holders:
        raise GraphHTTPError(400, "Request_BadRequest",
                             "Another object with the same value for property proxyAddresses already exists.",
                             details=[{"code": "ObjectConflict", "message": "", "target": "proxyAddresses"}])
    return mail


def _set_mail(tenant, group):
    if is_unified(group):
        group["mail"] = _unified_mail_conflict(tenant, group["mailNickname"], group["id"])
        group["proxyAddresses"] = ["SMTP:%s" % group["mail"]]
    else:
        group["mail"] = None
        group["proxyAddresses"] = []


# ---------------------------------------------------------------------------------------------------
# References (members, owners)

def _live_object(tenant, object_id):
    """The kind and document of an object a write references (FIDELITY.md 7.3: a just-created one is
    not referable until replication catches up)."""
    kind, doc = tenant.directory_object(object_id)
    if doc is None:
        raise not_found(object_id)
    if not tenant.replicated(object_id):
        raise bad_request(NOT_REPLICATED)
    return kind, doc


def _check_relation_write(request, group, relation):
    """Permission and kind checks shared by every member / owner change."""
    require(request, *MEMBERS_WRITE)
    if group.get("isAssignableToRole"):
        require(request, *ROLE_WRITE)
    if is_read_only_kind(group):
        raise denied()
    if relation == "members" and is_dynamic(group):
        # Static member changes on a dynamic group (SupportArticles-docs): 403.
        raise denied()


def _check_additions(tenant, group, relation, ids):
    """All-or-nothing validation of references to add; returns them."""
    existing = group.get("_" + relation) or {}
    for object_id in ids:
        kind, doc = _live_object(tenant, object_id)
        if relation == "owners" and kind != "user":
            raise bad_request("Invalid object identifier '%s': owners must be users or service principals." % object_id)
        if object_id == group["id"]:
            raise bad_request("A group cannot be a member of itself.")
        if relation == "members" and kind == "group":
            _check_nesting(group, doc)
    if len(set(ids)) != len(ids) or any(i in existing for i in ids):
        raise bad_request(ALREADY_EXIST % relation)
    return ids


def _check_nesting(group, member):
    """Which groups may hold which (FIDELITY.md 7.4)."""
    if is_unified(member):
        raise bad_request(UNIFIED_AS_MEMBER)
    if is_unified(group):
        raise bad_request(SECURITY_IN_UNIFIED)
    if group.get("isAssignableToRole"):
        raise bad_request(GROUP_IN_ROLE_GROUP)


def _add(group, relation, ids):
    entries = group.setdefault("_" + relation, {})
    now = time.time_ns()
    for offset, object_id in enumerate(ids):
        entries[object_id] = now + offset


def _binds(request, body):
    """(members, owners) ids from members@odata.bind / owners@odata.bind."""
    found = {}
    for relation in ("members", "owners"):
        refs = body.get("%s@odata.bind" % relation)
        if refs is None:
            continue
        if not isinstance(refs, list):
            raise bad_request("Invalid value for '%s@odata.bind': expected an array of URLs." % relation)
        found[relation] = [reference_id(request, r) for r in refs]
    total = sum(len(v) for v in found.values())
    if total > BIND_LIMIT:
        raise bad_request("The request exceeds the limit of %d added object references per request (got %d)." % (
            BIND_LIMIT, total))
    return found


# ---------------------------------------------------------------------------------------------------
# Handlers: groups

def unique_name_of(request):
    """The alternate key of /groups(uniqueName='x') (FIDELITY.md 7.2), or None for /groups/{id}."""
    return request.scope.get("graph_unique_name") if request.path_params.get("id") == "(uniqueName)" else None


def group_by_unique_name(tenant, name):
    lowered = name.lower()
    return next((g for g in tenant.groups.values() if (g.get("uniqueName") or "").lower() == lowered), None)


def live_group(request, key=None):
    tenant = tenant_of(request)
    unique_name = None if key else unique_name_of(request)
    key = key or request.path_params["id"]
    if unique_name is not None:
        group = group_by_unique_name(tenant, unique_name)
        key = "uniqueName='%s'" % unique_name
    else:
        group = tenant.groups.get(key)
    if group is None or not tenant.replicated(group["id"]):
        raise not_found(key)
    return group


def create_group(request, body):
    tenant = tenant_of(request)
    roles = getattr(request.state, "roles", set())
    missing = [p for p in REQUIRED_ON_CREATE if body.get(p) is None or body.get(p) == ""]
    if missing:
        raise bad_request("A value is required for property '%s' of resource 'Group'." % missing[0])
    _check_types(tenant, body)
    doc = {k: v for k, v in body.items() if not k.endswith("@odata.bind")}
    doc.setdefault("groupTypes", [])
    if is_dynamic(doc):
        if not doc.get("membershipRule"):
            raise bad_request(MISSING_RULE)
        doc.setdefault("membershipRuleProcessingState", "On")
    if doc.get("visibility") is None:
        doc["visibility"] = "Public" if is_unified(doc) else "Private"   # FIDELITY.md 7.13
    if doc.get("isAssignableToRole") and not roles.intersection(ROLE_WRITE):
        raise denied()
    doc["isAssignableToRole"] = bool(doc.get("isAssignableToRole"))
    _check_shape(doc)
    binds = _binds(request, body)
    doc.update(id=str(uuid.uuid4()), createdDateTime=iso(), renewedDateTime=iso(),
               securityIdentifier="S-1-12-1-%d-%d-%d-%d" % tuple(uuid.uuid4().int >> s & 0xFFFFFFFF for s in (0, 32, 64, 96)))
    _set_mail(tenant, doc)
    for relation, ids in binds.items():
        if relation == "members" and is_dynamic(doc):
            raise denied()
        _add(doc, relation, _check_additions(tenant, doc, relation, ids))
    tenant.save("group", doc)
    return doc


async def post_group(request):
    require(request, *CREATE)
    body = await read_json(request, "group")
    doc = create_group(request, body)
    return entity_response(request, "group", doc, status=201, context="groups/$entity")


async def list_groups(request):
    require(request, *READ)
    tenant = tenant_of(request)
    docs = [g for g in tenant.groups.values() if tenant.replicated(g["id"])]
    return collection_response(request, "group", docs, "groups")


async def get_group(request):
    require(request, *READ)
    return entity_response(request, "group", live_group(request), context="groups/$entity")


def _changed_shape(tenant, group, body):
    """The group as it would be after the PATCH, checked before anything is stored."""
    after = dict(group)
    after.update({k: v for k, v in body.items() if not k.endswith("@odata.bind")})
    if group.get("uniqueName") and "uniqueName" in body and body["uniqueName"] != group["uniqueName"]:
        raise bad_request("Property 'uniqueName' cannot be changed once it is set.")
    if "isAssignableToRole" in body and bool(body["isAssignableToRole"]) != bool(group.get("isAssignableToRole")):
        raise bad_request("Property 'isAssignableToRole' can only be set when the group is created.")
    if ("Unified" in (body.get("groupTypes") or [])) != is_unified(group) and "groupTypes" in body:
        raise bad_request("Property 'groupTypes' cannot change a group to or from a Microsoft 365 (Unified) group.")
    if "visibility" in body and ((body["visibility"] == "HiddenMembership") != (group.get("visibility") == "HiddenMembership")):
        raise bad_request("Visibility 'HiddenMembership' can only be set when a Microsoft 365 group is created.")
    if is_dynamic(after):
        after.setdefault("membershipRuleProcessingState", "On")
        if not after.get("membershipRuleProcessingState"):
            after["membershipRuleProcessingState"] = "On"
    elif is_dynamic(group):
        # Turned into an assigned group: the members it had stay, as in Entra.
        after["_members"] = dict((i, n) for n, i in enumerate(dynamic_member_ids(tenant, group)))
        after["membershipRule"] = None
        after["membershipRuleProcessingState"] = None
    _check_shape(after)
    return after


def _upsert_target(request):
    """PATCH /groups(uniqueName='x'): the group to update, or None to create it (DC api/group-upsert.md).

    The writing replica knows the key at once, so a repeated upsert within the replication lag updates
    the group instead of creating a twin.
    """
    unique_name = unique_name_of(request)
    group = group_by_unique_name(tenant_of(request), unique_name)
    if group is not None:
        return group
    if "create-if-missing" not in request.headers.get("prefer", "").lower():
        raise not_found("uniqueName='%s'" % unique_name)
    return None


async def patch_group(request):
    tenant = tenant_of(request)
    body = await read_json(request, "group")
    if unique_name_of(request) is not None:
        group = _upsert_target(request)
        if group is None:
            require(request, *CREATE)
            if body.get("uniqueName") not in (None, unique_name_of(request)):
                raise bad_request("Property 'uniqueName' cannot be changed once it is set.")
            doc = create_group(request, dict(body, uniqueName=unique_name_of(request)))
            return entity_response(request, "group", doc, status=201, context="groups/$entity",
                                   headers={"Preference-Applied": "create-if-missing"})
    else:
        group = live_group(request)
    binds = _binds(request, body)
    if "owners" in binds:
        raise bad_request(OWNERS_BIND_ON_UPDATE)
    properties = {k: v for k, v in body.items() if not k.endswith("@odata.bind")}
    if properties or not binds:
        require(request, *WRITE)
    for relation in binds:
        _check_relation_write(request, group, relation)
    if is_read_only_kind(group):
        raise denied()
    _check_types(tenant, properties, existing=group)
    after = _changed_shape(tenant, group, properties)
    for relation, ids in binds.items():
        _check_additions(tenant, group, relation, ids)
    was_paused = group.get("membershipRuleProcessingState") == "Paused"
    if after.get("membershipRuleProcessingState") == "Paused" and not was_paused and is_dynamic(group):
        # Pausing freezes the membership computed last.
        after["_members"] = dict((i, n) for n, i in enumerate(dynamic_member_ids(tenant, group)))
    group.clear()
    group.update(after)
    if "mailNickname" in properties or "groupTypes" in properties:
        _set_mail(tenant, group)
    for relation, ids in binds.items():
        _add(group, relation, ids)
    tenant.save("group", group)
    return no_content()


async def delete_group(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    group = live_group(request)
    if is_read_only_kind(group):
        raise denied()
    if is_unified(group):
        soft_delete(tenant, "group", group)   # Microsoft 365 groups are kept 30 days
    else:
        tenant.drop("group", group["id"])     # security groups are gone for good
        _forget(tenant, group["id"])
    return no_content()


def _forget(tenant, object_id):
    """Remove every membership and ownership of a permanently deleted object."""
    for kind, other in tenant.groups_holding(object_id):
        for relation in ("_members", "_owners"):
            (other.get(relation) or {}).pop(object_id, None)
        tenant.save(kind, other if kind == "group" else tenant.deleted[other["id"]])


# ---------------------------------------------------------------------------------------------------
# Handlers: members and owners

async def add_reference(request, relation):
    tenant = tenant_of(request)
    group = live_group(request)
    _check_relation_write(request, group, relation)
    body = await read_json(request)
    object_id = reference_id(request, body.get("@odata.id"))
    _check_additions(tenant, group, relation, [object_id])
    _add(group, relation, [object_id])
    if relation == "members":
        _save_members(tenant, group, added=[object_id])
    else:
        tenant.save("group", group)
    return no_content()


async def remove_reference(request, relation):
    object_id = request.path_params["member"]
    tenant = tenant_of(request)
    group = live_group(request)
    _check_relation_write(request, group, relation)
    entries = group.get("_" + relation) or {}
    if object_id not in entries:
        # Both documented answers mean "already removed" (FIDELITY.md 7.4); the control API picks one.
        if sandbox_of(request).control.missing_reference_status() == 404:
            raise not_found(object_id)
        raise bad_request(NOT_REMOVED % relation)
    if relation == "owners" and is_unified(group) and len(owner_ids(tenant, group)) <= 1:
        raise bad_request(LAST_OWNER)
    entries.pop(object_id)
    if relation == "members":
        _save_members(tenant, group, removed=[object_id])
    else:
        tenant.save("group", group)
    return no_content()


def _select(request):
    """$select over users and groups together (a directoryObject collection)."""
    raw = request.query_params.get("$select")
    if raw is None:
        return None
    known = {}
    for type_name in ("user", "group"):
        for prop in schema.type_properties(type_name):
            known.setdefault(prop.lower(), prop)
    selected = []
    for name in (p.strip() for p in raw.split(",") if p.strip()):
        if name.lower() not in known:
            raise bad_request("Could not find a property named '%s' on type 'microsoft.graph.directoryObject'." % name)
        selected.append(known[name.lower()])
    return selected


def objects_response(request, ids, cast=None):
    """A page of directory objects (users and groups), with @odata.type, $select, $top and paging.

    ``cast`` ("user" or "group") is a type-cast segment: only objects of that type (FIDELITY.md 7.12).
    """
    from ..odata_filter import FilterError, UnsupportedFilter, parse_filter
    tenant = tenant_of(request)
    params = request.query_params
    select = _select(request)
    top = page_size(request)
    objects = [tenant.directory_object(i) for i in ids]
    objects = [(kind, doc) for kind, doc in objects if doc is not None and kind == (cast or kind)]
    if params.get("$filter"):
        if not advanced_query(request):
            raise GraphHTTPError(400, "Request_UnsupportedQuery",
                                 "Filtering directory object relationships needs the advanced query parameters: "
                                 "add $count=true and the ConsistencyLevel:eventual header.")
        try:
            expr = parse_filter(params["$filter"])
        except (FilterError, UnsupportedFilter) as exc:
            raise bad_request(str(exc))
        objects = [(kind, doc) for kind, doc in objects if expr.evaluate(doc)]
    # Offsets: members keep the order they were added in.
    page, paging = paginate(request, objects, top, by_id=False)
    body = {"@odata.context": "%s#%s" % (METADATA, "%ss" % cast if cast else "directoryObjects")}
    body.update(paging)
    items = []
    for kind, doc in page:
        known = schema.type_properties(kind)
        item = {"@odata.type": "#microsoft.graph.%s" % kind}
        item.update(schema.project(kind, doc, [p for p in select if p in known] if select else None, tenant))
        items.append(item)
    body["value"] = items
    return graph_json(body)


def _related_ids(request, relation):
    """Ids of a group's members / owners / transitiveMembers, or a user's or group's (transitive) memberOf."""
    tenant = tenant_of(request)
    if relation in ("memberOf", "transitiveMemberOf"):
        if request.url.path.startswith("/v1.0/users/"):
            require(request, *MEMBER_OF_READ)
            object_id = live_user(request)["id"]
        else:
            require(request, *READ)
            object_id = live_group(request)["id"]
        groups = transitive_groups_of(tenant, object_id) if relation == "transitiveMemberOf" else groups_of(tenant, object_id)
        return [g["id"] for g in groups]
    require(request, *READ)
    group = live_group(request)
    if relation == "members":
        return member_ids(tenant, group)
    if relation == "owners":
        return owner_ids(tenant, group)
    return transitive_member_ids(tenant, group)


def _relation_endpoint(relation, cast=None, count=False):
    """GET of a relationship, optionally type-cast (``/microsoft.graph.user``) and/or ``/$count``."""
    async def endpoint(request):
        ids = _related_ids(request, relation)
        if not count:
            return objects_response(request, ids, cast)
        tenant = tenant_of(request)
        kinds = [tenant.directory_object(i)[0] for i in ids]
        return plain_count(request, sum(1 for kind in kinds if kind and kind == (cast or kind)))
    endpoint.__name__ = "list_%s%s%s" % (relation, "_" + cast if cast else "", "_count" if count else "")
    return endpoint


def _for(handler, relation):
    async def endpoint(request):
        return await handler(request, relation)
    endpoint.__name__ = "%s_%s" % (handler.__name__, relation)
    return endpoint


routes = [
    Route("/v1.0/groups", list_groups, methods=["GET"]),
    Route("/v1.0/groups", post_group, methods=["POST"]),
    Route("/v1.0/groups/{id}", get_group, methods=["GET"]),
    Route("/v1.0/groups/{id}", patch_group, methods=["PATCH"]),
    Route("/v1.0/groups/{id}", delete_group, methods=["DELETE"]),
]
for _relation in ("members", "owners"):
    routes += [
        Route("/v1.0/groups/{id}/%s/$ref" % _relation, _for(add_reference, _relation), methods=["POST"]),
        Route("/v1.0/groups/{id}/%s/{member}/$ref" % _relation, _for(remove_reference, _relation), methods=["DELETE"]),
    ]
# Relationship reads, their type casts and $count (FIDELITY.md 7.12).
for _base, _relation, _casts in (("groups", "members", ("user", "group")), ("groups", "owners", ("user",)),
                                 ("groups", "transitiveMembers", ("user", "group")),
                                 ("groups", "memberOf", ("group",)), ("groups", "transitiveMemberOf", ("group",)),
                                 ("users", "memberOf", ("group",)), ("users", "transitiveMemberOf", ("group",))):
    _path = "/v1.0/%s/{id}/%s" % (_base, _relation)
    routes += [Route(_path, _relation_endpoint(_relation), methods=["GET"]),
               Route(_path + "/$count", _relation_endpoint(_relation, count=True), methods=["GET"])]
    for _cast in _casts:
        routes += [
            Route("%s/microsoft.graph.%s" % (_path, _cast), _relation_endpoint(_relation, _cast), methods=["GET"]),
            Route("%s/microsoft.graph.%s/$count" % (_path, _cast), _relation_endpoint(_relation, _cast, True),
                  methods=["GET"]),
        ]
