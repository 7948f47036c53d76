# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-resource logic for member user accounts: read current, compute plan, apply plan.

The module (aad_user) hands over a list of items, each a dict of the module's
options (the single form is a list of one). :class:`UserEngine` then:

1. validates every item without touching the tenant, then against the
   tenant's verified domains (one read);
2. reads the current users (one $batch of GETs for up to 20 keys, else one
   list read of every user with $select), and deleted users when needed;
3. resolves managers and groups, reads group memberships where managed;
4. plans each item (create, update, restore, delete, unchanged) as Graph
   requests plus a per-attribute diff in the module's option names;
5. unless in check mode, writes through $batch in two waves: the objects
   themselves, then the links that need the new object ids (manager, groups).

A failed item never stops the others. Option names are snake_case; Graph's
are camelCase (USER_ATTRIBUTES maps them).
"""

from __future__ import annotations

import re

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import (
    GraphError,
    list_each,
    quote_key,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write, restored_if_gone
from ansible_collections.m365.cloud_identity.plugins.module_utils.hr_attributes import (
    HR_ATTRIBUTES,
    LEAVE_DATE_PROPERTY,
    hr_changes,
    hr_problems,
    hr_to_options,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.passwords import (
    COMPLEXITY_RULE,
    PasswordFile,
    generate_password,
    password_problem,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils import validation
from ansible_collections.m365.cloud_identity.plugins.module_utils.references import (
    Directory,
    ReferenceError,
    REPLICATION_WAIT,
    IN_CHUNK,
    chunks,
    in_filter,
    is_object_id,
    read_domains,
    unique,
)
from ansible_collections.m365.cloud_identity.plugins.module_utils.relations import odata_ref, relation_changes

# ---- the options and their Graph properties --------------------------------

# Simple string attributes: option name -> Graph property.
STRING_ATTRIBUTES = (
    ("display_name", "displayName"),
    ("given_name", "givenName"),
    ("surname", "surname"),
    ("mail_nickname", "mailNickname"),
    ("department", "department"),
    ("job_title", "jobTitle"),
    ("company_name", "companyName"),
    ("employee_id", "employeeId"),
    ("employee_type", "employeeType"),
    ("office_location", "officeLocation"),
    ("street_address", "streetAddress"),
    ("city", "city"),
    # `state` is the module's present/absent switch, so the address field
    # takes community.windows.win_domain_user's name for it.
    ("state_province", "state"),
    ("postal_code", "postalCode"),
    ("country", "country"),
    ("usage_location", "usageLocation"),
    ("mobile_phone", "mobilePhone"),
    ("preferred_language", "preferredLanguage"),
    ("mail", "mail"),
    ("fax_number", "faxNumber"),
)
LIST_ATTRIBUTES = (
    ("business_phones", "businessPhones"),
    ("other_mails", "otherMails"),
)
BOOL_ATTRIBUTES = (
    ("account_enabled", "accountEnabled"),
)
USER_ATTRIBUTES = dict(STRING_ATTRIBUTES + LIST_ATTRIBUTES + BOOL_ATTRIBUTES)
USER_ATTRIBUTES["user_principal_name"] = "userPrincipalName"
USER_ATTRIBUTES["password_policies"] = "passwordPolicies"
USER_ATTRIBUTES["on_premises_extension_attributes"] = "onPremisesExtensionAttributes"
# Dates, age group and consent, organisation data: their rules live in hr_attributes.py.
USER_ATTRIBUTES.update(HR_ATTRIBUTES)

# Options compared and written as plain values (everything but the special ones).
PLAIN_ATTRIBUTES = STRING_ATTRIBUTES + LIST_ATTRIBUTES + BOOL_ATTRIBUTES

PASSWORD_POLICIES = ("DisablePasswordExpiration", "DisableStrongPassword")
EXTENSION_ATTRIBUTE_OPTIONS = tuple("extension_attribute%d" % n for n in range(1, 16))

# What every read of a user selects: the properties the module manages.
# Reading employeeLeaveDateTime needs an extra permission (hr_attributes.py): selected only when managed.
USER_SELECT = ["id", "userPrincipalName", "mail", "userType"] + sorted(
    prop for option, prop in USER_ATTRIBUTES.items()
    if prop not in ("userPrincipalName", "mail", LEAVE_DATE_PROPERTY))
LEAVE_DATE_SELECT = USER_SELECT + [LEAVE_DATE_PROPERTY]
DELETED_SELECT = USER_SELECT + ["deletedDateTime"]
MEMBERSHIP_SELECT = "id,displayName,uniqueName,groupTypes,mailEnabled,securityEnabled"
# A user's manager read with the user (docs/graph-rules.md "A user's manager, expanded on a filtered list").
MANAGER_SELECT = "id,userPrincipalName"  # what the plan shows of a manager
MANAGER_EXPAND = "manager($select=%s)" % MANAGER_SELECT

# Up to this many keys are read by key in one $batch; more means one list read.
KEYED_READ_LIMIT = 20

# Graph's v1.0 base as it appears in @odata.id references.


def user_select(items):
    """What reads of these items select: employeeLeaveDateTime only when an item sets it."""
    if any(item.get("employee_leave_date_time") is not None for item in items):
        return LEAVE_DATE_SELECT
    return USER_SELECT


# ---- validation rules --------------------------------------------------------

# Entra: the UPN's local part takes A-Z a-z 0-9 ' . - _ ! # ^ ~ (max 64), no
# leading, trailing or doubled period; the whole UPN is at most 113 characters.
UPN_LOCAL_CHARS = "A-Z a-z 0-9 ' . - _ ! # ^ ~"
_UPN_LOCAL = re.compile(r"^[A-Za-z0-9'._!#^~-]+$")
UPN_LOCAL_MAX = 64
UPN_MAX = 113
MAIL_NICKNAME_MAX = 64
# Characters Exchange refuses in an alias (mailNickname); ASCII only.
MAIL_NICKNAME_FORBIDDEN = '@()\\[]";:<>, '

# ISO 3166-1 alpha-2 codes (officially assigned), the values Graph accepts for usageLocation.
ISO_3166_ALPHA2 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI
FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN
IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE
YT ZA ZM ZW
""".split())


