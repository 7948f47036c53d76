# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the m365_tenant and m365_export roles: a tenant spec in, module lists out.

The roles stay plain task lists: every decision about which items go to which
module call, which users are leavers, whether the deletion guard trips and how
a live tenant becomes a spec is made here, in pure functions a unit test can
reach (tests/unit/test_tenant_filters.py).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS

# Options of a spec item that are not options of its module (handled by later stages).
GROUP_RELATIONS = ("members", "owners")
GROUP_IDENTITY = ("id", "unique_name", "display_name")
SCOPE_KEYS = ("domain", "department", "filter")
REMOVAL_ACTIONS = ("none", "disable", "delete")
# Keys of aad_group_info's output that aad_group does not take.
GROUP_EXPORT_DROP = ("id",)
# The principals an app assignment takes (spec key: the kind's plural).
APP_PRINCIPAL_KINDS = ("user", "group")
# Group kinds aad_group cannot manage (read-only through Graph).
READ_ONLY_GROUP_KINDS = ("mail_enabled_security", "distribution")


def _lower(value):
    return (value or "").lower()


def _spec_list(spec, name):
    return list((spec or {}).get(name) or [])


def _without(item, names):
    return dict((key, value) for key, value in item.items() if key not in names and value is not None)


def _group_ref(group):
    """How other stages name a group: its unique name, else its id, else its display name."""
    return group.get("unique_name") or group.get("id") or group.get("display_name")


def _drop_planned(refs, planned):
    """The references not in `planned` (lower-cased names), and how many were left out."""
    kept = [ref for ref in refs if _lower(ref) not in planned]
    return kept, len(refs) - len(kept)


def _strip_relation(relation, planned):
    """A {add, remove, set} dict without references to planned objects; returns (relation, skipped)."""
    if not relation:
        return relation, 0
    stripped, skipped = {}, 0
    for operation, refs in relation.items():
        if refs is None:
            continue
        stripped[operation], count = _drop_planned(list(refs), planned)
        skipped += count
    return stripped, skipped


def _licence_option(licenses):
    return {"set": list(licenses)}


def tenant_stage(spec, stage, planned=None):
    """The items one stage of the m365_tenant role sends to its module, as {items, skipped}.

    `planned` lists the names of objects that a check-mode run predicts but that
    do not exist yet (groups and users the plan would create). References to
    them are left out of this stage, since the module cannot resolve them, and
    counted in `skipped` so the plan can say it predicted them.
    """
    return tenant_unplanned({stage: _split(spec, stage)}, stage, planned)


def _split(spec, stage):
    """The items of one stage, planned objects included."""
    if stage == "groups":
        return [_without(group, GROUP_RELATIONS + ("licenses",)) for group in _spec_list(spec, "groups")]
    if stage == "users":
        # The manager stays: aad_user links a manager it creates in the same call after the creates,
        # from the ids Graph returned, without waiting for replication.
        return [_without(user, ("licenses",)) for user in _spec_list(spec, "users") if user.get("state") != "absent"]
    if stage == "memberships":
        items = []
        for group in _spec_list(spec, "groups"):
            if group.get("state") == "absent" or not any(group.get(name) for name in GROUP_RELATIONS):
                continue
            item = dict((key, group[key]) for key in GROUP_IDENTITY if group.get(key))
            item.update((relation, group[relation]) for relation in GROUP_RELATIONS if group.get(relation))
            items.append(item)
        return items
    if stage == "licenses":
        targets = [("user", user.get("user_principal_name") or user.get("upn") or user.get("id"), user)
                   for user in _spec_list(spec, "users") if user.get("state") != "absent"]
        targets += [("group", _group_ref(group), group)
                    for group in _spec_list(spec, "groups") if group.get("state") != "absent"]
        return [{kind: ref, "licenses": _licence_option(obj["licenses"])}
                for kind, ref, obj in targets if obj.get("licenses") is not None]
    if stage == "guests":
        return list(_spec_list(spec, "guests"))
    if stage == "apps":
        items = []
        for entry in _spec_list(spec, "apps"):
            principals = entry.get("principals") or {}
            for kind in APP_PRINCIPAL_KINDS:
                for ref in principals.get(kind + "s") or []:
                    items.append(_without(dict(app=entry.get("app"), role=entry.get("role"), state=entry.get("state"),
                                               **{kind: ref}), ()))
        return items
    raise AnsibleFilterError("tenant_stage: unknown stage %r" % (stage,))


