#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_app_assignment
short_description: Give users and groups access to enterprise applications with an app role
version_added: 1.0.0
description:
  - Assigns a user or a security group to an enterprise application (a service principal) with one of the app
    roles the application defines, or removes that assignment (O(state=absent)), through Microsoft Graph
    C(appRoleAssignedTo).
  - This is what the Entra admin centre calls I(Users and groups) of an enterprise application. The assignment
    is what drives automatic provisioning of users into the SaaS application, what the app sees in the
    C(roles) claim, and what Conditional Access and the My Apps portal follow. A role given to a group reaches its
    direct members (members of nested groups are not assigned); dynamic security groups work, so a department
    rule keeps an app's users current by itself.
  - The application is found by display name, application (client) id or service principal object id. A display
    name two service principals share is an error listing their ids.
  - The role is named by its value (what the app sees in the C(roles) claim), display name or id. An application
    that defines no app roles takes the default access role; leave O(role) out for it. An unknown role fails
    before anything is written, naming the roles the application has.
  - Manage one assignment with O(app), O(user) or O(group) and O(role), or many with O(assignments). Each
    application's current assignments are read once per task and the writes are sent as JSON C($batch)
    requests (up to 20 a request).
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.attributes
  - m365.cloud_identity.graph.list_results
options:
  app:
    description:
      - The enterprise application, by display name, application (client) id or service principal object id.
      - Required with O(user) or O(group); mutually exclusive with O(assignments).
    type: str
  user:
    description: The user to assign, by user principal name, object id or mail.
    type: str
  group:
    description:
      - The group to assign, by unique name, object id or display name. It must be security-enabled (a security
        group, dynamic or assigned, or a Microsoft 365 group made security-enabled).
    type: str
  role:
    description:
      - The app role, by value (for example V(Admin)), display name or id.
      - Leave it out for an application that defines no app roles (the default access role).
    type: str
  state:
    description:
      - V(present) assigns, V(absent) removes the assignment. In the list form, the default for items that do
        not set their own.
    type: str
    choices: [present, absent]
    default: present
  assignments:
    description:
      - Several assignments, each with O(assignments[].app), O(assignments[].user) or O(assignments[].group),
        and O(assignments[].role).
      - A failed item (an unknown user, a role the app does not define) does not stop the others; the task fails
        at the end listing every failed item. The same assignment listed twice fails before any write.
    type: list
    elements: dict
    suboptions:
      app:
        description: See O(app).
        type: str
        required: true
      user:
        description: See O(user).
        type: str
      group:
        description: See O(group).
        type: str
      role:
        description: See O(role).
        type: str
      state:
        description: See O(state); defaults to O(state).
        type: str
        choices: [present, absent]
notes:
  - 'Permissions (application): C(AppRoleAssignment.ReadWrite.All) to assign and remove, C(Application.Read.All)
    to find the application and read its assignments, and C(User.Read.All) and C(Group.Read.All) (or their
    C(ReadWrite) forms) to find users and groups.'
  - Assigning groups to applications needs Microsoft Entra ID P1 (or a licence that includes it) on a real tenant.
  - Graph replicates assignments asynchronously; an assignment made moments ago by another task may not be
    listed yet. A create answered "already exists" is taken as done.
seealso:
  - module: m365.cloud_identity.aad_app_assignment_info
  - module: m365.cloud_identity.aad_group
  - name: Grant an appRoleAssignment for a service principal
    description: Microsoft Graph's reference for the call this module makes.
    link: https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto
"""

EXAMPLES = r"""
- name: Everyone in the Sales department (a dynamic group) uses Salesforce as a standard user
  m365.cloud_identity.aad_app_assignment:
    app: Salesforce
    group: sales-everyone
    role: User

- name: Ada administers ServiceNow
  m365.cloud_identity.aad_app_assignment:
    app: ServiceNow
    user: ada.admin@contoso.com
    role: Admin

- name: An app without app roles (default access), by application id
  m365.cloud_identity.aad_app_assignment:
    app: 5e6f7081-92a3-44b5-c6d7-e8f90a1b2c3d
    group: all-staff