def usage_location_problem(location):
    """Why a usage_location is not one Graph accepts, or None; suggests the code a typo was likely meant as."""
    if not location or location.upper() in ISO_3166_ALPHA2:
        return None
    message = "usage_location '%s' is not an ISO 3166-1 alpha-2 country code (two letters, such as US, GB or DE)" % location
    # UK and EL are only "exceptionally reserved" in ISO 3166-1; Graph wants GB and GR.
    likely = {"UK": "GB", "EL": "GR"}.get(location.upper(), location[:2].upper())
    if likely in ISO_3166_ALPHA2:
        message += "; did you mean %s?" % likely
    return message


class ItemError(ValueError):
    """An item that cannot be applied; the message names the option and the fix."""


# ---- pure helpers: Graph <-> option values ----------------------------------

def _blank(value):
    return value is None or value == "" or value == []


def parse_password_policies(value):
    """Graph's passwordPolicies string -> sorted list of policy names."""
    if not value or value == "None":
        return []
    return sorted(part.strip() for part in value.split(",") if part.strip() and part.strip() != "None")


def format_password_policies(policies):
    """Policy names -> Graph's string (None clears it)."""
    if not policies:
        return None
    return ", ".join(sorted(set(policies)))


def extension_attributes_to_options(value):
    """Graph's onPremisesExtensionAttributes -> {extension_attributeN: value} (set ones only)."""
    result = {}
    for number in range(1, 16):
        current = (value or {}).get("extensionAttribute%d" % number)
        if current not in (None, ""):
            result["extension_attribute%d" % number] = current
    return result


def user_to_options(doc, manager=None, groups=None):
    """A Graph user -> the module's option names, so the output can be fed back."""
    options = {"id": doc.get("id"), "user_principal_name": doc.get("userPrincipalName")}
    for option, prop in STRING_ATTRIBUTES + BOOL_ATTRIBUTES:
        options[option] = doc.get(prop)
    for option, prop in LIST_ATTRIBUTES:
        options[option] = list(doc.get(prop) or [])
    options["password_policies"] = parse_password_policies(doc.get("passwordPolicies"))
    options["on_premises_extension_attributes"] = extension_attributes_to_options(
        doc.get("onPremisesExtensionAttributes"))
    options.update(hr_to_options(doc))
    if manager is not None:
        options["manager"] = manager
    if groups is not None:
        options["groups"] = {"set": groups}
    return options


def desired_value(option, value):
    """An option value -> the Graph value to write ("" and [] clear a property)."""
    if option in dict(LIST_ATTRIBUTES):
        return list(value or [])
    if option == "usage_location" and value:
        return value.upper()
    if option in dict(STRING_ATTRIBUTES) and value == "":
        return None
    return value


def current_value(option, doc):
    prop = USER_ATTRIBUTES[option]
    value = doc.get(prop)
    if option in dict(LIST_ATTRIBUTES):
        return list(value or [])
    if value == "":
        return None
    return value


def attribute_changes(item, doc):
    """Graph properties to PATCH for the options the item sets, and the diff.

    Returns (changes: {graphProperty: value}, before: {option: value}, after: {option: value}).
    Options left out (None) are left alone.
    """
    changes, before, after = {}, {}, {}
    for option, prop in PLAIN_ATTRIBUTES:
        if item.get(option) is None:
            continue
        want = desired_value(option, item[option])
        have = current_value(option, doc)
        if want != have:
            changes[prop] = want
            before[option], after[option] = have, want

    # A renamed user (keyed by id with a new UPN); UPNs compare case-insensitively.
    upn = item.get("user_principal_name")
    if upn and item.get("id") and (doc.get("userPrincipalName") or "").lower() != upn.lower():
        changes["userPrincipalName"] = upn
        before["user_principal_name"], after["user_principal_name"] = doc.get("userPrincipalName"), upn

    if item.get("password_policies") is not None:
        want = sorted(set(item["password_policies"]))
        have = parse_password_policies(doc.get("passwordPolicies"))
        if want != have:
            changes["passwordPolicies"] = format_password_policies(want)
            before["password_policies"], after["password_policies"] = have, want

    if item.get("on_premises_extension_attributes") is not None:
        have_all = doc.get("onPremisesExtensionAttributes") or {}
        merged = dict(("extensionAttribute%d" % n, have_all.get("extensionAttribute%d" % n)) for n in range(1, 16))
        old, new = {}, {}
        for option, value in sorted(item["on_premises_extension_attributes"].items()):
            if value is None:
                continue  # left out: left alone ("" clears)
            prop = "extensionAttribute" + option[len("extension_attribute"):]
            want = value or None
            if merged.get(prop) != want:
                merged[prop] = want
                old[option], new[option] = have_all.get(prop), want
        if new:
            # The whole complex value is sent, so untouched attributes keep their values.
            changes["onPremisesExtensionAttributes"] = merged
            before["on_premises_extension_attributes"], after["on_premises_extension_attributes"] = old, new

    hr = hr_changes(item, doc)
    changes.update(hr[0])
    before.update(hr[1])
    after.update(hr[2])
    return changes, before, after