def tenant_unplanned(stages, stage, planned=None):
    """One stage's items from tenant_stages without references to planned objects, as {items, skipped}.

    Without planned objects (every run but a check-mode plan) the items are the
    stage's list as it is, untouched.
    """
    if stage not in stages:
        raise AnsibleFilterError("tenant_stage: unknown stage %r" % (stage,))
    planned = set(_lower(name) for name in (planned or []))
    if not planned:
        return {"items": stages[stage], "skipped": 0}
    items, skipped = [], 0
    for item in stages[stage]:
        if stage == "users" and item.get("groups"):
            item = dict(item)
            item["groups"], count = _strip_relation(item["groups"], planned)
            skipped += count
        elif stage == "memberships":
            if _lower(_group_ref(item)) in planned or _lower(item.get("display_name")) in planned:
                skipped += 1
                continue
            item = dict(item)
            for relation in GROUP_RELATIONS:
                if item.get(relation):
                    item[relation], count = _strip_relation(item[relation], planned)
                    skipped += count
        elif stage in ("licenses", "apps"):
            if _lower(item.get("user") or item.get("group")) in planned:
                skipped += 1
                continue
        items.append(item)
    return {"items": items, "skipped": skipped}


STAGES = ("groups", "users", "guests", "apps", "memberships", "licenses")
# The keys a user of the spec is named by (a leaver is a user in scope named by none of them).
USER_KEYS = ("user_principal_name", "upn", "id")


def tenant_stages(spec, argument_spec, spec_file=None):
    """The spec checked against the role's argument spec, and every stage's items, in one pass.

    Returns {problems, <stage>: items..., removals, user_names}: the problems
    (see tenant_validate) and, when there are none, the items of each stage
    without planned objects (see tenant_stage), `removals` (the spec as
    tenant_removals needs it: leavers, users marked absent, the names of the
    others) and `user_names` (the spec's user principal names). The role
    computes it once per run: reading a 10,000-user spec through Ansible's lazy
    containers costs seconds, so it is read once, into plain Python values,
    which are also cheaper for Ansible to finalise, pickle and send to each
    module than the spec's origin-tagged ones.

    Without `spec`, the spec is read from `spec_file` (JSON or YAML holding
    m365_tenant), with the C parsers and none of the per-value tagging Ansible
    gives variables.
    """
    if spec is None:
        if not spec_file:
            return {"problems": ["m365_tenant is required: give the spec as m365_tenant, or as a file in m365_tenant_file"]}
        try:
            spec = _read_spec_file(spec_file)
        except AnsibleFilterError as error:
            # Returned, not raised: the role's task that calls this hides its result below -vvv (no_log).
            return {"problems": [str(error)]}
    spec = _plain(spec)
    problems = tenant_validate(spec, argument_spec)
    if problems:
        return {"problems": problems}
    stages = dict((stage, _split(spec, stage)) for stage in STAGES)
    users = _spec_list(spec, "users")
    stages["removals"] = {
        "leavers": spec.get("leavers") or {},
        "users": [user for user in users if user.get("state") == "absent"],
        "names": sorted(set(_lower(user.get(key)) for user in users for key in USER_KEYS if user.get(key)))}
    stages["user_names"] = [user["user_principal_name"] for user in users if user.get("user_principal_name")]
    stages["problems"] = []
    return stages


def _read_spec_file(path):
    path = os.path.expanduser(path)
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as error:
        raise AnsibleFilterError("m365_tenant_file: cannot read %s (%s)" % (path, error))
    if text.lstrip().startswith("$ANSIBLE_VAULT") or "!vault" in text:
        # The role parses the file itself (no Ansible loader, so no vault secrets to decrypt with).
        raise AnsibleFilterError("m365_tenant_file: %s is encrypted with Ansible Vault, which the role cannot read "
                                 "itself; give it as variables instead (-e @%s, or vars_files) so Ansible decrypts it"
                                 % (path, path))
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            raise AnsibleFilterError("m365_tenant_file: %s is neither JSON nor YAML (%s)" % (path, error))
    if not isinstance(data, dict) or "m365_tenant" not in data:
        raise AnsibleFilterError("m365_tenant_file: %s holds no m365_tenant; the file's top level is "
                                 "{m365_tenant: {users: ..., groups: ...}}, as playbooks/examples/contoso.yml" % path)
    return data["m365_tenant"]


