#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_app_assignment_info
short_description: List who has access to an enterprise application, or which applications a user or group has
version_added: 1.0.0
description:
  - With O(app), lists the users and groups assigned to an enterprise application (service principal) and
    their app roles, through Microsoft Graph C(appRoleAssignedTo).
  - With O(user) or O(group), lists the applications the user or group is assigned to. For a user, Graph also
    returns the assignments of the groups the user is a direct member of (they show the group as principal).
  - Each assignment comes in M(m365.cloud_identity.aad_app_assignment)'s option names (C(app), C(user) or
    C(group), C(role)), so the output can be fed back to that module (an export).
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
options:
  app:
    description: The enterprise application, by display name, application (client) id or service principal object id.
    type: str
  user:
    description: A user, by user principal name, object id or mail.
    type: str
  group:
    description: A group, by unique name, object id or display name.
    type: str
notes:
  - 'Permissions (application): C(Application.Read.All) for O(app); C(Directory.Read.All) (or
    C(AppRoleAssignment.ReadWrite.All)) for O(user); C(Group.Read.All) for O(group); C(User.Read.All) and
    C(Group.Read.All) to name the users and groups.'
seealso:
  - module: m365.cloud_identity.aad_app_assignment
"""

EXAMPLES = r"""
- name: Who can use Salesforce, and as what
  m365.cloud_identity.aad_app_assignment_info:
    app: Salesforce
  register: salesforce

- name: Which apps Sofia has (directly or through her groups)
  m365.cloud_identity.aad_app_assignment_info:
    user: sofia.sales@contoso.com
"""

RETURN = r"""
assignments:
  description: The assignments, sorted by app, principal type, principal and role.
  returned: always
  type: list
  elements: dict
  sample:
    - {app: Salesforce, app_id: 3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b, service_principal_id: 0b1c...,
       group: sales-everyone, principal_type: group, principal_id: 9a8b..., role: User, role_id: 1d2e...,
       assignment_id: Xx3k..., created: "2026-12-02T06:22:09Z"}
  contains:
    app:
      description: The application's display name.
      type: str
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
    role_id:
      description: The role's id.
      type: str
    assignment_id:
      description: The assignment's id.
      type: str
    created:
      description: When the assignment was made.
      type: str
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.app_assignments import list_assignments
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule


def run(graph):
    params = graph.params
    try:
        found = list_assignments(graph.client, app=params["app"], user=params["user"], group=params["group"])
    except ValueError as error:
        graph.fail(str(error))
    return dict(changed=False, assignments=found)


def main():
    graph = GraphModule(
        dict(app=dict(type="str"), user=dict(type="str"), group=dict(type="str")),
        mutually_exclusive=[("app", "user", "group")],
        required_one_of=[("app", "user", "group")],
    )
    graph.run(run)


if __name__ == "__main__":
    main()
