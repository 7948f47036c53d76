# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-resource logic of aad_app_assignment and aad_app_assignment_info: users and groups given access to an
enterprise application (a service principal) with one of its app roles.

On the engine (engine.run): validate every item, read the apps (by display name, app id or object id), their
current assignments (one list read per app) and the principals (users and groups, in bulk), decide each item,
then create in one wave and delete in another, every write through the engine's batch sender. Graph's rules
are in docs/graph-rules.md, "App role assignments".

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import quote_key
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    Directory,
    ReferenceError,
    chunks,
    in_filter,
    is_object_id,
    principal_name,
    unique,
    IN_CHUNK,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import failed_item, item_result

# The role that assigns a principal to an app that declares no app roles (Graph's appRoleAssignment.appRoleId).
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
APP_SELECT = ["id", "appId", "displayName", "appRoles"]
ASSIGNMENT_SELECT = ["id", "appRoleId", "principalId", "principalType", "principalDisplayName", "resourceId",
                     "resourceDisplayName", "createdDateTime"]
PRINCIPAL_TYPES = ("user", "group")


class AssignmentError(ValueError):
    """An item that cannot work; reported before any write."""


def assignable_roles(app):
    """The app roles users and groups can be given (enabled, allowed for users)."""
    return [role for role in app.get("appRoles") or []
            if role.get("isEnabled", True) and "User" in (role.get("allowedMemberTypes") or [])]


def describe_roles(app):
    roles = assignable_roles(app)
    if not roles:
        return "none (it takes the default access role: leave role out)"
    return ", ".join("%s (%s)" % (role.get("value"), role.get("displayName")) if role.get("displayName")
                     and role.get("displayName") != role.get("value") else str(role.get("value"))
                     for role in roles)


def resolve_role(app, ref):
    """The app role id a reference names: id, value or display name; none for an app without roles."""
    roles = assignable_roles(app)
    if not ref:
        if roles:
            raise AssignmentError("app '%s' defines roles, name one in role: %s" % (app["displayName"], describe_roles(app)))
        return DEFAULT_ACCESS_ROLE
    if ref == DEFAULT_ACCESS_ROLE and not roles:
        return DEFAULT_ACCESS_ROLE
    for matches in (lambda r: (r.get("id") or "").lower() == ref.lower(),
                    lambda r: r.get("value") == ref,
                    lambda r: (r.get("value") or "").lower() == ref.lower(),
                    lambda r: (r.get("displayName") or "").lower() == ref.lower()):
        found = [role for role in roles if matches(role)]
        if len(found) == 1:
            return found[0]["id"]
        if len(found) > 1:
            raise AssignmentError("role '%s' of app '%s' is ambiguous: give its value or id (roles: %s)" % (
                ref, app["displayName"], describe_roles(app)))
    raise AssignmentError("app '%s' has no role '%s' that users and groups can be given; its roles: %s" % (
        app["displayName"], ref, describe_roles(app)))


def role_name(app, role_id):
    """The role's value (else display name) for results; None for the default access role."""
    if role_id == DEFAULT_ACCESS_ROLE:
        return None
    for role in (app or {}).get("appRoles") or []:
        if (role.get("id") or "").lower() == (role_id or "").lower():
            return role.get("value") or role.get("displayName")
    return role_id


class AppReader(object):
    """Finds service principals by display name, app id or object id, with few list reads."""

    def __init__(self, client):
        self.client = client
        self._by_key = {}  # ref -> [service principals]

    def read(self, refs):
        refs = [ref for ref in unique(refs) if ref not in self._by_key]
        guids = [ref for ref in refs if is_object_id(ref)]
        names = [ref for ref in refs if not is_object_id(ref)]
        found = []
        for chunk in chunks(guids, IN_CHUNK):
            found += self.client.list("/servicePrincipals", select=APP_SELECT, filter=in_filter("id", chunk))
            found += self.client.list("/servicePrincipals", select=APP_SELECT, filter=in_filter("appId", chunk))
        for chunk in chunks(names, IN_CHUNK):
            found += self.client.list("/servicePrincipals", select=APP_SELECT, filter=in_filter("displayName", chunk))
        for ref in refs:
            lowered = ref.lower()
            matches = dict((app["id"], app) for app in found
                           if lowered in ((app.get("id") or "").lower(), (app.get("appId") or "").lower(),
                                          (app.get("displayName") or "").lower()))
            self._by_key[ref] = list(matches.values())

    def app(self, ref):
        """The one service principal a reference names; AssignmentError when none or several."""
        if ref not in self._by_key:
            self.read([ref])
        matches = self._by_key[ref]
        if not matches:
            raise AssignmentError("no enterprise application (service principal) '%s': give its display name, "
                                  "app id or object id" % ref)
        if len(matches) > 1:
            raise AssignmentError("app '%s' is ambiguous: %d service principals have that display name (ids %s); "
                                  "give its app id or object id" % (ref, len(matches),
                                                                    ", ".join(sorted(a["id"] for a in matches))))
        return matches[0]

    def by_id(self, object_id):
        """A service principal by object id (read once), for naming the resources of a principal's assignments."""
        if object_id not in self._by_key:
            self._by_key[object_id] = [self.client.get("/servicePrincipals/%s" % quote_key(object_id),
                                                       params={"$select": ",".join(APP_SELECT)})]
        return self._by_key[object_id][0]


