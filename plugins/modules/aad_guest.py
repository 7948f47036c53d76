#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aad_guest
short_description: Invite B2B guests to a Microsoft Entra tenant, idempotently
version_added: 1.0.0
description:
  - Invites people from outside the organization as B2B guests (Microsoft Graph C(POST /invitations)),
    keeps the guest account's directory attributes, removes guests and restores removed ones.
  - A guest is identified by the e-mail address it was invited with. The module finds it through the
    C(mail) and C(otherMails) properties of the tenant's C(userType eq 'Guest') users, ignoring case.
  - A guest who was already invited is never invited again unless O(resend) or O(reset_redemption)
    asks for it; only its attributes are updated. So a task that invites a guest can run every day.
  - Manage one guest with O(email), or many with O(guests). In the list form the tenant is read once
    (one list of guests, plus the deleted users when a guest is missing), each invitation is one request
    of a JSON C($batch) (up to 20 a request), and attribute updates, removals and restores are batched too.
  - Every item is checked before anything is written; a bad item (an invalid address, an address in one
    of the tenant's own verified domains, a redirect URL that is not C(https)) fails the task with no change
    made.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.attributes
  - m365.cloud_identity.graph.list_results
options:
  email:
    description:
      - The e-mail address to invite, and the key the guest is found by.
      - Mutually exclusive with O(guests); one of them is required.
      - Must not be in one of the tenant's verified domains (people there are members; see M(m365.cloud_identity.aad_user)).
    type: str
  guests:
    description:
      - Several guests, each a dictionary with the options of a single guest (O(guests[].email) is required).
      - Options given at the top level of the task (other than O(email)) are defaults for every item.
    type: list
    elements: dict
    suboptions:
      email:
        description: The address to invite; see O(email).
        type: str
        required: true
      state:
        description: See O(state).
        type: str
        choices: [present, absent]
      permanent:
        description: See O(permanent).
        type: bool
      display_name:
        description: See O(display_name).
        type: str
      redirect_url:
        description: See O(redirect_url).
        type: str
      send_invitation_message:
        description: See O(send_invitation_message).
        type: bool
      message_body:
        description: See O(message_body).
        type: str
      message_language:
        description: See O(message_language).
        type: str
      cc_recipient:
        description: See O(cc_recipient).
        type: str
      invited_user_type:
        description: See O(invited_user_type).
        type: str
        choices: [guest, member]
      resend:
        description: See O(resend).
        type: bool
      reset_redemption:
        description: See O(reset_redemption).
        type: bool
      given_name:
        description: See O(given_name).
        type: str
      surname:
        description: See O(surname).
        type: str
      department:
        description: See O(department).
        type: str
      company_name:
        description: See O(company_name).
        type: str
      job_title:
        description: See O(job_title).
        type: str
      office_location:
        description: See O(office_location).
        type: str
      usage_location:
        description: See O(usage_location).
        type: str
      mobile_phone:
        description: See O(mobile_phone).
        type: str
      business_phones:
        description: See O(business_phones).
        type: list
        elements: str
      street_address:
        description: See O(street_address).
        type: str
      city:
        description: See O(city).
        type: str
      state_province:
        description: See O(state_province).
        type: str
      postal_code:
        description: See O(postal_code).
        type: str
      country:
        description: See O(country).
        type: str
      employee_id:
        description: See O(employee_id).
        type: str
      employee_type:
        description: See O(employee_type).
        type: str
      preferred_language:
        description: See O(preferred_language).
        type: str
      fax_number:
        description: See O(fax_number).
        type: str
      employee_hire_date:
        description: See O(employee_hire_date).
        type: str
      employee_org_data:
        description: See O(employee_org_data).
        type: dict
        suboptions:
          division:
            description: See O(employee_org_data.division).
            type: str
          cost_center:
            description: See O(employee_org_data.cost_center).
            type: str
      age_group:
        description: See O(age_group).
        type: str
      consent_provided_for_minor:
        description: See O(consent_provided_for_minor).
        type: str
      sponsors:
        description: See O(sponsors).
        type: dict
        suboptions:
          add:
            description: See O(sponsors.add).
            type: list
            elements: str
          remove:
            description: See O(sponsors.remove).
            type: list
            elements: str
          set:
            description: See O(sponsors.set).
            type: list
            elements: str
  state:
    description:
      - V(present) invites the guest when the tenant has no guest with this address, and otherwise updates
        its attributes. A guest found among the deleted users (removed less than 30 days ago) is restored,
        not invited again.
      - V(absent) removes the guest. It is a soft delete; Microsoft Entra keeps the guest 30 days, and V(present)
        restores it.
    type: str
    choices: [present, absent]
    default: present
  permanent:
    description:
      - With O(state=absent), also delete the guest for good (it cannot be restored), including a guest
        that is already among the deleted users.
    type: bool
    default: false
  display_name:
    description:
      - The guest's display name, sent with the invitation and kept afterwards.
      - Without it Microsoft Entra names a new guest after the local part of the address.
    type: str
  redirect_url:
    description:
      - Where the guest lands after redeeming the invitation. Must be an C(https) URL.
    type: str
    default: https://myapps.microsoft.com
  send_invitation_message:
    description:
      - Whether Microsoft sends the invitation e-mail. Without it, hand the returned C(redeem_url) to the guest yourself.
    type: bool
    default: false
  message_body:
    description:
      - A personal message added to the invitation e-mail.
    type: str
  message_language:
    description:
      - The language of the invitation e-mail, as a locale such as V(en-US) or V(fr-FR).
    type: str
  cc_recipient:
    description:
      - An address that receives a copy of the invitation e-mail (Microsoft Graph accepts one).
    type: str
  invited_user_type:
    description:
      - V(guest) (the default for new invitations) or V(member) for a B2B member with the rights of an employee.
      - When given, it is also kept on an existing guest (its C(userType) is changed to match).
    type: str
    choices: [guest, member]
  resend:
    description:
      - Send the invitation again to a guest who has not redeemed it yet (C(externalUserState) V(PendingAcceptance)).
      - The guest keeps its account; a guest who already accepted is left alone (see O(reset_redemption)).
      - Every run with O(resend=true) sends a new invitation while the guest is pending, so use it in a
        one-off task, not in a tenant definition.
    type: bool
    default: false
  reset_redemption:
    description:
      - Make a guest who accepted its invitation redeem a new one (for example after the person's
        account at home changed). The guest keeps its object id, group memberships and app assignments.
      - Applies only when the guest's state is V(Accepted), so a rerun does not reset it again.
      - Mutually exclusive with O(resend).
    type: bool
    default: false
  given_name:
    description: The guest's first name.
    type: str
  surname:
    description: The guest's last name.
    type: str
  department:
    description: The guest's department.
    type: str
  company_name:
    description: The company the guest works for.
    type: str
  job_title:
    description: The guest's job title.
    type: str
  office_location:
    description: The guest's office.
    type: str
  usage_location:
    description:
      - Two-letter ISO 3166 country code; needed before a licence can be assigned to the guest.
    type: str
  mobile_phone:
    description: The guest's mobile phone number.
    type: str
  business_phones:
    description: The guest's business phone numbers (Microsoft Graph keeps one).
    type: list
    elements: str
  street_address:
    description: Street address.
    type: str
  city:
    description: City.
    type: str
  state_province:
    description: State or province (Graph's C(state) property).
    type: str
  postal_code:
    description: Postal code.
    type: str
  country:
    description: Country or region.
    type: str
  employee_id:
    description: An identifier the organization gives the guest.
    type: str
  employee_type:
    description: The kind of worker, for example V(Contractor) or V(Vendor).
    type: str
  preferred_language:
    description: The guest's preferred language, such as V(en-US).
    type: str
  fax_number:
    description: The guest's fax number.
    type: str
  employee_hire_date:
    description:
      - When the guest starts working with the organization, in ISO 8601 (V(2024-05-01) or
        V(2024-05-01T09:00:00+02:00)); compared in Graph's UTC form. See
        O(m365.cloud_identity.aad_user#module:employee_hire_date).
    type: str
  employee_org_data:
    description:
      - The guest's division and cost center (Graph's C(employeeOrgData)). A key left out keeps its value;
        V("") clears it.
    type: dict
    suboptions:
      division:
        description: The division.
        type: str
      cost_center:
        description: The cost center.
        type: str
  age_group:
    description: V(Minor), V(NotAdult) or V(Adult) (any case); V("") clears it.
    type: str
  consent_provided_for_minor:
    description: V(Granted), V(Denied) or V(NotRequired) (any case); V("") clears it.
    type: str
  sponsors:
    description:
      - The users and groups responsible for the guest (Graph's C(sponsors)), by user principal name, mail
        or object id for users and unique name, display name or object id for groups.
      - Applied after the invitation, so a new guest gets its sponsors in the same task.
    type: dict
    suboptions:
      add:
        description: Sponsors the guest must have.
        type: list
        elements: str
      remove:
        description: Sponsors the guest must not have.
        type: list
        elements: str
      set:
        description:
          - The exact sponsors of the guest; others are removed. V([]) removes every sponsor.
          - Cannot be combined with O(sponsors.add) or O(sponsors.remove).
        type: list
        elements: str
notes:
  - "Permissions: C(User.ReadWrite.All) to invite (it includes C(User.Invite.All)), update, remove and restore
    guests, to read the deleted users and to manage O(sponsors), and C(Domain.Read.All) (or C(Organization.Read.All))
    to read the verified domains; C(User.Read.All) and C(Group.Read.All) (or C(Directory.Read.All)) to resolve
    O(sponsors)."
  - Guests have no O(m365.cloud_identity.aad_user#module:mail) option (Graph keeps the invited address there) and no
    O(m365.cloud_identity.aad_user#module:employee_leave_date_time) option.
  - Attributes left out of a task are left as they are; an empty string clears one.
  - Invitations go through JSON batching like every other write. Microsoft Graph has no bulk invitation
    call, but C(POST /invitations) is an ordinary v1.0 request and runs as an item of C($batch); each
    invitation is still one operation, and one failing invitation does not stop the others.
  - Graph answers an invitation with the new guest's id only; the module reads the guest once after
    inviting it to return its user principal name.
seealso:
  - module: m365.cloud_identity.aad_guest_info
  - module: m365.cloud_identity.aad_user
  - name: Microsoft Graph invitation resource
    description: The invitation manager API the module calls.
    link: https://learn.microsoft.com/graph/api/resources/invitation
"""

EXAMPLES = r"""
- name: Invite a partner as a guest and keep a few attributes
  m365.cloud_identity.aad_guest:
    email: ann@fabrikam.com
    display_name: Ann Fabrikam
    company_name: Fabrikam
    department: Logistics
    usage_location: FR
    redirect_url: https://myapps.microsoft.com
    send_invitation_message: true
    message_body: Welcome to the Contoso supply-chain workspace.
  register: ann

- name: Give the guest the redeem link when no e-mail was sent
  ansible.builtin.debug:
    msg: "{{ ann.guest.redeem_url }}"
  when: ann.action == 'invited'

- name: Invite several guests at once; top-level options are defaults for every item
  m365.cloud_identity.aad_guest:
    redirect_url: https://contoso.sharepoint.com/sites/partners
    company_name: Tailspin Toys
    guests:
      - email: bo@tailspintoys.com
        display_name: Bo
      - email: cy@tailspintoys.com
        display_name: Cy
        department: Design

- name: A contractor with a sponsor and HR data
  m365.cloud_identity.aad_guest:
    email: dee@tailspintoys.com
    display_name: Dee
    employee_hire_date: "2024-09-01"
    employee_org_data:
      cost_center: CC-7700
    sponsors:
      set: [megan.bowen@contoso.com, Partner managers]

- name: Remind a guest who has not accepted yet
  m365.cloud_identity.aad_guest:
    email: bo@tailspintoys.com
    resend: true
    send_invitation_message: true

- name: Make a guest redeem again after their home account changed
  m365.cloud_identity.aad_guest:
    email: cy@tailspintoys.com
    reset_redemption: true
    send_invitation_message: true

- name: Remove a guest (restorable for 30 days by running with state present)
  m365.cloud_identity.aad_guest:
    email: bo@tailspintoys.com
    state: absent
"""

RETURN = r"""
guest:
  description:
    - The guest after the task (in check mode, as it would be). Returned by the single form (O(email)).
    - In check mode a guest that would be invited has no C(id) yet.
  returned: success, single form
  type: dict
  contains:
    id:
      description: The guest user's object id.
      type: str
      sample: 6b7a2c0e-0f3d-4a51-9cde-1a2b3c4d5e6f
    email:
      description: The invited address (the key).
      type: str
      sample: ann@fabrikam.com
    mail:
      description: The guest's C(mail) property.
      type: str
    user_principal_name:
      description: The guest's user principal name (C(local_domain#EXT#@tenant.onmicrosoft.com)).
      type: str
      sample: ann_fabrikam.com#EXT#@contoso.onmicrosoft.com
    user_type:
      description: V(Guest), or V(Member) for a B2B member.
      type: str
    external_user_state:
      description: V(PendingAcceptance) until the guest redeems the invitation, then V(Accepted).
      type: str
      sample: PendingAcceptance
    external_user_state_change_date_time:
      description: When C(external_user_state) last changed.
      type: str
    redeem_url:
      description: The URL the guest opens to redeem the invitation. Only when an invitation was sent by this task.
      type: str
      returned: when an invitation was sent
      sample: https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f...
    display_name:
      description: The display name.
      type: str
    department:
      description: The department, and likewise every other attribute the guest has (C(job_title), C(company_name), ...).
      type: str
action:
  description:
    - What the task did. V(invited) (a new guest, or an invitation sent again with O(resend) or O(reset_redemption)),
      V(updated), V(restored), V(deleted) or V(unchanged).
  returned: single form
  type: str
  sample: invited
diff:
  description: The attributes that changed, before and after, in option names.
  returned: when something changed
  type: dict
results:
  description: One entry per item of O(guests), in order.
  returned: list form
  type: list
  elements: dict
  contains:
    key:
      description: The item's e-mail address.
      type: str
    action:
      description: As RV(action) of the single form, or V(failed).
      type: str
    changed:
      description: Whether the item changed (or would change) the tenant.
      type: bool
    guest:
      description: The guest, as in the single form.
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
  sample: {invited: 2, updated: 1, restored: 0, unchanged: 7, deleted: 0, failed: 0, created: 0}
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.hr_attributes import org_data_argument_spec
from ansible_collections.m365.cloud_identity.plugins.module_utils.invitations import (
    ATTRIBUTE_OPTIONS,
    DEFAULT_REDIRECT_URL,
    GuestInputError,
    manage_guests,
)

# Defaults of the task-level options; list items without a value take the task's.
TASK_DEFAULTS = dict(
    state="present",
    permanent=False,
    redirect_url=DEFAULT_REDIRECT_URL,
    send_invitation_message=False,
    resend=False,
    reset_redemption=False,
)


def guest_options():
    """The options of one guest, without defaults (so list items can inherit the top level's)."""
    options = dict(
        email=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"]),
        permanent=dict(type="bool"),
        display_name=dict(type="str"),
        redirect_url=dict(type="str"),
        send_invitation_message=dict(type="bool"),
        message_body=dict(type="str"),
        message_language=dict(type="str"),
        cc_recipient=dict(type="str"),
        invited_user_type=dict(type="str", choices=["guest", "member"]),
        resend=dict(type="bool"),
        reset_redemption=dict(type="bool"),
    )
    for option in ATTRIBUTE_OPTIONS:
        if option not in options:
            options[option] = dict(type="str")
    options["business_phones"] = dict(type="list", elements="str")
    options["employee_org_data"] = org_data_argument_spec()
    options["sponsors"] = dict(type="dict", options=dict(
        add=dict(type="list", elements="str"),
        remove=dict(type="list", elements="str"),
        set=dict(type="list", elements="str"),
    ))
    return options


def argument_spec():
    spec = guest_options()
    for name, default in TASK_DEFAULTS.items():
        spec[name]["default"] = default
    item_options = guest_options()
    item_options["email"] = dict(type="str", required=True)
    spec["guests"] = dict(type="list", elements="dict", options=item_options)
    return spec


def item_specs(params):
    """Every item as a full option dict: item value, else the task's value, else the default."""
    names = list(guest_options())
    if params.get("guests") is None:
        items = [dict((name, params.get(name)) for name in names)]
    else:
        items = []
        for item in params["guests"]:
            merged = dict((name, item.get(name) if item.get(name) is not None else params.get(name))
                          for name in names if name != "email")
            merged["email"] = item["email"]
            items.append(merged)
    for item in items:
        item["email"] = (item["email"] or "").strip()
    return items


def main_logic(graph):
    specs = item_specs(graph.params)
    try:
        results = manage_guests(graph.client, specs, graph.check_mode)
    except GuestInputError as error:
        graph.fail("Invalid guest input, nothing was changed: %s" % error, errors=error.errors)
    result = graph.finish(results, "guest", single=graph.params.get("guests") is None)
    if "summary" in result:
        result["summary"].setdefault("invited", 0)
    return result


def main():
    graph = GraphModule(
        argument_spec(),
        list_results=True,
        mutually_exclusive=[("email", "guests")],
        required_one_of=[("email", "guests")],
    )
    graph.run(main_logic)


if __name__ == "__main__":
    main()
