#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_license_info
short_description: Report a tenant's licences, seats, and a user's or group's licence assignments
version_added: 1.0.0
description:
  - Returns the tenant's subscribed SKUs (Microsoft Graph C(GET /subscribedSkus)) with part number,
    product name, enabled, consumed and free seats, and service plans.
  - With O(user), also returns the user's licence assignments, direct and inherited from groups, with
    their state and error. With O(group), returns the group's licences and its members' states for them,
    including the members in error (for example C(CountViolation) when seats ran out).
  - Product names come from Microsoft's published table of product names and service plan identifiers.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
options:
  user:
    description: A user (user principal name, object id or mail) whose assignments to return.
    type: str
  group:
    description: A group (unique name, object id or display name) whose licences and members to return.
    type: str
  skus:
    description:
      - Limit RV(skus) to these SKUs (part number, SKU id or product name). An unknown name fails with
        close matches. By default every subscribed SKU is returned.
    type: list
    elements: str
notes:
  - 'Permissions: C(Organization.Read.All), plus C(User.Read.All) with O(user) and C(Group.Read.All)
    (or C(GroupMember.Read.All)) and C(User.Read.All) with O(group).'
seealso:
  - module: m365.cloud_identity.aad_license
"""

EXAMPLES = r"""
- name: Seats left per SKU
  m365.cloud_identity.aad_license_info:
  register: licences

- name: Warn when E3 is nearly used up
  ansible.builtin.debug:
    msg: "Only {{ (licences.skus | selectattr('sku_part_number', 'eq', 'SPE_E3') | first).free }} E3 seats left"

- name: Where does Alice's licence come from?
  m365.cloud_identity.aad_license_info:
    user: alice@contoso.com
    skus: [SPE_E3]
  register: alice

- name: Members of Sales whose group licence failed
  m365.cloud_identity.aad_license_info:
    group: sales-team
  register: sales

- name: Show them
  ansible.builtin.debug:
    var: sales.group.members_in_error
"""

RETURN = r"""
skus:
  description: The tenant's subscribed SKUs, sorted by part number.
  returned: always
  type: list
  elements: dict
  contains:
    sku_id:
      description: The SKU id.
      type: str
    sku_part_number:
      description: The part number.
      type: str
      sample: SPE_E3
    display_name:
      description: The product name from Microsoft's table (the part number when the table does not know it).
      type: str
      sample: Microsoft 365 E3
    capability_status:
      description: C(Enabled), C(Warning), C(Suspended), C(Deleted) or C(LockedOut).
      type: str
    applies_to:
      description: C(User) or C(Company).
      type: str
    enabled:
      description: Seats bought and active (C(prepaidUnits.enabled)).
      type: int
    consumed:
      description: Seats in use.
      type: int
    free:
      description: C(enabled) minus C(consumed), at least 0.
      type: int
    warning:
      description: Seats in the warning state (subscription expired, grace period).
      type: int
    suspended:
      description: Seats suspended.
      type: int
    locked_out:
      description: Seats locked out.
      type: int
    plans:
      description: The service plans, with C(plan_id), C(name), C(friendly_name), C(provisioning_status), C(applies_to).
      type: list
      elements: dict
user:
  description: The user's licence assignments.
  returned: when O(user) is given
  type: dict
  contains:
    id:
      description: The user's object id.
      type: str
    user_principal_name:
      description: The user principal name.
      type: str
    usage_location:
      description: The usage location (needed for direct assignments).
      type: str
    licenses:
      description: Every assignment (C(licenseAssignmentStates)), direct and inherited.
      type: list
      elements: dict
      contains:
        sku_id:
          description: The SKU id.
          type: str
        sku_part_number:
          description: The part number.
          type: str
        assigned_by_group:
          description: The id of the group the licence is inherited from; null for a direct assignment.
          type: str
        assigned_by_group_name:
          description: The unique name or display name of that group.
          type: str
        direct:
          description: Whether the assignment is direct.
          type: bool
        state:
          description: C(Active), C(ActiveWithError), C(Disabled) or C(Error).
          type: str
        error:
          description: C(None), C(CountViolation), C(MutuallyExclusiveViolation), C(DependencyViolation), ...
          type: str
        disabled_plans:
          description: Names of the service plans turned off.
          type: list
          elements: str
        last_updated:
          description: When the assignment last changed.
          type: str