class AssignmentPlan(Plan):
    def __init__(self, index, item):
        principal_type = next((kind for kind in PRINCIPAL_TYPES if item.get(kind)), None)
        key = "%s %s -> %s%s" % (principal_type or "?", item.get(principal_type) if principal_type else "?",
                                 item.get("app"), (" (%s)" % item["role"]) if item.get("role") else "")
        super(AssignmentPlan, self).__init__(index, item, key)
        self.principal_type = principal_type
        self.state = item.get("state") or "present"
        self.app = None
        self.principal = None
        self.role_id = None


def validate_item(item):
    if not item.get("app"):
        raise AssignmentError("app is required: the enterprise application's display name, app id or object id")
    given = [kind for kind in PRINCIPAL_TYPES if item.get(kind)]
    if len(given) != 1:
        raise AssignmentError("give exactly one of user (UPN or id) or group (unique name, display name or id)")
    if item.get("state", "present") not in ("present", "absent"):
        raise AssignmentError("state must be present or absent, got '%s'" % item.get("state"))


class AssignmentRun(object):
    """Reads, decides and (unless check mode) applies app role assignments on the engine."""

    def __init__(self, client, check_mode=False):
        self.client = client
        self.check_mode = check_mode
        self.sender = Sender(client)
        self.apps = AppReader(client)
        self.directory = Directory(client)
        self.assignments = {}   # service principal id -> [appRoleAssignment]

    def run(self, items):
        plans = engine.run(self, items, self.check_mode)
        return [self._result(plan) for plan in plans]

    # ---- the engine's protocol ---------------------------------------------

    def plan(self, index, item):
        plan = AssignmentPlan(index, item)
        try:
            validate_item(item)
        except AssignmentError as error:
            plan.fail(error)
        return plan

    def validate(self, plans):
        seen = {}
        for plan in plans:
            if plan.failed:
                continue
            identity = (plan.item["app"].lower(), plan.principal_type, plan.item[plan.principal_type].lower(),
                        (plan.item.get("role") or "").lower())
            if identity in seen:
                plan.fail(AssignmentError("the same assignment is listed twice (items %d and %d); give it once" % (
                    seen[identity] + 1, plan.index + 1)))
            seen[identity] = plan.index

    def read(self, plans):
        self.apps.read([plan.item["app"] for plan in plans])
        for plan in plans:
            try:
                plan.app = self.apps.app(plan.item["app"])
                plan.role_id = resolve_role(plan.app, plan.item.get("role"))
            except AssignmentError as error:
                plan.fail(error)
        live = [plan for plan in plans if not plan.failed]
        for app_id in unique([plan.app["id"] for plan in live]):
            self.assignments[app_id] = self.client.list("/servicePrincipals/%s/appRoleAssignedTo" % quote_key(app_id),
                                                        select=ASSIGNMENT_SELECT)
        self._resolve_principals(live)

    def decide(self, plan):
        principal = plan.principal
        if plan.principal_type == "group" and plan.state == "present" and not principal.get("securityEnabled"):
            raise AssignmentError("group '%s' is not security-enabled: only users and security groups can be given "
                                  "access to an app (a Microsoft 365 group can be made security-enabled with "
                                  "aad_group's security_enabled)" % plan.item["group"])
        plan.current = self._existing(plan)
        if plan.state == "present":
            plan.action = "unchanged" if plan.current else "created"
        else:
            plan.action = "deleted" if plan.current else "unchanged"
        described = self._describe(plan)
        plan.before = described if plan.current else {}
        plan.after = described if plan.state == "present" else {}

    def waves(self):
        return [self._create_wave, self._delete_wave]

    # ---- reads -------------------------------------------------------------

    def _resolve_principals(self, plans):
        for principal_type, resolve in (("user", self.directory.users), ("group", self.directory.groups)):
            wanted = [plan for plan in plans if plan.principal_type == principal_type]
            refs = [plan.item[principal_type] for plan in wanted]
            try:
                found = resolve(refs) if refs else {}
            except ReferenceError:
                found = {}
                for ref in unique(refs):  # name each missing reference on its own item
                    try:
                        found.update(resolve([ref]))
                    except ReferenceError as error:
                        found[ref] = error
            for plan in wanted:
                principal = found[plan.item[principal_type]]
                if isinstance(principal, Exception):
                    plan.fail(principal)
                else:
                    plan.principal = principal

    def _existing(self, plan):
        for assignment in self.assignments.get(plan.app["id"], []):
            if (assignment.get("principalId") == plan.principal["id"]
                    and (assignment.get("appRoleId") or "").lower() == plan.role_id.lower()):
                return assignment
        return None

    def _reread(self, plan):
        """The assignment as Graph has it now (after a concurrent or unanswered create), or None.

        The app's list is read again only when the last read lacks it, so a lost batch of 20 creates costs
        one read, not 20."""
        existing = self._existing(plan)
        if existing is not None:
            return existing
        self.assignments[plan.app["id"]] = self.client.list(
            "/servicePrincipals/%s/appRoleAssignedTo" % quote_key(plan.app["id"]), select=ASSIGNMENT_SELECT)
        return self._existing(plan)

    # ---- writes ------------------------------------------------------------

    def _url(self, plan):
        return "/servicePrincipals/%s/appRoleAssignedTo" % quote_key(plan.app["id"])

    def _create_wave(self, plans):
        writes = []
        for plan in plans:
            if plan.action != "created":
                continue

            def created(body, plan=plan):
                plan.current = body

            def on_conflict(_error, _lost_response, plan=plan):
                return self._reread(plan)

            body = {"principalId": plan.principal["id"], "resourceId": plan.app["id"], "appRoleId": plan.role_id}
            writes.append(Write(plan, "POST", self._url(plan), body, context="assign %s" % plan.key,
                                on_success=created, on_conflict=on_conflict))
        return writes

    def _delete_wave(self, plans):
        return [Write(plan, "DELETE", "%s/%s" % (self._url(plan), quote_key(plan.current["id"])),
                      context="remove %s" % plan.key)
                for plan in plans if plan.action == "deleted"]

    # ---- results -----------------------------------------------------------

    def _describe(self, plan):
        """The assignment in option names (what the diff shows)."""
        return {"app": plan.app["displayName"], plan.principal_type: principal_name(plan.principal),
                "role": role_name(plan.app, plan.role_id) or "(default access)"}

    def _object(self, plan):
        if plan.app is None or plan.principal is None:
            return None
        present = plan.action != "deleted" and (plan.current is not None or plan.state == "present")
        obj = assignment_object(plan.app, plan.current or {}, plan.principal_type, principal_name(plan.principal),
                                plan.principal["id"], plan.role_id)
        obj["state"] = "present" if present else "absent"
        return obj

    def _result(self, plan):
        obj = self._object(plan)
        if plan.failed:
            return failed_item(plan.key, plan.error, obj=obj, written=plan.written)
        diff = None
        if plan.action in ("created", "deleted"):
            diff = {"before": plan.before, "after": plan.after}
        return item_result(plan.key, plan.action, obj=obj, diff=diff)


