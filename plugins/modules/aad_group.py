#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aad_group
short_description: Manage Microsoft Entra security, Microsoft 365 and dynamic groups, their members and owners
version_added: 1.0.0
description:
  - Create, update, restore and delete cloud groups through Microsoft Graph v1.0 - security groups,
    Microsoft 365 groups and groups with dynamic membership - and manage their members and owners.
  - A group is found by O(unique_name) (Graph's C(uniqueName), set once at creation) when given,
    else by O(display_name); two groups with the same display name and no unique name is an error that
    lists their ids. O(id) finds a group by its object id.
  - Manage one group with the options at the top level, or many with O(groups). The list form reads
    the tenant's groups once and writes with JSON batching; a failed item never stops the others.
  - A dynamic membership rule is checked before anything is written (the same parser the Graph sandbox
    uses), and an invalid rule fails with the position and the reason.
  - Mail-enabled security groups and distribution lists are read-only through Microsoft Graph; the module
    refuses to change them.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.attributes
  - m365.cloud_identity.graph.list_results
options:
  display_name:
    description:
      - The group's display name (at most 256 characters). Required to create a group.
      - Identifies the group when neither O(unique_name) nor O(id) is given.
    type: str
  unique_name:
    description:
      - Graph's C(uniqueName), an alternate key that can be set only once.
      - When given, the group is found by it. A group found by O(display_name) that has no unique name yet
        gets this one; changing a unique name that is set fails.
      - A new group with a unique name is created by Graph's upsert on that unique name, so
        a retried or concurrent run updates the same group instead of creating a second one. Give groups a
        unique name when runs may overlap.
    type: str
  id:
    description:
      - The group's object id. Finds an existing group (it cannot create one); lets O(display_name) change.
    type: str
  description:
    description:
      - Free text. An empty string clears it.
    type: str
  group_type:
    description:
      - V(security) (Graph C(groupTypes) empty, security enabled, not mail enabled) or V(microsoft365)
        (C(Unified), mail enabled).
      - Used at creation, where it defaults to V(security); a different kind on an existing group fails,
        as Graph cannot convert one.
    type: str
    choices: [security, microsoft365]
  mail_nickname:
    description:
      - 'The mail alias: 1 to 64 ASCII characters; spaces and the characters @ ( ) \ [ ] " ; : . < > , are not allowed.'
      - When omitted at creation it is derived from O(unique_name) or O(display_name).
    type: str
  visibility:
    description:
      - V(Private) or V(Public) on any group. Graph makes a new security group V(Private) and a new
        Microsoft 365 group V(Public) unless told otherwise.
      - V(HiddenMembership) only for Microsoft 365 groups, only at creation; it cannot be set or removed later.
      - Needs O(group_type) in the same item, so that the value is checked against the kind of group
        before any write.
    type: str
    choices: [Public, Private, HiddenMembership]
  security_enabled:
    description:
      - For Microsoft 365 groups, whether the group is also a security principal. Group-based licensing
        needs it (M(m365.cloud_identity.aad_license) refuses a group that is not security-enabled).
      - Security groups are always security-enabled; V(false) on one fails.
    type: bool
  is_assignable_to_role:
    description:
      - Whether Entra roles can be assigned to the group. Set at creation only; a different value on an
        existing group fails rather than being ignored.
      - Needs the C(RoleManagement.ReadWrite.Directory) permission as well, and excludes dynamic membership.
    type: bool
  membership_rule:
    description:
      - A dynamic membership rule, for example C((user.department -eq "Sales") -and (user.accountEnabled -eq true)).
        Giving one makes the group dynamic (of either kind); its members then come from the rule and
        O(members) cannot change them.
      - An empty string turns a dynamic group back into one with assigned members (the current members stay).
      - At most 3,072 characters; validated before any write.
    type: str
  membership_rule_processing_state:
    description:
      - V(On) evaluates the rule; V(Paused) keeps the members computed last. Defaults to V(On) for a new
        dynamic group.
    type: str
    choices: ['On', 'Paused']
  members:
    description:
      - Members to add, remove or set exactly. Each entry is a user (object id, user principal name or mail)
        or a group (object id, unique name or display name) - nested groups included, also groups created by
        the same task.
      - Adds are sent 20 per request, inside JSON batches. Someone adding the same member meanwhile is not an
        error.
      - Graph's nesting rules are checked before anything is written - a Microsoft 365 group cannot be a
        member of another group, and a Microsoft 365 or role-assignable group cannot have groups as members.
    type: dict
    suboptions:
      add:
        description: Members to add if missing.
        type: list
        elements: str
      remove:
        description: Members to remove if present.
        type: list
        elements: str
      set:
        description: The exact members; others are removed. Cannot be combined with O(members.add) or O(members.remove).
        type: list
        elements: str
  owners:
    description:
      - Owners to add, remove or set exactly (users). Owners are added before any is removed, and removing
        the last owner of a Microsoft 365 group fails with a clear message.
    type: dict
    suboptions:
      add:
        description: Owners to add if missing.
        type: list
        elements: str
      remove:
        description: Owners to remove if present.
        type: list
        elements: str
      set:
        description: The exact owners. Cannot be combined with O(owners.add) or O(owners.remove).
        type: list
        elements: str
  state:
    description:
      - V(present) creates or updates the group; a Microsoft 365 group found in deleted items is restored
        rather than created again.
      - V(absent) deletes it. Microsoft 365 groups go to deleted items (30 days); security groups are
        deleted for good, so deleting one that has members needs O(force).
      - In the list form it is the default of every item.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Allow deleting a security group that has members (it cannot be restored). Default of every item in
        the list form.
    type: bool
    default: false
  permanent:
    description:
      - With O(state=absent), also purge a Microsoft 365 group from deleted items. Default of every item in
        the list form.
    type: bool
    default: false
  groups:
    description:
      - Many groups at once, each with the options above (O(groups[].state), O(groups[].force) and
        O(groups[].permanent) default to the top-level values).
      - Mutually exclusive with the single-group options.
    type: list
    elements: dict
    suboptions:
      display_name:
        description: See O(display_name).
        type: str
      unique_name:
        description: See O(unique_name).
        type: str
      id:
        description: See O(id).
        type: str
      description:
        description: See O(description).
        type: str
      group_type:
        description: See O(group_type).
        type: str
        choices: [security, microsoft365]
      mail_nickname:
        description: See O(mail_nickname).
        type: str
      visibility:
        description: See O(visibility).
        type: str
        choices: [Public, Private, HiddenMembership]
      security_enabled:
        description: See O(security_enabled).
        type: bool
      is_assignable_to_role:
        description: See O(is_assignable_to_role).
        type: bool
      membership_rule:
        description: See O(membership_rule).
        type: str
      membership_rule_processing_state:
        description: See O(membership_rule_processing_state).
        type: str
        choices: ['On', 'Paused']
      members:
        description: See O(members).
        type: dict
        suboptions:
          add:
            description: Members to add if missing.
            type: list
            elements: str
          remove:
            description: Members to remove if present.
            type: list
            elements: str
          set:
            description: The exact members.
            type: list
            elements: str
      owners:
        description: See O(owners).
        type: dict
        suboptions:
          add:
            description: Owners to add if missing.
            type: list
            elements: str
          remove:
            description: Owners to remove if present.
            type: list
            elements: str
          set:
            description: The exact owners.
            type: list
            elements: str
      state:
        description: See O(state).
        type: str
        choices: [present, absent]
      force:
        description: See O(force).
        type: bool
      permanent:
        description: See O(permanent).
        type: bool
notes:
  - In check mode nothing is written; for a new or changed O(membership_rule) the result has
    RV(membership_preview), the users the rule would select now.
  - With C(--diff), members and owners appear by name in the before and after lists.
  - Permissions (application) - C(Group.ReadWrite.All) (or C(Group.Create) plus C(Group.Read.All) plus
    C(GroupMember.ReadWrite.All), which cannot update or delete groups),
    C(User.Read.All) to resolve users, and C(RoleManagement.ReadWrite.Directory) for role-assignable groups.
seealso:
  - module: m365.cloud_identity.aad_group_info
  - name: Dynamic membership rules
    description: Microsoft Entra's rule syntax (operators, properties, quoting).
    link: https://learn.microsoft.com/entra/identity/users/groups-dynamic-membership
"""

EXAMPLES = r"""
- name: A security group with members, one of them a nested group
  m365.cloud_identity.aad_group:
    display_name: Finance Team
    unique_name: finance-team
    description: Everyone in finance
    members:
      add:
        - alice@contoso.com
        - finance-contractors      # a group, by unique name
    owners:
      set:
        - ada.admin@contoso.com

- name: A Microsoft 365 group, private
  m365.cloud_identity.aad_group:
    display_name: Project Falcon
    group_type: microsoft365
    visibility: Private
    owners:
      add: [ada.admin@contoso.com]

- name: Preview who a dynamic rule would select (check mode)
  m365.cloud_identity.aad_group:
    display_name: All Sales
    membership_rule: '(user.department -eq "Sales") -and (user.accountEnabled -eq true)'
  check_mode: true
  register: preview

- name: Show the preview
  ansible.builtin.debug:
    msg: "{{ preview.membership_preview.count }} users: {{ preview.membership_preview.users }}"

- name: Exactly these members
  m365.cloud_identity.aad_group:
    unique_name: finance-team
    members:
      set: "{{ finance_users }}"

- name: Several groups in one task (one read, batched writes)
  m365.cloud_identity.aad_group:
    groups:
      - display_name: Sales EMEA
        members: {add: [mia.marketing@contoso.com]}
      - display_name: Sales
        members: {add: [Sales EMEA]}
      - display_name: Old Team
        state: absent
        force: true

- name: Delete a Microsoft 365 group and purge it from deleted items
  m365.cloud_identity.aad_group:
    display_name: Project Falcon
    state: absent
    permanent: true
"""

RETURN = r"""
group:
  description: The group after the task, in this module's option names (single form; null once deleted).
  returned: success, single form
  type: dict
  sample:
    id: 5f2c0e3a-1b2c-4d5e-8f90-123456789abc
    display_name: Finance Team
    unique_name: finance-team
    description: Everyone in finance
    group_type: security
    mail_nickname: finance-team
    visibility: Private
    security_enabled: true
    is_assignable_to_role: false
    membership_rule: null
    membership_rule_processing_state: null
action:
  description: What was (or in check mode would be) done.
  returned: single form
  type: str
  sample: created
diff:
  description: Attributes that changed, before and after; members and owners by name.
  returned: single form
  type: dict
members_added:
  description: Members added (users by UPN, groups by unique name or display name).
  returned: when members change
  type: list
  elements: str
members_removed:
  description: Members removed.
  returned: when members change
  type: list
  elements: str
owners_added:
  description: Owners added.
  returned: when owners change
  type: list
  elements: str
owners_removed:
  description: Owners removed.
  returned: when owners change
  type: list
  elements: str
membership_preview:
  description:
    - In check mode, for a new or changed dynamic rule, the current users the rule selects (from one list read).
  returned: check mode with membership_rule
  type: dict
  contains:
    count:
      description: How many users match.
      type: int
    users:
      description: Their user principal names, sorted, at most 50.
      type: list
      elements: str
    truncated:
      description: Whether C(users) was cut at 50.
      type: bool
results:
  description: One entry per item of O(groups), with C(key), C(action), C(changed), C(group), C(diff), C(error).
  returned: list form
  type: list
  elements: dict
summary:
  description: Counts of items by action (created, updated, restored, unchanged, deleted, failed).
  returned: list form
  type: dict
  sample: {created: 1, updated: 0, restored: 0, unchanged: 2, deleted: 0, failed: 0}
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.groups import GroupManager

RELATION_SPEC = dict(
    add=dict(type="list", elements="str"),
    remove=dict(type="list", elements="str"),
    set=dict(type="list", elements="str"),
)

GROUP_OPTIONS = dict(
    display_name=dict(type="str"),
    unique_name=dict(type="str"),
    id=dict(type="str"),
    description=dict(type="str"),
    group_type=dict(type="str", choices=["security", "microsoft365"]),
    mail_nickname=dict(type="str"),
    visibility=dict(type="str", choices=["Public", "Private", "HiddenMembership"]),
    security_enabled=dict(type="bool"),
    is_assignable_to_role=dict(type="bool"),
    membership_rule=dict(type="str"),
    membership_rule_processing_state=dict(type="str", choices=["On", "Paused"]),
    members=dict(type="dict", options=RELATION_SPEC),
    owners=dict(type="dict", options=RELATION_SPEC),
)
# Options that, in the list form, default to the top-level value.
INHERITED = ("state", "force", "permanent")


def item_spec():
    spec = dict(GROUP_OPTIONS)
    spec.update(state=dict(type="str", choices=["present", "absent"]), force=dict(type="bool"),
                permanent=dict(type="bool"))
    return spec


def argument_spec():
    spec = dict(GROUP_OPTIONS)
    spec.update(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        force=dict(type="bool", default=False),
        permanent=dict(type="bool", default=False),
        groups=dict(type="list", elements="dict", options=item_spec()),
    )
    return spec


def item_specs(params):
    """The items to manage: the single form is a list of one."""
    if params.get("groups") is None:
        return [dict((name, params.get(name)) for name in item_spec())], True
    items = []
    for item in params["groups"]:
        item = dict(item)
        for name in INHERITED:
            if item.get(name) is None:
                item[name] = params[name]
        items.append(item)
    return items, False


def run(module):
    specs, single = item_specs(module.params)
    results = GroupManager(module.client, check_mode=module.check_mode).run(specs)
    return module.finish(results, "group", single)


def main():
    module = GraphModule(
        argument_spec=argument_spec(),
        list_results=True,
        mutually_exclusive=[("groups", name) for name in GROUP_OPTIONS],
        required_one_of=[("display_name", "unique_name", "id", "groups")],
    )
    module.run(run)


if __name__ == "__main__":
    main()
