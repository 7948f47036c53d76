#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aad_user_info
short_description: Read user accounts of a Microsoft Entra tenant
version_added: 1.0.0
description:
  - Read one user by user principal name or object id, the users matching an OData filter, or every
    user of the tenant, through Microsoft Graph v1.0.
  - Returns the users in the option names of M(m365.cloud_identity.aad_user), so the output can be fed
    back to it (for example to export a tenant to a YAML spec).
  - Reads only the properties M(m365.cloud_identity.aad_user) manages (C($select)), 999 users a page.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
notes:
  - "Permissions: C(User.Read.All); C(GroupMember.Read.All) for O(include=groups);
    C(Organization.Read.All) for O(include=licenses); C(User-LifeCycleInfo.Read.All) for
    O(include=employee_leave_date_time)."
options:
  user_principal_name:
    description:
      - Read the user with this user principal name. RV(users) is empty when there is none.
      - Mutually exclusive with O(id) and O(filter).
    type: str
    aliases: [upn]
  id:
    description:
      - Read the user with this object id. RV(users) is empty when there is none.
      - Mutually exclusive with O(user_principal_name) and O(filter).
    type: str
  filter:
    description:
      - An OData C($filter) on users, for example V(department eq 'Sales') or
        V(startswith(userPrincipalName,'adele')).
      - The query is sent as an advanced query (C(ConsistencyLevel=eventual) with C($count=true)),
        so operators such as C(endsWith), C(ne) and C(not) work too.
      - Without O(user_principal_name), O(id) or O(filter), every user of the tenant is read.
    type: str
  include:
    description:
      - Related data to read as well, with one extra request per 20 users for V(manager) and V(groups).
      - V(manager) adds RV(users[].manager), the manager's user principal name.
      - V(groups) adds RV(users[].groups), the assigned groups the user is a direct member of, under the
        key C(set), the form O(m365.cloud_identity.aad_user#module:groups) takes.
      - V(licenses) adds RV(users[].licenses), the user's licences (direct and inherited from groups).
        It is not an option of M(m365.cloud_identity.aad_user); remove it before feeding a user back.
      - V(employee_leave_date_time) adds RV(users[].employee_leave_date_time). Reading it needs the
        C(User-LifeCycleInfo.Read.All) application permission, so it is read only when asked for.
    type: list
    elements: str
    choices: [manager, groups, licenses, employee_leave_date_time]
    default: []
seealso:
  - module: m365.cloud_identity.aad_user
  - name: List users (Microsoft Graph)
    description: The query syntax of O(filter).
    link: https://learn.microsoft.com/graph/api/user-list
"""

EXAMPLES = r"""
- name: Read one user
  m365.cloud_identity.aad_user_info:
    user_principal_name: adele.vance@contoso.com
    include: [manager, groups]
  register: adele

- name: Read the Sales department
  m365.cloud_identity.aad_user_info:
    filter: "department eq 'Sales'"
  register: sales

- name: Export every user as a list aad_user takes
  m365.cloud_identity.aad_user_info:
    include: [manager, groups]
  register: everyone

- name: Re-apply the export (for example, after editing it); unchanged users are not written
  m365.cloud_identity.aad_user:
    users: "{{ everyone.users }}"
"""

RETURN = r"""
users:
  description:
    - The users found, in the option names of M(m365.cloud_identity.aad_user).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The object id.
      type: str
    user_principal_name:
      description: The user principal name.
      type: str
    display_name:
      description: The display name.
      type: str
    account_enabled:
      description: Whether the account can sign in.
      type: bool
    usage_location:
      description: The usage location (ISO 3166-1 alpha-2).
      type: str
    business_phones:
      description: The business phone numbers.
      type: list
      elements: str
    other_mails:
      description: Additional e-mail addresses.
      type: list
      elements: str
    password_policies:
      description: The password policies.
      type: list
      elements: str
    on_premises_extension_attributes:
      description: The extension attributes that have a value, keyed V(extension_attribute1) to V(extension_attribute15).
      type: dict
    mail:
      description: The SMTP address.
      type: str
    fax_number:
      description: The fax number.
      type: str
    employee_hire_date:
      description: The hire date, in Graph's UTC form such as V(2024-05-01T00:00:00Z).
      type: str
    employee_leave_date_time:
      description: The leave date and time, in Graph's UTC form.
      type: str
      returned: when O(include) has V(employee_leave_date_time)
    employee_org_data:
      description: The division and cost center (V(null) when unset).
      type: dict
      sample: {division: Retail, cost_center: CC-1234}
    age_group:
      description: The age group (V(Minor), V(NotAdult) or V(Adult)).
      type: str
    consent_provided_for_minor:
      description: Whether consent was obtained for a minor (V(Granted), V(Denied) or V(NotRequired)).
      type: str
    manager:
      description: The manager's user principal name, V(null) when the user has none.
      type: str
      returned: when O(include) has V(manager)
    groups:
      description: The assigned groups the user is a direct member of (unique name, else display name).
      type: dict
      returned: when O(include) has V(groups)
      sample: {set: [Sales, Retail staff]}
    licenses:
      description: The user's licences.
      type: list
      elements: dict
      returned: when O(include) has V(licenses)
      contains:
        sku_id:
          description: The SKU id.
          type: str
        sku_part_number:
          description: The SKU's part number, for example V(ENTERPRISEPACK).
          type: str
        disabled_plans:
          description: The ids of the service plans turned off.
          type: list
          elements: str
        assigned_by_group:
          description: The id of the group the licence is inherited from; V(null) for a direct assignment.
          type: str
        state:
          description: The assignment state, for example V(Active) or V(Error).
          type: str
  sample:
    - id: 5f1c7a3e-63f2-4ac9-9a3b-2c1d0e9f8a71
      user_principal_name: adele.vance@contoso.com
      display_name: Adele Vance
      given_name: Adele
      surname: Vance
      mail_nickname: adele.vance
      account_enabled: true
      department: Retail
      usage_location: US
      business_phones: []
      other_mails: []
      password_policies: []
      on_premises_extension_attributes: {}
      manager: megan.bowen@contoso.com
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import (
    LEAVE_DATE_PROPERTY,
    MEMBERSHIP_SELECT,
    USER_SELECT,
    get_each,
    group_name,
    is_assignable,
    only_groups,
    user_to_options,
)

LICENSE_SELECT = ["assignedLicenses", "licenseAssignmentStates"]


def read_users(client, params, select):
    key = params.get("id") or params.get("user_principal_name")
    if key:
        try:
            return [client.get("/users/%s" % quote_key(key), params={"$select": ",".join(select)})]
        except GraphError as error:
            if error.status == 404:
                return []
            error.context = error.context or "read user %s" % key
            raise
    if params.get("filter"):
        return client.list("/users", select=select, filter=params["filter"], params={"$count": "true"},
                           headers={"ConsistencyLevel": "eventual"})
    return client.list("/users", select=select)


def batch_get(client, users, url_template, what):
    """One GET per user (through $batch, 20 a call); returns {user id: result}."""
    results = get_each(client, [url_template % user["id"] for user in users]) if users else []
    for user, result in zip(users, results):
        if not result.ok and result.status != 404:
            error = result.error
            error.context = "read the %s of user %s" % (what, user.get("userPrincipalName"))
            raise error
    return dict((user["id"], result) for user, result in zip(users, results))


def read_managers(client, users):
    results = batch_get(client, users, "/users/%s/manager?$select=id,userPrincipalName", "manager")
    return dict((uid, r.body.get("userPrincipalName") or r.body.get("id") if r.ok else None)
                for uid, r in results.items())


def read_groups(client, users):
    results = batch_get(client, users, "/users/%%s/memberOf?$select=%s&$top=999"
                        % MEMBERSHIP_SELECT, "groups")
    memberships = {}
    for uid, result in results.items():
        groups = list((result.body or {}).get("value", [])) if result.ok else []
        next_link = (result.body or {}).get("@odata.nextLink") if result.ok else None
        if next_link:
            groups.extend(client.list(next_link, top=None))
        memberships[uid] = sorted(group_name(g) for g in only_groups(groups) if is_assignable(g))
    return memberships


def sku_part_numbers(client):
    return dict((sku["skuId"], sku.get("skuPartNumber"))
                for sku in client.list("/subscribedSkus", select=["skuId", "skuPartNumber"], top=None))


def licenses_of(user, part_numbers):
    states = user.get("licenseAssignmentStates")
    if states is None:
        # Older shape: only assignedLicenses (direct and inherited together).
        states = [dict(lic, assignedByGroup=None, state=None) for lic in user.get("assignedLicenses") or []]
    return [dict(sku_id=state.get("skuId"), sku_part_number=part_numbers.get(state.get("skuId")),
                 disabled_plans=list(state.get("disabledPlans") or []),
                 assigned_by_group=state.get("assignedByGroup"), state=state.get("state"))
            for state in states]


def run_module(graph_module):
    params = graph_module.params
    client = graph_module.client
    include = set(params.get("include") or [])
    select = USER_SELECT + (LICENSE_SELECT if "licenses" in include else [])
    if "employee_leave_date_time" in include:
        select = select + [LEAVE_DATE_PROPERTY]
    found = read_users(client, params, select)
    managers = read_managers(client, found) if "manager" in include else {}
    groups = read_groups(client, found) if "groups" in include else {}
    part_numbers = sku_part_numbers(client) if "licenses" in include and found else {}
    users = []
    for user in found:
        options = user_to_options(user)
        if "manager" in include:
            options["manager"] = managers.get(user["id"])
        if "groups" in include:
            options["groups"] = {"set": groups.get(user["id"], [])}
        if "licenses" in include:
            options["licenses"] = licenses_of(user, part_numbers)
        users.append(options)
    return dict(changed=False, users=users)


def main():
    graph_module = GraphModule(
        dict(
            user_principal_name=dict(type="str", aliases=["upn"]),
            id=dict(type="str"),
            filter=dict(type="str"),
            include=dict(type="list", elements="str", choices=["manager", "groups", "licenses", "employee_leave_date_time"],
                         default=[]),
        ),
        mutually_exclusive=[("user_principal_name", "id", "filter")],
    )
    graph_module.run(run_module)


if __name__ == "__main__":
    main()
