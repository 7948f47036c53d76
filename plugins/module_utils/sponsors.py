# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guest's sponsors: the users and groups responsible for it (aad_guest's `sponsors` option).

Graph (DC api/user-list-sponsors.md, user-post-sponsors.md, user-delete-sponsors.md):
GET /users/{id}/sponsors, POST /users/{id}/sponsors/$ref with {"@odata.id": <user or group>},
DELETE /users/{id}/sponsors/{sponsor id}/$ref; User.ReadWrite.All to change them.

The option takes add / remove / set like every relationship of the collection. References
are users (user principal name, mail or id) or groups (id, unique name or display name),
resolved with references.Directory. For each guest the plan holds the sponsor ids to add
and to remove; the writes are one wave of the engine's run after the guest exists (a new
guest's id is known only once the invitation is answered). No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Write
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    ReferenceError,
    principal_name,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import odata_ref, relation_changes
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import get_each

OPTION = "sponsors"
READ_SELECT = "id,userPrincipalName,displayName,uniqueName"


def sponsor_problems(value):
    """Problems of the sponsors option found without a request."""
    if value is None:
        return []
    if value.get("set") is not None and (value.get("add") or value.get("remove")):
        return ["sponsors: use either set, or add and remove, not both"]
    return []


def manages_sponsors(spec):
    value = spec.get(OPTION) or {}
    return value.get("set") is not None or bool(value.get("add")) or bool(value.get("remove"))


def sponsor_changes(value, current_ids, resolved):
    """(ids to add, ids to remove) for the option against the current sponsors; resolved: {ref: object}."""
    return relation_changes(value, current_ids, lambda ref: resolved[ref]["id"])


class SponsorPlan(object):
    """The sponsor part of one guest's plan."""

    def __init__(self):
        self.current = []     # sponsor ids now
        self.adds = []
        self.removes = []
        self.names = {}       # id -> name for diffs and results

    @property
    def changed(self):
        return bool(self.adds or self.removes)

    def before(self):
        return sorted(self.names.get(i, i) for i in self.current)

    def after(self):
        after = [i for i in self.current if i not in self.removes] + self.adds
        return sorted(self.names.get(i, i) for i in after)


def plan_sponsors(client, directory, plans):
    """Resolve references and read current sponsors for the plans that manage them.

    `plans` carry .spec, .current (the live guest or None), .error and .sponsors (set here).
    A reference that matches nothing fails its plan.
    """
    managed = [p for p in plans if p.error is None and p.spec.get("state") == "present" and manages_sponsors(p.spec)]
    if not managed:
        return
    refs = []
    for plan in managed:
        value = plan.spec[OPTION]
        refs.extend(list(value.get("add") or []) + list(value.get("remove") or []) + list(value.get("set") or []))
    resolved = {}
    try:
        resolved = directory.principals(refs)
    except ReferenceError:
        pass  # reported per item below
    existing = [p for p in managed if p.current]
    urls = ["/users/%s/sponsors?$select=%s" % (p.current["id"], READ_SELECT) for p in existing]
    current = dict((id(p), r) for p, r in zip(existing, get_each(client, urls) if urls else []))
    for plan in managed:
        plan.sponsors = SponsorPlan()
        value = plan.spec[OPTION]
        missing = [ref for kind in ("add", "remove", "set") for ref in value.get(kind) or [] if ref not in resolved]
        if missing:
            plan.fail("sponsors: no user or group matches %s; give a user principal name, mail, unique name, "
                      "display name or object id" % ", ".join("'%s'" % ref for ref in missing))
            continue
        result = current.get(id(plan))
        if result is not None:
            if not result.ok:
                plan.fail(result.error)
                continue
            objects = result.body.get("value", [])
            plan.sponsors.current = [o["id"] for o in objects]
            plan.sponsors.names.update((o["id"], principal_name(o)) for o in objects)
        plan.sponsors.names.update((o["id"], principal_name(o)) for o in resolved.values())
        plan.sponsors.adds, plan.sponsors.removes = sponsor_changes(value, plan.sponsors.current, resolved)


def sponsor_names(client, guest_ids):
    """{guest id: sorted sponsor names} for aad_guest_info (one $batch per 20 guests)."""
    urls = ["/users/%s/sponsors?$select=%s" % (guest_id, READ_SELECT) for guest_id in guest_ids]
    names = {}
    for guest_id, result in zip(guest_ids, get_each(client, urls) if urls else []):
        if not result.ok:
            raise result.error
        names[guest_id] = sorted(principal_name(o) for o in result.body.get("value", []))
    return names


def sponsor_writes(plan, base_url):
    """The engine writes that bring one guest's sponsors in line (sent by engine.Sender, which
    treats "already exists" / "not found" as done and waits for a guest this run just created)."""
    context = "update the sponsors of guest %s" % plan.key
    writes = [Write(plan, "POST", "/users/%s/sponsors/$ref" % plan.user_id, odata_ref(base_url, sponsor_id),
                    context) for sponsor_id in plan.sponsors.adds]
    writes.extend(Write(plan, "DELETE", "/users/%s/sponsors/%s/$ref" % (plan.user_id, sponsor_id), context=context)
                  for sponsor_id in plan.sponsors.removes)
    return writes
