"""OData `$filter` and `$search` for the Graph sandbox's directory objects.

A small tokenizer and recursive-descent parser (no regular expressions for the structure) that
turns a `$filter` value into an expression tree, compiles it to Python closures for fast
evaluation against stored Graph JSON docs (camelCase keys), and checks it against Graph's
per-property support table (DC `concepts/includes/filter-directory-objects.md` and
`concepts/aad-advanced-queries.md`).

Usage by the collection handler:

    expr = parse_filter(text)                      # FilterError -> 400 (syntax)
    expr.check_supported("user", advanced=...)     # UnsupportedFilter -> 400 Request_UnsupportedQuery
    matching = expr.filter(docs)

String comparisons (eq, ne, in, startsWith, endsWith, ordering) ignore case, as Graph does on
directory objects.
"""

import re
from datetime import datetime, timezone
from functools import lru_cache

__all__ = [
    "FilterError",
    "UnsupportedFilter",
    "FilterExpr",
    "SearchExpr",
    "parse_filter",
    "parse_search",
    "FILTER_SUPPORT",
]


class FilterError(ValueError):
    """A `$filter` (or `$search`) value that is not valid syntax: Graph answers 400."""

    # Graph's own code for "Invalid filter clause" is observed as "BadRequest"; the sandbox
    # answers with its usual Request_BadRequest (see the error table).
    code = "Request_BadRequest"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class UnsupportedFilter(ValueError):
    """A valid filter that Graph refuses for this resource or without advanced query parameters."""

    code = "Request_UnsupportedQuery"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _property_message(prop, resource):
    return "Unsupported or invalid query filter clause specified for property '%s' of resource '%s'." % (
        prop,
        resource,
    )


def _operator_message(op):
    return (
        "Operator '%s' is not supported because the required parameters might be missing. "
        "Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
        "Refer to https://aka.ms/graph-docs/advanced-queries for more information" % op
    )


# --------------------------------------------------------------------------------------------
# Support table. Keys are property paths as the docs write them, with lambdas shortened:
# `otherMails/any` is `otherMails/any(p:p)`, `assignedLicenses/any/skuId` is
# `assignedLicenses/any(a:a/skuId)`, `proxyAddresses/$count` is the count of the collection.
# Columns: eq (also in, ne, not), startsWith, endsWith, range (lt le gt ge), null (eq/ne null),
# count (/$count eq 0). Values: D = works by default, A = needs advanced query parameters.
# A missing column or property is not supported at all.
# --------------------------------------------------------------------------------------------

D = "default"
A = "advanced"


def _row(eq=None, sw=None, ew=None, rng=None, null=None, count=None, kind="string"):
    columns = {"eq": eq, "startsWith": sw, "endsWith": ew, "range": rng, "null": null, "count": count}
    row = {name: level for name, level in columns.items() if level}
    row["_kind"] = kind
    return row


_EXTENSION_ATTRIBUTES = {
    "onPremisesExtensionAttributes/extensionAttribute%d" % n: _row(eq=A, null=A) for n in range(1, 16)
}

