#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_license
short_description: Assign Microsoft 365 licences to users and groups, idempotently
version_added: 1.0.0
description:
  - Adds, removes or sets the licences (SKUs) assigned directly to a user, or assigned to a group for
    group-based licensing, through Microsoft Graph C(assignLicense). Members of a licensed group inherit
    its licences; Microsoft Entra assigns and removes them as members join and leave.
  - A licence is a SKU named by part number (V(SPE_E3)), SKU id (a GUID) or product name
    (V(Microsoft 365 E3), from Microsoft's published table of product names and service plan
    identifiers). Service plans to turn off are named by plan name (V(EXCHANGE_S_ENTERPRISE)),
    friendly name or plan id. Names are resolved against the tenant's subscribed SKUs (read once per
    run); an unknown or ambiguous name fails with the close matches listed.
  - Only B(direct) assignments are compared and changed. For a user, a licence inherited from a group
    (C(licenseAssignmentStates) with C(assignedByGroup) set) is neither added nor removed by this module,
    so group-based licensing never causes changes here; a direct and an inherited assignment of the same
    SKU are separate and both kept.
  - >-
    Before anything is written the module checks that every user getting a licence has a usage
    location, and that each SKU has enough free seats for all the assignments of the task
    (users, and the members of groups, that do not hold the SKU yet). When seats are short the
    task fails naming each short SKU with the seats needed and free (for example C(8 needed, 5 free)),
    unless O(allow_overcommit) is set.
  - Errors Microsoft Graph reports about service plan dependencies or mutually exclusive plans are
    returned in Graph's own words.
  - Manage one target with O(user) or O(group) and O(licenses), or many with O(assignments). The list
    form reads the tenant's SKUs once and its users and groups with few list reads, and sends the writes
    as JSON C($batch) requests (up to 20 a request).
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.attributes
  - m365.cloud_identity.graph.list_results
options:
  user:
    description:
      - The user to license, by user principal name, object id or mail.
      - Mutually exclusive with O(group) and O(assignments).
    type: str
  group:
    description:
      - The group to license (group-based licensing), by unique name, object id or display name.
        A display name shared by several groups is an error.
      - The group must be security-enabled. Its direct members inherit its licences; members of
        nested groups do not.
      - Mutually exclusive with O(user) and O(assignments).
    type: str
  licenses:
    description:
      - The licences of the target. Each list holds SKUs given as a part number, SKU id or product name,
        or as a dictionary with C(sku) and C(disabled_plans).
      - C(disabled_plans) lists service plans to turn off, by plan name, friendly name or plan id.
        When it is omitted, a new assignment enables every plan and an existing assignment keeps the
        plans it has turned off; give an empty list to turn every plan on. Changing only the
        disabled plans of an assigned SKU is an update.
      - Required with O(user) or O(group).
    type: dict
    suboptions:
      add:
        description: SKUs to assign (or whose disabled plans to change); other direct assignments are kept.
        type: list
        elements: raw
      remove:
        description:
          - SKUs to take away. A SKU the target does not hold directly is ignored; a SKU a user only
            inherits from a group stays (remove it from the group), with a warning.
        type: list
        elements: raw
      set:
        description:
          - The exact direct assignments wanted; any other SKU assigned directly is removed.
            V([]) removes every direct assignment.
          - Cannot be combined with C(add) or C(remove).
        type: list
        elements: raw
  assignments:
    description:
      - Several targets, each a dictionary with O(assignments[].user) or O(assignments[].group) and
        O(assignments[].licenses).
      - A failed item (an unknown user, a user without usage location, a refused write) does not stop
        the others; the task fails at the end listing every failed item. The seat check covers the
        whole list and fails the task before any write.
    type: list
    elements: dict
    suboptions:
      user:
        description: See O(user).
        type: str
      group:
        description: See O(group).
        type: str
      licenses:
        description: See O(licenses).
        type: dict
        required: true
        suboptions:
          add:
            description: See O(licenses.add).
            type: list
            elements: raw
          remove:
            description: See O(licenses.remove).
            type: list
            elements: raw
          set:
            description: See O(licenses.set).
            type: list
            elements: raw
  allow_overcommit:
    description:
      - Send the assignments even when a SKU has fewer free seats than the task needs.
      - Microsoft Graph then refuses each direct assignment beyond the free seats, and marks group
        members beyond them C(Error) / C(CountViolation) (they are reported in RV(license.members_in_error)).
    type: bool
    default: false
