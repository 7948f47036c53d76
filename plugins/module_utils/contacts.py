# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Organisational contacts for aad_contact_info: read-only (Graph v1.0 has no create for them).

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import quote_key
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import principal_name
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import odata_literal

CONTACT_SELECT = ["id", "displayName", "givenName", "surname", "mail", "companyName", "department", "jobTitle",
                  "proxyAddresses"]
GROUP_SELECT = ["id", "displayName", "uniqueName", "mail"]


def contact_filter(mail=None, display_name=None, extra=None):
    clauses = []
    if mail:
        clauses.append("mail eq %s" % odata_literal(mail))
    if display_name:
        clauses.append("displayName eq %s" % odata_literal(display_name))
    if extra:
        clauses.append("(%s)" % extra)
    return " and ".join(clauses) or None


def read_contacts(client, mail=None, display_name=None, filter_text=None, include_groups=True):
    """The contacts (sorted by display name), each with the groups it is a direct member of."""
    contacts = client.list("/contacts", select=CONTACT_SELECT, filter=contact_filter(mail, display_name, filter_text))
    found = []
    for contact in contacts:
        item = {
            "id": contact["id"],
            "display_name": contact.get("displayName"),
            "given_name": contact.get("givenName"),
            "surname": contact.get("surname"),
            "mail": contact.get("mail"),
            "company_name": contact.get("companyName"),
            "department": contact.get("department"),
            "job_title": contact.get("jobTitle"),
            "proxy_addresses": contact.get("proxyAddresses") or [],
        }
        if include_groups:
            # A type cast would drop non-groups too; memberOf of a contact holds only groups today.
            groups = client.list("/contacts/%s/memberOf" % quote_key(contact["id"]), select=GROUP_SELECT)
            item["groups"] = sorted(principal_name(dict(g, groupTypes=[])) for g in groups
                                    if g.get("@odata.type", "#microsoft.graph.group") == "#microsoft.graph.group")
        found.append(item)
    found.sort(key=lambda c: ((c["display_name"] or "").lower(), c["id"]))
    return found