_USER = {
    "id": _row(eq=D, kind="guid"),
    "accountEnabled": _row(eq=D, kind="bool"),
    "ageGroup": _row(eq=D),
    "assignedLicenses/any/skuId": _row(eq=D, kind="guid"),
    "assignedLicenses/$count": _row(count=A),
    "assignedPlans/any/capabilityStatus": _row(eq=A),
    "assignedPlans/any/service": _row(eq=A, sw=A),
    "assignedPlans/any/servicePlanId": _row(eq=A, kind="guid"),
    "businessPhones/any": _row(eq=A, sw=A),
    "city": _row(eq=D, sw=D, null=A),
    "companyName": _row(eq=A, sw=A, null=A),
    "consentProvidedForMinor": _row(eq=D),
    "country": _row(eq=D, sw=D, null=A),
    "createdDateTime": _row(eq=D, rng=D, null=A, kind="datetime"),
    "creationType": _row(eq=D),
    "department": _row(eq=D, sw=D, null=A),
    "displayName": _row(eq=D, sw=D, null=A),
    "employeeHireDate": _row(eq=A, rng=A, kind="datetime"),
    "employeeId": _row(eq=D, null=A),
    "employeeOrgData/costCenter": _row(eq=A),
    "employeeOrgData/division": _row(eq=A),
    "employeeType": _row(eq=A),
    "externalUserState": _row(eq=D),
    "faxNumber": _row(eq=A, sw=A, null=A),
    "givenName": _row(eq=D, sw=D, null=A),
    "identities/any/issuer": _row(eq=D),
    "imAddresses/any": _row(eq=D, sw=D),
    "isResourceAccount": _row(eq=D, kind="bool"),
    "jobTitle": _row(eq=D, sw=D, null=A),
    "mail": _row(eq=D, sw=D, ew=A, null=A),
    "mailNickname": _row(eq=D, sw=D, null=A),
    "mobilePhone": _row(eq=A, sw=A, null=A),
    "officeLocation": _row(eq=A, sw=A, null=A),
    "onPremisesImmutableId": _row(eq=D),
    "onPremisesLastSyncDateTime": _row(eq=D, rng=D, kind="datetime"),
    "onPremisesSamAccountName": _row(eq=A, sw=A),
    "onPremisesSecurityIdentifier": _row(eq=D, null=A),
    "onPremisesSyncEnabled": _row(eq=D, null=A, kind="bool"),
    "otherMails/any": _row(eq=D, sw=D, ew=A),
    "otherMails/$count": _row(count=A),
    "passwordPolicies": _row(null=A),
    "passwordProfile/forceChangePasswordNextSignIn": _row(eq=A, null=A, kind="bool"),
    "passwordProfile/forceChangePasswordNextSignInWithMfa": _row(eq=A, null=A, kind="bool"),
    "postalCode": _row(eq=A, sw=A, null=A),
    "preferredLanguage": _row(eq=A, sw=A, null=A),
    "proxyAddresses/any": _row(eq=D, sw=D, ew=A),
    "proxyAddresses/$count": _row(count=A),
    "showInAddressList": _row(eq=A, kind="bool"),
    "state": _row(eq=D, null=A),
    "streetAddress": _row(eq=A, sw=A, null=A),
    "surname": _row(eq=D, sw=D, null=A),
    "usageLocation": _row(eq=D, sw=D, null=A),
    "userPrincipalName": _row(eq=D, sw=D, ew=A),
    "userType": _row(eq=D, null=A),
}
_USER.update(_EXTENSION_ATTRIBUTES)

_GROUP = {
    "id": _row(eq=D, kind="guid"),
    "assignedLicenses/any/skuId": _row(eq=D, kind="guid"),
    "assignedLicenses/$count": _row(count=A),
    "classification": _row(eq=D, sw=D),
    "createdByAppId": _row(eq=D, kind="guid"),
    "description": _row(eq=A, sw=A, null=A),
    "displayName": _row(eq=D, sw=D, null=A),
    "expirationDateTime": _row(eq=A, rng=A, kind="datetime"),
    # Not in the include table, but documented by group-list.md's `groupTypes/any(c:c eq 'Unified')`.
    "groupTypes/any": _row(eq=D),
    "hasMembersWithLicenseErrors": _row(eq=D, null=D, kind="bool"),
    "isAssignableToRole": _row(eq=D, kind="bool"),
    "mail": _row(eq=D, sw=D, ew=A, null=A),
    "mailEnabled": _row(eq=D, kind="bool"),
    "mailNickname": _row(eq=D, sw=D, null=A),
    "membershipRule": _row(eq=D, sw=D),
    "membershipRuleProcessingState": _row(eq=D),
    "onPremisesLastSyncDateTime": _row(eq=D, rng=D, kind="datetime"),
    "onPremisesSamAccountName": _row(eq=A, sw=A),
    "onPremisesSecurityIdentifier": _row(eq=D, null=A),
    "onPremisesSyncEnabled": _row(eq=D, null=A, kind="bool"),
    "preferredLanguage": _row(eq=A, sw=A, null=A),
    "proxyAddresses/any": _row(eq=D, sw=D, ew=A),
    "proxyAddresses/$count": _row(count=A),
    "renewedDateTime": _row(eq=D, rng=D, kind="datetime"),
    "resourceBehaviorOptions/any": _row(eq=D),
    "resourceProvisioningOptions/any": _row(eq=D),
    "securityEnabled": _row(eq=D, kind="bool"),
    # uniqueName is an alternate key with no documented $filter support (FIDELITY.md 7.2): it is read
    # by GET /groups(uniqueName='x'), so filtering on it is Request_UnsupportedQuery.
}

# servicePrincipal and orgContact: the properties the list pages (serviceprincipal-list.md,
# orgcontact-list.md) and the advanced-query tables show filtered; others are not supported here.
_SERVICE_PRINCIPAL = {
    "id": _row(eq=D, kind="guid"),
    "accountEnabled": _row(eq=D, kind="bool"),
    "appId": _row(eq=D),
    "displayName": _row(eq=D, sw=D, null=A),
    "servicePrincipalNames/any": _row(eq=D, sw=D),
    "servicePrincipalType": _row(eq=D),
    "tags/any": _row(eq=D, sw=D),
}