def apply_changes(doc, changes):
    """The user as it will be after a PATCH (for check mode's predicted object)."""
    predicted = dict(doc)
    predicted.update(changes)
    return predicted


def mail_nickname_from_upn(upn):
    return upn.split("@", 1)[0]


def create_body(item, password):
    """The POST /users body for an item (only the properties it sets)."""
    body = {
        "accountEnabled": True if item.get("account_enabled") is None else item["account_enabled"],
        "userPrincipalName": item["user_principal_name"],
        "mailNickname": item.get("mail_nickname") or mail_nickname_from_upn(item["user_principal_name"]),
        "passwordProfile": password_profile(item, password),
    }
    changes, _before, _after = attribute_changes(dict(item, id=None), {})
    for prop, value in changes.items():
        if prop not in body and not _blank(value):
            body[prop] = value
    return body


def password_profile(item, password):
    force = item.get("force_change_password_next_sign_in")
    return {
        "password": password,
        "forceChangePasswordNextSignIn": True if force is None else bool(force),
        "forceChangePasswordNextSignInWithMfa": bool(item.get("force_change_password_next_sign_in_with_mfa")),
    }


# ---- validation (no tenant access) ------------------------------------------

def item_key(item):
    """How results name the item: its UPN, else its id."""
    return item.get("user_principal_name") or item.get("id")


def lookup_key(item):
    """How the item is read: by id when given (the UPN may be a rename), else by UPN."""
    return item.get("id") or item.get("user_principal_name")


def validate_item(item):
    """Problems with an item found without reading the tenant; [] when valid."""
    problems = []
    upn = item.get("user_principal_name")
    if not upn and not item.get("id"):
        problems.append("user_principal_name or id is required for every user")
    space = validation.surrounding_space_problem("user_principal_name", upn)
    if space:
        problems.append(space)
    elif upn:
        problems.extend(upn_problems(upn))
    upn_is_valid = bool(upn) and not problems
    if item.get("id") and not is_object_id(item["id"]):
        problems.append("id '%s' is not an object id (a GUID such as 00000000-0000-0000-0000-000000000000)" % item["id"])
    permanent = validation.permanent_problem(item, "user")
    if permanent:
        problems.append(permanent)
    if item.get("state") == "absent":
        return problems

    problems.extend(validation.display_name_problems(item.get("display_name")))
    for option, _prop in STRING_ATTRIBUTES:
        if option != "display_name":
            problems.extend(validation.text_problems(option, item.get(option)))
    problems.extend(validation.email_list_problems("other_mails", item.get("other_mails")))
    language = validation.language_tag_problem("preferred_language", item.get("preferred_language"))
    if language:
        problems.append(language)

    nickname = item.get("mail_nickname")
    if nickname is None and upn_is_valid:
        nickname = mail_nickname_from_upn(upn)
        nickname_source = "mail_nickname (derived from the local part of user_principal_name)"
    else:
        nickname_source = "mail_nickname"
    if nickname:
        problems.extend(mail_nickname_problems(nickname, nickname_source))

    location_problem = usage_location_problem(item.get("usage_location"))
    if location_problem:
        problems.append(location_problem)
    problems.extend(hr_problems(item))

    if item.get("password") is not None:
        # DisableStrongPassword lifts the character-class rule (not the length).
        strong = "DisableStrongPassword" not in (item.get("password_policies") or [])
        problem = password_problem(item["password"], require_classes=strong)
        if problem:
            problems.append("password is too weak: %s. %s" % (problem, COMPLEXITY_RULE))

    for policy in item.get("password_policies") or []:
        if policy not in PASSWORD_POLICIES:
            problems.append("password_policies: unknown policy '%s'; use %s" % (policy, " or ".join(PASSWORD_POLICIES)))

    for key in (item.get("on_premises_extension_attributes") or {}):
        if key not in EXTENSION_ATTRIBUTE_OPTIONS:
            problems.append("on_premises_extension_attributes: unknown key '%s'; use extension_attribute1 to "
                            "extension_attribute15" % key)

    phones = item.get("business_phones") or []
    if len(phones) > 1:
        problems.append("business_phones: Microsoft Graph stores only one business phone number, got %d; give one "
                        "(and put others in mobile_phone)" % len(phones))

    manager = (item.get("manager") or "").lower()
    if manager and manager in ((upn or "").lower(), (item.get("id") or "").lower()):
        problems.append("manager: user %s cannot be their own manager; name another user or \"\" for none"
                        % (upn or item.get("id")))

    groups = item.get("groups")
    if groups and groups.get("set") is not None and (groups.get("add") or groups.get("remove")):
        problems.append("groups: use either set, or add and remove, not both")
    return problems


