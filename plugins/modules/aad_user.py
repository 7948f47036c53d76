#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aad_user
short_description: Manage member user accounts and their passwords in Microsoft Entra ID
version_added: 1.0.0
description:
  - Create, update, restore and delete cloud-only member accounts of a Microsoft 365 tenant
    through Microsoft Graph v1.0.
  - Manage one user with the top-level options, or many with O(users). A list reads the tenant's
    users once and writes through JSON batching, so thousands of users take a few dozen requests.
  - An option left out is left alone. An empty value (V("") or V([])) clears the property.
  - A user with O(state=present) whose user principal name sits in the tenant's deleted items is
    restored (and then updated) rather than created again.
  - Every item is validated before anything is written; an invalid item fails with a message that
    names the option and the valid form, and is never written.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - m365.cloud_identity.graph.attributes
  - m365.cloud_identity.graph.list_results
notes:
  - "Permissions: C(User.ReadWrite.All) (users, manager, deleted items) and C(Domain.Read.All) or
    C(Directory.Read.All) (verified domains; without them the module falls back to the organization's
    verified domains, which C(Organization.Read.All) can read); C(GroupMember.ReadWrite.All) when O(groups)
    is used; C(User-LifeCycleInfo.ReadWrite.All) as well to set O(employee_leave_date_time)."
  - There is no C(show_in_address_list) option on purpose - Microsoft documents Graph's C(showInAddressList) as
    not to be used through Graph (manage it in the Microsoft 365 admin center).
  - Graph never returns a password, so a password is reported as changed only when the module writes it,
    that is on creation, or on every run with O(update_password=always).
  - The O(force_change_password_next_sign_in) options are sent only together with a password.
  - Results, diffs and logs never contain a password, so tasks need no C(no_log) and their failures stay
    visible. When a user is created without O(password), the module generates one and appends it to
    O(password_file); without O(password_file) such an item fails before anything is written.
  - Resetting the password of an existing user (O(update_password=always)) needs more than
    C(User.ReadWrite.All) on a real tenant - the app must also hold the User Administrator Entra role
    (Privileged Authentication Administrator when the user is an administrator). Creating a user with a
    password needs only the permission.
  - Restoring and purging deleted users needs C(User.DeleteRestore.All) (or C(User.ReadWrite.All)).