_ORG_CONTACT = {
    "id": _row(eq=D, kind="guid"),
    "companyName": _row(eq=D, sw=D, null=A),
    "displayName": _row(eq=D, sw=D, null=A),
    "givenName": _row(eq=D, sw=D, null=A),
    "mail": _row(eq=D, sw=D, null=A),
    "mailNickname": _row(eq=D, sw=D, null=A),
    "proxyAddresses/any": _row(eq=D, sw=D),
    "surname": _row(eq=D, sw=D, null=A),
}

FILTER_SUPPORT = {"user": _USER, "group": _GROUP, "servicePrincipal": _SERVICE_PRINCIPAL, "orgContact": _ORG_CONTACT}

# Graph accepts property names in any case: lower-cased key -> table key, and lower-cased
# path segment -> canonical segment, per resource type.
_KEYS_BY_LOWER = {name: {key.lower(): key for key in table} for name, table in FILTER_SUPPORT.items()}
_SEGMENTS_BY_LOWER = {
    name: {segment.lower(): segment for key in table for segment in key.split("/")}
    for name, table in FILTER_SUPPORT.items()
}

# Operators that Graph only accepts in advanced queries, whatever the property.
_ADVANCED_OPERATORS = {"ne", "not", "endsWith", "$count"}


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

# Lexeme classification only (the structure is parsed by hand below).
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SEGMENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_.]*\Z")

_KEYWORDS = {"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "in"}
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}
_FUNCTIONS = {"startswith": "startsWith", "endswith": "endsWith", "contains": "contains"}
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", ":": "COLON"}


class _Token(object):
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind, value, pos):
        self.kind = kind  # LPAREN RPAREN COMMA COLON KEYWORD LITERAL PATH END
        self.value = value
        self.pos = pos

    def __repr__(self):
        return "_Token(%s, %r, %d)" % (self.kind, self.value, self.pos)


def _syntax_error(text, pos, detail):
    return FilterError("Invalid filter clause: %s at position %d in '%s'." % (detail, pos, text))


def _is_word_char(ch, numeric):
    if ch.isalnum() or ch in "_$./-":
        return True
    # Date-time literals carry ':' and '+' (2021-01-01T10:00:00+01:00).
    return numeric and ch in ":+"


def _tokenize(text):
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[ch], ch, i))
            i += 1
        elif ch == "'":
            start = i
            value, i = _read_string(text, i)
            tokens.append(_Token("LITERAL", value, start))
        elif ch.isalnum() or ch in "_$-":
            start = i
            numeric = ch.isdigit() or ch == "-"
            while i < n and _is_word_char(text[i], numeric):
                i += 1
            tokens.append(_classify_word(text, text[start:i], start))
        else:
            raise _syntax_error(text, i, "character '%s' is not valid" % ch)
    tokens.append(_Token("END", None, n))
    return tokens


def _read_string(text, start):
    """Read a single-quoted literal; '' inside stands for one quote."""
    chars = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            if i + 1 < n and text[i + 1] == "'":
                chars.append("'")
                i += 2
                continue
            return "".join(chars), i + 1
        chars.append(ch)
        i += 1
    raise _syntax_error(text, start, "unterminated string literal")


def _classify_word(text, word, pos):
    lower = word.lower()
    if lower in _KEYWORDS:
        return _Token("KEYWORD", lower, pos)
    if lower in ("true", "false"):
        return _Token("LITERAL", lower == "true", pos)
    if lower == "null":
        return _Token("LITERAL", None, pos)
    if _GUID.match(word):
        return _Token("LITERAL", lower, pos)
    if word[0].isdigit() or word[0] == "-":
        return _Token("LITERAL", _parse_number_or_date(text, word, pos), pos)
    segments = word.split("/")
    for segment in segments:
        if not _SEGMENT.match(segment):
            raise _syntax_error(text, pos, "'%s' is not a valid property path" % word)
    return _Token("PATH", segments, pos)


def _parse_number_or_date(text, word, pos):
    try:
        return int(word)
    except ValueError:
        pass
    if not _DATE.match(word):
        try:
            return float(word)
        except ValueError:
            pass
    parsed = _to_datetime(word)
    if parsed is None:
        raise _syntax_error(text, pos, "'%s' is not a valid literal" % word)
    return parsed


