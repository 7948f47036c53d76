# -*- coding: utf-8 -*-
# Copyright (c) the m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic membership rules of Microsoft Entra groups: parse, validate, evaluate.

Used by the group modules (validate a rule before any write, preview the members in check
mode) and by the Graph sandbox (compute the members of dynamic groups), so both agree. Pure
standard library, no Ansible imports, Python 3.9+.

Public API::

    rule = parse('(user.department -eq "Sales") -and (user.accountEnabled -eq true)')
    rule.matches(user_json)            # user_json: a Graph user object (camelCase keys)
    rule.filter(users)                 # the matching ones, in order
    rule.properties()                  # Graph properties the rule reads, for $select
    rule_properties_select(text)       # "accountEnabled,department,displayName,id,..."
    validate(text)                     # raises RuleError

Grammar (Microsoft Entra "Manage rules for dynamic membership groups", FIDELITY.md section 3)::

    rule        := or_expr
    or_expr     := and_expr ( -or and_expr )*
    and_expr    := not_expr ( -and not_expr )*
    not_expr    := -not not_expr | primary
    primary     := "(" or_expr ")" | condition
    condition   := property comparison-op value
                 | property (-any | -all) "(" or_expr ")"
                 | property (-any | -all) or_expr

so comparisons bind tightest, then -not, -and, -or, and -any/-all loosest: written without
parentheses, `-any` takes everything up to the closing parenthesis or the end of the rule;
with parentheses (the usual form) it ends at the matching ")", so
`user.proxyAddresses -any (_ -startsWith "smtp") -and user.city -eq "x"` is an -and. The
inner expression names one item of the collection (`_` for a string collection,
`assignedPlan.<name>` for assignedPlans, `group.objectId` for memberOf); anything else there is
an error, so `user.otherMails -any _ -eq "a" -and user.city -eq "b"` needs parentheses.

Choices where the documentation is silent or loose (kept deliberately):