notes:
  - 'Permissions: C(Organization.Read.All) (to read subscribed SKUs), C(User.Read.All) and
    C(Group.Read.All) (or their C(ReadWrite) forms) to read targets, and C(LicenseAssignment.ReadWrite.All)
    to assign licences (C(User.ReadWrite.All) and C(Group.ReadWrite.All) or C(Directory.ReadWrite.All) also work).'
  - A user needs a usage location (a two-letter country code) before a licence can be assigned to it
    directly; set it with the O(m365.cloud_identity.aad_user#module:usage_location) option of
    M(m365.cloud_identity.aad_user). Group members without one are licensed with the tenant's location.
  - Microsoft Entra processes group licences in the background. After assigning to a group the task waits
    up to 30 seconds for the group's licence processing to complete; RV(license.license_processing_state)
    says whether it did, and RV(license.members_in_error) shows the state Graph reports when the task
    ends. Use M(m365.cloud_identity.aad_license_info) later for a settled view of a large group.
  - Licences can be assigned only to security-enabled groups. A Microsoft 365 group qualifies once
    O(m365.cloud_identity.aad_group#module:security_enabled) is V(true); any other group fails before
    anything is written.
seealso:
  - module: m365.cloud_identity.aad_license_info
  - module: m365.cloud_identity.aad_user
  - name: Product names and service plan identifiers for licensing
    description: Microsoft's table of SKU part numbers, product names and service plans.
    link: https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference
"""

EXAMPLES = r"""
- name: Give Alice Microsoft 365 E3 without Exchange and Sway
  m365.cloud_identity.aad_license:
    user: alice@contoso.com
    licenses:
      add:
        - sku: SPE_E3
          disabled_plans: [EXCHANGE_S_ENTERPRISE, SWAY]

- name: Alice has exactly these direct licences (by product name and by SKU id)
  m365.cloud_identity.aad_license:
    user: alice@contoso.com
    licenses:
      set:
        - Microsoft 365 E3
        - f30db892-07e9-47e9-837c-80727f46fd3d

- name: Take Visio away from Bob
  m365.cloud_identity.aad_license:
    user: bob@contoso.com
    licenses:
      remove: [VISIOCLIENT]

- name: Group-based licensing, every member of Sales gets E3
  m365.cloud_identity.aad_license:
    group: sales-team
    licenses:
      add: [SPE_E3]
  register: sales_licence

- name: Show members that could not get the licence
  ansible.builtin.debug:
    var: sales_licence.license.members_in_error

- name: License a batch of new starters in one task (one seat check, $batch writes)
  m365.cloud_identity.aad_license:
    assignments:
      - user: carol@contoso.com
        licenses: {add: [SPE_E3]}
      - user: dave@contoso.com
        licenses: {add: [SPE_E3, POWER_BI_STANDARD]}
      - group: engineering
        licenses: {add: [{sku: EMSPREMIUM, disabled_plans: [INTUNE_A]}]}
"""

RETURN = r"""
changed:
  description: Whether any licence assignment was (or, in check mode, would be) changed.
  returned: always
  type: bool
action:
  description: V(updated) when the direct assignments changed (or would change), else V(unchanged).
  returned: single form
  type: str
  sample: updated
license:
  description: The target and its direct licences after the task (predicted in check mode).
  returned: single form
  type: dict
  contains:
    target_type:
      description: V(user) or V(group).
      type: str
    id:
      description: Object id of the user or group.
      type: str
    display_name:
      description: Display name of the target.
      type: str
    user_principal_name:
      description: The user's principal name.
      type: str
      returned: for users
    usage_location:
      description: The user's usage location.
      type: str
      returned: for users
    unique_name:
      description: The group's unique name, if it has one.
      type: str
      returned: for groups
    licenses:
      description: The direct assignments, sorted by part number.
      type: list
      elements: dict
      contains:
        sku_id:
          description: The SKU id.
          type: str
        sku_part_number:
          description: The SKU part number.
          type: str
          sample: SPE_E3
        sku_display_name:
          description: The product name from Microsoft's table.
          type: str
          sample: Microsoft 365 E3
        disabled_plans:
          description: Names of the service plans turned off.
          type: list
          elements: str
        disabled_plan_ids:
          description: Ids of the service plans turned off.
          type: list
          elements: str
    inherited_licenses:
      description:
        - Licences the user holds through groups (not managed by this module), with their state
          (C(Active), C(ActiveWithError), C(Disabled), C(Error)) and error (C(CountViolation),
          C(MutuallyExclusiveViolation), C(DependencyViolation), ...).
      type: list
      elements: dict
      returned: for users
    member_count:
      description: Number of direct user members of the group.
      type: int
      returned: for groups
    license_processing_state:
      description:
        - The group's licence processing state after an assignment (C(ProcessingComplete), or
          C(QueuedForProcessing) / C(ProcessingInProgress) when it had not finished within the wait).
      type: str
      returned: for groups whose licences this task changed (not in check mode)
      sample: ProcessingComplete
    members_in_error:
      description: Members whose licence from this group is in an error state, with the SKU, state and error.
      type: list
      elements: dict
      returned: for groups
      sample: [{id: 2b1f..., user_principal_name: eve@contoso.com, sku_part_number: SPE_E3, state: Error,
                error: CountViolation}]
diff:
  description: The direct licences before and after, by part number and service plan name.
  returned: when changed and in diff mode
  type: dict
  sample:
    before: {licenses: []}
    after: {licenses: [{sku: SPE_E3, disabled_plans: [EXCHANGE_S_ENTERPRISE, SWAY]}]}
results:
  description: One result per item of O(assignments), in order.
  returned: list form
  type: list
  elements: dict
  contains:
    key:
      description: The item's user or group reference, as given.
      type: str
    action:
      description: V(updated), V(unchanged) or V(failed).
      type: str
    changed:
      description: Whether the item changed (or would change) the tenant.
      type: bool
    license:
      description: The target, as in the single form.
      type: dict
    diff:
      description: The item's changes.
      type: dict
    error:
      description: Why the item failed.
      type: str
summary:
  description: Count of items by action.
  returned: list form
  type: dict
  sample: {updated: 3, unchanged: 12, failed: 0, created: 0, deleted: 0, restored: 0}
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.licenses import (
    LicenseError,
    LicenseRun,
    parse_assignments,
)


def licenses_spec(required=False):
    return dict(type="dict", required=required, options=dict(
        add=dict(type="list", elements="raw"),
        remove=dict(type="list", elements="raw"),
        set=dict(type="list", elements="raw"),
    ))


def argument_spec():
    return dict(
        user=dict(type="str"),
        group=dict(type="str"),
        licenses=licenses_spec(),
        assignments=dict(type="list", elements="dict", options=dict(
            user=dict(type="str"),
            group=dict(type="str"),
            licenses=licenses_spec(required=True),
        )),
        allow_overcommit=dict(type="bool", default=False),
    )


def main_logic(graph):
    params = graph.params
    single = params.get("assignments") is None
    run = LicenseRun(graph.client, check_mode=graph.check_mode, allow_overcommit=params["allow_overcommit"])
    try:
        items = parse_assignments(
            dict(user=params.get("user"), group=params.get("group"), licenses=params.get("licenses")) if single else None,
            params.get("assignments"))
        results = run.run(items)
    except LicenseError as error:
        graph.fail(str(error))
    for warning in run.warnings:
        graph.module.warn(warning)
    return graph.finish(results, "license", single=single)


def main():
    graph = GraphModule(
        argument_spec(),
        list_results=True,
        mutually_exclusive=[("user", "group", "assignments"), ("licenses", "assignments")],
        required_one_of=[("user", "group", "assignments")],
        required_by=dict(user="licenses", group="licenses"),
    )
    graph.run(main_logic)


if __name__ == "__main__":
    main()
