# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Resolve references to users and groups the way playbook authors write them.

A user is referred to by object id, user principal name or mail; a group by
object id, uniqueName or displayName. A member or owner reference
(:meth:`Directory.principals`) can be either: anything with an ``@`` is a user,
an object id is looked up with ``getByIds``, anything else is a group.

One :class:`Directory` lives for one module run and caches what it read, so a
list of 1,200 member references costs one or two list reads, not 1,200 GETs.
No Ansible imports: the module wrapper turns :class:`ReferenceError` into a
failed item.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import (
    GraphError,
    batch_items,
    list_each,
    query_url,
    quote_key,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import alternate_key_path, odata_literal
from ansible_collections.m365.cloud_identity.plugins.module_utils import validation

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"

USER_SELECT = ["id", "userPrincipalName", "mail", "displayName", "userType"]
GROUP_SELECT = ["id", "uniqueName", "displayName", "mail", "groupTypes", "securityEnabled", "mailEnabled"]

# Above this many unresolved references one full list read is cheaper than
# filtered reads of 15 values each (Graph's limit for `in`).
FULL_READ_THRESHOLD = 45
IN_CHUNK = 15

# Seconds a user created moments ago (by an earlier task) may take to become readable: Graph replicates
# writes asynchronously, so a reference that matched nothing is looked up once more by key until then.
REPLICATION_WAIT = 10

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class ReferenceError(ValueError):
    """A reference that matches no object, or more than one."""

    def __init__(self, message, ref=None, ids=None):
        super(ReferenceError, self).__init__(message)
        self.ref = ref
        self.ids = list(ids or [])


def is_object_id(value):
    return bool(_GUID.match(value or ""))


def principal_name(obj):
    """The name a playbook would use for a user or group (for diffs and exports)."""
    if obj.get("@odata.type") == GROUP_TYPE or "groupTypes" in obj or "uniqueName" in obj:
        return obj.get("uniqueName") or obj.get("displayName") or obj.get("id")
    return obj.get("userPrincipalName") or obj.get("displayName") or obj.get("id")


def in_filter(prop, values):
    """`prop in ('a', 'b')`; Graph takes at most IN_CHUNK values."""
    return "%s in (%s)" % (prop, ", ".join(odata_literal(v) for v in values))


def chunks(values, size):
    return [values[i:i + size] for i in range(0, len(values), size)]


def unique(values):
    """The values without repeats, in their first order."""
    seen, ordered = set(), []
    for value in values:
        if value not in seen:
            seen.add(value)
            ordered.append(value)
    return ordered


def read_domains(client):
    """(verified domain names, default domain) from GET /domains.

    Apps without Domain.Read.All usually hold Organization.Read.All, so a 403
    falls back to the organization's verifiedDomains.
    """
    try:
        domains = client.list("/domains", select=["id", "isVerified", "isDefault"], top=None)
        verified = [d["id"] for d in domains if d.get("isVerified")]
        default = [d["id"] for d in domains if d.get("isDefault")]
    except GraphError as error:
        if error.status != 403:
            raise
        organizations = client.list("/organization", select=["verifiedDomains"], top=None)
        names = [d for org in organizations for d in org.get("verifiedDomains") or []]
        verified = [d["name"] for d in names]
        default = [d["name"] for d in names if d.get("isDefault")]
    return verified, (default[0] if default else None)


def send_reads(client, reads):
    """Send (``$batch`` request, take(result)) reads, 20 to a ``$batch``, and give each its answer."""
    requests = [dict(request, id=str(n)) for n, (request, _take) in enumerate(reads)]
    for (_request, take), result in zip(reads, client.batch(requests) if requests else []):
        take(result)


class Directory:
    """Resolves and caches users and groups for one module run."""

    def __init__(self, client, group_select=None):
        self.client = client
        # A caller that needs more of each group (licences: assignedLicenses) widens what every read selects.
        self.group_select = unique(GROUP_SELECT + list(group_select or []))
        self._users = {}            # id -> user
        self._user_keys = {}        # lower(upn) / lower(mail) -> id
        self._groups = {}           # id -> group
        self._group_unique = {}     # lower(uniqueName) -> id
        self._group_names = {}      # lower(displayName) -> [ids]
        self._no_unique_name = set()  # lower(name) group_reads found no group for, until groups() runs
        self._all_users = False
        self._all_groups = False

    # ---- cache -------------------------------------------------------------

    def add_users(self, users):
        """Remember users read elsewhere (e.g. by the module's own list read)."""
        for user in users:
            user = dict(user)
            user.setdefault("@odata.type", USER_TYPE)
            self._users[user["id"]] = user
            for key in (user.get("userPrincipalName"), user.get("mail")):
                if key:
                    self._user_keys[key.lower()] = user["id"]

    def add_groups(self, groups, complete=False):
        """Remember groups read elsewhere; ``complete`` says it was every group."""
        for group in groups:
            group = dict(group)
            group.setdefault("@odata.type", GROUP_TYPE)
            self._forget_group_names(group["id"])
            self._groups[group["id"]] = group
            if group.get("uniqueName"):
                self._group_unique[group["uniqueName"].lower()] = group["id"]
            name = validation.same_name(group.get("displayName"))
            ids = self._group_names.setdefault(name, [])
            if group["id"] not in ids:
                ids.append(group["id"])
        if complete:
            self._all_groups = True

    def forget_group(self, group_id):
        """Drop a group from the cache (after deleting it)."""
        self._forget_group_names(group_id)
        group = self._groups.pop(group_id, None)
        if group and group.get("uniqueName"):
            self._group_unique.pop(group["uniqueName"].lower(), None)

    def _forget_group_names(self, group_id):
        old = self._groups.get(group_id)
        if old is not None:
            ids = self._group_names.get(validation.same_name(old.get("displayName")), [])
            if group_id in ids:
                ids.remove(group_id)

    # ---- users -------------------------------------------------------------

    def user(self, ref):
        return self.users([ref])[ref]

    def users(self, refs):
        """Resolve many user references with as few reads as possible.

        Returns {ref: user}; raises ReferenceError naming every reference that
        matched nothing.
        """
        refs = _unique(refs)
        missing = [r for r in refs if self._cached_user(r) is None]
        if missing and not self._all_users:
            if len(missing) > FULL_READ_THRESHOLD:
                self._read_all_users()
            else:
                self._read_users(missing)
        unresolved = [r for r in refs if self._cached_user(r) is None]
        if unresolved:
            self._await_users(unresolved)
            unresolved = [r for r in refs if self._cached_user(r) is None]
        if unresolved:
            raise ReferenceError(
                "No user found for %s (use an object id, user principal name or mail)" % _list(unresolved),
                ref=unresolved[0])
        return dict((r, self._cached_user(r)) for r in refs)

    def cached_user(self, ref):
        """The user a reference names if this run has read or created it (no request), else None."""
        return self._cached_user(ref)

    def _cached_user(self, ref):
        ref = (ref or "").strip()
        if ref in self._users:
            return self._users[ref]
        if ref.lower() in self._users:  # Graph's ids are lower case; a reference may not be
            return self._users[ref.lower()]
        user_id = self._user_keys.get(ref.lower())
        return self._users.get(user_id) if user_id else None

    def _await_users(self, refs):
        """Read each missing id or UPN by key, retrying its 404 until REPLICATION_WAIT has passed in all."""
        deadline = time.monotonic() + REPLICATION_WAIT
        for ref in refs:
            if not (is_object_id(ref) or "@" in ref):
                continue
            try:
                user = self.client.get("/users/%s" % quote_key(ref.strip()), params={"$select": ",".join(USER_SELECT)},
                                       retry_not_found=max(0.0, deadline - time.monotonic()))
            except GraphError as error:
                if error.status == 404:
                    continue
                raise
            if user:
                self.add_users([user])

    def _read_all_users(self):
        self.add_users(self.client.list("/users", select=USER_SELECT))
        self._all_users = True

    def _read_users(self, refs):
        """Users by id, UPN, then mail: filters of IN_CHUNK values, 20 filters to a $batch."""
        ids = [r for r in refs if is_object_id(r)]
        names = [r for r in refs if not is_object_id(r)]
        self._read_filtered("/users", USER_SELECT, [("id", ids), ("userPrincipalName", names)], self.add_users)
        by_mail = [r for r in names if self._cached_user(r) is None]
        self._read_filtered("/users", USER_SELECT, [("mail", by_mail)], self.add_users)

    def prefetch_users(self, refs):
        """Read what a run will ask about in as few requests as possible, without waiting for replication:
        a reference that matches nothing is left to :meth:`users` (which reports or awaits it)."""
        missing = [r for r in unique(refs) if self._cached_user(r) is None]
        if not missing or self._all_users:
            return
        if len(missing) > FULL_READ_THRESHOLD:
            self._read_all_users()
        else:
            self._read_users(missing)

    def _read_filtered(self, path, select, lookups, add):
        """``prop in (...)`` reads for each (prop, values) in ``lookups``, all packed into $batch calls."""
        paths = [(path, {"$filter": in_filter(prop, chunk)}) for prop, values in lookups
                 for chunk in chunks(values, IN_CHUNK)]
        for answer in list_each(self.client, paths, select=select) if paths else []:
            if isinstance(answer, Exception):
                raise answer
            add(answer)

    # ---- groups ------------------------------------------------------------

    def group(self, ref):
        return self.groups([ref])[ref]

    def groups(self, refs):
        """Resolve many group references: id, uniqueName, then displayName.

        A display name shared by several groups is an error listing their ids.
        """
        refs = _unique(refs)
        missing = [r for r in refs if not self.knows_group(r)]
        if missing and not self._all_groups:
            if len(missing) > FULL_READ_THRESHOLD:
                self.read_all_groups()
            else:
                self._read_groups(missing)
        found = {}
        unresolved = []
        for ref in refs:
            group = self._cached_group(ref)
            if group is None:
                unresolved.append(ref)
            else:
                found[ref] = group
        if unresolved:
            raise ReferenceError(
                "No group found for %s (use an object id, unique name or display name)" % _list(unresolved),
                ref=unresolved[0])
        return found

    def read_all_groups(self, select=None):
        """One list read of every group; returns them (the module reuses the list)."""
        groups = self.client.list("/groups", select=select or self.group_select)
        self.add_groups(groups, complete=True)
        return groups

    def knows_group(self, ref):
        """True when a group reference is in the cache (no read)."""
        ref = (ref or "").strip()
        return (ref in self._groups or ref.lower() in self._group_unique
                or bool(self._group_names.get(validation.same_name(ref))))

    def _cached_group(self, ref):
        """The group a reference names; raises ReferenceError when ambiguous."""
        ref = (ref or "").strip()
        if ref in self._groups:
            return self._groups[ref]
        group_id = self._group_unique.get(ref.lower())
        if group_id:
            return self._groups[group_id]
        ids = self._group_names.get(validation.same_name(ref)) or []
        if len(ids) > 1:
            raise ReferenceError(
                "Group display name '%s' is ambiguous: %d groups have it (ids %s); refer to the group "
                "by unique name or id" % (ref, len(ids), ", ".join(sorted(ids))), ref=ref, ids=ids)
        return self._groups[ids[0]] if ids else None

    def _read_groups(self, refs):
        ids = [r for r in refs if is_object_id(r)]
        names = [r for r in refs if not is_object_id(r)]
        self._read_filtered("/groups", self.group_select, [("id", ids)], self.add_groups)
        send_reads(self.client, self.unique_name_reads([n for n in names if n.lower() not in self._no_unique_name]))
        self._no_unique_name.clear()  # a 404 from group_reads spares one read, not later ones (a group may be new)
        # A display name must be read even when a uniqueName matched nothing,
        # and always in full: an ambiguity is only visible with every match.
        by_name = [r for r in names if not self._group_unique.get(r.lower())]
        # Composed and decomposed spellings ("Café") are one name: ask for both forms.
        by_name = unique(form for r in by_name for form in validation.spellings(r))
        self._read_filtered("/groups", self.group_select, [("displayName", by_name)], self.add_groups)

    def group_reads(self, refs):
        """The first reads that resolve group references, as (``$batch`` request, take(result)) pairs for a
        caller that sends them along with its own independent reads: ids by ``id in`` filters, other
        references by unique name. :meth:`groups` then reads only what these left open (display names)."""
        refs = [r for r in _unique(refs) if not self.knows_group(r)]
        ids = [r for r in refs if is_object_id(r)]
        reads = [({"method": "GET", "url": query_url("/groups", {"$filter": in_filter("id", chunk),
                                                                 "$select": ",".join(self.group_select)})},
                  lambda result: self.add_groups(batch_items(self.client, result)))
                 for chunk in chunks(ids, IN_CHUNK)]
        return reads + self.unique_name_reads([r for r in refs if not is_object_id(r)], remember_misses=True)

    def unique_name_reads(self, names, remember_misses=False):
        """GET /groups(uniqueName='x') for each name, as (request, take) pairs: uniqueName is an alternate key
        that Graph does not filter on (FIDELITY 7.2). A 404 means no group has that unique name;
        ``remember_misses`` spares the next :meth:`groups` reading it again."""
        path = "%s?$select=" + ",".join(self.group_select)

        def taker(name):
            def take(result):
                if result.ok:
                    self.add_groups([result.body])
                elif result.status == 404:
                    if remember_misses:
                        self._no_unique_name.add(name.lower())
                else:
                    raise result.error
            return take

        return [({"method": "GET", "url": path % alternate_key_path("groups", "uniqueName", name)}, taker(name))
                for name in names]

    # ---- users or groups (members, owners) ---------------------------------

    def principals(self, refs):
        """Resolve member / owner references that may be users or groups.

        ``@`` -> user (UPN or mail); object id -> user or group (getByIds);
        anything else -> group (uniqueName or displayName).
        Returns {ref: object} where each object has ``@odata.type``.
        """
        refs = _unique(refs)
        found = {}
        ids = [r for r in refs if is_object_id(r)]
        users = [r for r in refs if "@" in r]
        groups = [r for r in refs if not is_object_id(r) and "@" not in r]
        problems = []
        found.update(self._objects_by_id(ids, problems))
        if users:
            try:
                found.update(self.users(users))
            except ReferenceError as exc:
                problems.append(str(exc))
        if groups:
            try:
                found.update(self.groups(groups))
            except ReferenceError as exc:
                problems.append(str(exc))
        if problems:
            raise ReferenceError("; ".join(problems))
        return found

    def _objects_by_id(self, ids, problems):
        found = {}
        unknown = [i for i in ids if i.lower() not in self._users and i.lower() not in self._groups]
        for chunk in chunks(unknown, 1000):
            # A read despite the POST: safe to send again when its answer is lost.
            response = self.client.post("/directoryObjects/getByIds", json={"ids": chunk, "types": ["user", "group"]},
                                        idempotent=True) or {}
            for obj in response.get("value", []):
                if obj.get("@odata.type") == GROUP_TYPE:
                    self.add_groups([obj])
                else:
                    self.add_users([obj])
        missing = []
        for ref in ids:
            obj = self._users.get(ref.lower()) or self._groups.get(ref.lower())  # Graph's ids are lower case
            if obj is None:
                missing.append(ref)
            else:
                found[ref] = obj
        if missing:
            problems.append("No user or group found with id %s" % _list(missing))
        return found


def _unique(refs):
    for ref in refs:
        if not isinstance(ref, str) or not ref.strip():
            raise ReferenceError("Invalid reference %r: expected a non-empty string" % (ref,), ref=ref)
    return unique(refs)


def _list(refs):
    shown = ", ".join("'%s'" % r for r in refs[:10])
    if len(refs) > 10:
        shown += " and %d more" % (len(refs) - 10)
    return shown
