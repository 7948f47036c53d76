"""Wire shapes from the Graph v1.0 schema (data/v1.0-identity-schema.json, from msgraph-metadata).

Stored documents use Graph's camelCase names; keys starting with ``_`` are internal. ``project`` turns a
stored document into what Graph returns: only properties the schema has, default property sets when no
``$select`` is given, empty lists for non-nullable collections, and derived properties computed at read
time by the resource that owns them (licensing registers a user's ``assignedLicenses``, for instance).
"""
import json
from pathlib import Path

from .http import GraphHTTPError

_SCHEMA = json.loads((Path(__file__).parent / "data" / "v1.0-identity-schema.json").read_text())
TYPES = _SCHEMA["types"]

# Properties Graph returns when no $select is given (DC resources/user.md, resources/group.md).
DEFAULT_PROPERTIES = {
    "user": ["businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
             "officeLocation", "preferredLanguage", "surname", "userPrincipalName"],
    "group": ["id", "deletedDateTime", "classification", "createdDateTime", "description", "displayName",
              "expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "mailNickname",
              "membershipRule", "membershipRuleProcessingState", "onPremisesDomainName",
              "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesSamAccountName",
              "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "preferredDataLocation",
              "preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions",
              "resourceProvisioningOptions", "securityEnabled", "securityIdentifier", "theme", "uniqueName",
              "visibility", "onPremisesProvisioningErrors", "serviceProvisioningErrors"],
}

# Properties that only GET /users/{id} returns; selecting them on the collection gives 501.
SINGLE_USER_ONLY = {"aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects", "preferredName",
                    "responsibilities", "schools", "skills", "mailboxSettings", "print", "signInActivity"}

# What Graph returns for an unset non-nullable scalar: the type's default ("0001-01-01T00:00:00Z" is the
# birthday / hireDate Graph shows for a user who never set one).
NON_NULL_DEFAULTS = {"Edm.DateTimeOffset": "0001-01-01T00:00:00Z", "Edm.Int32": 0, "Edm.Boolean": False,
                     "Edm.String": ""}

_DERIVED = {}


def register_derived(type_name, prop, func):
    """func(tenant, doc) -> value, computed whenever the property is returned or filtered on."""
    _DERIVED.setdefault(type_name, {})[prop] = func


def derived_properties(type_name):
    return _DERIVED.get(type_name, {})


def properties(type_name):
    """Every structural property of the type, including the inherited ones (id, deletedDateTime)."""
    props = {}
    name = type_name
    while name:
        t = TYPES[name]
        for key, value in t["properties"].items():
            props.setdefault(key, value)
        base = t.get("baseType")
        name = base.split(".", 1)[1] if base else None
    props.setdefault("id", {"type": "Edm.String", "nullable": False})
    return props


_PROPS_CACHE = {}


def type_properties(type_name):
    if type_name not in _PROPS_CACHE:
        _PROPS_CACHE[type_name] = properties(type_name)
    return _PROPS_CACHE[type_name]


def is_collection(type_name, prop):
    return type_properties(type_name)[prop]["type"].startswith("Collection(")


def parse_select(type_name, raw):
    """The $select list, checked against the schema; None when not given."""
    if raw is None:
        return None
    names = [p.strip() for p in raw.split(",") if p.strip()]
    known = type_properties(type_name)
    lowered = {k.lower(): k for k in known}
    selected = []
    for name in names:
        real = lowered.get(name.lower())
        if real is None:
            raise GraphHTTPError(400, "Request_BadRequest",
                                 "Could not find a property named '%s' on type 'microsoft.graph.%s'." % (name, type_name))
        selected.append(real)
    return selected


def project(type_name, doc, select=None, tenant=None):
    """What Graph returns for one stored document."""
    known = type_properties(type_name)
    wanted = select if select else [p for p in DEFAULT_PROPERTIES.get(type_name, known) if p in known]
    derived = _DERIVED.get(type_name, {})
    out = {}
    if "id" not in wanted:
        out["id"] = doc["id"]
    for prop in wanted:
        if prop in derived:
            value = derived[prop](tenant, doc)
        else:
            value = doc.get(prop)
        if value is None and not known[prop]["nullable"]:
            value = [] if known[prop]["type"].startswith("Collection(") else NON_NULL_DEFAULTS.get(known[prop]["type"])
        elif value is None and known[prop]["type"].startswith("Collection("):
            value = []
        out[prop] = value
    return out


def canonical_body(type_name, body):
    """``body`` with property names in their documented camelCase (FIDELITY.md 7.10).

    Graph matches the property names of a directory object's request body without regard to case
    (``mailNickName``, ``surName``), including ``<navigation>@odata.bind`` annotations and the properties
    of complex values (``passwordProfile``). Unknown names are kept as sent, so the caller's
    "does not exist" error names them as the client wrote them.
    """
    known = type_properties(type_name)
    lowered = {name.lower(): name for name in known}
    navigation = {name.lower(): name for name in TYPES.get(type_name, {}).get("navigationProperties", {})}
    out = {}
    for key, value in body.items():
        name, at, annotation = key.partition("@")
        if at:
            name = navigation.get(name.lower(), lowered.get(name.lower(), name))
            key = "%s@%s" % (name, annotation)
        else:
            key = lowered.get(key.lower(), key)
            complex_type = known.get(key, {}).get("type", "").split(".")[-1]
            if isinstance(value, dict) and complex_type in TYPES:
                value = canonical_body(complex_type, value)
        out[key] = value
    return out
