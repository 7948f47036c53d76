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
and to remove; the writes go through $batch after the guest exists (a new guest's id is
known only once the invitation is answered). No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    ReferenceError,
    directory_object_url,
    principal_name,
    unique,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import get_each

OPTION = "sponsors"
READ_SELECT = "id,userPrincipalName,displayName,uniqueName"
ALREADY_THERE = "already exist"

# A guest invited or restored a moment ago may not have replicated yet (FIDELITY 7.3): 404 is retried.
NOT_FOUND_WAITS = (0.5, 1, 2, 4, 8)


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
    def ids(refs):
        return unique(resolved[ref]["id"] for ref in refs or [])

    if value.get("set") is not None:
        wanted = ids(value["set"])
        return ([i for i in wanted if i not in current_ids],
                [i for i in current_ids if i not in set(wanted)])
    return ([i for i in ids(value.get("add")) if i not in current_ids],
            [i for i in ids(value.get("remove")) if i in current_ids])


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
            plan.error = "sponsors: no user or group matches %s; give a user principal name, mail, unique name, " \
                         "display name or object id" % ", ".join("'%s'" % ref for ref in missing)
            continue
        result = current.get(id(plan))
        if result is not None:
            if not result.ok:
                plan.error = result.error
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


def sponsor_requests(plan):
    """The $batch requests that bring one guest's sponsors in line."""
    requests = [{"method": "POST", "url": "/users/%s/sponsors/$ref" % plan.user_id,
                 "body": {"@odata.id": directory_object_url(sponsor_id)}} for sponsor_id in plan.sponsors.adds]
    requests.extend({"method": "DELETE", "url": "/users/%s/sponsors/%s/$ref" % (plan.user_id, sponsor_id)}
                    for sponsor_id in plan.sponsors.removes)
    return requests


def _already_done(request, result):
    """Adding a sponsor that is there, removing one that is gone: the goal is reached."""
    if request["method"] == "DELETE":
        return result.status == 404
    return result.status == 400 and ALREADY_THERE in ((result.error and result.error.message) or "")


def apply_sponsors(client, plans, new_guest_ids=(), sleep=time.sleep):
    """Add and remove sponsors of every plan that still stands; a failure fails its plan only."""
    pending = [(plan, request) for plan in plans
               if plan.error is None and getattr(plan, "sponsors", None) is not None and plan.user_id
               for request in sponsor_requests(plan)]
    waits = list(NOT_FOUND_WAITS)
    while pending:
        batch = [dict(request, id=str(n)) for n, (_plan, request) in enumerate(pending)]
        retry = []
        for (plan, request), result in zip(pending, client.batch(batch)):
            if result.ok or _already_done(request, result):
                continue
            if result.status == 404 and plan.user_id in new_guest_ids and waits:
                retry.append((plan, request))
            elif plan.error is None:
                error = result.error
                error.context = "update the sponsors of guest %s" % plan.key
                plan.error = error
        if not retry:
            return
        sleep(waits.pop(0))
        pending = retry