def _to_datetime(value):
    """Parse an ISO 8601 date or date-time as an aware UTC-comparable datetime, else None."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# --------------------------------------------------------------------------------------------
# Expression tree. Each node compiles to a closure `fn(doc, env) -> bool`, where env maps
# lambda variable names to the collection item being tested.
# --------------------------------------------------------------------------------------------


class _Path(object):
    """A property path; `var` is set when it starts from a lambda variable."""

    def __init__(self, segments, var=None):
        self.segments = list(segments)
        self.var = var
        self.is_count = bool(self.segments) and self.segments[-1] == "$count"

    def getter(self):
        segments = self.segments[:-1] if self.is_count else list(self.segments)
        var = self.var
        if var is None and len(segments) == 1 and not self.is_count:
            name = segments[0]
            return lambda doc, env: doc.get(name)

        def get(doc, env):
            value = env.get(var) if var is not None else doc
            for name in segments:
                if not isinstance(value, dict):
                    return None
                value = value.get(name)
            return value

        if not self.is_count:
            return get
        return lambda doc, env: _count(get(doc, env))


def _count(value):
    return len(value) if isinstance(value, list) else 0


class _Node(object):
    def compile(self):
        raise NotImplementedError

    def children(self):
        return ()


class _Junction(_Node):
    """`a or b or ...` (any_of) and `a and b and ...` (all_of)."""

    def __init__(self, items, combine):
        self.items = items
        self.combine = combine  # any or all

    def children(self):
        return self.items

    def compile(self):
        fns = [item.compile() for item in self.items]
        combine = self.combine
        if len(fns) == 2:  # the common case, without a generator per document
            first, second = fns
            if combine is any:
                return lambda doc, env: first(doc, env) or second(doc, env)
            return lambda doc, env: first(doc, env) and second(doc, env)
        return lambda doc, env: combine(fn(doc, env) for fn in fns)


class _Not(_Node):
    def __init__(self, item):
        self.item = item

    def children(self):
        return (self.item,)

    def compile(self):
        fn = self.item.compile()
        return lambda doc, env: not fn(doc, env)


def _equals_fn(literal):
    """A closure value -> bool for `eq literal`, with Graph's case-insensitive strings."""
    if literal is None:
        return lambda value: value is None
    if isinstance(literal, bool):
        return lambda value: value is literal
    if isinstance(literal, str):
        folded = literal.lower()
        return lambda value: isinstance(value, str) and value.lower() == folded
    if isinstance(literal, datetime):
        return lambda value: _to_datetime(value) == literal
    return lambda value: type(value) in (int, float) and value == literal


_ORDERINGS = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _ordering_fn(op, literal):
    compare = _ORDERINGS[op]
    if isinstance(literal, datetime):

        def check(value):
            parsed = _to_datetime(value)
            return parsed is not None and compare(parsed, literal)

        return check
    if isinstance(literal, str):
        folded = literal.lower()
        return lambda value: isinstance(value, str) and compare(value.lower(), folded)
    if isinstance(literal, (int, float)) and not isinstance(literal, bool):
        return lambda value: type(value) in (int, float) and compare(value, literal)
    return lambda value: False  # null and booleans have no order


class _Compare(_Node):
    def __init__(self, path, op, literal):
        self.path = path
        self.op = op
        self.literal = literal

    def compile(self):
        get = self.path.getter()
        if self.op in ("eq", "ne"):
            test = _equals_fn(self.literal)
            if self.op == "eq":
                return lambda doc, env: test(get(doc, env))
            return lambda doc, env: not test(get(doc, env))
        test = _ordering_fn(self.op, self.literal)
        return lambda doc, env: test(get(doc, env))