def upn_problems(upn):
    if upn.count("@") != 1:
        return ["user_principal_name '%s' must have the form alias@domain" % upn]
    local, domain = upn.split("@")
    problems = []
    if not local or not _UPN_LOCAL.match(local):
        problems.append("user_principal_name '%s' has characters Entra does not allow before the @; "
                        "use only %s" % (upn, UPN_LOCAL_CHARS))
    elif local.startswith(".") or local.endswith(".") or ".." in local:
        problems.append("user_principal_name '%s' must not start or end its alias with a period, nor "
                        "contain two periods in a row" % upn)
    if len(local) > UPN_LOCAL_MAX:
        problems.append("user_principal_name '%s': the alias before the @ is longer than %d characters"
                        % (upn, UPN_LOCAL_MAX))
    if len(upn) > UPN_MAX:
        problems.append("user_principal_name '%s' is longer than %d characters" % (upn, UPN_MAX))
    if not domain or "." not in domain:
        problems.append("user_principal_name '%s' needs a domain after the @, e.g. contoso.com" % upn)
    return problems


def mail_nickname_problems(nickname, source="mail_nickname"):
    problems = []
    if len(nickname) > MAIL_NICKNAME_MAX:
        problems.append("%s '%s' is longer than %d characters; set a shorter mail_nickname"
                        % (source, nickname, MAIL_NICKNAME_MAX))
    bad = sorted(set(char for char in nickname if char in MAIL_NICKNAME_FORBIDDEN or ord(char) > 126 or ord(char) < 32))
    if bad:
        problems.append("%s '%s' contains characters a mail alias cannot have (%s); use ASCII letters, digits "
                        "and . - _ only" % (source, nickname, " ".join(repr(c) for c in bad)))
    return problems


def domain_problem(upn, verified_domains):
    domain = upn.rsplit("@", 1)[-1].lower()
    if domain in verified_domains:
        return None
    return ("user_principal_name '%s': domain '%s' is not a verified domain of the tenant; use one of: %s"
            % (upn, domain, ", ".join(sorted(verified_domains))))


def original_upn(deleted_doc):
    """The UPN a deleted user had.

    Graph renames a deleted user's UPN to <object id without dashes><original UPN>.
    """
    upn = deleted_doc.get("userPrincipalName") or ""
    compact_id = (deleted_doc.get("id") or "").replace("-", "")
    if compact_id and upn.lower().startswith(compact_id.lower()):
        return upn[len(compact_id):]
    return upn


def membership_changes(groups_option, current_groups, resolved):
    """Groups to add the user to and remove it from.

    groups_option: {"add", "remove", "set"}; current_groups: {id: group} of the
    user's direct memberships; resolved: {ref: group}. Dynamic and mail-enabled
    security groups the user is in are never removed by `set` (Graph cannot).
    """
    return relation_changes(groups_option, list(current_groups), lambda ref: resolved[ref]["id"],
                            removable=lambda gid: is_assignable(current_groups[gid]))


def manages_groups(item):
    """Whether the item's groups option asks for anything (set: [] does: it empties)."""
    groups = item.get("groups") or {}
    return groups.get("set") is not None or bool(groups.get("add")) or bool(groups.get("remove"))


def only_groups(objects):
    """The groups among directory objects (memberOf also lists roles and administrative units).

    Read without the /microsoft.graph.group cast so the request works wherever memberOf does.
    """
    return [obj for obj in objects
            if obj.get("@odata.type", "#microsoft.graph.group") == "#microsoft.graph.group"]


def is_dynamic(group):
    return "DynamicMembership" in (group.get("groupTypes") or [])


def is_assignable(group):
    """Members can be added and removed through Graph (not dynamic, not a mail-enabled security group)."""
    if is_dynamic(group):
        return False
    unified = "Unified" in (group.get("groupTypes") or [])
    return unified or not group.get("mailEnabled")


def group_name(group):
    return group.get("uniqueName") or group.get("displayName") or group.get("id")


def get_each(client, urls):
    """GET each URL: through $batch (20 a call), or on its own when there is just one.

    Returns one result per URL with .ok, .status, .body and .error, like BatchResult.
    """
    if len(urls) != 1:
        return client.batch([{"id": str(n), "method": "GET", "url": url} for n, url in enumerate(urls)])
    try:
        return [ReadResult(200, client.get(urls[0]))]
    except GraphError as error:
        if error.status is None:
            raise  # transport or token failure: nothing item-specific about it
        return [ReadResult(error.status, None, error)]


class ReadResult(object):
    """The outcome of one GET sent on its own, shaped like a BatchResult."""

    def __init__(self, status, body, error=None):
        self.status = status
        self.body = body
        self.error = error

    @property
    def ok(self):
        return self.error is None


# ---- one item's plan ---------------------------------------------------------