def assignment_object(app, assignment, principal_type, principal, principal_id, role_id):
    """One assignment as the modules return it (aad_app_assignment's option names, plus ids)."""
    return {
        "app": app.get("displayName"),
        "app_id": app.get("appId"),
        "service_principal_id": app.get("id"),
        principal_type: principal,
        "principal_type": principal_type,
        "principal_id": principal_id,
        "role": role_name(app, role_id),
        "role_id": role_id,
        "assignment_id": assignment.get("id"),
        "created": assignment.get("createdDateTime"),
    }


def list_assignments(client, app=None, user=None, group=None):
    """aad_app_assignment_info: an app's assignments, or a user's or group's (with those of a user's groups)."""
    apps = AppReader(client)
    directory = Directory(client)
    if app:
        resource = apps.app(app)
        assignments = client.list("/servicePrincipals/%s/appRoleAssignedTo" % quote_key(resource["id"]),
                                  select=ASSIGNMENT_SELECT)
    else:
        principal = directory.user(user) if user else directory.group(group)
        collection = "users" if user else "groups"
        assignments = client.list("/%s/%s/appRoleAssignments" % (collection, quote_key(principal["id"])),
                                  select=ASSIGNMENT_SELECT)
    principals = {}
    ids = unique([a["principalId"] for a in assignments if a.get("principalType") in ("User", "Group")])
    if ids:
        try:
            principals = directory.principals(ids)
        except ReferenceError:
            principals = {}  # a principal deleted since: named by the assignment's principalDisplayName
    found = []
    for assignment in assignments:
        resource = apps.by_id(assignment["resourceId"]) if not app else resource
        holder = principals.get(assignment["principalId"])
        principal_type = "group" if assignment.get("principalType") == "Group" else "user"
        name = principal_name(holder) if holder else assignment.get("principalDisplayName")
        obj = assignment_object(resource, assignment, principal_type, name, assignment["principalId"],
                                assignment.get("appRoleId"))
        found.append(obj)
    found.sort(key=lambda a: ((a["app"] or "").lower(), a["principal_type"], (a.get(a["principal_type"]) or "").lower(),
                              a["role"] or ""))
    return found