group:
  description: The group's licences and its members' states for them.
  returned: when O(group) is given
  type: dict
  contains:
    id:
      description: The group's object id.
      type: str
    display_name:
      description: The display name.
      type: str
    licenses:
      description: The group's licences (C(sku_id), C(sku_part_number), C(sku_display_name), C(disabled_plans)).
      type: list
      elements: dict
    member_count:
      description: Number of direct user members.
      type: int
    members:
      description: Each direct user member with its state for each of the group's licences.
      type: list
      elements: dict
    members_in_error:
      description: The members whose licence from this group is in an error state.
      type: list
      elements: dict
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import (
    LicenseError,
    SkuCatalog,
    TargetReader,
    describe_assignments,
    describe_states,
    direct_assignments,
    members_in_error,
)


def user_report(catalog, reader, ref):
    user = reader.users([ref])[ref]
    if isinstance(user, Exception):
        raise user
    states = describe_states(catalog, user.get("licenseAssignmentStates") or [])
    group_ids = sorted(set(s["assigned_by_group"] for s in states if s["assigned_by_group"]))
    names = {}
    if group_ids:
        try:
            for group in reader.directory.principals(group_ids).values():
                names[group["id"]] = group.get("uniqueName") or group.get("displayName")
        except ValueError:
            pass  # a group deleted meanwhile: its id is still reported
    for state in states:
        state["direct"] = state["assigned_by_group"] is None
        state["assigned_by_group_name"] = names.get(state["assigned_by_group"])
    return dict(
        id=user["id"],
        user_principal_name=user.get("userPrincipalName"),
        display_name=user.get("displayName"),
        usage_location=user.get("usageLocation"),
        licenses=states,
    )


def group_report(catalog, reader, ref):
    group = reader.groups([ref])[ref]
    if isinstance(group, Exception):
        raise group
    members = reader.members(group["id"])
    licensed = set(a["sku_id"] for a in describe_assignments(catalog, direct_assignments(group, "group")))
    member_states = []
    for member in members:
        states = [s for s in member.get("licenseAssignmentStates") or []
                  if s.get("assignedByGroup") == group["id"] and (s.get("skuId") or "").lower() in licensed]
        member_states.append(dict(
            id=member["id"],
            user_principal_name=member.get("userPrincipalName"),
            usage_location=member.get("usageLocation"),
            licenses=describe_states(catalog, states),
        ))
    return dict(
        id=group["id"],
        display_name=group.get("displayName"),
        unique_name=group.get("uniqueName"),
        licenses=describe_assignments(catalog, direct_assignments(group, "group")),
        member_count=len(members),
        members=sorted(member_states, key=lambda m: (m["user_principal_name"] or "").lower()),
        members_in_error=members_in_error(catalog, group["id"], members),
    )


def main_logic(graph):
    params = graph.params
    catalog = SkuCatalog.read(graph.client)
    reader = TargetReader(graph.client)
    result = dict(changed=False)
    try:
        if params.get("skus"):
            wanted = [catalog.resolve(ref)["id"] for ref in params["skus"]]
            result["skus"] = [catalog.summary(sku_id) for sku_id in wanted]
        else:
            result["skus"] = catalog.summaries()
        if params.get("user"):
            result["user"] = user_report(catalog, reader, params["user"])
        if params.get("group"):
            result["group"] = group_report(catalog, reader, params["group"])
    except (LicenseError, ValueError) as error:
        graph.fail(str(error))
    return result


def main():
    graph = GraphModule(
        dict(
            user=dict(type="str"),
            group=dict(type="str"),
            skus=dict(type="list", elements="str"),
        ),
    )
    graph.run(main_logic)


if __name__ == "__main__":
    main()