def _set_key(value):
    """Hashable, case-folded form for `in`; booleans kept apart from 0 and 1."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return ("bool", value)
    return value


class _In(_Node):
    def __init__(self, path, literals):
        self.path = path
        self.literals = literals

    def compile(self):
        get = self.path.getter()
        if any(isinstance(literal, datetime) for literal in self.literals):
            tests = [_equals_fn(literal) for literal in self.literals]
            return lambda doc, env: _matches_any(tests, get(doc, env))
        keys = set(_set_key(literal) for literal in self.literals)

        def test(doc, env):
            value = get(doc, env)
            return not isinstance(value, (list, dict)) and _set_key(value) in keys

        return test


def _matches_any(tests, value):
    return any(test(value) for test in tests)


class _Call(_Node):
    """startsWith / endsWith / contains(path, 'text'), case-insensitive."""

    def __init__(self, name, path, literal):
        self.name = name
        self.path = path
        self.literal = literal

    def compile(self):
        get = self.path.getter()
        folded = self.literal.lower()
        if self.name == "startsWith":
            return lambda doc, env: _folded_text(get(doc, env)).startswith(folded)
        if self.name == "endsWith":
            return lambda doc, env: _folded_text(get(doc, env)).endswith(folded)
        return lambda doc, env: folded in _folded_text(get(doc, env))


class _NoText(object):
    """Stands in for a missing or non-string value: matches no string function."""

    def startswith(self, prefix):
        return False

    def endswith(self, suffix):
        return False

    def __contains__(self, part):
        return False


_NO_TEXT = _NoText()


def _folded_text(value):
    return value.lower() if isinstance(value, str) else _NO_TEXT


class _Lambda(_Node):
    """`collection/any(v: body)` or `collection/all(v: body)`."""

    def __init__(self, path, quantifier, var, body):
        self.path = path
        self.quantifier = quantifier
        self.var = var
        self.body = body

    def children(self):
        return (self.body,)

    def compile(self):
        get = self.path.getter()
        body = self.body.compile()
        var = self.var
        want_all = self.quantifier == "all"

        def test(doc, env):
            items = get(doc, env)
            if not isinstance(items, list):
                return want_all
            for item in items:
                if env:  # nested lambda: keep the outer variables visible
                    scope = dict(env)
                    scope[var] = item
                else:
                    scope = {var: item}
                if body(doc, scope) != want_all:
                    return not want_all
            return want_all

        return test


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Parser(object):
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.lambda_vars = []

    # token helpers
    def peek(self, offset=0):
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_keyword(self, word):
        token = self.peek()
        return token.kind == "KEYWORD" and token.value == word

    def expect(self, kind, what):
        token = self.peek()
        if token.kind != kind:
            raise self.error(token, "expected %s" % what)
        return self.advance()

    def error(self, token, detail):
        if token.kind == "END":
            detail = "%s, found the end of the expression" % detail
        return _syntax_error(self.text, token.pos, detail)

    # grammar
    def parse(self):
        if self.peek().kind == "END":
            raise FilterError("Invalid filter clause: the expression is empty.")
        node = self.parse_or()
        if self.peek().kind != "END":
            raise self.error(self.peek(), "unexpected '%s'" % self._show(self.peek()))
        return node

    def parse_or(self):
        items = [self.parse_and()]
        while self.is_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else _Junction(items, any)

    def parse_and(self):
        items = [self.parse_unary()]
        while self.is_keyword("and"):
            self.advance()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else _Junction(items, all)

    def parse_unary(self):
        if self.is_keyword("not"):
            self.advance()
            return _Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self):
        token = self.peek()
        if token.kind == "LPAREN":
            self.advance()
            node = self.parse_or()
            self.expect("RPAREN", "')'")
            return node
        if token.kind != "PATH":
            raise self.error(token, "expected a property, a function or '('")
        if self.peek(1).kind == "LPAREN":
            if len(token.value) == 1:
                return self.parse_call()
            if token.value[-1].lower() in ("any", "all"):
                return self.parse_lambda()
            raise self.error(token, "unknown function '%s'" % "/".join(token.value))
        return self.parse_comparison()

    def parse_path(self):
        token = self.expect("PATH", "a property")
        segments = token.value
        if segments[0] in self.lambda_vars:
            return _Path(segments[1:], var=segments[0])
        if "$count" in segments[:-1] or segments == ["$count"]:
            raise self.error(token, "'$count' must follow a collection property")
        return _Path(segments)

    def parse_literal(self):
        token = self.peek()
        if token.kind != "LITERAL":
            raise self.error(token, "expected a literal value")
        self.advance()
        return token.value

    def parse_comparison(self):
        path = self.parse_path()
        token = self.peek()
        if token.kind == "KEYWORD" and token.value in _COMPARISONS:
            self.advance()
            return _Compare(path, token.value, self.parse_literal())
        if token.kind == "KEYWORD" and token.value == "in":
            self.advance()
            return _In(path, self.parse_literal_list())
        raise self.error(token, "expected a comparison operator")

    def parse_literal_list(self):
        self.expect("LPAREN", "'(' after 'in'")
        literals = [self.parse_literal()]
        while self.peek().kind == "COMMA":
            self.advance()
            literals.append(self.parse_literal())
        self.expect("RPAREN", "')'")
        return literals

    def parse_call(self):
        token = self.advance()
        name = _FUNCTIONS.get(token.value[0].lower())
        if name is None:
            raise self.error(token, "unknown function '%s'" % token.value[0])
        self.expect("LPAREN", "'('")
        path = self.parse_path()
        self.expect("COMMA", "','")
        literal = self.parse_literal()
        if not isinstance(literal, str):
            raise self.error(self.tokens[self.index - 1], "%s needs a string literal" % name)
        self.expect("RPAREN", "')'")
        return _Call(name, path, literal)

    def parse_lambda(self):
        token = self.advance()
        quantifier = token.value[-1].lower()
        collection_segments = token.value[:-1]
        if collection_segments[0] in self.lambda_vars:
            collection = _Path(collection_segments[1:], var=collection_segments[0])
        else:
            collection = _Path(collection_segments)
        self.expect("LPAREN", "'('")
        var_token = self.expect("PATH", "a lambda variable")
        if len(var_token.value) != 1:
            raise self.error(var_token, "a lambda variable is a plain name")
        var = var_token.value[0]
        self.expect("COLON", "':' after the lambda variable")
        self.lambda_vars.append(var)
        try:
            body = self.parse_or()
        finally:
            self.lambda_vars.pop()
        self.expect("RPAREN", "')'")
        return _Lambda(collection, quantifier, var, body)

    @staticmethod
    def _show(token):
        if token.kind == "PATH":
            return "/".join(token.value)
        return str(token.value)


# --------------------------------------------------------------------------------------------
# Support checks: each leaf of the tree is one "usage" of a property with an operator.
# --------------------------------------------------------------------------------------------


class _Usage(object):
    __slots__ = ("key", "column", "operator", "literals", "prop")

    def __init__(self, key, column, operator, literals, prop):
        self.key = key  # support-table key, e.g. "otherMails/any"
        self.column = column  # support-table column
        self.operator = operator  # advanced-only operator name, or None
        self.literals = literals
        self.prop = prop  # property named in Graph's message


def _path_key(path, prefixes):
    """Support-table key of a path: lambda variables expand to `collection/any`."""
    if path.var is not None:
        base = prefixes[path.var]
        return "/".join([base] + path.segments) if path.segments else base
    return "/".join(path.segments)


def _leaf_usages(node, prefixes):
    if isinstance(node, _Compare):
        key = _path_key(node.path, prefixes)
        if node.path.is_count:
            return [_Usage(key, "count", "$count", [node.literal], key.split("/")[0])]
        operator = "ne" if node.op == "ne" else None
        if node.literal is None:
            column = "null"
        elif node.op in ("eq", "ne"):
            column = "eq"
        else:
            column = "range"
        return [_Usage(key, column, operator, [node.literal], key.split("/")[0])]
    if isinstance(node, _In):
        key = _path_key(node.path, prefixes)
        return [_Usage(key, "eq", None, node.literals, key.split("/")[0])]
    if isinstance(node, _Call):
        key = _path_key(node.path, prefixes)
        operator = "endsWith" if node.name == "endsWith" else None
        return [_Usage(key, node.name, operator, [node.literal], key.split("/")[0])]
    return []


# Values an `in` may list in a default query (docs/graph-rules.md "At most 15 values to an in");
# an advanced query lifts it (the URL length is the limit then).
IN_LIMIT = 15


def _in_limit_message(count):
    return ("Too many child clauses specified in search filter expression containing 'OR' operators: %d. "
            "Max allowed: %d" % (count, IN_LIMIT))


def _walk_usages(node, prefixes=None):
    """Yield, in reading order, _Usage objects and the string 'not' for each negation."""
    prefixes = prefixes or {}
    if isinstance(node, _Not):
        yield "not"
    if isinstance(node, _Lambda):
        collection = _path_key(node.path, prefixes)
        inner = dict(prefixes)
        inner[node.var] = "%s/%s" % (collection, node.quantifier)
        for usage in _walk_usages(node.body, inner):
            yield usage
        return
    for usage in _leaf_usages(node, prefixes):
        yield usage
    for child in node.children():
        for usage in _walk_usages(child, prefixes):
            yield usage


def _literal_fits(kind, literal):
    if literal is None:
        return True
    if kind == "bool":
        return isinstance(literal, bool)
    if kind == "datetime":
        return isinstance(literal, datetime)
    return isinstance(literal, str)


def _resource_name(type_name):
    return type_name[:1].upper() + type_name[1:]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class FilterExpr(object):
    """A parsed `$filter`: evaluate it, list its properties, check Graph's support rules."""

    def __init__(self, text, root):
        self.text = text
        self._root = root
        self._fn = None

    def __repr__(self):
        return "FilterExpr(%r)" % self.text

    def _compiled(self):
        if self._fn is None:
            self._fn = self._root.compile()
        return self._fn

    def evaluate(self, obj):
        """True when the stored Graph doc `obj` matches."""
        return bool(self._compiled()(obj, {}))

    def predicate(self):
        """A plain `doc -> bool` function (fastest for filtering many docs)."""
        fn = self._compiled()
        return lambda doc: bool(fn(doc, {}))

    def filter(self, docs):
        fn = self._compiled()
        empty = {}
        return [doc for doc in docs if fn(doc, empty)]

    def properties(self):
        """Top-level property names the filter reads."""
        names = set()
        for usage in _walk_usages(self._root):
            if usage != "not":
                names.add(usage.key.split("/")[0])
        return names

    def requires_advanced(self, type_name=None):
        """True when Graph accepts this filter only with ConsistencyLevel: eventual and $count=true.

        With `type_name` the property rules of that resource apply; without it, a property counts
        as advanced-only when any resource's table says so.
        """
        type_names = [type_name] if type_name else list(FILTER_SUPPORT)
        for usage in _walk_usages(self._root):
            if usage == "not" or usage.operator in _ADVANCED_OPERATORS:
                return True
            if usage.column == "null":
                if not any(_lookup(name, usage.key).get("null") == D for name in type_names):
                    return True
                continue
            for name in type_names:
                if _lookup(name, usage.key).get(usage.column) == A:
                    return True
        return False

    def check_supported(self, type_name, advanced):
        """Raise UnsupportedFilter (or FilterError for a mistyped literal) as Graph would.

        Also rewrites property names to their canonical camelCase, since Graph accepts any case.
        """
        if type_name not in FILTER_SUPPORT:
            raise ValueError("no $filter support table for resource type %r" % type_name)
        resource = _resource_name(type_name)
        for usage in _walk_usages(self._root):
            if usage == "not":
                if not advanced:
                    raise UnsupportedFilter(_operator_message("not"))
                continue
            if usage.operator in _ADVANCED_OPERATORS and not advanced:
                raise UnsupportedFilter(_operator_message(usage.operator))
            row = _lookup(type_name, usage.key)
            level = row.get(usage.column)
            if usage.column == "count" and usage.literals != [0]:
                level = None  # only empty collections can be counted (`/$count eq 0`)
            if level is None:
                raise UnsupportedFilter(_property_message(usage.prop, resource))
            if usage.column in ("eq", "range"):
                for literal in usage.literals:
                    if not _literal_fits(row["_kind"], literal):
                        raise FilterError("Invalid filter clause")
            if level == A and not advanced:
                raise UnsupportedFilter(_property_message(usage.prop, resource))
            if usage.column == "eq" and len(usage.literals) > IN_LIMIT and not advanced:
                raise UnsupportedFilter(_in_limit_message(len(usage.literals)))
        if self._canonicalize(_SEGMENTS_BY_LOWER[type_name]):
            self._fn = None

    def _canonicalize(self, segments_by_lower):
        """Fix the case of known property names; True when anything changed."""
        changed = False
        for path in _all_paths(self._root):
            fixed = [segments_by_lower.get(segment.lower(), segment) for segment in path.segments]
            if fixed != path.segments:
                path.segments[:] = fixed
                changed = True
        return changed