options:
  user_principal_name:
    description:
      - "The user principal name (sign-in name), V(alias@domain), where the domain is a verified domain
        of the tenant and the alias uses only letters A-Z and a-z, digits and the characters ' . - _ ! # ^ ~"
      - The key of the user. With O(id) given as well, the user is found by O(id) and renamed to this value.
      - Mutually exclusive with O(users).
    type: str
    aliases: [upn]
  id:
    description:
      - The object id of the user. Finds the user by id instead of by O(user_principal_name).
      - Mutually exclusive with O(users).
    type: str
  users:
    description:
      - A list of users to manage in one task, each with the same options as the single form.
      - A top-level option (for example O(state), O(usage_location) or O(update_password)) applies to
        every item that does not set it.
      - Items are independent. A failed item does not stop the others; the task fails at the end and
        lists every failed user and the reason.
    type: list
    elements: dict
    suboptions:
      user_principal_name:
        description: The user principal name. See O(user_principal_name).
        type: str
        aliases: [upn]
      id:
        description: The object id. See O(id).
        type: str
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
      given_name:
        description: See O(given_name).
        type: str
      surname:
        description: See O(surname).
        type: str
      mail_nickname:
        description: See O(mail_nickname).
        type: str
      account_enabled:
        description: See O(account_enabled).
        type: bool
      department:
        description: See O(department).
        type: str
      job_title:
        description: See O(job_title).
        type: str
      company_name:
        description: See O(company_name).
        type: str
      employee_id:
        description: See O(employee_id).
        type: str
      employee_type:
        description: See O(employee_type).
        type: str
      office_location:
        description: See O(office_location).
        type: str
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
      other_mails:
        description: See O(other_mails).
        type: list
        elements: str
      preferred_language:
        description: See O(preferred_language).
        type: str
      mail:
        description: See O(mail).
        type: str
      fax_number:
        description: See O(fax_number).
        type: str
      employee_hire_date:
        description: See O(employee_hire_date).
        type: str
      employee_leave_date_time:
        description: See O(employee_leave_date_time).
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
      manager:
        description: See O(manager).
        type: str
      on_premises_extension_attributes:
        description: See O(on_premises_extension_attributes).
        type: dict
      password:
        description: See O(password).
        type: str
      update_password:
        description: See O(update_password).
        type: str
        choices: [on_create, always]
      force_change_password_next_sign_in:
        description: See O(force_change_password_next_sign_in).
        type: bool
      force_change_password_next_sign_in_with_mfa:
        description: See O(force_change_password_next_sign_in_with_mfa).
        type: bool
      password_policies:
        description: See O(password_policies).
        type: list
        elements: str
        choices: [DisablePasswordExpiration, DisableStrongPassword]
      groups:
        description: See O(groups).
        type: dict
        suboptions:
          add:
            description: See O(groups.add).
            type: list
            elements: str
          remove:
            description: See O(groups.remove).
            type: list
            elements: str
          set:
            description: See O(groups.set).
            type: list
            elements: str
  state:
    description:
      - V(present) creates the user, or restores it from deleted items, and sets the given options.
      - V(absent) deletes the user. Graph keeps a deleted user in deleted items for 30 days.
    type: str
    choices: [present, absent]
    default: present
  permanent:
    description:
      - With O(state=absent), also purge the user from deleted items. It cannot be restored afterwards.
      - A user already in deleted items is purged.
    type: bool
    default: false
  display_name:
    description:
      - The name shown in the address list. Required to create a user.
    type: str
  given_name:
    description: The first name.
    type: str
  surname:
    description: The last name.
    type: str
  mail_nickname:
    description:
      - 'The mail alias: at most 64 ASCII characters, without spaces and without any of these characters: @ ( ) \ [ ] " ; : < > ,'
      - When a user is created without it, the part of O(user_principal_name) before the V(@) is used.
    type: str
  account_enabled:
    description:
      - Whether the account can sign in. New users are enabled unless this is V(false).
    type: bool
  department:
    description: The department.
    type: str
  job_title:
    description: The job title.
    type: str
  company_name:
    description: The company name.
    type: str
  employee_id:
    description: The employee identifier assigned by the organization.
    type: str
  employee_type:
    description: The type of worker, for example V(Employee) or V(Contractor).
    type: str
  office_location:
    description: The office location.
    type: str
  street_address:
    description: The street address of the place of business.
    type: str
  city:
    description: The city.
    type: str
  state_province:
    description:
      - The state or province (Graph's C(state) property; the option is named so because O(state) is
        the present/absent switch).
    type: str
  postal_code:
    description: The postal code.
    type: str
  country:
    description: The country or region, for example V(United States).
    type: str
  usage_location:
    description:
      - Where the user uses services, as an ISO 3166-1 alpha-2 country code such as V(US) or V(DE).
      - Required before a licence can be assigned to the user.
    type: str
  mobile_phone:
    description: The mobile phone number.
    type: str
  business_phones:
    description: The business phone numbers (Graph accepts one).
    type: list
    elements: str
  other_mails:
    description: Additional e-mail addresses of the user.
    type: list
    elements: str
  preferred_language:
    description: The preferred language, as an ISO 639-1 code with a country, for example V(en-US).
    type: str
  mail:
    description:
      - The user's SMTP address (Graph's C(mail)), for example V(adele.vance@contoso.com). Graph also adds it
        to the user's proxy addresses. ASCII only.
    type: str
  fax_number:
    description: The fax number.
    type: str
  employee_hire_date:
    description:
      - The date and time the user was hired or will start work, in ISO 8601, for example V(2024-05-01) or
        V(2024-05-01T09:00:00+02:00). A date without a time is midnight UTC; a time without an offset is UTC.
      - Compared and returned in Graph's UTC form, V(2024-05-01T00:00:00Z), so any ISO 8601 spelling of the
        same moment is unchanged.
      - Dynamic membership rules can select on it (C(user.employeeHireDate)).
    type: str
  employee_leave_date_time:
    description:
      - The date and time the user left or will leave the organization, in ISO 8601 as O(employee_hire_date).
        Lifecycle workflows use it to trigger leaver tasks.
      - Needs the C(User-LifeCycleInfo.ReadWrite.All) application permission besides C(User.ReadWrite.All).
    type: str
  employee_org_data:
    description:
      - Organization data of the user (Graph's C(employeeOrgData)). A key left out keeps its value;
        V("") clears it.
    type: dict
    suboptions:
      division:
        description: The division the user belongs to.
        type: str
      cost_center:
        description: The cost center the user is charged to.
        type: str
  age_group:
    description:
      - The user's age group, one of V(Minor), V(NotAdult) or V(Adult) (any case). V("") clears it.
      - Together with O(consent_provided_for_minor) it decides Graph's read-only C(legalAgeGroupClassification).
    type: str
  consent_provided_for_minor:
    description:
      - Whether consent was obtained for a minor, one of V(Granted), V(Denied) or V(NotRequired) (any case).
        V("") clears it.
    type: str
  manager:
    description:
      - The user's manager, by user principal name, mail or object id.
      - V("") removes the manager.
      - The manager may be a user created by the same task (in O(users)).
    type: str
  on_premises_extension_attributes:
    description:
      - Extension attributes 1 to 15 (Graph's C(onPremisesExtensionAttributes)), writable for cloud-only users.
      - Keys are V(extension_attribute1) to V(extension_attribute15). A key left out is left alone;
        V("") clears that attribute.
    type: dict
  password:
    description:
      - The password. Entra requires 8 to 256 characters and three of lowercase letters, uppercase letters,
        digits and symbols (unless O(password_policies) has V(DisableStrongPassword)).
      - When a user is created without it, a strong password is generated and appended to O(password_file).
    type: str
  update_password:
    description:
      - V(on_create) sets O(password) only when the user is created; an existing user's password is left alone.
      - V(always) writes O(password) on every run (the task then always reports a change).
    type: str
    choices: [on_create, always]
    default: on_create
  password_file:
    description:
      - A file the module appends every password it sets or generates to, one JSON object a line with
        C(user_principal_name), C(id), C(password), C(action) and C(time) (UTC). A password is written
        there once, when Graph has accepted it; results never hold passwords.
      - Created with mode 0600. An existing file that its group or others can read is refused, and so is
        a directory that does not exist, before anything is written to the tenant.
      - Required to create a user without O(password), except in check mode, which generates nothing and
        so only predicts the creation.
    type: path
  force_change_password_next_sign_in:
    description:
      - Whether the user must change the password at the next sign-in. Sent with a password only.
    type: bool
    default: true
  force_change_password_next_sign_in_with_mfa:
    description:
      - Whether the user must also complete multifactor authentication registration when changing the
        password at the next sign-in. Sent with a password only.
    type: bool
    default: false
  password_policies:
    description:
      - The password policies of the user. V([]) removes them.
    type: list
    elements: str
    choices: [DisablePasswordExpiration, DisableStrongPassword]
  groups:
    description:
      - The user's direct membership of assigned (not dynamic) groups, by object id, unique name or
        display name. A display name shared by several groups fails; use the id.
      - A dynamic membership group is refused before anything is written.
    type: dict
    suboptions:
      add:
        description: Groups the user must be a member of.
        type: list
        elements: str
      remove:
        description: Groups the user must not be a member of.
        type: list
        elements: str
      set:
        description:
          - The exact list of assigned groups the user is a direct member of; the user is removed from
            the others. Dynamic groups and mail-enabled security groups are never removed.
          - Cannot be combined with O(groups.add) or O(groups.remove).
        type: list
        elements: str
seealso:
  - module: m365.cloud_identity.aad_user_info
  - name: Microsoft Graph user resource
    description: The properties this module manages.
    link: https://learn.microsoft.com/graph/api/resources/user
  - name: Password policies in Microsoft Entra ID
    description: The complexity rule the module checks before writing a password.
    link: https://learn.microsoft.com/entra/identity/authentication/concept-password-ban-bad-combined-policy
"""

EXAMPLES = r"""
# The connection comes from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
# (or AZURE_CLIENT_CERTIFICATE_PATH), e.g. from an AWX credential. Do not pass credentials as options
# built with lookup('env', ...): option values are written into the module's temporary files.
- name: Create a user with a generated password (appended to a file only its owner can read)
  m365.cloud_identity.aad_user:
    user_principal_name: adele.vance@contoso.com
    display_name: Adele Vance
    given_name: Adele
    surname: Vance
    department: Retail
    usage_location: US
    employee_hire_date: "2024-05-01"
    employee_org_data:
      division: Retail
      cost_center: CC-1234
    manager: megan.bowen@contoso.com
    groups:
      add: [Retail staff]
    # One JSON object a line (user_principal_name, id, password, action, time), mode 0600;
    # hand it over through a secure channel, then delete it.
    password_file: /secure/new-passwords.jsonl

- name: Clear the job title and remove the manager
  m365.cloud_identity.aad_user:
    user_principal_name: adele.vance@contoso.com
    job_title: ""
    manager: ""

- name: A leaver - the date lifecycle workflows act on
  m365.cloud_identity.aad_user:
    user_principal_name: adele.vance@contoso.com
    employee_leave_date_time: "2025-09-30T17:00:00+02:00"

- name: Reset a password on every run
  m365.cloud_identity.aad_user:
    user_principal_name: adele.vance@contoso.com
    password: "{{ vault_adele_password }}"
    update_password: always
    force_change_password_next_sign_in: true

- name: Many users in one task; shared options at the top level
  m365.cloud_identity.aad_user:
    usage_location: DE
    company_name: Contoso
    users:
      - user_principal_name: lidia.holloway@contoso.com
        display_name: Lidia Holloway
        on_premises_extension_attributes:
          extension_attribute1: cost-center-1234
      - user_principal_name: lee.gu@contoso.com
        display_name: Lee Gu
        account_enabled: false
    password_file: /secure/new-passwords.jsonl
  register: bulk

- name: Show what happened (results never hold passwords)
  ansible.builtin.debug:
    var: bulk.summary

- name: Delete a user (it stays 30 days in deleted items)
  m365.cloud_identity.aad_user:
    user_principal_name: lee.gu@contoso.com
    state: absent

- name: Purge a user for good
  m365.cloud_identity.aad_user:
    user_principal_name: lee.gu@contoso.com
    state: absent
    permanent: true
"""

RETURN = r"""
user:
  description:
    - The user after the task (in check mode, as it would be), in the module's option names, so it
      can be fed back to this module.
    - For a deleted user, the user as it was. V(null) when the user did not exist.
    - O(manager) and O(groups) are included only when the task managed them.
  returned: single form
  type: dict
  sample:
    id: 5f1c7a3e-63f2-4ac9-9a3b-2c1d0e9f8a71
    user_principal_name: adele.vance@contoso.com
    display_name: Adele Vance
    given_name: Adele
    surname: Vance
    mail_nickname: adele.vance
    account_enabled: true
    department: Retail
    job_title: null
    company_name: null
    employee_id: null
    employee_type: null
    office_location: null
    street_address: null
    city: null
    state_province: null
    postal_code: null
    country: null
    usage_location: US
    mobile_phone: null
    business_phones: []
    other_mails: []
    preferred_language: null
    mail: adele.vance@contoso.com
    fax_number: null
    employee_hire_date: "2024-05-01T00:00:00Z"
    employee_leave_date_time: null
    employee_org_data: {division: Retail, cost_center: CC-1234}
    age_group: null
    consent_provided_for_minor: null
    password_policies: []
    on_premises_extension_attributes: {}
    manager: megan.bowen@contoso.com
action:
  description: What the task did (or would do in check mode) to the user.
  returned: single form
  type: str
  choices: [created, updated, restored, unchanged, deleted, failed]
  sample: created
diff:
  description:
    - The attributes that changed, before and after, in option names. A password shows as
      V(<changed>) / V(<unchanged>), never its value.
  returned: single form, when something changed
  type: dict
  sample:
    before: {department: Retail}
    after: {department: Sales}
results:
  description: One entry per item of O(users), in order.
  returned: list form
  type: list
  elements: dict
  contains:
    key:
      description: The item's user principal name (or id).
      type: str
    action:
      description: What happened to the item.
      type: str
      choices: [created, updated, restored, unchanged, deleted, failed]
    changed:
      description: Whether the item was (or would be) changed.
      type: bool
    user:
      description: The user in option names, as RV(user).
      type: dict
    diff:
      description: The item's changed attributes, as RV(diff).
      type: dict
    error:
      description: Why the item failed (V(null) when it did not).
      type: str
summary:
  description: Counts of items by action.
  returned: list form
  type: dict
  sample: {created: 2400, updated: 0, restored: 0, unchanged: 100, deleted: 0, failed: 0}
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.passwords import PasswordFileError
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import (
    attribute_diff,
    failed_item,
    item_result,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.hr_attributes import org_data_argument_spec
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import (
    PASSWORD_POLICIES,
    UserEngine,
)

# Options that identify one user; they cannot be defaults for the items of `users`.
KEY_OPTIONS = ("user_principal_name", "id")

# Options whose top-level default applies to items that leave them out.
TOP_LEVEL_DEFAULTS = dict(
    state="present",
    permanent=False,
    update_password="on_create",
    force_change_password_next_sign_in=True,
    force_change_password_next_sign_in_with_mfa=False,
)


def user_options():
    """The per-user options, without defaults (shared by the single form and `users` items)."""
    string_options = (
        "display_name", "given_name", "surname", "mail_nickname", "department", "job_title", "company_name",
        "employee_id", "employee_type", "office_location", "street_address", "city", "state_province",
        "postal_code", "country", "usage_location", "mobile_phone", "preferred_language", "manager",
        "mail", "fax_number", "employee_hire_date", "employee_leave_date_time", "age_group",
        "consent_provided_for_minor",
    )
    options = dict((name, dict(type="str")) for name in string_options)
    options.update(
        user_principal_name=dict(type="str", aliases=["upn"]),
        id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"]),
        permanent=dict(type="bool"),
        account_enabled=dict(type="bool"),
        business_phones=dict(type="list", elements="str"),
        other_mails=dict(type="list", elements="str"),
        on_premises_extension_attributes=dict(type="dict"),
        employee_org_data=org_data_argument_spec(),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", choices=["on_create", "always"], no_log=False),
        force_change_password_next_sign_in=dict(type="bool", no_log=False),
        force_change_password_next_sign_in_with_mfa=dict(type="bool", no_log=False),
        password_policies=dict(type="list", elements="str", choices=list(PASSWORD_POLICIES), no_log=False),
        groups=dict(type="dict", options=dict(
            add=dict(type="list", elements="str"),
            remove=dict(type="list", elements="str"),
            set=dict(type="list", elements="str"),
        )),
    )
    return options


def argument_spec():
    spec = user_options()
    for name, default in TOP_LEVEL_DEFAULTS.items():
        spec[name] = dict(spec[name], default=default)
    spec["users"] = dict(type="list", elements="dict", options=user_options())
    # A file name, not a secret: no_log=False says so and silences Ansible's warning about the word "password".
    spec["password_file"] = dict(type="path", no_log=False)
    return spec


def build_items(params):
    """The list of user items: the single form is a list of one; top-level options fill item gaps."""
    names = list(user_options())
    if params.get("users") is None:
        return [dict((name, params.get(name)) for name in names)], True
    items = []
    for entry in params["users"]:
        item = dict(entry)
        for name in names:
            if item.get(name) is None and name not in KEY_OPTIONS:
                item[name] = params.get(name)
        items.append(item)
    return items, False


def plan_result(engine, plan):
    if plan.failed:
        return failed_item(plan.key, plan.error, written=plan.written, not_attempted=plan.not_attempted)
    diff = attribute_diff(plan.before, plan.after, secret_keys=("password",))
    return item_result(plan.key, plan.action, obj=engine.predicted_object(plan), diff=diff)


def run_module(graph_module):
    items, single = build_items(graph_module.params)
    engine = UserEngine(graph_module.client, check_mode=graph_module.check_mode,
                        password_file=graph_module.params.get("password_file"))
    try:
        plans = engine.run(items)
    except PasswordFileError as error:
        graph_module.fail(str(error))
    results = [plan_result(engine, plan) for plan in plans]
    return graph_module.finish(results, "user", single)


def main():
    graph_module = GraphModule(
        argument_spec(),
        list_results=True,
        mutually_exclusive=[("user_principal_name", "users"), ("id", "users")],
        required_one_of=[("user_principal_name", "id", "users")],
    )
    graph_module.run(run_module)


if __name__ == "__main__":
    main()
