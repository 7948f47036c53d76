#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_contact_info
short_description: List the tenant's organisational contacts, with the groups they belong to
version_added: 1.0.0
description:
  - Returns the organisational contacts of the tenant (people outside it with an e-mail address, shown in the
    global address list), through Microsoft Graph C(GET /contacts), with their mail, company, department and
    job title, and the groups each is a direct member of (C(memberOf)).
  - Contacts are read-only here on purpose. Microsoft Graph v1.0 has no call that creates, updates or deletes an
    organisational contact; they are made by Exchange Online (the Exchange admin centre or
    C(New-MailContact)) or synchronised from an on-premises directory. So the collection reports them (for
    audits and exports) and never tries to manage them.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
options:
  mail:
    description: Only the contact with this e-mail address.
    type: str
  display_name:
    description: Only contacts with this display name.
    type: str
  filter:
    description: An OData C($filter) for the contact list, for example C(companyName eq 'Fabrikam').
    type: str
  include_groups:
    description: Read the groups each contact belongs to (one read per contact).
    type: bool
    default: true
notes:
  - 'Permissions (application): C(OrgContact.Read.All), and C(Group.Read.All) for the groups (or
    C(Directory.Read.All) for both).'
seealso:
  - name: orgContact resource type
    description: Microsoft Graph's reference for organisational contacts (read, list, no create in v1.0).
    link: https://learn.microsoft.com/graph/api/resources/orgcontact
"""

EXAMPLES = r"""
- name: Every contact and its groups
  m365.cloud_identity.aad_contact_info:
  register: contacts

- name: Contacts from one partner, without their groups
  m365.cloud_identity.aad_contact_info:
    filter: companyName eq 'Fabrikam'
    include_groups: false
"""

RETURN = r"""
contacts:
  description: The contacts, sorted by display name.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 6f1e..., display_name: Pat Partner, given_name: Pat, surname: Partner, mail: pat.partner@fabrikam.com,
       company_name: Fabrikam, department: null, job_title: Account Manager,
       proxy_addresses: ["SMTP:pat.partner@fabrikam.com"], groups: [Partners]}
  contains:
    id:
      description: The contact's object id.
      type: str
    display_name:
      description: Display name.
      type: str
    given_name:
      description: Given name.
      type: str
    surname:
      description: Surname.
      type: str
    mail:
      description: E-mail address.
      type: str
    company_name:
      description: Company.
      type: str
    department:
      description: Department.
      type: str
    job_title:
      description: Job title.
      type: str
    proxy_addresses:
      description: The contact's e-mail addresses (C(SMTP:) marks the primary one).
      type: list
      elements: str
    groups:
      description: The groups the contact is a direct member of, by unique name, else display name.
      type: list
      elements: str
      returned: when O(include_groups) is true
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.contacts import read_contacts
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule


def run(graph):
    params = graph.params
    contacts = read_contacts(graph.client, mail=params["mail"], display_name=params["display_name"],
                             filter_text=params["filter"], include_groups=params["include_groups"])
    return dict(changed=False, contacts=contacts)


def main():
    graph = GraphModule(dict(
        mail=dict(type="str"),
        display_name=dict(type="str"),
        filter=dict(type="str"),
        include_groups=dict(type="bool", default=True),
    ))
    graph.run(run)


if __name__ == "__main__":
    main()