class UserPlan(Plan):
    """What one item needs: state read, the decided action, requests and diff."""

    def __init__(self, index, item):
        super(UserPlan, self).__init__(index, item, item_key(item))
        self.deleted = None        # deleted Graph user (restore or purge target)
        self.changes = {}          # properties to PATCH (or the POST body on create)
        self.adopted = None        # a user a concurrent run created under this UPN (then updated)
        self.password = None       # to write (given or generated); never shown
        self.password_recorded = False
        self.generated = False
        self.manager_id = None     # current manager's id (when managed)
        self.manager_name = None
        self.manager_target = None  # ("set", ref) / ("remove",) / None
        self.groups = None         # current direct memberships {id: group} (when managed)
        self.groups_resolved = {}
        self.group_adds = []
        self.group_removes = []
        self.new_id = None         # id of a created user

    @property
    def state(self):
        return self.item.get("state") or "present"

    @property
    def user_id(self):
        if self.current:
            return self.current["id"]
        if self.deleted:
            return self.deleted["id"]
        return self.new_id


# ---- the engine --------------------------------------------------------------

class UserEngine(object):
    """Plans and applies a list of user items against one tenant."""

    def __init__(self, client, check_mode=False, directory=None, password_file=None):
        self.client = client
        self.check_mode = check_mode
        self.password_file = PasswordFile(password_file) if password_file else None
        self.directory = directory or Directory(client)
        self.sender = Sender(client)
        self._created_here = set()   # lower-case UPNs of users this run creates
        self._verified_domains = None

    # -- the whole run --

    def run(self, items):
        """Validate, read, decide, then (unless check mode) write in two waves. Raises PasswordFileError
        before anything else when password_file cannot be used safely."""
        if self.password_file is not None:
            self.password_file.check()
        try:
            return engine.run(self, items, self.check_mode)
        finally:
            if self.password_file is not None:
                self.password_file.close()

    # -- the engine's protocol (engine.run calls these in this order) --

    def plan(self, index, item):
        plan = UserPlan(index, item)
        problems = validate_item(item)
        if problems:
            plan.fail("; ".join(problems))
        return plan

    def validate(self, plans):
        self._refuse_duplicates(plans)
        self._check_domains(plans)

    def read(self, plans):
        self._read_current(plans)
        self._read_deleted(plans)
        self._resolve_managers(plans)
        self._resolve_groups(plans)
        self._read_memberships(plans)

    def decide(self, plan):
        self._decide(plan)

    def waves(self):
        """Objects first, then the links that need the ids of the users just created."""
        return [self._object_wave, self._link_wave]

    def _refuse_duplicates(self, plans):
        seen = {}
        for plan in plans:
            key = (plan.key or "").lower()
            if key in seen:
                plan.fail("user %s appears more than once in users (first as item %d); list it once"
                          % (plan.key, seen[key] + 1))
            else:
                seen[key] = plan.index

    # -- reads --

    def _get_each(self, urls):
        return get_each(self.client, urls)

    def verified_domains(self):
        if self._verified_domains is None:
            self._verified_domains = set(d.lower() for d in read_domains(self.client)[0])
        return self._verified_domains

    def _check_domains(self, plans):
        targets = [p for p in plans if not p.failed and p.state == "present" and p.item.get("user_principal_name")]
        if not targets:
            return
        verified = self.verified_domains()
        for plan in targets:
            problem = domain_problem(plan.item["user_principal_name"], verified)
            if problem:
                plan.fail(problem)

    def _read_current(self, plans):
        live = [p for p in plans if not p.failed]
        if not live:
            return
        if len(live) <= KEYED_READ_LIMIT:
            self._read_by_key(live)
            return
        users = self.client.list("/users", select=user_select([p.item for p in live]))
        self.directory.add_users(users)
        by_id = dict((u["id"].lower(), u) for u in users)
        by_upn = dict(((u.get("userPrincipalName") or "").lower(), u) for u in users)
        for plan in live:
            if plan.item.get("id"):
                plan.current = by_id.get(plan.item["id"].lower())
            else:
                plan.current = by_upn.get(plan.item["user_principal_name"].lower())

    def _read_by_key(self, plans):
        select = ",".join(user_select([p.item for p in plans]))
        urls = ["/users/%s?$select=%s" % (quote_key(lookup_key(p.item)), select) for p in plans]
        for plan, result in zip(plans, self._get_each(urls)):
            if result.ok:
                plan.current = result.body
                self.directory.add_users([result.body])
            elif result.status != 404:
                plan.fail(_with_context(result.error, "read user %s" % plan.key))

    def _read_deleted(self, plans):
        """One list read of deleted users, only when an item may be in the recycle bin."""
        wanted = [p for p in plans if not p.failed and p.current is None
                  and (p.state == "present" or p.item.get("permanent"))]
        if not wanted:
            return
        deleted = self.client.list("/directory/deletedItems/microsoft.graph.user", select=DELETED_SELECT)
        # Oldest first, so the most recently deleted twin of a UPN wins the index.
        deleted.sort(key=lambda doc: doc.get("deletedDateTime") or "")
        by_key = {}
        for doc in deleted:
            by_key[doc["id"].lower()] = doc
            for upn in (original_upn(doc), doc.get("mail")):
                if upn:
                    by_key[upn.lower()] = doc
        for plan in wanted:
            plan.deleted = by_key.get(lookup_key(plan.item).lower())

    def _resolve_managers(self, plans):
        """Resolve manager references; a manager created (or restored) in this run is linked afterwards."""
        managed = [p for p in plans if not p.failed and p.state == "present" and p.item.get("manager") is not None]
        if not managed:
            return
        pending = set(p.item["user_principal_name"].lower() for p in plans
                      if not p.failed and p.state == "present" and p.current is None
                      and p.item.get("user_principal_name"))
        self._created_here = pending
        refs = set(p.item["manager"] for p in managed if p.item["manager"] and p.item["manager"].lower() not in pending)
        try:
            self.directory.users(sorted(refs))  # one read for all; misses are reported per item
        except ReferenceError:
            pass
        for plan in managed:
            ref = plan.item["manager"]
            if ref and ref.lower() not in pending:
                try:
                    self.directory.user(ref)
                except ReferenceError as error:
                    plan.fail("manager: %s" % error)
        self._read_current_managers([p for p in managed if not p.failed and p.current is not None])

    def _read_current_managers(self, plans):
        """The current manager of each existing user whose manager is managed: the users by id with their
        manager expanded, IN_CHUNK ids to a filter and 20 filters to a $batch (300 users a request)."""
        if not plans:
            return
        ids = unique(p.current["id"] for p in plans)
        reads = [("/users", {"$filter": in_filter("id", chunk), "$expand": MANAGER_EXPAND}) for chunk in chunks(ids, IN_CHUNK)]
        managers = {}
        for chunk, answer in zip(chunks(ids, IN_CHUNK), list_each(self.client, reads, select=["id"], top=None)):
            if isinstance(answer, Exception):
                for plan in plans:
                    if plan.current["id"] in chunk:
                        plan.fail(_with_context(answer, "read the manager of user %s" % plan.key))
                continue
            for user in answer:
                managers[user["id"].lower()] = user.get("manager")
        # A user the filtered list did not return yet (replication lag after a read by key) is not a user
        # without a manager: its manager is read on its own.
        unseen = [p for p in plans if not p.failed and p.current["id"].lower() not in managers]
        urls = ["/users/%s/manager?$select=%s" % (p.current["id"], MANAGER_SELECT) for p in unseen]
        for plan, result in zip(unseen, get_each(self.client, urls) if urls else []):
            if result.ok:
                managers[plan.current["id"].lower()] = result.body
            elif result.status != 404:  # 404: no manager
                plan.fail(_with_context(result.error, "read the manager of user %s" % plan.key))
        for plan in plans:
            manager = managers.get(plan.current["id"].lower())
            if manager:  # Graph leaves the property out for a user without a manager
                plan.manager_id = manager.get("id")
                plan.manager_name = manager.get("userPrincipalName") or plan.manager_id

    def _resolve_groups(self, plans):
        managed = [p for p in plans if not p.failed and p.state == "present" and manages_groups(p.item)]
        if not managed:
            return
        refs = set()
        for plan in managed:
            for kind in ("add", "remove", "set"):
                refs.update(plan.item["groups"].get(kind) or [])
        try:
            self.directory.groups(sorted(refs))
        except ReferenceError:
            pass  # reported per item below
        for plan in managed:
            for kind in ("add", "remove", "set"):
                for ref in plan.item["groups"].get(kind) or []:
                    try:
                        group = self.directory.group(ref)
                    except ReferenceError as error:
                        plan.fail("groups.%s: %s" % (kind, error))
                        break
                    if is_dynamic(group):
                        plan.fail("groups.%s: '%s' is a dynamic membership group; its members come from its rule "
                                  "and cannot be added or removed. Remove it from groups.%s" % (kind, ref, kind))
                        break
                    plan.groups_resolved[ref] = group
                if plan.failed:
                    break

    def _read_memberships(self, plans):
        """The direct group memberships of existing users whose groups are managed ($batch of GETs)."""
        # A deleted user's memberships cannot be read before it is restored;
        # adding it again to a group it is back in counts as done (see _apply_links).
        managed = [p for p in plans if not p.failed and p.state == "present" and manages_groups(p.item)]
        targets = [p for p in managed if p.current is not None]
        for plan in managed:
            plan.groups = {}
        if not targets:
            return
        paths = ["/users/%s/memberOf" % p.current["id"] for p in targets]
        for plan, answer in zip(targets, list_each(self.client, paths, select=MEMBERSHIP_SELECT)):
            if isinstance(answer, Exception):
                plan.fail(_with_context(answer, "read the groups of user %s" % plan.key))
                continue
            plan.groups = dict((g["id"], g) for g in only_groups(answer))

    # -- planning --

    def _decide(self, plan):
        try:
            if plan.state == "absent":
                self._decide_absent(plan)
            elif plan.current is not None:
                self._decide_update(plan, plan.current, "updated")
            elif plan.deleted is not None:
                self._decide_update(plan, self._restored_doc(plan), "restored")
                plan.action = "restored"
            else:
                self._decide_create(plan)
        except ItemError as error:
            plan.fail(str(error))

    def _decide_absent(self, plan):
        if plan.current is not None:
            plan.action = "deleted"
            plan.before = user_to_options(plan.current)
        elif plan.deleted is not None and plan.item.get("permanent"):
            plan.action = "deleted"
            plan.before = user_to_options(plan.deleted)
        else:
            plan.action = "unchanged"

    def _decide_create(self, plan):
        item = plan.item
        if item.get("id"):
            raise ItemError("no user has id %s (nor has a deleted one); an id cannot be chosen, so leave id out "
                            "to create the user by user_principal_name" % item["id"])
        if not item.get("display_name"):
            raise ItemError("display_name is required to create user %s" % plan.key)
        if item.get("password") is not None:
            plan.password = item["password"]
        else:
            if self.password_file is None and not self.check_mode:
                # Check mode generates nothing, so a drift preview of a spec needs no password_file.
                raise ItemError(
                    "password_file: user %s would get a generated password, and passwords never appear in results; "
                    "set password_file (a file the module appends each password to, mode 0600) or give password"
                    % plan.key)
            plan.password = None if self.check_mode else generate_password()
            plan.generated = True
        plan.changes = create_body(item, plan.password)
        plan.action = "created"
        _changes, _before, plan.after = attribute_changes(dict(item, id=None), {})
        plan.after["user_principal_name"] = item["user_principal_name"]
        plan.after.setdefault("mail_nickname", plan.changes["mailNickname"])
        plan.after.setdefault("account_enabled", plan.changes["accountEnabled"])
        plan.after["password"] = "set"
        self._plan_links(plan)

    def _decide_update(self, plan, doc, action):
        item = plan.item
        plan.changes, plan.before, plan.after = attribute_changes(item, doc)
        if item.get("password") is not None and item.get("update_password") == "always":
            plan.password = item["password"]
            plan.changes["passwordProfile"] = password_profile(item, plan.password)
            plan.before["password"] = "set"
            plan.after["password"] = "set"
        self._plan_links(plan)
        has_links = plan.manager_target or plan.group_adds or plan.group_removes
        plan.action = action if (plan.changes or has_links) else "unchanged"

    def _plan_links(self, plan):
        """Manager and group changes, added to the plan's diff."""
        item = plan.item
        if item.get("manager") is not None:
            want = item["manager"]
            if want == "":
                if plan.manager_id:
                    plan.manager_target = ("remove",)
                    plan.before["manager"], plan.after["manager"] = plan.manager_name, None
            else:
                target = self._manager_id(want)
                if target is None or target != plan.manager_id:
                    plan.manager_target = ("set", want)
                    plan.before["manager"] = plan.manager_name
                    plan.after["manager"] = self._manager_name(want)
        if plan.groups is not None and manages_groups(item):
            plan.group_adds, plan.group_removes = membership_changes(item["groups"], plan.groups, plan.groups_resolved)
            if plan.group_adds or plan.group_removes:
                names = dict((gid, group_name(g)) for gid, g in plan.groups.items())
                names.update((g["id"], group_name(g)) for g in plan.groups_resolved.values())
                current = set(plan.groups)
                after = (current | set(plan.group_adds)) - set(plan.group_removes)
                plan.before["groups"] = sorted(names[gid] for gid in current)
                plan.after["groups"] = sorted(names[gid] for gid in after)

    def _manager_id(self, ref):
        """The manager's id; None for a user this run creates and has not created yet (linked after the
        creates from the run's own answer, never by waiting for Graph to replicate it)."""
        user = self._known_manager(ref)
        return user["id"] if user else None

    def _manager_name(self, ref):
        user = self._known_manager(ref)
        return (user.get("userPrincipalName") if user else None) or ref

    def _known_manager(self, ref):
        if ref.lower() in self._created_here and self.directory.cached_user(ref) is None:
            return None
        try:
            return self.directory.user(ref)
        except ReferenceError:
            return None

    # -- writes --

    def _object_wave(self, plans):
        """Wave 1: create, restore (then update), update, delete (then purge) the user objects."""
        return [writes for writes in (self._object_writes(plan) for plan in plans) if writes]

    def _restored_doc(self, plan):
        """A deleted user as it is once restored: with its own UPN back."""
        return dict(plan.deleted, userPrincipalName=plan.item.get("user_principal_name")
                    or original_upn(plan.deleted))

    def _object_writes(self, plan):
        """The writes for one plan's object changes, in order (a chain when more than one)."""
        if plan.action == "created":
            return [Write(plan, "POST", "/users", plan.changes, "create user %s" % plan.key,
                          on_success=lambda body: self._created(plan, body),
                          reread=lambda: self._reread(plan),
                          on_conflict=lambda error, lost: self._create_conflict(plan, error, lost))]
        writes = []
        if plan.action == "deleted":
            if plan.current is not None:
                writes.append(Write(plan, "DELETE", "/users/%s" % plan.current["id"], context="delete user %s" % plan.key))
            if plan.item.get("permanent"):
                writes.append(Write(plan, "DELETE", "/directory/deletedItems/%s" % plan.user_id,
                                    context="permanently delete user %s" % plan.key))
            return writes
        if plan.action == "restored":
            writes.append(Write(plan, "POST", "/directory/deletedItems/%s/restore" % plan.user_id,
                                context="restore deleted user %s" % plan.key, done_if=restored_if_gone,
                                on_success=lambda body: self._restored(plan)))
        if plan.changes:
            writes.append(self._patch_write(plan, plan.changes))
        return writes

    def _patch_write(self, plan, changes):
        context = "update user %s" % plan.key
        if "passwordProfile" in changes:
            context = "update user %s (a password reset needs the app to hold the User Administrator " \
                      "Entra role, or Privileged Authentication Administrator for an administrator)" % plan.key

        def password_set(_answer):
            self._record_password(plan, plan.action)

        return Write(plan, "PATCH", "/users/%s" % plan.user_id, changes, context,
                     on_success=password_set if "passwordProfile" in changes else None)

    def _created(self, plan, body):
        plan.new_id = body["id"]
        self.sender.created(body["id"])
        self.directory.add_users([body])
        self._record_password(plan, "created")

    def _record_password(self, plan, action):
        """Append the password this run set for the user to password_file (once per user and run)."""
        if plan.password is None or self.password_file is None or plan.password_recorded:
            return
        self.password_file.append(plan.item.get("user_principal_name") or plan.key, plan.user_id, plan.password, action)
        plan.password_recorded = True

    def _restored(self, plan):
        self.sender.created(plan.user_id)
        self.directory.add_users([self._restored_doc(plan)])

    def _reread(self, plan, wait=0):
        """The user a create was meant to make, if it exists (read by UPN), else None."""
        try:
            return self.client.get("/users/%s" % quote_key(plan.item["user_principal_name"]),
                                   params={"$select": ",".join(USER_SELECT)}, retry_not_found=wait)
        except GraphError as error:
            if error.status == 404:
                return None
            raise

    def _create_conflict(self, plan, error, lost_response):
        """The UPN was taken since the read: by this run's own unanswered create, or by a concurrent run.

        Either way the user exists; converge to it. Only a create of this run set the password.
        """
        existing = self._reread(plan, wait=REPLICATION_WAIT)
        if existing is None:
            return None
        if not lost_response:
            plan.password = None
            plan.generated = False
            plan.adopted = existing
        return existing

    def _link_wave(self, plans):
        """Wave 2: manager and group links (they need the ids of users created in wave 1),
        and the update of a user a concurrent run created."""
        writes = []
        for plan in plans:
            if plan.action == "deleted" or not plan.user_id:
                continue
            if plan.adopted is not None:
                changes, _before, _after = attribute_changes(dict(plan.item, id=None), plan.adopted)
                if changes:
                    writes.append(self._patch_write(plan, changes))
            writes.extend(self._link_writes(plan))
        return writes

    def _link_writes(self, plan):
        writes = []
        user_id = plan.user_id
        base = self.client.base_url
        if plan.manager_target == ("remove",):
            writes.append(Write(plan, "DELETE", "/users/%s/manager/$ref" % user_id,
                                context="remove the manager of user %s" % plan.key))
        elif plan.manager_target:
            manager_id = self._manager_id(plan.manager_target[1])
            if manager_id is None:
                plan.fail("manager: no user found for '%s'" % plan.manager_target[1])
                return []
            writes.append(Write(plan, "PUT", "/users/%s/manager/$ref" % user_id, odata_ref(base, manager_id),
                                "set the manager of user %s" % plan.key))
        names = dict((g["id"], group_name(g)) for g in plan.groups_resolved.values())
        names.update((gid, group_name(g)) for gid, g in (plan.groups or {}).items())
        for gid in plan.group_adds:
            writes.append(Write(plan, "POST", "/groups/%s/members/$ref" % gid, odata_ref(base, user_id),
                                "add user %s to group %s" % (plan.key, names.get(gid, gid))))
        for gid in plan.group_removes:
            writes.append(Write(plan, "DELETE", "/groups/%s/members/%s/$ref" % (gid, user_id),
                                context="remove user %s from group %s" % (plan.key, names.get(gid, gid))))
        return writes

    # -- results --

    def predicted_object(self, plan):
        """The user as it is (or, in check mode, will be) after the plan, in option names."""
        if plan.action == "deleted" or (plan.action == "unchanged" and plan.state == "absent"):
            base = plan.current or plan.deleted
            return user_to_options(base) if base else None
        if plan.action == "created":
            doc = dict((k, v) for k, v in plan.changes.items() if k != "passwordProfile")
            doc["id"] = plan.new_id
        else:
            if plan.current is None and plan.deleted is None:
                return None
            base = plan.current or self._restored_doc(plan)
            doc = apply_changes(base, dict((k, v) for k, v in plan.changes.items() if k != "passwordProfile"))
        manager = None
        if plan.item.get("manager") is not None:
            manager = plan.after.get("manager", plan.manager_name) if "manager" in plan.after else plan.manager_name
        groups = None
        if plan.groups is not None and manages_groups(plan.item):
            groups = plan.after.get("groups") if "groups" in plan.after else sorted(
                group_name(g) for g in plan.groups.values())
        return user_to_options(doc, manager=manager, groups=groups)


def _with_context(error, context):
    if isinstance(error, GraphError) and context and not error.context:
        error.context = context
    return error
