# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Relationship lists (add / remove / set) and the OData spellings they need.

One helper, :func:`relation_changes`, decides what to add and remove for every
relationship option of the collection: a user's ``groups``, a group's
``members`` and ``owners``, and licences. It follows microsoft.ad's
convention: ``set`` is the exact list, ``add`` / ``remove`` touch only what
they name. Sets, not list scans, so 100,000 members plan in linear time.

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


def odata_literal(value):
    """An OData string literal: single quotes around, single quotes inside doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def alternate_key_path(collection, prop, value):
    """``/groups(uniqueName='x')``: an object reached by an alternate key (the value URL-quoted)."""
    try:
        from urllib.parse import quote
    except ImportError:  # pragma: no cover - Python 2 is not supported
        from urllib import quote
    return "/%s(%s=%s)" % (collection, prop, quote(odata_literal(value), safe="'@"))


def directory_object_url(base_url, object_id):
    """What ``@odata.id`` and ``@odata.bind`` take to name a user or group.

    Absolute, on the Graph host of the client's own cloud (``base_url`` is the
    client's ``.../v1.0``), never a hard-coded graph.microsoft.com.
    """
    return "%s/directoryObjects/%s" % (base_url.rstrip("/"), object_id)


def odata_ref(base_url, object_id):
    """The body of ``POST .../$ref`` and ``PUT .../manager/$ref``."""
    return {"@odata.id": directory_object_url(base_url, object_id)}


# Query operators Graph serves on directory objects only as advanced queries.
_ADVANCED_OPERATORS = re.compile(r"(\s(ne)\s|\bnot\s*\(|\bnot\s|\bendswith\s*\()", re.IGNORECASE)


def advanced_query(filter_text):
    """(query parameters, headers) a $filter needs: ``ne``, ``not`` and ``endsWith`` on users and
    groups work only with ``ConsistencyLevel: eventual`` and ``$count=true`` (FIDELITY 2.1, 7.7)."""
    if filter_text and _ADVANCED_OPERATORS.search(_without_literals(filter_text)):
        return {"$count": "true"}, {"ConsistencyLevel": "eventual"}
    return None, None


def _without_literals(text):
    """The filter with its string literals blanked, so a value like 'not me' is not an operator."""
    return re.sub(r"'(?:[^']|'')*'", "''", text)


def relation_changes(option, current_ids, resolve, removable=None):
    """(ids to add, ids to remove) for one relationship option.

    ``option`` is ``{"add": [...], "remove": [...], "set": [...]}`` of references;
    ``current_ids`` the ids there now; ``resolve(ref)`` an id (or None for a
    reference resolved later, e.g. a group created by this run: never removed,
    handled by the caller); ``removable(id)`` False for what ``set`` must leave
    alone (a dynamic group a user is in, for example).
    """
    option = option or {}
    current = set(current_ids)
    if option.get("set") is not None:
        wanted = _ordered(resolve(ref) for ref in option["set"])
        wanted_set = set(wanted)
        adds = [object_id for object_id in wanted if object_id not in current]
        removes = [object_id for object_id in _ordered(current_ids)
                   if object_id not in wanted_set and (removable is None or removable(object_id))]
        return adds, removes
    adds = [object_id for object_id in _ordered(resolve(ref) for ref in option.get("add") or [])
            if object_id not in current]
    removes = [object_id for object_id in _ordered(resolve(ref) for ref in option.get("remove") or [])
               if object_id in current]
    return adds, removes


def _ordered(values):
    """Values without None and repeats, in their first order."""
    seen, ordered = set(), []
    for value in values:
        if value is not None and value not in seen:
            seen.add(value)
            ordered.append(value)
    return ordered
