#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aad_group_info
short_description: Read Microsoft Entra groups, with their members, owners and licences
version_added: 1.0.0
description:
  - Return one group (by O(id), O(unique_name) or O(display_name)) or a list of groups (all, or those an
    OData O(filter) selects), through Microsoft Graph v1.0.
  - Each group is returned in M(m365.cloud_identity.aad_group)'s option names, so the output can be fed
    back to that module (an export). C(members) and C(owners) come in the option form (a C(set) list), users by user
    principal name and groups by unique name, else display name.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
options:
  id:
    description: A group's object id.
    type: str
  unique_name:
    description:
      - A group's unique name, read through Graph's alternate key C(/groups(uniqueName='...')) (Graph
        cannot filter on it). Mutually exclusive with O(filter).
    type: str
  display_name:
    description: Groups with this display name (there may be several).
    type: str
  filter:
    description:
      - An OData C($filter) for the group list, for example C(startswith(displayName,'Sales')) or
        C(groupTypes/any(c:c eq 'Unified')).
      - A filter with C(ne), C(not) or C(endsWith) is sent as an advanced query (with the
        C(ConsistencyLevel) header and C($count)), as Graph requires.
    type: str
  include:
    description:
      - Relationships to read for each group (each is paged through in full).
      - V(members) and V(owners) in the option form (a C(set) list); V(transitive_members) as a list of names
        (members of nested groups included); V(licenses) as C(sku_id) and C(disabled_plans) of the licences
        assigned to the group. V(transitive_members) and V(licenses) are not M(m365.cloud_identity.aad_group)
        options; drop them before feeding the output back.
    type: list
    elements: str
    choices: [members, owners, transitive_members, licenses]
    default: []
notes:
  - Permissions (application) - C(Group.Read.All) (or C(GroupMember.Read.All)); C(User.Read.All) to name members.
seealso:
  - module: m365.cloud_identity.aad_group
"""

EXAMPLES = r"""
- name: One group with its members and owners
  m365.cloud_identity.aad_group_info:
    unique_name: finance-team
    include: [members, owners]
  register: finance

- name: Every Microsoft 365 group
  m365.cloud_identity.aad_group_info:
    filter: "groupTypes/any(c:c eq 'Unified')"
  register: m365_groups

- name: Export all groups
  m365.cloud_identity.aad_group_info:
    include: [members, owners]
  register: export

- name: Apply the export to another tenant (object ids differ there, so drop them)
  m365.cloud_identity.aad_group:
    groups: "{{ export.groups | map('dict2items') | map('rejectattr', 'key', 'eq', 'id') | map('items2dict') | list }}"
"""

RETURN = r"""
groups:
  description: The groups found, in aad_group's option names plus C(id); options without a value are left out.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 5f2c0e3a-1b2c-4d5e-8f90-123456789abc
      display_name: Finance Team
      unique_name: finance-team
      description: Everyone in finance
      group_type: security
      mail_nickname: finance-team
      is_assignable_to_role: false
      members: {set: [alice@contoso.com, finance-contractors]}
      owners: {set: [ada.admin@contoso.com]}
group:
  description: The one group asked for by O(id) or O(unique_name) (null when there is none).
  returned: when O(id) or O(unique_name) is given
  type: dict
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.groups import GROUP_SELECT, group_info
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import (
    advanced_query,
    alternate_key_path,
    odata_literal,
)


def _one(client, path, select):
    try:
        return [client.get(path, params={"$select": ",".join(select)})]
    except GraphError as error:
        if error.status == 404:
            return []
        raise


def read_groups(client, params, select):
    """By id or unique name (the alternate key: Graph cannot filter on uniqueName), else a list read."""
    if params.get("id"):
        return _one(client, "/groups/%s" % quote_key(params["id"]), select)
    if params.get("unique_name"):
        found = _one(client, alternate_key_path("groups", "uniqueName", params["unique_name"]), select)
        name = (params.get("display_name") or "").lower()
        return [g for g in found if not name or (g.get("displayName") or "").lower() == name]
    clauses = []
    if params.get("display_name"):
        clauses.append("displayName eq %s" % odata_literal(params["display_name"]))
    if params.get("filter"):
        clauses.append("(%s)" % params["filter"])
    text = " and ".join(clauses) or None
    query, headers = advanced_query(text)
    return client.list("/groups", select=select, filter=text, params=query, headers=headers)


def run(module):
    params = module.params
    include = params["include"] or []
    select = list(GROUP_SELECT) + (["assignedLicenses"] if "licenses" in include else [])
    try:
        groups = read_groups(module.client, params, select)
        found = [group_info(module.client, group, include) for group in groups]
    except GraphError as error:
        error.context = error.context or "read groups"
        raise
    found.sort(key=lambda g: ((g.get("display_name") or "").lower(), g["id"]))
    result = dict(changed=False, groups=found)
    if params.get("id") or params.get("unique_name"):
        result["group"] = found[0] if found else None
    return result


def main():
    module = GraphModule(
        argument_spec=dict(
            id=dict(type="str"),
            unique_name=dict(type="str"),
            display_name=dict(type="str"),
            filter=dict(type="str"),
            include=dict(type="list", elements="str", default=[],
                         choices=["members", "owners", "transitive_members", "licenses"]),
        ),
        mutually_exclusive=[("id", "unique_name"), ("id", "display_name"), ("id", "filter"), ("unique_name", "filter")],
    )
    module.run(run)


if __name__ == "__main__":
    main()