* Operators are case-insensitive, with or without the leading hyphen (`-eq`, `eq`, `-EQ`);
  an en dash (as in copies of the documentation's examples) counts as a hyphen.
* Property names: the documentation calls them case-sensitive but its own examples mix
  `mailNickName`/`mailNickname` and `employeehiredate`. We accept any case and normalise to
  the documented spelling; `Rule.text` keeps what the user wrote.
* Values: double-quoted strings; a backtick escapes the next double quote or backtick; a
  doubled single quote stands for one single quote. Single-quoted strings and unquoted single
  tokens are accepted too. `null` and `$null` unquoted mean null; `"null"` is the string.
* String comparisons and regular expressions are case-insensitive (str.casefold). -match uses
  Python's `re.search` (the .NET and Python syntaxes agree on the common subset).
* Null (missing, None or "") string properties: `-eq null` is true, `-ne null` false;
  `-ne "x"` and `-notIn [...]` are true ("not equal to"), every other operator is false,
  including -notStartsWith, -notEndsWith, -notContains and -notMatch.
* Booleans: a missing value counts as false (`dirSyncEnabled` is Graph's
  `onPremisesSyncEnabled`, null for cloud-only users); `-eq null` is true only when missing.
* String collections (otherMails, proxyAddresses) used directly with a comparison operator
  (`user.otherMails -endsWith "@contoso.com"`) are true when any item matches; the negated
  operators are true when no item matches the positive form. -all over an empty collection is
  true (so `user.assignedPlans -all (assignedPlan.servicePlanId -eq null)` selects users with
  no plans, as the documentation says).
* employeeHireDate takes -eq -ne -le -ge with an ISO 8601 date/time (UTC when no offset) or
  `system.now`, optionally `-plus`/`-minus` an ISO 8601 duration of weeks, days, hours,
  minutes and seconds (`p1d`, `PT12H`); years and months are refused. The documentation
  shows `system.now -plus p1d`; `-minus` and the parenthesised `(system.now -minus P30D)`
  are the forms published rules use, accepted too. A negative duration (`p-30d`) is refused
  with a pointer to `-minus`.
* Rule property -> Graph user JSON: objectId -> id, mailNickName -> mailNickname,
  physicalDeliveryOfficeName -> officeLocation, facsimileTelephoneNumber -> faxNumber,
  mobile -> mobilePhone, telephoneNumber -> businessPhones[0], dirSyncEnabled ->
  onPremisesSyncEnabled, sipProxyAddress -> the proxyAddresses entry with prefix `SIP:`
  (without the prefix), extensionAttribute1..15 -> onPremisesExtensionAttributes,
  extension_<appid>_<name> -> the same key; the rest keep their names.
* memberOf (preview) is accepted only alone (`user.memberOf -any (group.objectId -in [...])`),
  as the documentation requires; it is a relationship, not a property, so `properties()`
  leaves it out and `Rule.uses_member_of` tells the caller to supply `memberOf` (a list of
  group ids or {"id": ...} objects) in each user dict.
* Device rules (`device.<property>`) are validated against the documented device properties
  and evaluated with a best-effort mapping to Graph device JSON; a rule cannot mix both.
* The 3,072-character limit counts the rule text exactly as given. Parentheses and -not may
  nest at most 50 deep (our assumption; Entra's own limit is not documented).
* An unknown operator names the closest valid one (`-contians` -> "did you mean '-contains'?"),
  an unknown property the closest property.

Errors raise RuleError (a ValueError) with `.reason` and `.position` (0-based character offset);
str() reads "Dynamic membership rule validation error: <reason> at position <n>".
"""

from __future__ import absolute_import, division, print_function

import datetime
import difflib
import re

__metaclass__ = type

MAX_RULE_LENGTH = 3072
ERROR_PREFIX = "Dynamic membership rule validation error: "


class RuleError(ValueError):
    """An invalid rule: `reason` says what is wrong, `position` where (0-based)."""

    def __init__(self, reason, position=0):
        self.reason = reason
        self.position = position
        super(RuleError, self).__init__("%s%s at position %d" % (ERROR_PREFIX, reason, position))


# --------------------------------------------------------------------------------------------
# Operators

COMPARISON_OPERATORS = (
    "eq", "ne", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "contains",
    "notContains", "match", "notMatch", "in", "notIn", "le", "ge",
)
COLLECTION_OPERATORS = ("any", "all")
LOGICAL_OPERATORS = ("and", "or", "not")
DATE_MODIFIERS = ("plus", "minus")
ALL_OPERATORS = COMPARISON_OPERATORS + COLLECTION_OPERATORS + LOGICAL_OPERATORS
_OPERATOR_BY_LOWER = dict((name.lower(), name) for name in ALL_OPERATORS + DATE_MODIFIERS)

# Operators a property type allows (string types allow all but -le/-ge).
_OPERATORS_BY_KIND = {"bool": ("eq", "ne"), "date": ("eq", "ne", "le", "ge")}
# Parentheses and -not nest at most this deep (keeps parsing and evaluation off Python's
# recursion limit).
MAX_NESTING = 50

# Negated operator -> the positive operator it negates.
_NEGATIONS = {
    "ne": "eq", "notStartsWith": "startsWith", "notEndsWith": "endsWith",
    "notContains": "contains", "notMatch": "match", "notIn": "in",
}
# Negated operators that are true for a null value ("not equal to").
_TRUE_ON_NULL = ("ne", "notIn")


def _suggest(word, candidates):
    matches = difflib.get_close_matches(word.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not matches:
        return None
    return [c for c in candidates if c.lower() == matches[0]][0]


def _unknown_operator(token, candidates):
    name = token.text.lstrip(_HYPHENS)
    guess = _suggest(name, candidates)
    reason = "Unknown operator '%s'" % token.text
    if guess:
        reason += "; did you mean '-%s'?" % guess
    return RuleError(reason, token.pos)


# --------------------------------------------------------------------------------------------
# Properties

class _Property:
    """One property a rule can name: how to read it from a Graph object and what type it is."""

    __slots__ = ("name", "kind", "graph_name", "get")

    # kinds: string, bool, date, strings (string collection), plans, memberof (object collections)
    def __init__(self, name, kind, graph_name, getter=None):
        self.name = name
        self.kind = kind
        self.graph_name = graph_name
        self.get = getter or _key_getter(graph_name)


def _key_getter(key):
    def get(obj):
        return obj.get(key)
    return get


def _first_item_getter(key):
    def get(obj):
        items = obj.get(key)
        return items[0] if items else None
    return get


def _nested_getter(outer, inner):
    def get(obj):
        nested = obj.get(outer)
        return nested.get(inner) if nested else None
    return get


def _sip_proxy_address(obj):
    for address in obj.get("proxyAddresses") or ():
        if address[:4].lower() == "sip:":
            return address[4:]
    return None


def _identity(item):
    return item


def _group_id(item):
    return item.get("id") if isinstance(item, dict) else item


def _properties_table(entries):
    return dict((entry.name.lower(), entry) for entry in entries)


_USER_STRINGS = (
    "city", "country", "companyName", "department", "displayName", "employeeId", "givenName",
    "jobTitle", "mail", "onPremisesDistinguishedName", "onPremisesSecurityIdentifier",
    "passwordPolicies", "postalCode", "preferredLanguage", "state", "streetAddress", "surname",
    "usageLocation", "userPrincipalName", "userType",
)
USER_PROPERTIES = _properties_table(
    [_Property(name, "string", name) for name in _USER_STRINGS] + [
        _Property("accountEnabled", "bool", "accountEnabled"),
        _Property("dirSyncEnabled", "bool", "onPremisesSyncEnabled"),
        _Property("employeeHireDate", "date", "employeeHireDate"),
        _Property("facsimileTelephoneNumber", "string", "faxNumber"),
        _Property("mailNickName", "string", "mailNickname"),
        _Property("mobile", "string", "mobilePhone"),
        _Property("objectId", "string", "id"),
        _Property("physicalDeliveryOfficeName", "string", "officeLocation"),
        _Property("sipProxyAddress", "string", "proxyAddresses", _sip_proxy_address),
        _Property("telephoneNumber", "string", "businessPhones", _first_item_getter("businessPhones")),
        _Property("otherMails", "strings", "otherMails"),
        _Property("proxyAddresses", "strings", "proxyAddresses"),
        _Property("assignedPlans", "plans", "assignedPlans"),
        _Property("memberOf", "memberof", None, _key_getter("memberOf")),
    ] + [
        _Property("extensionAttribute%d" % n, "string", "onPremisesExtensionAttributes",
                  _nested_getter("onPremisesExtensionAttributes", "extensionAttribute%d" % n))
        for n in range(1, 16)
    ]
)

_DEVICE_RENAMES = {
    "deviceManufacturer": "manufacturer", "deviceModel": "model", "deviceOSType": "operatingSystem",
    "deviceOSVersion": "operatingSystemVersion", "deviceTrustType": "trustType", "objectId": "id",
}
_DEVICE_STRINGS = (
    "deviceCategory", "deviceId", "deviceManagementAppId", "deviceManufacturer", "deviceModel",
    "displayName", "deviceOSType", "deviceOSVersion", "deviceOwnership", "deviceTrustType",
    "enrollmentProfileName", "managementType", "objectId", "profileType",
)
DEVICE_PROPERTIES = _properties_table(
    [_Property(name, "string", _DEVICE_RENAMES.get(name, name)) for name in _DEVICE_STRINGS] + [
        _Property("accountEnabled", "bool", "accountEnabled"),
        _Property("isRooted", "bool", "isRooted"),
        _Property("devicePhysicalIds", "strings", "physicalIds"),
        _Property("systemLabels", "strings", "systemLabels"),
        _Property("memberOf", "memberof", None, _key_getter("memberOf")),
    ] + [
        _Property("extensionAttribute%d" % n, "string", "extensionAttributes",
                  _nested_getter("extensionAttributes", "extensionAttribute%d" % n))
        for n in range(1, 16)
    ]
)

_OBJECT_PROPERTIES = {"user": USER_PROPERTIES, "device": DEVICE_PROPERTIES}
_CUSTOM_EXTENSION = re.compile(r"^extension_[0-9a-f]{32}_\w+$", re.IGNORECASE)

_ASSIGNED_PLAN_PROPERTIES = _properties_table(
    [_Property(name, "string", name) for name in ("capabilityStatus", "service", "servicePlanId")]
)


class _ItemScope:
    """What the inner expression of -any/-all can name: one item of a collection."""

    def __init__(self, operator, collection, prefix, properties):
        self.operator = operator          # "any" or "all"
        self.collection = collection      # e.g. "user.assignedPlans"
        self.prefix = prefix              # "_", "assignedPlan" or "group"
        self.properties = properties      # lower name -> _Property (empty for "_")


def _item_scope(operator, prop, object_type):
    label = "%s.%s" % (object_type, prop.name)
    if prop.kind == "strings":
        return _ItemScope(operator, label, "_", {})
    if prop.kind == "plans":
        return _ItemScope(operator, label, "assignedPlan", _ASSIGNED_PLAN_PROPERTIES)
    return _ItemScope(operator, label, "group", _properties_table([_Property("objectId", "string", "id", _group_id)]))


# --------------------------------------------------------------------------------------------
# Tokenizer

class _Token:
    __slots__ = ("kind", "text", "value", "pos")

    # kinds: "op" (-name), "word" (unquoted), "string" (quoted), "(", ")", "[", "]", ",", "end"
    def __init__(self, kind, text, value, pos):
        self.kind = kind
        self.text = text
        self.value = value
        self.pos = pos

    def describe(self):
        if self.kind == "end":
            return "the end of the rule"
        return "'%s'" % self.text


_HYPHENS = "-\u2013\u2014"
_PUNCTUATION = "()[],"
_WORD_STOP = set(_PUNCTUATION + '"')
_OPERATOR_NAME = re.compile(r"[A-Za-z]+")


def _tokenize(text):
    tokens = []
    pos = 0
    length = len(text)
    while pos < length:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char in _PUNCTUATION:
            tokens.append(_Token(char, char, char, pos))
            pos += 1
        elif char == '"':
            pos = _read_string(text, pos, '"', tokens)
        elif char == "'":
            pos = _read_string(text, pos, "'", tokens)
        elif char in _HYPHENS and _OPERATOR_NAME.match(text, pos + 1):
            name = _OPERATOR_NAME.match(text, pos + 1).group(0)
            end = pos + 1 + len(name)
            tokens.append(_Token("op", text[pos:end], name, pos))
            pos = end
        else:
            pos = _read_word(text, pos, tokens)
    tokens.append(_Token("end", "", None, length))
    return tokens


def _read_string(text, start, quote, tokens):
    """Read a quoted string; backtick escapes `"`/backtick, and '' stands for '."""
    chars = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        following = text[pos + 1] if pos + 1 < len(text) else ""
        if char == "`" and following in ('"', "`"):
            chars.append(following)
            pos += 2
        elif char == "'" and following == "'":
            chars.append("'")
            pos += 2
        elif char == quote:
            tokens.append(_Token("string", text[start:pos + 1], "".join(chars), start))
            return pos + 1
        else:
            chars.append(char)
            pos += 1
    raise RuleError("Unterminated string: the quote is never closed", start)


def _read_word(text, start, tokens):
    """Read an unquoted token (property name, keyword or bare value) up to a space or bracket."""
    chars = []
    pos = start
    while pos < len(text):
        char = text[pos]
        following = text[pos + 1] if pos + 1 < len(text) else ""
        if char.isspace() or char in _WORD_STOP:
            break
        if char == "`" and following in ('"', "`"):
            chars.append(following)
            pos += 2
        elif char == "'" and following == "'":
            chars.append("'")
            pos += 2
        else:
            chars.append(char)
            pos += 1
    tokens.append(_Token("word", text[start:pos], "".join(chars), start))
    return pos


def _check_parentheses(tokens):
    open_positions = []
    for token in tokens:
        if token.kind == "(":
            open_positions.append(token.pos)
        elif token.kind == ")":
            if not open_positions:
                raise RuleError("Unbalanced parentheses: ')' has no matching '('", token.pos)
            open_positions.pop()
    if open_positions:
        raise RuleError("Unbalanced parentheses: '(' is never closed", open_positions[-1])


# --------------------------------------------------------------------------------------------
# Values

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text, negative=False):
    """ISO 8601 duration (weeks, days, hours, minutes, seconds) -> timedelta (negated if asked), or None."""
    found = _DURATION.match(text)
    if not found or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        return None
    parts = dict((key, int(value)) for key, value in found.groupdict().items() if value)
    duration = datetime.timedelta(**parts)
    return -duration if negative else duration


_FRACTION = re.compile(r"\.(\d+)")


def parse_datetime(text):
    """ISO 8601 date or date-time -> aware datetime (UTC when no offset), or None."""
    if isinstance(text, datetime.datetime):
        return text if text.tzinfo else text.replace(tzinfo=datetime.timezone.utc)
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    # Python 3.9's fromisoformat takes exactly 3 or 6 fraction digits; Graph sends 0 to 7.
    value = _FRACTION.sub(lambda found: "." + (found.group(1) + "00000")[:6], value)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


class _Now:
    """`system.now` with an optional offset, resolved when the rule is evaluated."""

    def __init__(self, offset):
        self.offset = offset

    def at(self, now):
        return now + self.offset


# --------------------------------------------------------------------------------------------
# Expression nodes

class _Or:
    def __init__(self, children):
        self.children = children

    def evaluate(self, obj, now):
        for child in self.children:
            if child.evaluate(obj, now):
                return True
        return False


class _And:
    def __init__(self, children):
        self.children = children

    def evaluate(self, obj, now):
        for child in self.children:
            if not child.evaluate(obj, now):
                return False
        return True


class _Not:
    def __init__(self, child):
        self.children = [child]

    def evaluate(self, obj, now):
        return not self.children[0].evaluate(obj, now)


class _Comparison:
    children = ()

    def __init__(self, prop, operator, test):
        self.prop = prop
        self.operator = operator
        self._get = prop.get
        self._test = test       # test(value, now) -> bool

    def evaluate(self, obj, now):
        return self._test(self._get(obj), now)


class _Collection:
    children = ()

    def __init__(self, prop, operator, inner):
        self.prop = prop
        self.operator = operator
        self.inner = inner

    def evaluate(self, obj, now):
        items = self.prop.get(obj) or ()
        inner = self.inner
        if self.operator == "any":
            return any(inner.evaluate(item, now) for item in items)
        return all(inner.evaluate(item, now) for item in items)


# --------------------------------------------------------------------------------------------
# Comparison tests: each builder returns test(value, now) -> bool for one operator and operand.

def _as_text(value):
    return value if isinstance(value, str) else str(value)


def _positive_string_test(operator, operand):
    """Test for a non-null string value; operand is casefolded (a set for -in, a regex for -match)."""
    if operator == "eq":
        return lambda value: _as_text(value).casefold() == operand
    if operator == "startsWith":
        return lambda value: _as_text(value).casefold().startswith(operand)
    if operator == "endsWith":
        return lambda value: _as_text(value).casefold().endswith(operand)
    if operator == "contains":
        return lambda value: operand in _as_text(value).casefold()
    if operator == "match":
        return lambda value: operand.search(_as_text(value)) is not None
    return lambda value: _as_text(value).casefold() in operand     # "in"


def _is_empty(value):
    return value is None or value == "" or value == []


def _null_test(operator):
    if operator == "eq":
        return lambda value, now: _is_empty(value)
    return lambda value, now: not _is_empty(value)


def _string_test(operator, operand):
    if operand is None:
        return _null_test(operator)
    positive = _positive_string_test(_NEGATIONS.get(operator, operator), operand)
    if operator not in _NEGATIONS:
        return lambda value, now: not _is_empty(value) and positive(value)
    on_null = operator in _TRUE_ON_NULL
    return lambda value, now: on_null if _is_empty(value) else not positive(value)


def _string_collection_test(operator, operand):
    """A comparison applied directly to a string collection: any item (or no item, if negated)."""
    if operand is None:
        return _null_test(operator)
    positive = _positive_string_test(_NEGATIONS.get(operator, operator), operand)

    def any_item(items):
        return any(positive(item) for item in items or () if not _is_empty(item))

    if operator in _NEGATIONS:
        return lambda items, now: not any_item(items)
    return lambda items, now: any_item(items)


def _bool_test(operator, operand):
    if operand is None:
        return lambda value, now: (value is None) == (operator == "eq")
    if operator == "eq":
        return lambda value, now: bool(value) == operand
    return lambda value, now: bool(value) != operand


_DATE_COMPARE = {
    "eq": lambda left, right: left == right,
    "ne": lambda left, right: left != right,
    "le": lambda left, right: left <= right,
    "ge": lambda left, right: left >= right,
}


def _date_test(operator, operand):
    if operand is None:
        return lambda value, now: (parse_datetime(value) is None) == (operator == "eq")
    compare = _DATE_COMPARE[operator]

    def test(value, now):
        when = parse_datetime(value)
        if when is None:
            return operator == "ne"
        target = operand.at(now) if isinstance(operand, _Now) else operand
        return compare(when, target)
    return test


# --------------------------------------------------------------------------------------------
# Parser

class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.object_type = None
        self.uses_now = False
        self.member_of_token = None
        self.condition_count = 0
        self.depth = 0

    # token helpers
    def peek(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def keyword(self, token):
        """The operator a token names (canonical spelling), '' if none; words count too."""
        if token.kind not in ("op", "word"):
            return ""
        return _OPERATOR_BY_LOWER.get(token.value.lower(), "")

    def logical(self, token):
        name = self.keyword(token)
        return name if name in LOGICAL_OPERATORS else ""

    def unexpected(self, token, expected):
        if token.kind == "op" and not self.keyword(token):
            return _unknown_operator(token, ("and", "or"))
        return RuleError("Unexpected %s; expected %s" % (token.describe(), expected), token.pos)

    # grammar
    def parse(self):
        if self.peek().kind == "end":
            raise RuleError("The rule is empty", 0)
        _check_parentheses(self.tokens)
        root = self.parse_or(None)
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token, "-and, -or or the end of the rule (quote values that "
                                         "contain spaces)")
        if self.member_of_token is not None and self.condition_count > 1:
            raise RuleError("memberOf cannot be combined with other conditions",
                            self.member_of_token.pos)
        return root

    def parse_or(self, scope):
        children = [self.parse_and(scope)]
        while self.logical(self.peek()) == "or":
            self.advance()
            children.append(self.parse_and(scope))
        return children[0] if len(children) == 1 else _Or(children)

    def parse_and(self, scope):
        children = [self.parse_not(scope)]
        while self.logical(self.peek()) == "and":
            self.advance()
            children.append(self.parse_not(scope))
        return children[0] if len(children) == 1 else _And(children)

    def parse_not(self, scope):
        token = self.peek()
        if self.logical(token) == "not":
            self.advance()
            self.enter(token)
            node = _Not(self.parse_not(scope))
            self.depth -= 1
            return node
        return self.parse_primary(scope)

    def parse_primary(self, scope):
        token = self.peek()
        if token.kind == "(":
            self.advance()
            self.enter(token)
            node = self.parse_or(scope)
            closing = self.advance()
            if closing.kind != ")":
                raise self.unexpected(closing, "-and, -or or ')'")
            self.depth -= 1
            return node
        return self.parse_condition(scope)

    def enter(self, token):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise RuleError("Parentheses and -not are nested more than %d deep" % MAX_NESTING, token.pos)

    def parse_condition(self, scope):
        token = self.advance()
        if token.kind != "word" or self.keyword(token):
            if token.kind == "end" or self.logical(token):
                what = "Missing expression"
            else:
                what = "Expected a property such as user.department"
            raise RuleError("%s, found %s" % (what, token.describe()), token.pos)
        prop, label = self.resolve_property(token, scope)
        if scope is None:
            self.condition_count += 1
        op_token = self.advance()
        operator = self.comparison_operator(op_token, label)
        if operator in COLLECTION_OPERATORS:
            return self.parse_collection(prop, label, operator, op_token)
        return self.parse_comparison(prop, label, operator, op_token)

    def comparison_operator(self, token, label):
        if token.kind not in ("op", "word"):
            raise RuleError("Missing operator after '%s', found %s" % (label, token.describe()), token.pos)
        name = self.keyword(token)
        if not name:
            raise _unknown_operator(token, COMPARISON_OPERATORS + COLLECTION_OPERATORS)
        if name == "not":
            if self.keyword(self.peek()) == "" and self.peek().kind == "word" \
                    and self.peek().value.lower() in ("null", "$null"):
                reason = "-not cannot be used with null; use -ne null"
            else:
                reason = "-not is a logical operator and cannot compare '%s' with a value; use -ne" % label
            raise RuleError(reason, token.pos)
        if name in ("and", "or") or name in DATE_MODIFIERS:
            raise RuleError("Expected a comparison operator after '%s', found '%s'" % (label, token.text),
                            token.pos)
        return name

    def resolve_property(self, token, scope):
        """Return (_Property, label) for a property token, checking it is allowed here."""
        name = token.value
        if scope is not None:
            return self.resolve_item_property(token, scope)
        object_name, dot, short = name.partition(".")
        object_type = object_name.lower()
        if name == "_" or object_type in ("assignedplan", "group"):
            raise RuleError("'%s' can only be used inside -any or -all" % name, token.pos)
        if not dot or object_type not in _OBJECT_PROPERTIES:
            raise RuleError("Unknown property '%s'; properties are written user.<name> or "
                            "device.<name>" % name, token.pos)
        if self.object_type is not None and self.object_type != object_type:
            raise RuleError("A rule cannot mix user and device properties ('%s')" % name, token.pos)
        self.object_type = object_type
        table = _OBJECT_PROPERTIES[object_type]
        prop = table.get(short.lower())
        if prop is None and _CUSTOM_EXTENSION.match(short):
            prop = _Property(short, "string", short)
        if prop is None:
            reason = "Unknown property '%s'" % name
            guess = _suggest(short, [entry.name for entry in table.values()])
            if guess:
                reason += "; did you mean '%s.%s'?" % (object_type, guess)
            raise RuleError(reason, token.pos)
        if prop.kind == "memberof":
            self.member_of_token = token
        return prop, "%s.%s" % (object_type, prop.name)

    def resolve_item_property(self, token, scope):
        name = token.value
        if scope.prefix == "_":
            if name == "_":
                return _Property("_", "string", None, _identity), "_"
            raise RuleError("Invalid operands found for operator -%s: only '_' can be used inside "
                            "a condition on %s, found '%s' (put the -%s condition in parentheses)"
                            % (scope.operator, scope.collection, name, scope.operator), token.pos)
        prefix, dot, short = name.partition(".")
        prop = scope.properties.get(short.lower()) if prefix.lower() == scope.prefix.lower() else None
        if prop is None:
            allowed = ", ".join("%s.%s" % (scope.prefix, entry.name) for entry in scope.properties.values())
            reason = ("Invalid operands found for operator -%s: unknown property '%s' inside a "
                      "condition on %s; use %s" % (scope.operator, name, scope.collection, allowed))
            if prefix.lower() != scope.prefix.lower():
                reason += " (put the -%s condition in parentheses)" % scope.operator
            raise RuleError(reason, token.pos)
        return prop, "%s.%s" % (scope.prefix, prop.name)

    def parse_collection(self, prop, label, operator, op_token):
        if prop.kind not in ("strings", "plans", "memberof"):
            raise RuleError("Invalid operands found for operator -%s: '%s' is not a collection "
                            "(use otherMails, proxyAddresses, assignedPlans or memberOf)"
                            % (operator, label), op_token.pos)
        scope = _item_scope(operator, prop, self.object_type)
        token = self.peek()
        if token.kind == "end" or token.kind == ")" or self.logical(token) in ("and", "or"):
            raise RuleError("Missing condition after -%s" % operator, token.pos)
        if token.kind == "(":
            inner = self.parse_primary(scope)
        else:
            # -any/-all bind loosest: without parentheses they take the rest of the expression.
            inner = self.parse_or(scope)
        return _Collection(prop, operator, inner)

    def parse_comparison(self, prop, label, operator, op_token):
        if prop.kind in ("plans", "memberof"):
            raise RuleError("'%s' can only be used with -any or -all" % label, op_token.pos)
        if operator in ("le", "ge") and prop.kind != "date":
            raise RuleError("-%s can only be used with employeeHireDate, not '%s'" % (operator, label),
                            op_token.pos)
        allowed = _OPERATORS_BY_KIND.get(prop.kind)
        if allowed and operator not in allowed:
            raise RuleError("-%s cannot be used with the %s property '%s'; use %s"
                            % (operator, prop.kind, label, " or ".join("-" + name for name in allowed)),
                            op_token.pos)
        value_token = self.peek()
        if value_token.kind in ("end", ")", "]", ",", "op") or self.logical(value_token):
            raise RuleError("Missing value after -%s" % operator, value_token.pos)
        if operator in ("in", "notIn"):
            operand = set(self.parse_list(operator))
            return _Comparison(prop, operator, self.test_for(prop, operator, operand))
        if value_token.kind == "[":
            raise RuleError("A list of values can only be used with -in or -notIn", value_token.pos)
        self.advance()
        if value_token.kind == "word" and value_token.value.lower() in ("null", "$null"):
            if operator not in ("eq", "ne"):
                raise RuleError("null can only be compared with -eq or -ne, not -%s" % operator,
                                value_token.pos)
            return _Comparison(prop, operator, self.test_for(prop, operator, None))
        operand = self.typed_value(prop, label, operator, value_token)
        return _Comparison(prop, operator, self.test_for(prop, operator, operand))

    def parse_list(self, operator):
        opening = self.advance()
        if opening.kind != "[":
            raise RuleError('-%s needs a list of values in brackets, e.g. ["a","b"]' % operator, opening.pos)
        values = []
        while True:
            token = self.advance()
            if token.kind in ("string", "word") and not self.keyword(token):
                if token.kind == "word" and token.value.lower() in ("null", "$null"):
                    raise RuleError("null cannot be used in an -%s list" % operator, token.pos)
                values.append(token.value.casefold())
            elif token.kind == "]" and not values:
                raise RuleError("The -%s list is empty" % operator, token.pos)
            else:
                raise RuleError("Expected a value in the -%s list, found %s" % (operator, token.describe()),
                                token.pos)
            separator = self.advance()
            if separator.kind == "]":
                return values
            if separator.kind != ",":
                raise RuleError("Expected ',' or ']' in the -%s list, found %s"
                                % (operator, separator.describe()), separator.pos)

    def typed_value(self, prop, label, operator, token):
        """Check the value suits the property and operator; return the comparison operand."""
        text = token.value
        if prop.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise RuleError("'%s' expects true or false, found %s" % (label, token.describe()), token.pos)
            return text.lower() == "true"
        if prop.kind == "date":
            return self.date_value(label, token)
        if operator in ("match", "notMatch"):
            try:
                return re.compile(text, re.IGNORECASE)
            except re.error as error:
                raise RuleError("Invalid regular expression for -%s: %s" % (operator, error.msg), token.pos)
        return text.casefold()

    def date_value(self, label, token):
        if token.kind == "(":
            return self.bracketed_now(label, token)
        if token.kind == "word" and token.value.lower() == "system.now":
            self.uses_now = True
            return _Now(self.date_offset())
        when = parse_datetime(token.value)
        if when is None:
            raise RuleError("Invalid date/time %s for '%s'; use ISO 8601 such as 2020-06-10T18:13:20Z "
                            "or system.now" % (token.describe(), label), token.pos)
        return when

    def bracketed_now(self, label, opening):
        """`(system.now -minus P30D)`: the parenthesised form common in published rules."""
        inner = self.advance()
        if inner.kind != "word" or inner.value.lower() != "system.now":
            raise RuleError("Only system.now with -plus or -minus can stand in parentheses as the value of "
                            "'%s', found %s" % (label, inner.describe()), inner.pos)
        value = self.date_value(label, inner)
        closing = self.advance()
        if closing.kind != ")":
            raise RuleError("Expected ')' to close the '(' at position %d, found %s"
                            % (opening.pos, closing.describe()), closing.pos)
        return value

    def date_offset(self):
        """The optional `-plus P1D` / `-minus PT2H` after system.now."""
        sign = self.keyword(self.peek())
        if sign not in DATE_MODIFIERS:
            return datetime.timedelta(0)
        self.advance()
        token = self.advance()
        is_duration = token.kind in ("word", "string")
        offset = parse_duration(token.value, negative=sign == "minus") if is_duration else None
        if offset is None and is_duration and token.value[1:2] == "-":
            raise RuleError("A duration cannot be negative; write system.now -minus %s instead of -%s %s"
                            % (token.value[:1] + token.value[2:], sign, token.value), token.pos)
        if offset is None:
            raise RuleError("Expected an ISO 8601 duration such as p1d or pt12h after -%s, found %s"
                            % (sign, token.describe()), token.pos)
        return offset

    def test_for(self, prop, operator, operand):
        if prop.kind == "bool":
            return _bool_test(operator, operand)
        if prop.kind == "date":
            return _date_test(operator, operand)
        if prop.kind == "strings":
            return _string_collection_test(operator, operand)
        return _string_test(operator, operand)


# --------------------------------------------------------------------------------------------
# Public API

class Rule:
    """A parsed rule. `matches(obj)` evaluates it against one Graph user (or device) dict."""

    def __init__(self, text, root, object_type, uses_now, uses_member_of):
        self.text = text
        self.object_type = object_type      # "user" or "device"
        self.uses_now = uses_now            # reads system.now
        self.uses_member_of = uses_member_of
        self._root = root

    def matches(self, obj, now=None):
        if now is None and self.uses_now:
            now = datetime.datetime.now(datetime.timezone.utc)
        return bool(self._root.evaluate(obj, now))

    def filter(self, objects, now=None):
        """The objects that match, in their order (system.now read once for all)."""
        if now is None and self.uses_now:
            now = datetime.datetime.now(datetime.timezone.utc)
        evaluate = self._root.evaluate
        return [obj for obj in objects if evaluate(obj, now)]

    def properties(self):
        """Graph property names the rule reads (memberOf, a relationship, is left out)."""
        names = set()
        pending = [self._root]
        while pending:
            node = pending.pop()
            if isinstance(node, (_Comparison, _Collection)):
                if node.prop.graph_name:
                    names.add(node.prop.graph_name)
            else:
                pending.extend(node.children)
        return names

    def __repr__(self):
        return "Rule(%r)" % self.text


def parse(rule):
    """Parse and validate a rule; raise RuleError naming the reason and position."""
    if not isinstance(rule, str):
        raise RuleError("The rule must be a string", 0)
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleError("The rule is %d characters long; the maximum is 3,072" % len(rule), MAX_RULE_LENGTH)
    parser = _Parser(rule)
    root = parser.parse()
    return Rule(rule, root, parser.object_type, parser.uses_now, parser.member_of_token is not None)


def validate(rule):
    """Raise RuleError when the rule is invalid; return None otherwise."""
    parse(rule)


def rule_properties_select(rule_text, extra=("id", "displayName", "userPrincipalName")):
    """A $select value covering what the rule reads plus `extra`, e.g. for a membership preview."""
    return ",".join(sorted(parse(rule_text).properties() | set(extra)))