def _all_paths(node):
    if isinstance(node, (_Compare, _In, _Call, _Lambda)):
        yield node.path
    for child in node.children():
        for path in _all_paths(child):
            yield path


_EMPTY_ROW = {}


def _lookup(type_name, key):
    """The support-table row of a property key (any case), or an empty row."""
    table = FILTER_SUPPORT[type_name]
    row = table.get(key)
    if row is None:
        row = table.get(_KEYS_BY_LOWER[type_name].get(key.lower(), ""))
    return row or _EMPTY_ROW


def parse_filter(text):
    """Parse a `$filter` value (already URL-decoded) into a FilterExpr, or raise FilterError."""
    if text is None:
        raise FilterError("Invalid filter clause: the expression is empty.")
    return FilterExpr(text, _Parser(text).parse())


# --------------------------------------------------------------------------------------------
# $search: "property:text" clauses joined by AND / OR (upper case), parentheses allowed.
# displayName and description use Graph's tokenized word-prefix match; other properties
# behave like startsWith (DC concepts/search-query-parameter.md).
# --------------------------------------------------------------------------------------------

_TOKENIZED_PROPERTIES = {"displayname": "displayName", "description": "description"}


# Lexeme level only. A word is an optional run of capitals followed by lower-case letters
# ("HELLOworld" stays one word, "HelloWORld" is "Hello" + "WORld"), or a run of capitals,
# or a run of digits; any other non-space character is a symbol token of its own.
_WORD_PARTS = re.compile(r"[A-Z]*[^\W\d_A-Z]+|[A-Z]+|\d+|[^\w\s]|_")


