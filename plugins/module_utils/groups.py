# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-resource logic of aad_group and aad_group_info: read, plan, apply.

The flow of one run (the single form is a list of one):

1. validate every item locally (options, dynamic rule) - invalid items never write;
2. read every group once, and deleted groups only if an item needs them;
3. plan each item: create / restore / update / delete, property changes, and
   member / owner adds and removes (current members read once per group);
4. in check mode stop here and report the plan (with a membership preview for
   dynamic rules, from one list read of users);
5. otherwise apply in phases, each phase one or a few ``$batch`` calls:
   creates and restores, property updates, owner and member adds (20 per
   ``@odata.bind`` PATCH), removes, deletes.

No Ansible imports beyond what the module wrapper passes in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write, restored_if_gone
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, list_each
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import (
    attribute_diff,
    failed_item,
    item_result,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils import validation
from ansible_collections.m365.cloud_identity.plugins.module_utils.membership_rule import RuleError
from ansible_collections.m365.cloud_identity.plugins.module_utils.membership_rule import parse as parse_rule
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    REPLICATION_WAIT,
    USER_TYPE,
    Directory,
    ReferenceError,
    is_object_id,
    principal_name,
    unique,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import (
    alternate_key_path,
    directory_object_url,
    odata_literal,
    odata_ref,
    relation_changes,
)


GROUP_SELECT = [
    "id", "displayName", "description", "groupTypes", "mailEnabled", "securityEnabled", "mailNickname",
    "mail", "visibility", "uniqueName", "isAssignableToRole", "membershipRule",
    "membershipRuleProcessingState", "createdDateTime",
]
MEMBER_SELECT = ["id", "userPrincipalName", "displayName", "uniqueName", "mail"]

BIND_LIMIT = 20          # references per @odata.bind (FIDELITY 2.2)
PREVIEW_LIMIT = 50       # UPNs listed in a membership preview

MAIL_NICKNAME_FORBIDDEN = re.compile(r"[@()\\\[\]\";:.<>, ]")
VISIBILITIES = ("Public", "Private", "HiddenMembership")

# Option name -> Graph property, for the properties compared one to one.
SIMPLE_PROPERTIES = (
    ("display_name", "displayName"),
    ("description", "description"),
    ("mail_nickname", "mailNickname"),
    ("visibility", "visibility"),
    ("membership_rule_processing_state", "membershipRuleProcessingState"),
)


class GroupSpecError(ValueError):
    """An item whose options cannot work; raised before any write."""


# ---------------------------------------------------------------------------
# Graph <-> option names

def group_kind(group):
    """The module's name for a group's kind (read-only kinds included)."""
    types = group.get("groupTypes") or []
    if "Unified" in types:
        return "microsoft365"
    if group.get("mailEnabled"):
        return "mail_enabled_security" if group.get("securityEnabled") else "distribution"
    return "security"


def is_dynamic(group):
    return "DynamicMembership" in (group.get("groupTypes") or [])


def group_to_options(group):
    """A Graph group in aad_group's option names (so it can be fed back)."""
    dynamic = is_dynamic(group)
    return {
        "id": group.get("id"),
        "display_name": group.get("displayName"),
        "unique_name": group.get("uniqueName"),
        "description": group.get("description"),
        "group_type": group_kind(group),
        "mail_nickname": group.get("mailNickname"),
        "visibility": group.get("visibility"),
        "security_enabled": bool(group.get("securityEnabled")),
        "is_assignable_to_role": bool(group.get("isAssignableToRole")),
        "membership_rule": group.get("membershipRule") if dynamic else None,
        "membership_rule_processing_state": group.get("membershipRuleProcessingState") if dynamic else None,
    }


def derive_mail_nickname(name):
    """A mail nickname from a name: ASCII letters, digits, '-' and '_', at most 64."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name or "").strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:64].strip("-")
    return cleaned or "group"


def _norm_text(value):
    """Graph returns null for an empty description; compare them equal."""
    return value or None


# ---------------------------------------------------------------------------
# Validation (before any read or write)

def item_key(spec):
    return spec.get("unique_name") or spec.get("display_name") or spec.get("id")


def validate_spec(spec):
    """Check an item's options; return the parsed Rule or None. Raises GroupSpecError."""
    if not (spec.get("unique_name") or spec.get("display_name") or spec.get("id")):
        raise GroupSpecError("one of display_name, unique_name or id is required")
    if spec.get("id") and not is_object_id(spec["id"]):
        raise GroupSpecError("id must be a group's object id (a GUID), got '%s'" % spec["id"])
    nickname = spec.get("mail_nickname")
    if nickname is not None:
        _check_mail_nickname(nickname)
    problems = validation.display_name_problems(spec.get("display_name")) + validation.text_problems(
        "description", spec.get("description"), 1024)
    permanent = validation.permanent_problem(spec, "group")
    if permanent:
        problems.append(permanent)
    if problems:
        raise GroupSpecError("; ".join(problems))
    if spec.get("visibility") and not spec.get("group_type"):
        raise GroupSpecError("visibility needs group_type: set group_type: microsoft365 (Public, Private or "
                             "HiddenMembership) or group_type: security (Public or Private)")
    if spec.get("visibility") == "HiddenMembership" and spec.get("group_type") != "microsoft365":
        raise GroupSpecError("visibility HiddenMembership applies to microsoft365 groups only; use Private "
                             "or Public for a security group")
    if spec.get("security_enabled") is False and spec.get("group_type") == "security":
        raise GroupSpecError("security_enabled: a security group is always security-enabled; the option is for "
                             "microsoft365 groups")
    for relation in ("members", "owners"):
        _check_relation(relation, spec.get(relation))
    rule = _check_rule(spec)
    if spec.get("is_assignable_to_role") and rule is not None:
        raise GroupSpecError("a role-assignable group (is_assignable_to_role) cannot have a membership_rule: "
                             "its members must be assigned")
    return rule


def _check_mail_nickname(nickname):
    if not nickname or len(nickname) > 64:
        raise GroupSpecError("mail_nickname must be 1 to 64 characters, got %d" % len(nickname or ""))
    bad = MAIL_NICKNAME_FORBIDDEN.search(nickname)
    if bad or any(ord(char) > 127 for char in nickname):
        raise GroupSpecError("mail_nickname '%s' may hold only ASCII characters other than "
                             "@ ( ) \\ [ ] \" ; : . < > , and space" % nickname)


def _check_relation(name, relation):
    if not relation:
        return
    if relation.get("set") is not None and (relation.get("add") or relation.get("remove")):
        raise GroupSpecError("%s: use either set (the exact list) or add/remove, not both" % name)
    both = set(relation.get("add") or []) & set(relation.get("remove") or [])
    if both:
        raise GroupSpecError("%s: %s listed in both add and remove" % (name, ", ".join(sorted(both))))


def _check_rule(spec):
    """Parse the membership rule client-side so an invalid one never reaches Graph."""
    rule_text = spec.get("membership_rule")
    if not rule_text:
        return None  # "" turns a dynamic group back into an assigned one
    try:
        return parse_rule(rule_text)
    except RuleError as exc:
        raise GroupSpecError("membership_rule is invalid at position %d: %s\n  %s\n  %s^" % (
            exc.position, exc.reason, rule_text, " " * exc.position))


# ---------------------------------------------------------------------------
# Planning

class GroupPlan(Plan):
    """What one item will do: the target group, its writes and its result."""

    def __init__(self, index, spec):
        super(GroupPlan, self).__init__(index, spec, item_key(spec))
        self.spec = spec
        self.rule = None
        self.group = None           # current live group (Graph shape)
        self.deleted = None         # soft-deleted group to restore
        self.action = "unchanged"
        self.create_body = None
        self.patch = {}
        # relation -> {"before": ids, "add": ids, "remove": ids, "pending": refs of groups created by this run}
        self.changes = {}
        self.to_add = {"members": [], "owners": []}   # what is still to add while applying
        self.names = {}             # object id -> name, for diffs
        self.purge = False
        self.preview = None

    @property
    def group_id(self):
        return (self.group or self.deleted or {}).get("id")

    @property
    def has_member_changes(self):
        return any(c["add"] or c["remove"] or c["pending"] for c in self.changes.values())


class GroupManager:
    """Runs aad_group for a list of items against one GraphClient."""

    def __init__(self, client, check_mode=False):
        self.client = client
        self.check_mode = check_mode
        self.directory = Directory(client)
        self.sender = Sender(client)
        self._creating = {}         # lower-case names of groups this run creates -> their plan
        self._singles = []          # member adds redone one at a time
        self._deleted_groups = None
        self._member_cache = {}

    # ---- reads ---------------------------------------------------------------

    def deleted_groups(self):
        """Soft-deleted groups, read once and only when an item needs them."""
        if self._deleted_groups is None:
            self._deleted_groups = self.client.list("/directory/deletedItems/microsoft.graph.group",
                                                    select=GROUP_SELECT)
        return self._deleted_groups

    def relation_objects(self, group_id, relation):
        """Current members or owners of a group (users, groups, others), read once."""
        key = (group_id, relation)
        if key not in self._member_cache:
            self._read_relations([key])
        answer = self._member_cache[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _read_relations(self, keys):
        """Members or owners of many groups: first pages 20 to a $batch ($top=999), then their next links."""
        keys = [key for key in unique(keys) if key not in self._member_cache]
        answers = list_each(self.client, ["/groups/%s/%s" % key for key in keys], select=MEMBER_SELECT)
        for key, answer in zip(keys, answers):
            self._member_cache[key] = answer
            if not isinstance(answer, Exception):
                # Current members resolve references to themselves: a no-op reads no user.
                self.directory.add_users([o for o in answer if o.get("@odata.type") == USER_TYPE])

    def _read_current_relations(self, plans):
        """Before planning: the members and owners of every group whose members or owners a task manages,
        then, in one go, the user references that are not among them."""
        keys, refs = [], []
        for plan in plans:
            group = plan.group or plan.deleted
            if plan.failed or plan.spec.get("state") == "absent":
                continue
            for relation in ("owners", "members"):
                wanted = plan.spec.get(relation)
                if not wanted:
                    continue
                if group is not None:
                    keys.append((group["id"], relation))
                refs.extend(r for kind in ("add", "remove", "set") for r in wanted.get(kind) or [] if "@" in r)
        try:
            self._read_relations(keys)
            self.directory.prefetch_users(refs)
        except GraphError:
            pass  # each item reads what it still lacks on its own and reports the error

    # ---- run -----------------------------------------------------------------

    def run(self, specs):
        """One result per item, through the engine's fixed run."""
        plans = engine.run(self, specs, self.check_mode)
        return [self._result(plan) for plan in plans]

    # ---- the engine's protocol (engine.run calls these in this order) ------

    def plan(self, index, spec):
        plan = GroupPlan(index, spec)
        try:
            plan.rule = validate_spec(spec)
        except GroupSpecError as exc:
            plan.fail(exc)
        return plan

    def validate(self, plans):
        _refuse_repeats(plans)

    def read(self, plans):
        """Every group once (the targets and group references come from it), deleted groups if needed."""
        self._creating = {}
        if not plans:
            return
        try:
            groups = self.directory.read_all_groups(select=GROUP_SELECT)
        except GraphError as error:
            error.context = "read groups"
            raise
        for plan in plans:
            self._guard(plan, self._find_target, plan, groups)
        self._creating = self._creating_names([p for p in plans if not p.failed])
        self._read_current_relations(plans)

    def decide(self, plan):
        self._guard(plan, self._plan_item, plan, self._creating)

    def preview(self, plans):
        """Check mode: which users each new or changed dynamic rule would select."""
        self._previews(plans)

    def waves(self):
        """Objects; then updates and owners (owners before member changes and removals, so replacing the
        owner of a Microsoft 365 group never leaves it without one); members; removals; deletions."""
        return [self._object_wave, self._update_wave, self._member_wave, self._single_member_wave,
                lambda plans: self._remove_wave(plans, "members"), lambda plans: self._remove_wave(plans, "owners"),
                self._delete_wave]

    @staticmethod
    def _guard(plan, func, *args):
        try:
            func(*args)
        except (GroupSpecError, ReferenceError, GraphError) as exc:
            plan.fail(exc)

    # ---- find the target group ----------------------------------------------

    def _find_target(self, plan, groups):
        spec = plan.spec
        matches = _match_groups(groups, spec)
        if len(matches) > 1:
            raise GroupSpecError(
                "%d groups have the display name '%s' (ids %s); give unique_name or id to choose one"
                % (len(matches), spec.get("display_name"), ", ".join(sorted(g["id"] for g in matches))))
        if matches:
            plan.group = matches[0]
            return
        if spec.get("state") == "present" or spec.get("permanent"):
            deleted = _match_groups(self.deleted_groups(), spec)
            if len(deleted) > 1:
                raise GroupSpecError("%d deleted groups match '%s' (ids %s); give id to choose one"
                                     % (len(deleted), plan.key, ", ".join(sorted(g["id"] for g in deleted))))
            plan.deleted = deleted[0] if deleted else None

    @staticmethod
    def _creating_names(plans):
        """Names of groups this run creates, so other items can nest them."""
        names = {}
        for plan in plans:
            if plan.group is None and plan.deleted is None and plan.spec.get("state") == "present":
                for name in (plan.spec.get("unique_name"), plan.spec.get("display_name")):
                    if name:
                        names[name.lower()] = plan
        return names

    # ---- plan one item -------------------------------------------------------

    def _plan_item(self, plan, creating):
        spec = plan.spec
        if spec.get("state") == "absent":
            self._plan_delete(plan)
            return
        if plan.group is None and plan.deleted is None:
            if spec.get("id"):
                raise GroupSpecError("no group has id %s; a group cannot be created with a given id" % spec["id"])
            plan.action = "created"
            plan.create_body = self._create_body(spec, plan.rule)
            current = {}
        else:
            base = plan.group or plan.deleted
            if plan.group is None:
                plan.action = "restored"
            self._check_fixed(plan, base)
            plan.patch = self._patch_body(spec, base, plan.rule)
            if plan.patch and plan.action == "unchanged":
                plan.action = "updated"
            current = base
        target_dynamic = bool(plan.rule) or (is_dynamic(current) and spec.get("membership_rule") is None)
        for relation in ("owners", "members"):
            self._plan_relation(plan, relation, current, creating, target_dynamic)
        if plan.has_member_changes and plan.action == "unchanged":
            plan.action = "updated"

    def _check_fixed(self, plan, group):
        """Options Graph cannot change after creation fail clearly, never silently."""
        spec = plan.spec
        kind = group_kind(group)
        if kind in ("mail_enabled_security", "distribution"):
            raise GroupSpecError("group '%s' (%s) is a %s group, which Microsoft Graph cannot manage (read-only)"
                                 % (plan.key, group["id"], kind.replace("_", "-")))
        wanted_kind = spec.get("group_type")
        if wanted_kind and wanted_kind != kind:
            raise GroupSpecError("group '%s' is a %s group; group_type cannot change to %s (create a new group)"
                                 % (plan.key, kind, wanted_kind))
        wanted_role = spec.get("is_assignable_to_role")
        if wanted_role is not None and bool(wanted_role) != bool(group.get("isAssignableToRole")):
            raise GroupSpecError("is_assignable_to_role is set at creation only: group '%s' has %s, the task "
                                 "asks for %s (delete and recreate the group to change it)"
                                 % (plan.key, bool(group.get("isAssignableToRole")), bool(wanted_role)))
        wanted_unique = spec.get("unique_name")
        current_unique = group.get("uniqueName")
        if wanted_unique and current_unique and wanted_unique != current_unique:
            raise GroupSpecError("unique_name cannot change once set: group %s has '%s', the task asks for '%s'"
                                 % (group["id"], current_unique, wanted_unique))
        if spec.get("visibility") == "HiddenMembership" and kind != "microsoft365":
            raise GroupSpecError("visibility HiddenMembership applies to microsoft365 groups only; '%s' is a %s "
                                 "group (use Private or Public)" % (plan.key, kind))
        if spec.get("security_enabled") is False and kind == "security":
            raise GroupSpecError("security_enabled: group '%s' is a security group, which is always security-enabled"
                                 % plan.key)
        if (spec.get("visibility") == "HiddenMembership") != (group.get("visibility") == "HiddenMembership") \
                and spec.get("visibility"):
            raise GroupSpecError("visibility HiddenMembership is set at creation only (group '%s' has %s)"
                                 % (plan.key, group.get("visibility")))

    @staticmethod
    def _create_body(spec, rule):
        kind = spec.get("group_type") or "security"
        name = spec.get("display_name")
        if not name:
            raise GroupSpecError("display_name is required to create group '%s'" % item_key(spec))
        types = ["Unified"] if kind == "microsoft365" else []
        if spec.get("visibility") == "HiddenMembership" and kind != "microsoft365":
            raise GroupSpecError("visibility HiddenMembership is for microsoft365 groups only; set group_type: "
                                 "microsoft365 or use Private")
        body = {
            "displayName": name,
            "mailNickname": spec.get("mail_nickname") or derive_mail_nickname(spec.get("unique_name") or name),
            "mailEnabled": kind == "microsoft365",
            # A Microsoft 365 group is a security principal when asked to be (group licensing needs it)
            # or when role-assignable.
            "securityEnabled": kind == "security" or bool(spec.get("is_assignable_to_role"))
            or bool(spec.get("security_enabled")),
            "groupTypes": types,
        }
        if rule is not None:
            body["groupTypes"] = types + ["DynamicMembership"]
            body["membershipRule"] = spec["membership_rule"]
            body["membershipRuleProcessingState"] = spec.get("membership_rule_processing_state") or "On"
        elif spec.get("membership_rule_processing_state"):
            raise GroupSpecError("membership_rule_processing_state applies to dynamic groups: give a "
                                 "membership_rule to create group '%s' as a dynamic group" % item_key(spec))
        for option, prop in (("description", "description"), ("unique_name", "uniqueName"),
                             ("visibility", "visibility")):
            if spec.get(option):
                body[prop] = spec[option]
        if spec.get("is_assignable_to_role"):
            body["isAssignableToRole"] = True
        return body

    @staticmethod
    def _patch_body(spec, group, rule):
        """Only the properties the task sets and that differ."""
        patch = {}
        for option, prop in SIMPLE_PROPERTIES:
            wanted = spec.get(option)
            if wanted is None:
                continue
            if _norm_text(wanted) != _norm_text(group.get(prop)):
                patch[prop] = wanted if wanted != "" else None
        if spec.get("security_enabled") is not None and bool(spec["security_enabled"]) != bool(group.get("securityEnabled")):
            patch["securityEnabled"] = bool(spec["security_enabled"])
        if spec.get("unique_name") and not group.get("uniqueName"):
            patch["uniqueName"] = spec["unique_name"]  # adopting a group found by display name
        types = list(group.get("groupTypes") or [])
        if rule is not None:
            if not is_dynamic(group):
                patch["groupTypes"] = types + ["DynamicMembership"]
                patch.setdefault("membershipRuleProcessingState", "On")
            if spec["membership_rule"] != group.get("membershipRule"):
                patch["membershipRule"] = spec["membership_rule"]
        elif spec.get("membership_rule") == "" and is_dynamic(group):
            # An empty rule turns a dynamic group back into an assigned one.
            patch["groupTypes"] = [t for t in types if t != "DynamicMembership"]
            patch["membershipRule"] = None
            patch.pop("membershipRuleProcessingState", None)
        elif "membershipRuleProcessingState" in patch and not is_dynamic(group):
            raise GroupSpecError("membership_rule_processing_state applies to dynamic groups only; give a "
                                 "membership_rule")
        return patch

    def _plan_relation(self, plan, relation, current, creating, target_dynamic):
        wanted = plan.spec.get(relation)
        if not wanted:
            return
        group_id = current.get("id")
        current_objects = self.relation_objects(group_id, relation) if group_id else []
        current_ids = [o["id"] for o in current_objects]
        for obj in current_objects:
            plan.names[obj["id"]] = principal_name(obj)
        refs = list(wanted.get("add") or []) + list(wanted.get("remove") or []) + list(wanted.get("set") or [])
        # Groups this run creates cannot be resolved yet: they are bound after creation.
        pending = set(r for r in refs if not is_object_id(r) and "@" not in r and r.lower() in creating
                      and not self.directory.knows_group(r))
        resolved = self.directory.principals([r for r in refs if r not in pending]) if refs else {}
        for obj in resolved.values():
            plan.names[obj["id"]] = principal_name(obj)

        by_id = dict((obj["id"], obj) for obj in resolved.values())
        adds, removes = relation_changes(wanted, current_ids, lambda ref: resolved[ref]["id"] if ref in resolved else None)
        pending_adds = [r for r in (wanted.get("set") if wanted.get("set") is not None else wanted.get("add") or [])
                        if r in pending]
        self._check_nesting(plan, relation, current,
                            [(plan.names[i], by_id[i]) for i in adds]
                            + [(r, _planned_group(creating[r.lower()])) for r in pending_adds])
        if (group_id and group_id in adds) or any(creating.get(r.lower()) is plan for r in pending_adds):
            raise GroupSpecError("group '%s' cannot be a member or owner of itself" % plan.key)
        if relation == "owners":
            named = list(wanted.get("add") or []) + list(wanted.get("set") or [])
            owner_groups = [r for r in named if r in pending or (r in resolved and _is_group(resolved[r]))]
            if owner_groups:
                raise GroupSpecError("owners of group '%s': %s is a group; a group's owners must be users, so "
                                     "list users (UPN or id) under owners" % (plan.key, ", ".join(owner_groups)))
        if relation == "members" and target_dynamic and (adds or removes or pending_adds):
            raise GroupSpecError(
                "group '%s' has dynamic membership: its members come from the membership rule and cannot be "
                "added or removed (Graph refuses with 403); drop the members option or the membership_rule"
                % plan.key)
        if relation == "owners" and current_ids and not adds and not pending_adds \
                and set(removes) == set(current_ids) and group_kind(current) == "microsoft365":
            raise GroupSpecError(
                "cannot remove the last owner of Microsoft 365 group '%s' (%s): a Microsoft 365 group must keep "
                "at least one owner; add the new owner in the same task" % (
                    plan.key, ", ".join(plan.names[i] for i in removes)))
        plan.changes[relation] = {"before": current_ids, "add": adds, "remove": removes, "pending": pending_adds}

    def _check_nesting(self, plan, relation, current, added):
        """Graph's rules for what may join a group (FIDELITY 7.4), checked before any write."""
        target_unified = "Unified" in (current.get("groupTypes") or []) or plan.spec.get("group_type") == "microsoft365"
        target_role = bool(current.get("isAssignableToRole") or plan.spec.get("is_assignable_to_role"))
        for name, obj in added:
            if not _is_group(obj):
                continue
            if relation == "owners":
                reason = "owners must be users or service principals"
            elif "Unified" in (obj.get("groupTypes") or []):
                reason = "a Microsoft 365 group cannot be a member of another group"
            elif target_unified:
                reason = "a Microsoft 365 group cannot have groups as members"
            elif target_role:
                reason = "a role-assignable group (is_assignable_to_role) cannot have groups as members"
            else:
                continue
            raise GroupSpecError("%s: group '%s' cannot be added to group '%s': %s (Microsoft Graph refuses it)"
                                 % (relation, name, plan.key, reason))

    def _plan_delete(self, plan):
        group = plan.group
        if group is None:
            if plan.spec.get("permanent") and plan.deleted is not None:
                plan.action = "deleted"
                plan.purge = True
            return
        plan.action = "deleted"
        plan.purge = bool(plan.spec.get("permanent")) and group_kind(group) == "microsoft365"
        if group_kind(group) != "microsoft365" and not plan.spec.get("force"):
            page = self.client.get("/groups/%s/members" % group["id"], params={"$select": "id", "$top": 1}) or {}
            if page.get("value"):
                raise GroupSpecError(
                    "group '%s' (%s) has members and deleting a %s group is permanent (it cannot be restored); "
                    "set force: true to delete it" % (plan.key, group["id"], group_kind(group)))

    # ---- check mode preview --------------------------------------------------

    def _previews(self, plans):
        """Which users each new or changed rule would select, from one list read."""
        wanted = [p for p in plans if p.rule is not None and p.rule.object_type == "user"
                  and not p.rule.uses_member_of and p.action != "unchanged"]
        if not wanted:
            return
        select = set(["id", "userPrincipalName", "displayName"])
        for plan in wanted:
            select |= set(plan.rule.properties())
        users = self.client.list("/users", select=sorted(select))
        for plan in wanted:
            matched = plan.rule.filter(users)
            names = sorted(u.get("userPrincipalName") or u["id"] for u in matched)
            plan.preview = {"count": len(names), "users": names[:PREVIEW_LIMIT],
                            "truncated": len(names) > PREVIEW_LIMIT}

    # ---- apply ---------------------------------------------------------------

    def _object_wave(self, plans):
        for plan in plans:
            for relation, change in plan.changes.items():
                plan.to_add[relation] = list(change["add"])
        return ([self._create_write(p) for p in plans if p.action == "created"]
                + [self._restore_write(p) for p in plans if p.action == "restored"])

    def _update_wave(self, plans):
        self._resolve_pending(plans)
        live = [p for p in plans if not p.failed and p.action != "deleted"]
        return ([Write(p, "PATCH", "/groups/%s" % p.group_id, p.patch, "update group %s" % p.key) for p in live if p.patch]
                + [self._ref_write(p, "owners", object_id) for p in live for object_id in p.to_add["owners"]])

    def _remove_wave(self, plans, relation):
        return [self._remove_write(p, relation, object_id) for p in plans if p.action != "deleted"
                for object_id in p.changes.get(relation, {}).get("remove", [])]

    def _delete_wave(self, plans):
        return [self._delete_writes(p) for p in plans if p.action == "deleted"]

    def _create_write(self, plan):
        """A group with a unique_name is created by the upsert, so a retried or concurrent create
        cannot make a twin (FIDELITY 7.2); without one, by POST with the first references bound."""
        unique_name = plan.spec.get("unique_name")
        if unique_name:
            body = dict((k, v) for k, v in plan.create_body.items() if k != "uniqueName")
            return Write(plan, "PATCH", alternate_key_path("groups", "uniqueName", unique_name), body,
                         "create group %s" % plan.key, headers={"Prefer": "create-if-missing"},
                         on_success=lambda answer: self._created(plan, answer or self._read_by_unique_name(plan)))
        body = dict(plan.create_body)
        # The first references ride on the create (documented for POST only): 20 in all, owners first.
        owners = plan.to_add["owners"][:BIND_LIMIT]
        members = plan.to_add["members"][:BIND_LIMIT - len(owners)]
        if owners:
            body["owners@odata.bind"] = [self._bind_url(i) for i in owners]
        if members:
            body["members@odata.bind"] = [self._bind_url(i) for i in members]
        plan.to_add["owners"] = plan.to_add["owners"][len(owners):]
        plan.to_add["members"] = plan.to_add["members"][len(members):]
        return Write(plan, "POST", "/groups", body, "create group %s" % plan.key,
                     on_success=lambda answer: self._created(plan, answer),
                     reread=lambda: self._read_by_display_name(plan))

    def _created(self, plan, group):
        plan.group = group
        self.sender.created(group["id"])
        self.directory.add_groups([group])

    def _read_by_unique_name(self, plan):
        """The group the upsert updated (it answers 204 without a body)."""
        return self.client.get(alternate_key_path("groups", "uniqueName", plan.spec["unique_name"]),
                               params={"$select": ",".join(GROUP_SELECT)}, retry_not_found=REPLICATION_WAIT)

    def _read_by_display_name(self, plan):
        """After a lost answer to a create: the group, if the create landed."""
        found = self.client.list("/groups", select=GROUP_SELECT,
                                 filter="displayName eq %s" % odata_literal(plan.create_body["displayName"]))
        return found[0] if len(found) == 1 else None

    def _restore_write(self, plan):
        def restored(answer):
            plan.group = dict(plan.deleted, **(answer or {}))
            self.sender.created(plan.group["id"])
            self.directory.add_groups([plan.group])
        return Write(plan, "POST", "/directory/deletedItems/%s/restore" % plan.deleted["id"],
                     context="restore group %s" % plan.key, on_success=restored, done_if=restored_if_gone)

    def _resolve_pending(self, plans):
        """Bind the groups this run has just created (nested groups in one task)."""
        for plan in plans:
            for relation, change in plan.changes.items():
                if not change["pending"]:
                    continue
                try:
                    resolved = self.directory.groups(change["pending"])
                except ReferenceError as exc:
                    plan.fail(exc)
                    continue
                for ref in change["pending"]:
                    plan.names[resolved[ref]["id"]] = principal_name(resolved[ref])
                    plan.to_add[relation].append(resolved[ref]["id"])

    def _bind_url(self, object_id):
        return directory_object_url(self.client.base_url, object_id)

    def _ref_write(self, plan, relation, object_id):
        """Add one member or owner (owners only this way: FIDELITY 7.4)."""
        return Write(plan, "POST", "/groups/%s/%s/$ref" % (plan.group_id, relation),
                     odata_ref(self.client.base_url, object_id),
                     "add %s %s to group %s" % (relation[:-1], plan.names.get(object_id, object_id), plan.key))

    def _member_wave(self, plans):
        """Members go 20 per members@odata.bind PATCH. A PATCH is all or nothing: one refused
        because a reference already exists (added meanwhile) is redone one member at a time."""
        writes = []
        self._singles = []

        def redo_one_by_one(plan, chunk):
            def on_conflict(_error, _lost_response):
                self._singles.extend(self._ref_write(plan, "members", object_id) for object_id in chunk)
                return {}
            return on_conflict

        for plan in plans:
            if plan.action == "deleted":
                continue
            ids = plan.to_add["members"]
            for start in range(0, len(ids), BIND_LIMIT):
                chunk = ids[start:start + BIND_LIMIT]
                body = {"members@odata.bind": [self._bind_url(i) for i in chunk]}
                writes.append(Write(plan, "PATCH", "/groups/%s" % plan.group_id, body,
                                    "add members to group %s" % plan.key, on_conflict=redo_one_by_one(plan, chunk)))
        return writes

    def _single_member_wave(self, plans):
        return [write for write in self._singles if not write.plan.failed]

    def _remove_write(self, plan, relation, object_id):
        context = "remove %s %s from group %s" % (relation[:-1], plan.names.get(object_id, object_id), plan.key)
        if relation == "owners":
            context += " (a Microsoft 365 group keeps at least one owner: add another owner first)"
        return Write(plan, "DELETE", "/groups/%s/%s/%s/$ref" % (plan.group_id, relation, object_id), context=context)

    def _delete_writes(self, plan):
        writes = []
        if plan.group is not None:
            writes.append(Write(plan, "DELETE", "/groups/%s" % plan.group["id"], context="delete group %s" % plan.key))
        if plan.purge:
            writes.append(Write(plan, "DELETE", "/directory/deletedItems/%s" % plan.group_id,
                                context="permanently delete group %s" % plan.key))
        return writes

    # ---- results -------------------------------------------------------------

    def _result(self, plan):
        if plan.failed:
            return failed_item(plan.key, plan.error, written=plan.written, not_attempted=plan.not_attempted)
        current = plan.group if plan.action != "created" else None
        before = group_to_options(plan.deleted if plan.action == "restored" else current) \
            if (current or plan.deleted) else {}
        obj = None if plan.action == "deleted" else _predicted(plan, self.check_mode)
        diff = attribute_diff(_comparable(before), _comparable(obj or {}))
        extra = {}
        for relation in ("owners", "members"):
            change = plan.changes.get(relation)
            if not change:
                continue
            added = [plan.names.get(i, i) for i in change["add"]] + list(change["pending"])
            removed = [plan.names.get(i, i) for i in change["remove"]]
            if not (added or removed):
                continue
            before_names = sorted(plan.names.get(i, i) for i in change["before"])
            diff["before"][relation] = before_names
            diff["after"][relation] = sorted(set(before_names) - set(removed) | set(added))
            extra["%s_added" % relation] = sorted(added)
            extra["%s_removed" % relation] = sorted(removed)
        if plan.preview is not None:
            extra["membership_preview"] = plan.preview
        return item_result(plan.key, plan.action, obj=obj, diff=diff, **extra)


def _predicted(plan, check_mode):
    """The group after the run, in option names (the create or patch applied)."""
    if plan.action == "created":
        if not check_mode and plan.group:
            return group_to_options(plan.group)
        return group_to_options(plan.create_body)
    merged = dict(plan.group or plan.deleted or {})
    merged.update(plan.patch)
    return group_to_options(merged)


def _refuse_repeats(plans):
    """A group named twice in one task would be created twice: refused before any write."""
    seen = {}
    for plan in plans:
        if plan.failed:
            continue
        key = (plan.key or "").lower()
        if key in seen:
            plan.fail(GroupSpecError("group '%s' appears more than once in groups (first as item %d); list it once"
                                     % (plan.key, seen[key] + 1)))
        else:
            seen[key] = plan.index


def _is_group(obj):
    return obj.get("@odata.type") == "#microsoft.graph.group" or "groupTypes" in obj


def _planned_group(plan):
    """A group this run creates, in Graph's shape as far as nesting rules go."""
    body = plan.create_body or {"groupTypes": ["Unified"] if plan.spec.get("group_type") == "microsoft365" else []}
    return dict(body, **{"@odata.type": "#microsoft.graph.group"})


def _comparable(options):
    """Diff everything but the id (a new group has none yet in check mode)."""
    return dict((k, v) for k, v in options.items() if k != "id")


def _match_groups(groups, spec):
    """Live (or deleted) groups an item refers to: by id, uniqueName, then displayName."""
    if spec.get("id"):
        return [g for g in groups if g["id"].lower() == spec["id"].lower()]
    unique = spec.get("unique_name")
    if unique:
        found = [g for g in groups if (g.get("uniqueName") or "").lower() == unique.lower()]
        if found:
            return found
    name = validation.same_name(spec.get("display_name"))
    if not name:
        return []
    # With a unique_name, adopt only a group that has none yet (uniqueName is set once).
    return [g for g in groups if validation.same_name(g.get("displayName")) == name
            and not (unique and g.get("uniqueName"))]


# ---------------------------------------------------------------------------
# aad_group_info

def group_info(client, group, include, names_of_groups=None):
    """One group in aad_group's option names plus the requested relationships.

    Unset options are left out: aad_group refuses null for options with choices,
    and the output must feed back into it.
    """
    info = dict((k, v) for k, v in group_to_options(group).items() if v is not None)
    for relation in ("members", "owners"):
        if relation in include:
            objects = client.list("/groups/%s/%s" % (group["id"], relation), select=MEMBER_SELECT)
            info[relation] = {"set": sorted(principal_name(o) for o in objects)}
    if "transitive_members" in include:
        objects = client.list("/groups/%s/transitiveMembers" % group["id"], select=MEMBER_SELECT)
        info["transitive_members"] = sorted(principal_name(o) for o in objects)
    if "licenses" in include:
        info["licenses"] = [{"sku_id": lic.get("skuId"), "disabled_plans": lic.get("disabledPlans") or []}
                            for lic in group.get("assignedLicenses") or []]
    return info
