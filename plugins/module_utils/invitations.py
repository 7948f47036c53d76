# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-resource logic for B2B guests: find, plan, invite, update, remove, restore.

A guest is keyed by the e-mail address it was invited with. Graph keeps that
address in the guest user's `mail` and `otherMails`, so one list read of
`userType eq 'Guest'` users finds every guest of a run. Graph has no GET for
an invitation: the guest user is the only state there is to compare with.

The flow of a run (the single form is a list of one):
  validate every item (no request) -> read the tenant's domains and refuse
  addresses in them -> one list read of guests (+ deleted users when needed)
  -> plan each item -> restore, invite, update, delete (each step one $batch
  for all items) -> results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urlparse import urlsplit

from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write, restored_if_gone
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import (
    attribute_diff,
    failed_item,
    item_result,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils import validation
from ansible_collections.m365.cloud_identity.plugins.module_utils.hr_attributes import (
    ORG_DATA_PROPERTY,
    hr_problems,
    org_data_to_option,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import Directory, read_domains
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import odata_literal
from ansible_collections.m365.cloud_identity.plugins.module_utils.sponsors import (
    plan_sponsors,
    sponsor_problems,
    sponsor_writes,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.users import (
    usage_location_problem,
    USER_ATTRIBUTES,
    attribute_changes,
)

PENDING = "PendingAcceptance"
ACCEPTED = "Accepted"
DEFAULT_REDIRECT_URL = "https://myapps.microsoft.com"
USER_TYPES = {"guest": "Guest", "member": "Member"}

# Directory attributes an admin keeps on a guest, applied with PATCH /users/{id}
# after the invitation. Names, Graph properties and comparison rules are the
# users module's (plugins/module_utils/users.py), so a guest and a member
# spell an attribute the same way.
ATTRIBUTE_OPTIONS = (
    "display_name", "given_name", "surname", "department", "company_name", "job_title",
    "office_location", "usage_location", "mobile_phone", "business_phones", "street_address",
    "city", "state_province", "postal_code", "country", "employee_id", "employee_type",
    "preferred_language", "fax_number", "employee_hire_date", "employee_org_data", "age_group",
    "consent_provided_for_minor",
)
# Not offered on guests: mail (Graph keeps the invited address there; it is the guest's key) and
# employee_leave_date_time (its own permission, User-LifeCycleInfo.ReadWrite.All).
GUEST_ATTRIBUTES = tuple((option, USER_ATTRIBUTES[option]) for option in ATTRIBUTE_OPTIONS)
OPTION_NAME = dict((prop, option) for option, prop in GUEST_ATTRIBUTES)
OPTION_NAME["userType"] = "user_type"

# What a guest read selects: the key, the invitation state and the attributes.
GUEST_SELECT = (
    "id", "mail", "otherMails", "userPrincipalName", "userType", "creationType",
    "externalUserState", "externalUserStateChangeDateTime", "createdDateTime", "accountEnabled",
) + tuple(prop for option, prop in GUEST_ATTRIBUTES)

# The returned guest: Graph property -> result key.
VIEW_KEYS = (
    ("id", "id"),
    ("mail", "mail"),
    ("userPrincipalName", "user_principal_name"),
    ("userType", "user_type"),
    ("externalUserState", "external_user_state"),
    ("externalUserStateChangeDateTime", "external_user_state_change_date_time"),
    ("createdDateTime", "created_date_time"),
    ("creationType", "creation_type"),
    ("accountEnabled", "account_enabled"),
    ("otherMails", "other_mails"),
) + tuple((prop, option) for option, prop in GUEST_ATTRIBUTES)

# RFC 5322 "dot-atom" local part and a dotted DNS domain: what Graph accepts as
# an invited address in practice (no quoted local parts, no IP literals).
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
MAX_EMAIL_LENGTH = 254

# Retry of writes and reads on a guest Graph created or restored a moment ago
# (replication lag, FIDELITY 2.8): waits 0.5, 1, 2, 4, 8 seconds at most.


class GuestInputError(ValueError):
    """Bad module input, found before any write. `errors` lists every problem."""

    def __init__(self, errors):
        super(GuestInputError, self).__init__("; ".join(errors))
        self.errors = list(errors)


# ---- input ------------------------------------------------------------------

def normalize_email(address):
    return (address or "").strip()


def email_key(address):
    """Graph compares addresses case-insensitively."""
    return normalize_email(address).lower()


def email_domain(address):
    return email_key(address).rpartition("@")[2]


def is_valid_email(address):
    return len(address) <= MAX_EMAIL_LENGTH and EMAIL_PATTERN.match(address) is not None


def redirect_url_error(url, option="redirect_url"):
    parts = urlsplit(url or "")
    if parts.scheme.lower() != "https" or not parts.netloc:
        return "%s must be an https:// URL, got %r" % (option, url)
    return None


def spec_errors(spec):
    """Problems of one item that need no request; each names the option."""
    errors = []
    email = spec["email"]
    permanent = validation.permanent_problem(spec, "guest")
    if permanent:
        errors.append(permanent)
    if not is_valid_email(email):
        errors.append("email %r is not a valid e-mail address (local-part@domain.tld)" % email)
    if spec["state"] == "present":
        error = redirect_url_error(spec.get("redirect_url") or DEFAULT_REDIRECT_URL)
        if error:
            errors.append(error)
        cc_recipient = spec.get("cc_recipient")
        if cc_recipient and not is_valid_email(normalize_email(cc_recipient)):
            errors.append("cc_recipient %r is not a valid e-mail address" % cc_recipient)
        if spec.get("resend") and spec.get("reset_redemption"):
            errors.append("resend and reset_redemption are mutually exclusive")
        location_problem = usage_location_problem(spec.get("usage_location"))
        if location_problem:
            errors.append(location_problem)
        errors.extend(validation.display_name_problems(spec.get("display_name")))
        for option in ATTRIBUTE_OPTIONS:
            if option != "display_name":
                errors.extend(validation.text_problems(option, spec.get(option)))
        language = validation.language_tag_problem("message_language", spec.get("message_language"))
        if language:
            errors.append(language)
        errors.extend(hr_problems(attribute_item(spec)))
        errors.extend(sponsor_problems(spec.get("sponsors")))
    return errors


def validate_specs(specs):
    """Raise GuestInputError listing every item problem found without a request."""
    errors = []
    seen = {}
    for index, spec in enumerate(specs):
        label = item_label(spec, index, len(specs))
        errors.extend(label + ": " + error if label else error for error in spec_errors(spec))
        key = email_key(spec["email"])
        if key in seen:
            errors.append("%s: email %s is given twice (guests[%d] and guests[%d])" % (label, spec["email"], seen[key], index))
        seen.setdefault(key, index)
    if errors:
        raise GuestInputError(errors)


def check_domains(specs, verified_domains):
    """Refuse addresses in the tenant's own verified domains: those people are members."""
    own = set(domain.lower() for domain in verified_domains)
    errors = []
    for index, spec in enumerate(specs):
        domain = email_domain(spec["email"])
        if spec["state"] == "present" and domain in own:
            label = item_label(spec, index, len(specs))
            errors.append(
                "%s%s is in %s, a verified domain of this tenant; invite only people from outside "
                "the organization (manage members with aad_user)" % (label + ": " if label else "", spec["email"], domain))
    if errors:
        raise GuestInputError(errors)


def item_label(spec, index, count):
    """How a message names the item: its position in the list form, nothing in the single form."""
    if count == 1:
        return ""
    return "guests[%d] (%s)" % (index, spec.get("email"))


def attribute_item(spec):
    """The item's directory attributes alone, in the users module's option names."""
    return dict((option, spec.get(option)) for option in ATTRIBUTE_OPTIONS if spec.get(option) is not None)


def wanted_user_type(spec):
    """userType is managed only when invited_user_type is given."""
    user_type = spec.get("invited_user_type")
    return USER_TYPES[user_type] if user_type else None


def changes_for(spec, doc):
    """Graph properties to PATCH so the guest matches the item."""
    changes = attribute_changes(attribute_item(spec), doc)[0]
    user_type = wanted_user_type(spec)
    if user_type and doc.get("userType") != user_type:
        changes["userType"] = user_type
    return changes


def invitation_body(spec, invited_user_id=None, reset_redemption=False):
    """POST /invitations body (FIDELITY 2.4)."""
    body = {
        "invitedUserEmailAddress": spec["email"],
        "inviteRedirectUrl": spec.get("redirect_url") or DEFAULT_REDIRECT_URL,
        "sendInvitationMessage": bool(spec.get("send_invitation_message")),
        "invitedUserType": USER_TYPES[spec.get("invited_user_type") or "guest"],
    }
    if spec.get("display_name"):
        body["invitedUserDisplayName"] = spec["display_name"]
    message_info = {}
    if spec.get("message_body"):
        message_info["customizedMessageBody"] = spec["message_body"]
    if spec.get("message_language"):
        message_info["messageLanguage"] = spec["message_language"]
    if spec.get("cc_recipient"):
        message_info["ccRecipients"] = [{"emailAddress": {"address": normalize_email(spec["cc_recipient"])}}]
    if message_info:
        body["invitedUserMessageInfo"] = message_info
    if reset_redemption:
        # Graph resets the redemption of the user named by invitedUser.
        body["resetRedemption"] = True
        body["invitedUser"] = {"id": invited_user_id}
    return body


# ---- finding guests ---------------------------------------------------------------

def addresses_of(doc):
    """The invited addresses a guest can be found by: mail first, then otherMails."""
    return [doc.get("mail")] + list(doc.get("otherMails") or [])


class GuestIndex(object):
    """Guests (live or deleted) by invited address, case-insensitive."""

    def __init__(self, docs):
        self._by_mail = {}
        self._by_other = {}
        for doc in docs:
            if doc.get("mail"):
                self._by_mail.setdefault(email_key(doc["mail"]), []).append(doc)
            for address in doc.get("otherMails") or []:
                self._by_other.setdefault(email_key(address), []).append(doc)

    def find(self, address):
        """The guest invited with `address`, None, or ValueError when two match."""
        key = email_key(address)
        matches = self._by_mail.get(key) or self._by_other.get(key) or []
        unique = dict((doc["id"], doc) for doc in matches)
        if len(unique) > 1:
            raise ValueError("%d guests have the address %s (ids %s); remove the duplicate first" % (
                len(unique), address, ", ".join(sorted(unique))))
        return list(unique.values())[0] if unique else None


def is_external(doc):
    """A B2B account: a Guest, or a Member created by invitation (#EXT# UPN)."""
    return doc.get("userType") == "Guest" or "#EXT#" in (doc.get("userPrincipalName") or "").upper()


# ---- planning ----------------------------------------------------------------------

class GuestPlan(Plan):
    """What one item needs: the steps, then what happened to it."""

    def __init__(self, spec, current=None, deleted=None):
        super(GuestPlan, self).__init__(0, spec, spec["email"])
        self.spec = spec
        self.current = current      # the live guest user, if any
        self.deleted = deleted      # the soft-deleted guest user, if any
        self.action = "unchanged"
        self.restore = False
        self.invitation = None      # POST /invitations body
        self.resent = False         # the invitation goes to an existing guest
        self.patch = {}             # Graph properties for PATCH /users/{id}
        self.delete = False
        self.purge = False
        # Filled in while applying.
        self.user_id = (current or deleted or {}).get("id")
        self.redeem_url = None
        self.fetched = None         # the guest as read after an invitation
        self.sponsors = None        # sponsors.SponsorPlan when the item manages sponsors


def plan_guest(spec, current, deleted):
    """Decide the steps for one item from the guest as Graph has it."""
    return decide_guest(GuestPlan(spec, current, deleted))


def decide_guest(plan):
    """Fill in the steps of a plan whose current and deleted guest have been read."""
    spec, current, deleted = plan.spec, plan.current, plan.deleted
    plan.user_id = (current or deleted or {}).get("id")
    if spec["state"] == "absent":
        if current:
            plan.delete = True
            plan.purge = bool(spec.get("permanent"))
            plan.action = "deleted"
        elif deleted and spec.get("permanent"):
            plan.purge = True
            plan.action = "deleted"
        return plan

    if current:
        plan.patch = changes_for(spec, current)
        state = current.get("externalUserState")
        if spec.get("resend") and state != ACCEPTED:
            plan.invitation = invitation_body(spec)
            plan.resent = True
        elif spec.get("reset_redemption") and state == ACCEPTED:
            plan.invitation = invitation_body(spec, current["id"], reset_redemption=True)
            plan.resent = True
        if plan.invitation:
            plan.action = "invited"
        elif plan.patch:
            plan.action = "updated"
    elif deleted:
        plan.restore = True
        plan.patch = changes_for(spec, deleted)
        plan.action = "restored"
    else:
        plan.invitation = invitation_body(spec)
        # The invitation sets the display name and user type; the rest follows as a PATCH.
        plan.patch = changes_for(spec, new_guest_doc(spec, None))
        plan.action = "invited"
    return plan


def predicted_guest(plan, default_domain, now_text):
    """The guest user as it is (or, in check mode, would be) after the plan."""
    if plan.fetched is not None:
        doc = dict(plan.fetched)
    elif plan.current or plan.deleted:
        doc = dict(plan.current or plan.deleted)
    else:
        doc = new_guest_doc(plan.spec, default_domain)
    if plan.delete or (plan.purge and not plan.current):
        return doc
    if plan.user_id:
        doc["id"] = plan.user_id
    doc.update(plan.patch)
    if plan.invitation and plan.invitation.get("resetRedemption"):
        doc["externalUserState"] = PENDING
        doc["externalUserStateChangeDateTime"] = now_text
    return doc


def new_guest_doc(spec, default_domain):
    """What Graph creates for an invitation (FIDELITY 2.4), before it is read back."""
    email = spec["email"]
    local, domain = email.split("@", 1)
    return {
        "id": None,
        "mail": email,
        "otherMails": [email],
        "displayName": spec.get("display_name") or local,
        "userPrincipalName": "%s_%s#EXT#@%s" % (local, domain, default_domain) if default_domain else None,
        "userType": USER_TYPES[spec.get("invited_user_type") or "guest"],
        "externalUserState": PENDING,
        "creationType": "Invitation",
    }


# ---- results -------------------------------------------------------------------------

def view_value(prop, value):
    """A Graph value as the guest's option takes it (employeeOrgData's keys in snake_case)."""
    if prop == ORG_DATA_PROPERTY and value is not None:
        return org_data_to_option(value)
    return value


def guest_view(doc, key=None):
    """A guest user as the modules return it (snake_case, unset values left out)."""
    view = {}
    for prop, name in VIEW_KEYS:
        value = view_value(prop, doc.get(prop))
        if value is not None:
            view[name] = value
    if key is not None:
        view["email"] = key
    elif doc.get("mail"):
        view["email"] = doc["mail"]
    return view


def diff_view(doc, plan):
    """The part of a guest a diff shows: what the item manages and the invitation state."""
    if not doc:
        return {}
    view = {"email": plan.key}
    for prop, name in (("externalUserState", "external_user_state"), ("userPrincipalName", "user_principal_name")):
        if doc.get(prop) is not None:
            view[name] = doc[prop]
    managed = [USER_ATTRIBUTES[option] for option in attribute_item(plan.spec)]
    if wanted_user_type(plan.spec):
        managed.append("userType")
    for prop in managed:
        if doc.get(prop) not in (None, "", []):
            view[OPTION_NAME[prop]] = view_value(prop, doc[prop])
    return view


def plan_diff(plan, after_doc):
    before = plan.current
    if plan.restore:
        before = None  # a deleted guest is not there
    after = None if plan.action == "deleted" else after_doc
    diff = attribute_diff(diff_view(before, plan), diff_view(after, plan))
    if plan.sponsors is not None and plan.sponsors.changed:
        diff["before"]["sponsors"] = plan.sponsors.before()
        diff["after"]["sponsors"] = plan.sponsors.after()
    if plan.resent:
        diff["after"]["invitation"] = "reset redemption" if plan.invitation.get("resetRedemption") else "sent again"
    return diff


def plan_result(plan, default_domain, now_text):
    if plan.failed:
        # A step after the invitation may fail: still say who was invited and how to redeem.
        known = plan.current or plan.deleted or ({"id": plan.user_id} if plan.user_id else None)
        guest = guest_view(known, plan.key) if known else None
        if guest is not None and plan.redeem_url:
            guest["redeem_url"] = plan.redeem_url
        return failed_item(plan.key, plan.error, obj=guest, written=plan.written,
                           not_attempted=plan.not_attempted)
    doc = predicted_guest(plan, default_domain, now_text)
    guest = guest_view(doc, plan.key) if (plan.current or plan.deleted or plan.invitation) else None
    if guest is not None and plan.redeem_url:
        guest["redeem_url"] = plan.redeem_url
    if guest is not None and plan.sponsors is not None:
        guest["sponsors"] = plan.sponsors.after()
    return item_result(plan.key, plan.action, obj=guest, diff=plan_diff(plan, doc))


# ---- reading the tenant --------------------------------------------------------------

def read_guests(client):
    return client.list("/users", select=GUEST_SELECT, filter="userType eq 'Guest'")


def read_b2b_member(client, address):
    """A B2B member (userType Member) is not in the guest list: find it by address."""
    text = odata_literal(address)
    docs = client.list("/users", select=GUEST_SELECT,
                       filter="mail eq %s or otherMails/any(x:x eq %s)" % (text, text))
    return GuestIndex([doc for doc in docs if is_external(doc)]).find(address)


def read_deleted_guests(client):
    docs = client.list("/directory/deletedItems/microsoft.graph.user", select=GUEST_SELECT)
    return [doc for doc in docs if is_external(doc)]


class GuestRun(object):
    """aad_guest's parts of the engine's fixed run: read, decide, and the waves of writes."""

    def __init__(self, client, sleep=time.sleep):
        self.client = client
        self.sender = Sender(client, sleep=sleep)

    def plan(self, index, spec):
        plan = GuestPlan(spec)
        plan.index = index
        return plan

    def validate(self, plans):
        """validate_specs and check_domains ran before: a bad item fails the task before any read."""

    def read(self, plans):
        """Read the guests once (and deleted guests only if needed); a lookup that fails fails its item."""
        index = GuestIndex(read_guests(self.client))
        for plan in plans:
            try:
                plan.current = index.find(plan.spec["email"])
                if plan.current is None and plan.spec.get("invited_user_type") == "member":
                    plan.current = read_b2b_member(self.client, plan.spec["email"])
            except ValueError as error:
                plan.fail(error)
        wanted = [p for p in plans if not p.failed and p.current is None
                  and (p.spec["state"] == "present" or p.spec.get("permanent"))]
        deleted_index = GuestIndex(read_deleted_guests(self.client) if wanted else [])
        for plan in wanted:
            try:
                plan.deleted = deleted_index.find(plan.spec["email"])
            except ValueError as error:
                plan.fail(error)
        plan_sponsors(self.client, Directory(self.client), [p for p in plans if not p.failed])

    def decide(self, plan):
        decide_guest(plan)
        if plan.sponsors is not None and plan.sponsors.changed and plan.action == "unchanged":
            plan.action = "updated"

    def waves(self):
        """Restore, invite, update, read back the new guests, set their sponsors, delete, purge."""
        return [self._restore_wave, self._invite_wave, self._update_wave, self._read_wave, self._sponsor_wave,
                self._delete_wave, self._purge_wave]

    def _write(self, plan, verb, method, url, body=None, on_success=None, done_if=None):
        return Write(plan, method, url, body, describe(plan, verb), done_if=done_if,
                     on_success=(lambda answer: on_success(plan, answer)) if on_success else None)

    def _restore_wave(self, plans):
        def restored(plan, _answer):
            self.sender.created(plan.user_id)
        return [self._write(p, "restore", "POST", "/directory/deletedItems/%s/restore" % p.user_id,
                            on_success=restored, done_if=restored_if_gone) for p in plans if p.restore]

    def _invite_wave(self, plans):
        def invited(plan, body):
            plan.user_id = ((body or {}).get("invitedUser") or {}).get("id") or plan.user_id
            plan.redeem_url = (body or {}).get("inviteRedeemUrl")
            if not plan.current:
                self.sender.created(plan.user_id)
        return [self._write(p, "invite", "POST", "/invitations", p.invitation, on_success=invited)
                for p in plans if p.invitation]

    def _update_wave(self, plans):
        return [self._write(p, "update", "PATCH", "/users/%s" % p.user_id, p.patch)
                for p in plans if p.patch and p.user_id]

    def _read_wave(self, plans):
        """The invitation answers with the user's id only: read each new guest once."""
        def fetched(plan, body):
            plan.fetched = body
        return [self._write(p, "read", "GET", "/users/%s?$select=%s" % (p.user_id, ",".join(GUEST_SELECT)),
                            on_success=fetched) for p in plans if p.invitation and not p.current and p.user_id]

    def _sponsor_wave(self, plans):
        """Sponsors once the guest exists (a new guest's id comes with the invitation's answer)."""
        return [write for p in plans if p.sponsors is not None and p.user_id
                for write in sponsor_writes(p, self.client.base_url)]

    def _delete_wave(self, plans):
        def deleted(plan, _answer):
            self.sender.created(plan.user_id)  # its deleted item may take a moment to appear
        return [self._write(p, "remove", "DELETE", "/users/%s" % p.user_id, on_success=deleted)
                for p in plans if p.delete]

    def _purge_wave(self, plans):
        return [self._write(p, "permanently delete", "DELETE", "/directory/deletedItems/%s" % p.user_id)
                for p in plans if p.purge]


# ---- applying ----------------------------------------------------------------------

def describe(plan, verb):
    return "%s guest %s" % (verb, plan.key)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def iso_z(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def manage_guests(client, specs, check_mode, sleep=time.sleep):
    """Validate, read, plan and (unless check_mode) apply; one result per item.

    Raises GuestInputError before any write when an item is bad.
    """
    validate_specs(specs)
    verified, default_domain = read_domains(client)
    check_domains(specs, verified)
    plans = engine.run(GuestRun(client, sleep=sleep), specs, check_mode)
    now_text = iso_z(now_utc())
    return [plan_result(plan, default_domain, now_text) for plan in plans]


# ---- aad_guest_info ------------------------------------------------------------------------

def parse_graph_time(text):
    """Graph's DateTimeOffset ('2024-05-01T10:00:00Z', maybe with fractions) -> aware datetime."""
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2})?$", text)
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    offset = match.group(3) or "+00:00"
    sign = 1 if offset[0] == "+" else -1
    delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return moment.replace(tzinfo=datetime.timezone(sign * delta))


def pending_days(doc, now):
    """Whole days a guest has waited to redeem its invitation; None once accepted.

    Counted from the last state change (the invitation or a redemption reset),
    else from the account's creation.
    """
    if doc.get("externalUserState") != PENDING:
        return None
    since = parse_graph_time(doc.get("externalUserStateChangeDateTime")) or parse_graph_time(doc.get("createdDateTime"))
    if since is None:
        return None
    return max(0, (now - since).days)


def info_view(doc, now):
    view = guest_view(doc)
    view["domain"] = email_domain(doc.get("mail") or (doc.get("otherMails") or [""])[0]) or None
    view["pending_days"] = pending_days(doc, now)
    return view


def select_guests(docs, now, email=None, external_user_state=None, domains=None, min_pending_days=None):
    """Filter guests for aad_guest_info (all filters combine with AND)."""
    wanted_domains = set(d.lower().lstrip("@") for d in domains or [])
    selected = []
    for doc in docs:
        if email and email_key(email) not in [email_key(a) for a in addresses_of(doc) if a]:
            continue
        view = info_view(doc, now)
        if external_user_state and doc.get("externalUserState") != external_user_state:
            continue
        if wanted_domains and view["domain"] not in wanted_domains:
            continue
        if min_pending_days is not None and (view["pending_days"] is None or view["pending_days"] < min_pending_days):
            continue
        selected.append(view)
    return sorted(selected, key=lambda view: (view.get("email") or "").lower())