- name: Take Salesforce away from a leaver
  m365.cloud_identity.aad_app_assignment:
    app: Salesforce
    user: leaver@contoso.com
    role: User
    state: absent

- name: Many assignments in one task (one read per app, $batch writes)
  m365.cloud_identity.aad_app_assignment:
    assignments:
      - {app: Salesforce, group: sales-everyone, role: User}
      - {app: Salesforce, user: sofia.sales@contoso.com, role: Admin}
      - {app: ServiceNow, group: it-support, role: User}
"""

RETURN = r"""
changed:
  description: Whether any assignment was (or, in check mode, would be) created or removed.
  returned: always
  type: bool
action:
  description: V(created), V(deleted), V(unchanged) or V(failed).
  returned: single form
  type: str
assignment:
  description: The assignment (single form).
  returned: single form, when the app and the principal were found
  type: dict
  contains:
    app:
      description: The application's display name.
      type: str
      sample: Salesforce
    app_id:
      description: The application (client) id.
      type: str
    service_principal_id:
      description: The service principal's object id.
      type: str
    user:
      description: The user's principal name (for a user).
      type: str
    group:
      description: The group's unique name, else display name (for a group).
      type: str
    principal_type:
      description: V(user) or V(group).
      type: str
    principal_id:
      description: The user's or group's object id.
      type: str
    role:
      description: The role's value (null for the default access role).
      type: str
      sample: Admin
    role_id:
      description: The role's id.
      type: str
    assignment_id:
      description: The assignment's id (null when it does not exist, or in check mode before it is made).
      type: str
    created:
      description: When the assignment was made.
      type: str
    state:
      description: V(present) or V(absent) after the task (predicted in check mode).
      type: str
diff:
  description: The assignment before and after, naming the app, the user or group, and the role.
  returned: when changed and in diff mode
  type: dict
  sample:
    before: {}
    after: {app: Salesforce, group: sales-everyone, role: User}
results:
  description: The items of O(assignments) that changed or failed (every item with O(return_unchanged)).
  returned: list form
  type: list
  elements: dict
  contains:
    key:
      description: The item, as C(user|group <reference> -> <app> (<role>)).
      type: str
    action:
      description: V(created), V(deleted), V(unchanged) or V(failed).
      type: str
    changed:
      description: Whether the item changed (or would change) the tenant.
      type: bool
    assignment:
      description: The assignment, as in the single form.
      type: dict
    diff:
      description: The item's change.
      type: dict
    error:
      description: Why the item failed.
      type: str
summary:
  description: Count of items by action.
  returned: list form
  type: dict
  sample: {created: 3, deleted: 0, unchanged: 12, failed: 0, updated: 0, restored: 0, not_attempted: 0}
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.app_assignments import AssignmentRun
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule


def main_logic(graph):
    params = graph.params
    single = params.get("assignments") is None
    if single:
        items = [dict(app=params["app"], user=params["user"], group=params["group"], role=params["role"],
                      state=params["state"])]
    else:
        items = [dict(item, state=item.get("state") or params["state"]) for item in params["assignments"]]
    results = AssignmentRun(graph.client, check_mode=graph.check_mode).run(items)
    return graph.finish(results, "assignment", single=single)


def main():
    graph = GraphModule(
        dict(
            app=dict(type="str"),
            user=dict(type="str"),
            group=dict(type="str"),
            role=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            assignments=dict(type="list", elements="dict", options=dict(
                app=dict(type="str", required=True),
                user=dict(type="str"),
                group=dict(type="str"),
                role=dict(type="str"),
                state=dict(type="str", choices=["present", "absent"]),
            )),
        ),
        list_results=True,
        mutually_exclusive=[("user", "group", "assignments"), ("app", "assignments"), ("role", "assignments")],
        required_one_of=[("user", "group", "assignments")],
        required_by=dict(user="app", group="app"),
    )
    graph.run(main_logic)


if __name__ == "__main__":
    main()
