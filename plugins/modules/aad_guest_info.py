#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_guest_info
short_description: List B2B guests with their invitation state
version_added: 1.0.0
description:
  - Lists the tenant's guest users (C(userType eq 'Guest')) with the state of their invitation
    (C(PendingAcceptance) or C(Accepted)), the domain of the address they were invited with, and how
    many days a pending guest has been waiting to redeem.
  - Filters combine (all must match), which makes clean-up playbooks short, for example every guest
    from one partner still pending after 30 days.
  - One list read of the guests, whatever the filters.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.info_attributes
options:
  email:
    description:
      - Only the guest invited with this address (matched against C(mail) and C(otherMails), ignoring case).
    type: str
  external_user_state:
    description:
      - Only guests in this invitation state.
    type: str
    choices: [PendingAcceptance, Accepted]
  domain:
    description:
      - Only guests invited with an address in one of these domains (for example V(fabrikam.com)), ignoring case.
    type: list
    elements: str
  min_pending_days:
    description:
      - Only guests whose invitation has been pending for at least this many whole days.
      - Implies O(external_user_state=PendingAcceptance).
    type: int
  include_sponsors:
    description:
      - Also read each guest's sponsors (one more request per 20 guests) and return them as
        RV(guests[].sponsors), in the form O(m365.cloud_identity.aad_guest#module:sponsors) takes.
    type: bool
    default: false
notes:
  - "Permissions: C(User.Read.All)."
  - C(pending_days) counts from C(externalUserStateChangeDateTime) (the invitation, or the last redemption
    reset), or from the account's creation when Graph has no change time.
  - B2B members (guests invited with O(m365.cloud_identity.aad_guest#module:invited_user_type=member)) have
    C(userType) C(Member) and are not listed.
seealso:
  - module: m365.cloud_identity.aad_guest
"""

EXAMPLES = r"""
- name: Every guest with its invitation state
  m365.cloud_identity.aad_guest_info:
  register: all_guests

- name: Guests from Fabrikam who have not redeemed their invitation in 30 days
  m365.cloud_identity.aad_guest_info:
    domain: [fabrikam.com]
    min_pending_days: 30
  register: stale

- name: Remove them
  m365.cloud_identity.aad_guest:
    email: "{{ item.email }}"
    state: absent
  loop: "{{ stale.guests }}"
  loop_control:
    label: "{{ item.email }}"

- name: Has Ann accepted?
  m365.cloud_identity.aad_guest_info:
    email: ann@fabrikam.com
  register: ann

- name: Show it
  ansible.builtin.debug:
    msg: "{{ ann.guests[0].external_user_state }}"
  when: ann.guests | length > 0
"""

RETURN = r"""
guests:
  description: The guests that match, sorted by e-mail address.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The guest user's object id.
      type: str
    email:
      description: The address the guest was invited with (its C(mail)).
      type: str
      sample: ann@fabrikam.com
    domain:
      description: The domain of that address, lower case.
      type: str
      sample: fabrikam.com
    display_name:
      description: The display name.
      type: str
    user_principal_name:
      description: The guest's user principal name.
      type: str
      sample: ann_fabrikam.com#EXT#@contoso.onmicrosoft.com
    user_type:
      description: Always V(Guest).
      type: str
    external_user_state:
      description: V(PendingAcceptance) or V(Accepted).
      type: str
    external_user_state_change_date_time:
      description: When the state last changed (ISO 8601, UTC).
      type: str
    created_date_time:
      description: When the guest account was created.
      type: str
    pending_days:
      description: Whole days the invitation has been pending; null once accepted.
      type: int
      sample: 12
    other_mails:
      description: The guest's other addresses.
      type: list
      elements: str
    department:
      description: The department, and likewise every other attribute the guest has (C(company_name), C(job_title), ...).
      type: str
    employee_org_data:
      description: The division and cost center, when the guest has them.
      type: dict
      sample: {division: null, cost_center: CC-7700}
    sponsors:
      description: The guest's sponsors (user principal names of users, unique or display names of groups).
      type: dict
      returned: when O(include_sponsors=true)
      sample: {set: [megan.bowen@contoso.com, Partner managers]}
count:
  description: The number of guests returned.
  returned: always
  type: int
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.invitations import (
    PENDING,
    now_utc,
    read_guests,
    select_guests,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.sponsors import sponsor_names


def main_logic(graph):
    params = graph.params
    state = params["external_user_state"]
    if params["min_pending_days"] is not None:
        if state not in (None, PENDING):
            graph.fail("min_pending_days applies to pending guests; it cannot be combined with "
                       "external_user_state=%s" % state)
        state = PENDING
    guests = select_guests(
        read_guests(graph.client),
        now_utc(),
        email=params["email"],
        external_user_state=state,
        domains=params["domain"],
        min_pending_days=params["min_pending_days"],
    )
    if params["include_sponsors"]:
        names = sponsor_names(graph.client, [guest["id"] for guest in guests])
        for guest in guests:
            guest["sponsors"] = {"set": names[guest["id"]]}
    return dict(changed=False, guests=guests, count=len(guests))


def main():
    graph = GraphModule(dict(
        email=dict(type="str"),
        external_user_state=dict(type="str", choices=["PendingAcceptance", "Accepted"]),
        domain=dict(type="list", elements="str"),
        min_pending_days=dict(type="int"),
        include_sponsors=dict(type="bool", default=False),
    ))
    graph.run(main_logic)


if __name__ == "__main__":
    main()