def _plain(value):
    """A copy of a variable's value in plain Python types (no lazy containers, no data tags)."""
    if isinstance(value, Mapping):
        return dict((_plain(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str.__str__(value)  # an exact str, without the subclass that carries tags
    if type(value) is not bool and isinstance(value, int):  # pylint: disable=unidiomatic-typecheck
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def planned_names(results, object_name):
    """Names of the objects a check-mode module result would create (they do not exist yet)."""
    names = []
    for result in (results or {}).get("results") or []:
        if result.get("action") not in ("created", "invited"):
            continue
        names.append(result.get("key"))
        obj = result.get(object_name) or {}
        for key in ("unique_name", "display_name", "user_principal_name", "email", "mail"):
            if obj.get(key):
                names.append(obj[key])
    return [name for name in names if name]


def tenant_new_users(spec, existing_users):
    """User principal names of the spec that `existing_users` (aad_user_info's users) does not hold."""
    existing = set(_lower(user.get("user_principal_name")) for user in existing_users or [])
    names = [user.get("user_principal_name") or user.get("upn") for user in _spec_list(spec, "users")
             if user.get("state") != "absent"]
    return [name for name in names if name and _lower(name) not in existing]


def tenant_scope_filter(scope):
    """The OData filter of a leavers (or export) scope: member accounts in a domain, department or filter.

    The scope may come as JSON text (an AWX survey's textarea).
    """
    if isinstance(scope, str):
        try:
            scope = json.loads(scope) if scope.strip() else {}
        except ValueError as error:
            raise AnsibleFilterError("scope: %r is not a JSON object (%s)" % (scope, error))
    scope = dict((key, value) for key, value in (scope or {}).items() if value)
    unknown = sorted(set(scope) - set(SCOPE_KEYS))
    if unknown:
        raise AnsibleFilterError("scope: unknown key %s; use domain, department or filter" % ", ".join(unknown))
    if not scope:
        raise AnsibleFilterError(
            "scope is empty: give leavers.scope a domain, a department or a filter "
            "(the whole tenant is never in scope by default)")
    clauses = ["userType eq 'Member'"]
    domains = scope.get("domain")
    if domains:
        domains = [domains] if isinstance(domains, str) else list(domains)
        clauses.append(_any_of(["endswith(userPrincipalName,%s)" % _quote("@" + domain) for domain in domains]))
    departments = scope.get("department")
    if departments:
        departments = [departments] if isinstance(departments, str) else list(departments)
        clauses.append(_any_of(["department eq %s" % _quote(name) for name in departments]))
    if scope.get("filter"):
        clauses.append("(%s)" % scope["filter"])
    return " and ".join(clauses)


def _quote(value):
    return "'%s'" % value.replace("'", "''")


def _any_of(clauses):
    return clauses[0] if len(clauses) == 1 else "(%s)" % " or ".join(clauses)


def tenant_removals(spec, scope_users=None):
    """The aad_user items a run removes: users the spec marks absent, then leavers.

    A leaver is a user of `scope_users` (aad_user_info's `users` for the
    leavers scope) that the spec does not name. leavers.action `disable` turns
    enabled leavers off (disabled ones are left alone); `delete` soft-deletes them.
    `spec` is the tenant spec, or the `removals` tenant_stages made of it.
    """
    spec = spec or {}
    leavers = spec.get("leavers") or {}
    action = leavers.get("action") or "none"
    if action not in REMOVAL_ACTIONS:
        raise AnsibleFilterError("leavers.action: %r is not one of %s" % (action, ", ".join(REMOVAL_ACTIONS)))
    items = [_without(user, ("licenses", "groups")) for user in _spec_list(spec, "users")
             if user.get("state") == "absent"]
    if action == "none":
        return items
    if "names" in spec:
        named = set(spec["names"])
    else:
        named = set(_lower(user.get(key)) for user in _spec_list(spec, "users") for key in USER_KEYS if user.get(key))
    for user in scope_users or []:
        if _lower(user.get("user_principal_name")) in named or _lower(user.get("id")) in named:
            continue
        if action == "disable":
            if user.get("account_enabled") is not False:
                items.append({"user_principal_name": user["user_principal_name"], "account_enabled": False})
        else:
            items.append({"user_principal_name": user["user_principal_name"], "state": "absent"})
    return items


def tenant_guard(removal_plan, membership_plan, max_changes, max_percent, floor):
    """Deletion guard: the reasons a run must not go ahead (empty when it may).

    `removal_plan` and `membership_plan` are check-mode results of aad_user (the
    removals) and aad_group (the memberships). The guard trips when more than
    `max_changes` users would be disabled or deleted, or when a group would lose
    more than `max_percent` % of its members and more than `floor` members.
    """
    reasons = []
    touched = [result for result in (removal_plan or {}).get("results") or []
               if result.get("action") in ("updated", "deleted")]
    if len(touched) > int(max_changes):
        names = sorted(result.get("key") for result in touched)
        reasons.append(
            "this run would disable or delete %d users, more than leavers.max_changes (%d): %s. Nothing was "
            "disabled or deleted. If that is intended, raise m365_tenant.leavers.max_changes to %d or more "
            "(or set m365_tenant_max_changes=%d for this run)."
            % (len(touched), int(max_changes), _shorten(names), len(touched), len(touched)))
    for result in (membership_plan or {}).get("results") or []:
        removed = result.get("members_removed") or []
        before = ((result.get("diff") or {}).get("before") or {}).get("members") or []
        if not removed or not before or len(removed) <= int(floor):
            continue
        share = 100.0 * len(removed) / len(before)
        if share > float(max_percent):
            reasons.append(
                "group %s would lose %d of its %d members (%d%%, more than m365_tenant_max_member_removal_percent "
                "%s%%): %s. No member was removed. If that is intended, set m365_tenant_max_member_removal_percent=%d "
                "for this run." % (result.get("key"), len(removed), len(before), share, max_percent,
                                   _shorten(sorted(removed)), int(share + 0.999)))
    return reasons


def _shorten(names, limit=10):
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else "%s and %d more" % (shown, len(names) - limit)


def tenant_failures(stage_results):
    """`stage: key: reason` for every failed item of the registered module results."""
    failures = []
    for stage, result in (stage_results or {}).items():
        result = result or {}
        for item in result.get("results") or []:
            if item.get("action") == "failed":
                failures.append("%s: %s: %s" % (stage, item.get("key"), item.get("error")))
        if result.get("summary") is None and result.get("msg") and not result.get("skipped"):
            failures.append("%s: %s" % (stage, result.get("msg")))
    return failures


SUMMARY_COLUMNS = ("created", "invited", "updated", "unchanged", "restored", "disabled", "deleted", "failed")
# How a check-mode summary names the changes it predicts.
PLANNED = dict(created="to create", invited="to invite", updated="to update", restored="to restore",
               disabled="to disable", deleted="to delete")
CHANGES = tuple(PLANNED)
ALWAYS_SHOWN = ("created", "updated", "unchanged", "failed")


def _counts(result):
    """A module result's summary counts (zeros for a skipped or failed-before-planning task)."""
    summary = (result or {}).get("summary") or {}
    counts = dict((column, int(summary.get(column) or 0)) for column in SUMMARY_COLUMNS)
    if not summary and (result or {}).get("msg") and not (result or {}).get("skipped"):
        counts["failed"] = 1
    return counts


def _applied(plan, result, check_mode):
    """What a planned-then-applied stage did: the plan in check mode or when nothing needed applying."""
    if (result or {}).get("summary") is not None:
        return result
    if check_mode or not (plan or {}).get("changed"):
        return plan
    return None


def tenant_summary(stages, spec_stages, planned=None, check_mode=False, guard=None):
    """Per object type counts, failures and the lines the role prints at the end of a run.

    `stages` maps the role's registered results: groups, users, memberships_plan,
    memberships, licenses, guests, removals_plan, removals, apps (app assignments).
    `spec_stages` is the spec as tenant_stages splits it (to count the references a plan predicts).
    """
    stages = stages or {}
    memberships = _applied(stages.get("memberships_plan"), stages.get("memberships"), check_mode)
    removals = _applied(stages.get("removals_plan"), stages.get("removals"), check_mode)
    counts = dict(
        groups=_counts(stages.get("groups")),
        memberships=_counts(memberships),
        users=_counts(stages.get("users")),
        licenses=_counts(stages.get("licenses")),
        guests=_counts(stages.get("guests")),
        apps=_counts(stages.get("apps")),
    )
    leavers = _counts(removals)
    counts["users"]["disabled"] += leavers["updated"]
    counts["users"]["deleted"] += leavers["deleted"]
    counts["users"]["failed"] += leavers["failed"]
    failures = tenant_failures(dict(groups=stages.get("groups"), users=stages.get("users"),
                                    memberships=memberships,
                                    licenses=stages.get("licenses"), guests=stages.get("guests"), leavers=removals,
                                    apps=stages.get("apps")))
    predicted = 0
    if check_mode:
        predicted = sum(tenant_unplanned(spec_stages, stage, planned)["skipped"]
                        for stage in ("users", "memberships", "licenses", "apps"))
    lines = ["m365_tenant %s" % ("plan (check mode, nothing was written)" if check_mode else "run")]
    for name in ("groups", "users", "guests", "memberships", "licenses", "apps"):
        shown = ["%d %s" % (count, PLANNED.get(column, column) if check_mode else column)
                 for column, count in counts[name].items() if count or column in ALWAYS_SHOWN]
        lines.append("%-12s %s" % (name + ":", ", ".join(shown)))
    if predicted:
        lines.append("predicted:   %d references to objects this plan creates were not checked "
                     "(they do not exist yet)" % predicted)
    lines.extend("FAILED:      %s" % failure for failure in failures)
    lines.extend("GUARD:       %s" % reason for reason in guard or [])
    return dict(counts=counts, failures=failures, guard=list(guard or []), predicted=predicted, lines=lines,
                changed=any(counts[name][column] for name in counts for column in CHANGES))


def _prune(options):
    """Options without empty values, so re-applying leaves unmanaged properties alone."""
    return dict((key, value) for key, value in options.items() if value not in (None, [], {}, ""))


def _licence_specs(licenses, part_numbers, plan_names):
    specs = []
    for licence in licenses or []:
        sku = part_numbers.get(licence.get("sku_id")) or licence.get("sku_part_number") or licence.get("sku_id")
        disabled = sorted(plan_names.get(plan, plan) for plan in licence.get("disabled_plans") or [])
        specs.append({"sku": sku, "disabled_plans": disabled} if disabled else sku)
    return sorted(specs, key=lambda spec: spec["sku"] if isinstance(spec, dict) else spec)


def _export_apps(assignments):
    """The spec's apps from aad_app_assignment_info's assignments: one entry per app and role."""
    entries = {}
    for assignment in assignments or []:
        kind = assignment.get("principal_type")
        if kind not in APP_PRINCIPAL_KINDS or not assignment.get(kind):
            continue
        key = (assignment.get("app"), assignment.get("role"))
        principals = entries.setdefault(key, {})
        principals.setdefault(kind + "s", []).append(assignment[kind])
    exported = []
    for (app, role), principals in sorted(entries.items(), key=lambda entry: (_lower(entry[0][0]), _lower(entry[0][1]))):
        entry = _prune(dict(app=app, role=role))
        entry["principals"] = dict((kind, sorted(refs, key=_lower)) for kind, refs in sorted(principals.items()))
        exported.append(entry)
    return exported


def tenant_export(users, groups, guests, skus=None, app_assignments=None):
    """A spec (the value of m365_tenant) from the output of the _info modules.

    Users come from aad_user_info (include manager, licenses), groups from
    aad_group_info (include members, owners, licenses), guests from
    aad_guest_info, SKUs from aad_license_info, app assignments from
    aad_app_assignment_info (of the apps the export reads). Only what a re-apply must keep
    is written: direct licences per user, a group's own licences, a dynamic
    group's rule (never its members), guests by address, no id, no password.
    """
    part_numbers = dict((sku.get("sku_id"), sku.get("sku_part_number")) for sku in skus or [])
    plan_names = {}
    for sku in skus or []:
        for plan in sku.get("plans") or []:
            if plan.get("plan_id") and plan.get("name"):
                plan_names[plan["plan_id"]] = plan["name"]

    exported_users = []
    for user in sorted(users or [], key=lambda u: _lower(u.get("user_principal_name"))):
        item = _prune(_without(user, ("id", "licenses", "groups")))
        direct = [lic for lic in user.get("licenses") or [] if not lic.get("assigned_by_group")]
        if direct:
            item["licenses"] = _licence_specs(direct, part_numbers, plan_names)
        exported_users.append(item)

    exported_groups = []
    for group in sorted(groups or [], key=lambda g: (_lower(g.get("display_name")), g.get("id") or "")):
        if group.get("group_type") in READ_ONLY_GROUP_KINDS:
            continue
        item = _prune(_without(group, GROUP_EXPORT_DROP + ("licenses", "transitive_members")))
        if not group.get("is_assignable_to_role"):
            item.pop("is_assignable_to_role", None)
        if not (group.get("group_type") == "microsoft365" and group.get("security_enabled")):
            item.pop("security_enabled", None)  # what aad_group does anyway: a security group always is
        if group.get("membership_rule"):
            item.pop("members", None)
        for relation in GROUP_RELATIONS:
            if relation in item and not (item[relation] or {}).get("set"):
                item.pop(relation)
        if group.get("licenses"):
            item["licenses"] = _licence_specs(group["licenses"], part_numbers, plan_names)
        exported_groups.append(item)

    exported_guests = []
    for guest in sorted(guests or [], key=lambda g: _lower(g.get("email"))):
        if not guest.get("email"):
            continue
        exported_guests.append(_prune(dict(email=guest["email"], display_name=guest.get("display_name"),
                                           department=guest.get("department"))))

    spec = {"groups": exported_groups, "users": exported_users, "guests": exported_guests}
    if app_assignments is not None:
        spec["apps"] = _export_apps(app_assignments)
    return spec


# How a spec item is named in a message: the first of these keys it has.
ITEM_LABELS = ("user_principal_name", "unique_name", "email", "display_name", "id", "app")
# At most this many problems are listed; the rest are counted.
PROBLEMS_SHOWN = 20


def tenant_validate(value, argument_spec, name="m365_tenant"):
    """Problems of a tenant spec against a role argument spec option (empty when it is valid).

    The same checks as Ansible's role argument validation (unknown options,
    required options, types, choices, list elements, nested options) in one pass
    over the spec, without copying it: Ansible deep-copies every option its
    entry point lists, which costs seconds for a large tenant. Each problem
    names the option's path, the item (its user principal name, unique name,
    address or position) and the fix.
    """
    problems = []
    _check_option(name, value, argument_spec, problems)
    if len(problems) > PROBLEMS_SHOWN:
        problems = problems[:PROBLEMS_SHOWN] + ["... and %d more problems" % (len(problems) - PROBLEMS_SHOWN)]
    return problems


def _check_option(path, value, spec, problems, item=""):
    where = "%s%s" % (path, item)
    if value is None:
        if spec.get("required"):
            problems.append("%s is required: give it a value" % where)
        return value
    wanted = spec.get("type") or "str"
    try:
        converted = DEFAULT_TYPE_VALIDATORS[wanted](value)
    except (TypeError, ValueError) as error:
        problems.append("%s: %s is not of type %s: %s" % (where, _short(value), wanted, error))
        return value
    # Carried on as a module would see it (a number given for a name becomes text, "SPE_E3" a list of one),
    # so the stages never meet a value Ansible would have converted.
    value = converted
    choices = spec.get("choices")
    if choices:
        for one in (value if isinstance(value, list) else [value]):
            if one not in choices:
                problems.append("%s: %s is not valid; use one of %s" % (where, _short(one), ", ".join(str(c) for c in choices)))
    elements = spec.get("elements")
    if wanted == "list" and elements:
        element_spec = dict(type=elements, options=spec.get("options"))
        for index, element in enumerate(value):
            value[index] = _check_option("%s[%d]" % (path, index), element, element_spec, problems, _label(element) or item)
    elif wanted == "dict" and spec.get("options") is not None and isinstance(value, dict):
        for key in value:
            if key not in spec["options"]:
                guess = difflib.get_close_matches(str(key), list(spec["options"]), n=1)
                problems.append("%s: unknown option '%s'; %s" % (
                    where, key, ("did you mean '%s'?" % guess[0]) if guess
                    else "use one of " + ", ".join(sorted(spec["options"]))))
        for key, option in spec["options"].items():
            if key in value:
                value[key] = _check_option("%s.%s" % (path, key), value[key], option, problems, item)
            elif option.get("required"):
                problems.append("%s: the option '%s' is required; add it" % (where, key))
    return value


def _label(item):
    if not isinstance(item, dict):
        return ""
    for key in ITEM_LABELS:
        if isinstance(item.get(key), str) and item[key]:
            return " (%s)" % item[key]
    return ""


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class FilterModule(object):
    """Filters of the m365_tenant and m365_export roles."""

    def filters(self):
        return {
            "tenant_stage": tenant_stage,
            "tenant_stages": tenant_stages,
            "tenant_unplanned": tenant_unplanned,
            "tenant_planned_names": planned_names,
            "tenant_new_users": tenant_new_users,
            "tenant_scope_filter": tenant_scope_filter,
            "tenant_removals": tenant_removals,
            "tenant_guard": tenant_guard,
            "tenant_failures": tenant_failures,
            "tenant_export": tenant_export,
            "tenant_summary": tenant_summary,
        }