def _is_symbol(part):
    return not part[0].isalnum()


def _split_words(chunk):
    """Split one space-free chunk at letter/digit/symbol changes and lower-to-upper case changes."""
    return [part.lower() for part in _WORD_PARTS.findall(chunk)]


@lru_cache(maxsize=65536)
def _search_tokens(value):
    """Tokens of a property value: words, symbols, and words re-joined across symbols."""
    tokens = set()
    for chunk in value.split():
        parts = _split_words(chunk)
        tokens.update(parts)
        words = [part for part in parts if not _is_symbol(part)]
        if 1 < len(words) < len(parts):
            tokens.add("".join(words))  # hello.world also matches helloworld
    return frozenset(tokens)


def _every_word_starts_a_token(words, tokens):
    for word in words:
        for token in tokens:
            if token.startswith(word):
                break
        else:
            return False
    return True


def _query_words(value):
    words = []
    for chunk in value.split():
        words.extend(part for part in _split_words(chunk) if not _is_symbol(part))
    return words


class _SearchClause(object):
    def __init__(self, prop, text):
        self.prop = prop
        self.text = text

    def compile(self):
        prop = _TOKENIZED_PROPERTIES.get(self.prop.lower(), self.prop)
        if prop in _TOKENIZED_PROPERTIES.values():
            words = _query_words(self.text)

            def tokenized(doc):
                value = doc.get(prop)
                if not isinstance(value, str) or not words:
                    return False
                return _every_word_starts_a_token(words, _search_tokens(value))

            return tokenized
        folded = self.text.lower()

        def starts_with(doc):
            value = doc.get(prop)
            values = value if isinstance(value, list) else [value]
            return any(isinstance(v, str) and v.lower().startswith(folded) for v in values)

        return starts_with


class _SearchBool(object):
    def __init__(self, op, items):
        self.op = op
        self.items = items

    def compile(self):
        fns = [item.compile() for item in self.items]
        if self.op == "AND":
            return lambda doc: all(fn(doc) for fn in fns)
        return lambda doc: any(fn(doc) for fn in fns)


def _search_error(text, detail):
    return FilterError("Invalid $search clause: %s in '%s'." % (detail, text))


def _tokenize_search(text):
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append((ch, ch))
            i += 1
        elif ch == '"':
            chars = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise _search_error(text, "unterminated quoted clause")
            i += 1
            tokens.append(("CLAUSE", "".join(chars)))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"':
                i += 1
            word = text[start:i]
            if word not in ("AND", "OR"):
                raise _search_error(text, "'%s' must be a quoted \"property:text\" clause, AND or OR" % word)
            tokens.append((word, word))
    tokens.append(("END", None))
    return tokens


class _SearchParser(object):
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize_search(text)
        self.index = 0

    def peek(self):
        return self.tokens[self.index][0]

    def advance(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self):
        node = self.parse_bool("OR", self.parse_and)
        if self.peek() != "END":
            raise _search_error(self.text, "unexpected '%s'" % self.tokens[self.index][1])
        return node

    def parse_and(self):
        return self.parse_bool("AND", self.parse_term)

    def parse_bool(self, op, parse_item):
        items = [parse_item()]
        while self.peek() == op:
            self.advance()
            items.append(parse_item())
        return items[0] if len(items) == 1 else _SearchBool(op, items)

    def parse_term(self):
        kind, value = self.advance()
        if kind == "(":
            node = self.parse_bool("OR", self.parse_and)
            if self.advance()[0] != ")":
                raise _search_error(self.text, "expected ')'")
            return node
        if kind != "CLAUSE":
            raise _search_error(self.text, 'expected a quoted "property:text" clause')
        prop, sep, search_text = value.partition(":")
        prop = prop.strip()
        if not sep or not prop or not _SEGMENT.match(prop):
            raise _search_error(self.text, 'the clause "%s" must name a property ("property:text")' % value)
        return _SearchClause(prop, search_text.strip())


class SearchExpr(object):
    """A parsed `$search` value (Graph accepts it only with ConsistencyLevel: eventual)."""

    def __init__(self, text, root):
        self.text = text
        self._root = root
        self._fn = root.compile()

    def __repr__(self):
        return "SearchExpr(%r)" % self.text

    def evaluate(self, obj):
        return bool(self._fn(obj))

    def filter(self, docs):
        fn = self._fn
        return [doc for doc in docs if fn(doc)]

    def properties(self):
        names = set()
        stack = [self._root]
        while stack:
            node = stack.pop()
            if isinstance(node, _SearchClause):
                names.add(_TOKENIZED_PROPERTIES.get(node.prop.lower(), node.prop))
            else:
                stack.extend(node.items)
        return names


def parse_search(text):
    """Parse a `$search` value such as `"displayName:Ada" OR "mail:ada"`, or raise FilterError."""
    if not text or not text.strip():
        raise _search_error(text or "", "the search is empty")
    return SearchExpr(text, _SearchParser(text).parse())
