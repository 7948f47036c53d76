"""Every user, group, invitation, subscribedSku, servicePrincipal, appRoleAssignment and orgContact the sandbox
returns fits the Graph v1.0 schema.

The test walks a list of endpoint calls (ENDPOINTS) that covers every sandbox route returning those
objects, as direct calls and again as $batch items, and validates each returned object recursively:
only properties the v1.0 schema defines (data/v1.0-identity-schema.json, from msgraph-metadata), each
with the JSON type of its Edm type, nulls only where the schema allows them, complex types and enums
checked down to the leaves. A last test fails when a route is added that the walk does not cover.
"""
import json
import re
import uuid
from pathlib import Path

import pytest
from starlette.routing import Route

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "sandbox" / "graph_sandbox" / "data"
                     / "v1.0-identity-schema.json").read_text())
TYPES = SCHEMA["types"]
STRONG_PASSWORD = "Str0ng-Passw0rd!"
SINGLE_USER_ONLY = {"aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects", "preferredName",
                    "responsibilities", "schools", "skills", "mailboxSettings", "print", "signInActivity"}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
TIME_OF_DAY = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Navigation properties Graph expands in a response body (invitation.invitedUser: FIDELITY.md 2.4).
EXPANDED = {("invitation", "invitedUser")}


# -- the validator -----------------------------------------------------------------------------------

def short(type_name):
    """user for graph.user, microsoft.graph.user or #microsoft.graph.user."""
    for prefix in ("#microsoft.graph.", "microsoft.graph.", "graph."):
        if type_name.startswith(prefix):
            return type_name[len(prefix):]
    return type_name


def structural_properties(type_name):
    props, name = {}, type_name
    while name:
        definition = TYPES[name]
        for key, spec in definition.get("properties", {}).items():
            props.setdefault(key, spec)
        name = short(definition["baseType"]) if definition.get("baseType") else None
    return props


def navigation_properties(type_name):
    props, name = {}, type_name
    while name:
        definition = TYPES[name]
        props.update(definition.get("navigationProperties", {}))
        name = short(definition["baseType"]) if definition.get("baseType") else None
    return props


def check_value(value, edm, nullable, where, problems):
    if value is None:
        if not nullable:
            problems.append("%s: null, but the schema says non-nullable %s" % (where, edm))
        return
    if edm.startswith("Collection("):
        inner = edm[len("Collection("):-1]
        if not isinstance(value, list):
            problems.append("%s: %s expected, got %s" % (where, edm, type(value).__name__))
            return
        for index, item in enumerate(value):
            check_value(item, inner, False, "%s[%d]" % (where, index), problems)
        return
    scalar = {
        "Edm.String": lambda v: isinstance(v, str),
        "Edm.Boolean": lambda v: isinstance(v, bool),
        "Edm.Int32": lambda v: isinstance(v, int) and not isinstance(v, bool) and -2 ** 31 <= v < 2 ** 31,
        "Edm.Int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "Edm.Double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "Edm.Guid": lambda v: isinstance(v, str) and bool(GUID.match(v)),
        "Edm.DateTimeOffset": lambda v: isinstance(v, str) and bool(DATETIME.match(v)),
        "Edm.TimeOfDay": lambda v: isinstance(v, str) and bool(TIME_OF_DAY.match(v)),
        "Edm.Date": lambda v: isinstance(v, str) and bool(re.match(r"^\d{4}-\d{2}-\d{2}$", v)),
    }
    if edm in scalar:
        if not scalar[edm](value):
            problems.append("%s: %r is not a valid %s" % (where, value, edm))
        return
    name = short(edm)
    if name not in TYPES:
        problems.append("%s: type %s is not in the schema subset" % (where, edm))
        return
    definition = TYPES[name]
    if definition["kind"] == "EnumType":
        # An enum value, or a flags combination ("a,b"), by member name.
        if not isinstance(value, str) or not all(part.strip() in definition["members"] for part in value.split(",")):
            problems.append("%s: %r is not a member of %s" % (where, value, edm))
        return
    check_object(value, name, where, problems)


def check_object(obj, type_name, where, problems):
    """Append to problems every way obj differs from the schema of type_name (or of its @odata.type)."""
    if not isinstance(obj, dict):
        problems.append("%s: an object of type %s expected, got %r" % (where, type_name, obj))
        return
    declared = obj.get("@odata.type")
    if declared:
        type_name = short(declared)
        if type_name not in TYPES:
            problems.append("%s: unknown @odata.type %s" % (where, declared))
            return
    props = structural_properties(type_name)
    navigations = navigation_properties(type_name)
    for key, value in obj.items():
        path = "%s.%s" % (where, key)
        if key.startswith("@odata."):
            continue
        if key in props:
            check_value(value, props[key]["type"], props[key]["nullable"], path, problems)
        elif (type_name, key) in EXPANDED and key in navigations:
            check_value(value, navigations[key]["type"], True, path, problems)
        else:
            problems.append("%s: %s has no property %r" % (where, type_name, key))


# -- the tenant the walk reads -----------------------------------------------------------------------

def ok(wire, method, path, params=None, json=None):
    """A call that must succeed; its JSON body (None when it has none)."""
    response = wire.call(method, path, params=params, json=json)
    assert response.status_code < 300, "%s %s: %s" % (method, path, response.text)
    return response.json() if response.content else None


def new_user_body(**extra):
    alias = "s%s" % uuid.uuid4().hex[:10]
    body = {"accountEnabled": True, "displayName": "Schema %s" % alias, "mailNickname": alias,
            "userPrincipalName": "%s@contoso.com" % alias, "usageLocation": "US",
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}
    body.update(extra)
    return body


def full_user_body():
    """A user with every kind of writable property set, complex types included."""
    return new_user_body(
        givenName="Full", surname="Schema", jobTitle="Tester", department="QA", companyName="Contoso",
        city="Oslo", country="Norway", state="Oslo", streetAddress="Street 1", postalCode="0150",
        officeLocation="B1", mobilePhone="+47 1234", businessPhones=["+47 5678"], faxNumber="+47 9",
        employeeId="E-1", employeeType="Employee", employeeHireDate="2024-01-02T00:00:00Z", preferredLanguage="nb-NO",
        otherMails=["full@example.org"], ageGroup="Adult", showInAddressList=True,
        passwordPolicies="DisablePasswordExpiration", mail="full.schema%s@contoso.com" % uuid.uuid4().hex[:6],
        employeeOrgData={"division": "R&D", "costCenter": "42"},
        onPremisesExtensionAttributes={"extensionAttribute1": "one"})


def new_group_body(kind="security", **extra):
    alias = "g%s" % uuid.uuid4().hex[:10]
    body = {"displayName": "Schema %s %s" % (kind, alias), "mailNickname": alias, "description": "schema walk",
            "mailEnabled": kind == "unified", "securityEnabled": kind != "unified",
            "groupTypes": {"security": [], "unified": ["Unified"], "dynamic": ["DynamicMembership"]}[kind]}
    if kind == "dynamic":
        body.update(membershipRule='user.department -eq "QA"', membershipRuleProcessingState="On")
    body.update(extra)
    return body


class World:
    """Objects of every kind the walk reads: created once per module."""

    def __init__(self, wire, sandbox):
        self.wire = wire
        sandbox.configure(group_license_delay_seconds=0)  # members' licence states at once
        self.user = ok(wire, "POST", "/users", json=full_user_body())["id"]
        self.manager = ok(wire, "POST", "/users", json=new_user_body())["id"]
        ok(wire, "PUT", "/users/%s/manager/$ref" % self.user,
           json={"@odata.id": wire.sandbox.object_url(self.manager, "users")})
        skus = ok(wire, "GET", "/subscribedSkus")["value"]
        self.sku_id = next(s["skuId"] for s in skus if s["skuPartNumber"] == "SPE_E3")
        self.sku_object_id = next(s["id"] for s in skus if s["skuPartNumber"] == "SPE_E3")
        ok(wire, "POST", "/users/%s/assignLicense" % self.user,
           json={"addLicenses": [{"skuId": self.sku_id, "disabledPlans": []}], "removeLicenses": []})
        self.security = ok(wire, "POST", "/groups", json=new_group_body(
            "security", **{"members@odata.bind": [wire.sandbox.object_url(self.user, "users")]}))["id"]
        self.unified = ok(wire, "POST", "/groups", json=new_group_body(
            "unified", uniqueName="schema-%s" % uuid.uuid4().hex[:8],
            **{"owners@odata.bind": [wire.sandbox.object_url(self.manager, "users")]}))["id"]
        self.dynamic = ok(wire, "POST", "/groups", json=new_group_body("dynamic"))["id"]
        ok(wire, "POST", "/groups/%s/members/$ref" % self.unified, json={"@odata.id": wire.sandbox.object_url(self.user)})
        # Security groups nest in security groups only (FIDELITY.md 7.4).
        self.outer = ok(wire, "POST", "/groups", json=new_group_body(
            "security", **{"members@odata.bind": [wire.sandbox.object_url(self.security)]}))["id"]
        ok(wire, "POST", "/groups/%s/assignLicense" % self.security,
           json={"addLicenses": [{"skuId": self.sku_id, "disabledPlans": []}], "removeLicenses": []})
        self.license_errors = self.group_with_a_license_error(skus)
        invitation = ok(wire, "POST", "/invitations", json={
            "invitedUserEmailAddress": "guest.%s@fabrikam.com" % uuid.uuid4().hex[:6],
            "inviteRedirectUrl": "https://myapps.microsoft.com", "invitedUserDisplayName": "Schema Guest"})
        self.guest = invitation["invitedUser"]["id"]
        sandbox.control("POST", "guests/%s/redeem" % self.guest)
        ok(wire, "POST", "/users/%s/sponsors/$ref" % self.guest,
           json={"@odata.id": wire.sandbox.object_url(self.manager, "users")})
        self.deleted_user = self.deleted("user")
        self.deleted_group = self.deleted("group")
        apps = ok(wire, "GET", "/servicePrincipals", params={"$filter": "displayName eq 'Salesforce'"})["value"]
        self.app = apps[0]["id"]
        self.app_role = apps[0]["appRoles"][0]["id"]
        ok(wire, "POST", "/servicePrincipals/%s/appRoleAssignedTo" % self.app,
           json={"principalId": self.security, "resourceId": self.app, "appRoleId": self.app_role})
        self.contact = ok(wire, "GET", "/contacts")["value"][0]["id"]

    def assignment(self):
        """A fresh app role assignment of a new user; returns (user id, assignment id)."""
        user = ok(self.wire, "POST", "/users", json=new_user_body())["id"]
        made = ok(self.wire, "POST", "/servicePrincipals/%s/appRoleAssignedTo" % self.app,
                  json={"principalId": user, "resourceId": self.app, "appRoleId": self.app_role})
        return user, made["id"]

    def group_with_a_license_error(self, skus):
        """A group licensed for a SKU with no seat left, so its member is in CountViolation."""
        sku = next(s for s in skus if s["skuPartNumber"] == "VISIOCLIENT")
        for _ in range(sku["prepaidUnits"]["enabled"] - sku["consumedUnits"]):
            holder = ok(self.wire, "POST", "/users", json=new_user_body())["id"]
            ok(self.wire, "POST", "/users/%s/assignLicense" % holder,
               json={"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []})
        group = ok(self.wire, "POST", "/groups", json=new_group_body(
            "security", **{"members@odata.bind": [self.wire.sandbox.object_url(self.user, "users")]}))["id"]
        ok(self.wire, "POST", "/groups/%s/assignLicense" % group,
           json={"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []})
        return group

    def deleted(self, kind):
        """A fresh soft-deleted user or Microsoft 365 group; returns its id."""
        if kind == "user":
            object_id = ok(self.wire, "POST", "/users", json=new_user_body())["id"]
            ok(self.wire, "DELETE", "/users/%s" % object_id)
        else:
            object_id = ok(self.wire, "POST", "/groups", json=new_group_body("unified"))["id"]
            ok(self.wire, "DELETE", "/groups/%s" % object_id)
        return object_id


def everything(type_name, collection=False):
    props = sorted(structural_properties(type_name))
    if type_name == "user" and collection:
        props = [p for p in props if p not in SINGLE_USER_ONLY]
    return ",".join(props)


def user_list_select():
    return {"$select": everything("user", collection=True)}


# Each endpoint: (label, type of the objects returned, "entity" or "collection", call(world) ->
# (method, path, params, body)). A call may prepare what it needs (a fresh deleted item to restore).
ENDPOINTS = [
    ("create user", "user", "entity", lambda w: ("POST", "/users", None, new_user_body())),
    ("create user, every property", "user", "entity", lambda w: ("POST", "/users", None, full_user_body())),
    ("list users", "user", "collection", lambda w: ("GET", "/users", None, None)),
    ("list users, $select everything", "user", "collection", lambda w: ("GET", "/users", user_list_select(), None)),
    ("list users, advanced filter", "user", "collection",
     lambda w: ("GET", "/users", dict(user_list_select(), **{"$filter": "endswith(userPrincipalName,'contoso.com')",
                                                             "$count": "true"}), None)),
    ("get user", "user", "entity", lambda w: ("GET", "/users/%s" % w.user, None, None)),
    ("get user by UPN", "user", "entity", lambda w: ("GET", "/users/ada.admin@contoso.com", None, None)),
    ("get user, $select everything", "user", "entity",
     lambda w: ("GET", "/users/%s" % w.user, {"$select": everything("user")}, None)),
    ("get guest, $select everything", "user", "entity",
     lambda w: ("GET", "/users/%s" % w.guest, {"$select": everything("user")}, None)),
    ("get manager", "user", "entity", lambda w: ("GET", "/users/%s/manager" % w.user, None, None)),
    ("list direct reports", "user", "collection", lambda w: ("GET", "/users/%s/directReports" % w.manager,
                                                             user_list_select(), None)),
    ("user memberOf", "group", "collection", lambda w: ("GET", "/users/%s/memberOf" % w.user, None, None)),
    ("guest sponsors", "user", "collection", lambda w: ("GET", "/users/%s/sponsors" % w.guest,
                                                        user_list_select(), None)),
    ("user transitiveMemberOf", "group", "collection",
     lambda w: ("GET", "/users/%s/transitiveMemberOf" % w.user, {"$select": everything("group")}, None)),
    ("assign user license", "user", "entity",
     lambda w: ("POST", "/users/%s/assignLicense" % w.user, {"$select": everything("user")},
                {"addLicenses": [], "removeLicenses": []})),
    ("create security group", "group", "entity", lambda w: ("POST", "/groups", None, new_group_body("security"))),
    ("create Microsoft 365 group", "group", "entity", lambda w: ("POST", "/groups", None, new_group_body("unified"))),
    ("create dynamic group", "group", "entity", lambda w: ("POST", "/groups", None, new_group_body("dynamic"))),
    ("list groups", "group", "collection", lambda w: ("GET", "/groups", None, None)),
    ("list groups, $select everything", "group", "collection",
     lambda w: ("GET", "/groups", {"$select": everything("group")}, None)),
    ("get group", "group", "entity", lambda w: ("GET", "/groups/%s" % w.unified, None, None)),
    ("get group, $select everything", "group", "entity",
     lambda w: ("GET", "/groups/%s" % w.security, {"$select": everything("group")}, None)),
    ("get dynamic group, $select everything", "group", "entity",
     lambda w: ("GET", "/groups/%s" % w.dynamic, {"$select": everything("group")}, None)),
    ("group members", "user", "collection", lambda w: ("GET", "/groups/%s/members" % w.unified, None, None)),
    ("group members, $select everything", "user", "collection",
     lambda w: ("GET", "/groups/%s/members" % w.security, {"$select": everything("user", True)}, None)),
    ("dynamic group members", "user", "collection", lambda w: ("GET", "/groups/%s/members" % w.dynamic, None, None)),
    ("group owners", "user", "collection", lambda w: ("GET", "/groups/%s/owners" % w.unified, None, None)),
    ("group transitiveMembers", "user", "collection",
     lambda w: ("GET", "/groups/%s/transitiveMembers" % w.unified, None, None)),
    ("group members cast to users", "user", "collection",
     lambda w: ("GET", "/groups/%s/members/microsoft.graph.user" % w.security, {"$select": everything("user", True)},
                None)),
    ("group members cast to groups", "group", "collection",
     lambda w: ("GET", "/groups/%s/members/microsoft.graph.group" % w.outer, None, None)),
    ("group owners cast to users", "user", "collection",
     lambda w: ("GET", "/groups/%s/owners/microsoft.graph.user" % w.unified, None, None)),
    ("group transitiveMembers cast to users", "user", "collection",
     lambda w: ("GET", "/groups/%s/transitiveMembers/microsoft.graph.user" % w.outer, None, None)),
    ("group transitiveMembers cast to groups", "group", "collection",
     lambda w: ("GET", "/groups/%s/transitiveMembers/microsoft.graph.group" % w.outer, None, None)),
    ("group memberOf", "group", "collection", lambda w: ("GET", "/groups/%s/memberOf" % w.security, None, None)),
    ("group memberOf cast to groups", "group", "collection",
     lambda w: ("GET", "/groups/%s/memberOf/microsoft.graph.group" % w.security, None, None)),
    ("group transitiveMemberOf cast to groups", "group", "collection",
     lambda w: ("GET", "/groups/%s/transitiveMemberOf/microsoft.graph.group" % w.security, None, None)),
    ("user memberOf cast to groups", "group", "collection",
     lambda w: ("GET", "/users/%s/memberOf/microsoft.graph.group" % w.user, {"$select": everything("group")}, None)),
    ("user transitiveMemberOf cast to groups", "group", "collection",
     lambda w: ("GET", "/users/%s/transitiveMemberOf/microsoft.graph.group" % w.user, None, None)),
    ("group transitiveMemberOf", "group", "collection",
     lambda w: ("GET", "/groups/%s/transitiveMemberOf" % w.security, None, None)),
    ("assign group license", "group", "entity",
     lambda w: ("POST", "/groups/%s/assignLicense" % w.security, None, {"addLicenses": [], "removeLicenses": []})),
    ("group members with license errors", "user", "collection",
     lambda w: ("GET", "/groups/%s/membersWithLicenseErrors" % w.license_errors, {"$select": everything("user", True)},
                None)),
    ("list subscribed SKUs", "subscribedSku", "collection", lambda w: ("GET", "/subscribedSkus", None, None)),
    ("get subscribed SKU", "subscribedSku", "entity",
     lambda w: ("GET", "/subscribedSkus/%s" % w.sku_object_id, None, None)),
    ("create invitation", "invitation", "entity",
     lambda w: ("POST", "/invitations", None, {"invitedUserEmailAddress": "g.%s@fabrikam.com" % uuid.uuid4().hex[:6],
                                               "inviteRedirectUrl": "https://myapps.microsoft.com",
                                               "invitedUserMessageInfo": {"customizedMessageBody": "Hi",
                                                                          "ccRecipients": [{"emailAddress": {
                                                                              "address": "cc@fabrikam.com"}}]}})),
    ("deleted users", "user", "collection",
     lambda w: ("GET", "/directory/deletedItems/microsoft.graph.user", None, None)),
    ("deleted users, $select everything", "user", "collection",
     lambda w: ("GET", "/directory/deletedItems/microsoft.graph.user", user_list_select(), None)),
    ("deleted groups", "group", "collection",
     lambda w: ("GET", "/directory/deletedItems/microsoft.graph.group", {"$select": everything("group")}, None)),
    ("get deleted user", "user", "entity", lambda w: ("GET", "/directory/deletedItems/%s" % w.deleted_user, None, None)),
    ("get deleted group", "group", "entity",
     lambda w: ("GET", "/directory/deletedItems/%s" % w.deleted_group, None, None)),
    ("restore user", "user", "entity",
     lambda w: ("POST", "/directory/deletedItems/%s/restore" % w.deleted("user"), None, None)),
    ("restore group", "group", "entity",
     lambda w: ("POST", "/directory/deletedItems/%s/restore" % w.deleted("group"), None, None)),
    ("getByIds", "user", "collection",
     lambda w: ("POST", "/directoryObjects/getByIds", None, {"ids": [w.user, w.security, w.guest, w.unified]})),
    ("get directory object (user)", "user", "entity", lambda w: ("GET", "/directoryObjects/%s" % w.user, None, None)),
    ("get directory object (group)", "group", "entity",
     lambda w: ("GET", "/directoryObjects/%s" % w.dynamic, None, None)),
    ("list service principals", "servicePrincipal", "collection", lambda w: ("GET", "/servicePrincipals", None, None)),
    ("get service principal, $select everything", "servicePrincipal", "entity",
     lambda w: ("GET", "/servicePrincipals/%s" % w.app, {"$select": everything("servicePrincipal")}, None)),
    ("app role assignments of an app", "appRoleAssignment", "collection",
     lambda w: ("GET", "/servicePrincipals/%s/appRoleAssignedTo" % w.app, None, None)),
    ("assign an app role", "appRoleAssignment", "entity",
     lambda w: ("POST", "/servicePrincipals/%s/appRoleAssignedTo" % w.app, None,
                {"principalId": ok(w.wire, "POST", "/users", json=new_user_body())["id"], "resourceId": w.app,
                 "appRoleId": w.app_role})),
    ("app role assignments of a user", "appRoleAssignment", "collection",
     lambda w: ("GET", "/users/%s/appRoleAssignments" % w.assignment()[0], None, None)),
    ("app role assignments of a group", "appRoleAssignment", "collection",
     lambda w: ("GET", "/groups/%s/appRoleAssignments" % w.security, None, None)),
    ("list contacts", "orgContact", "collection", lambda w: ("GET", "/contacts", None, None)),
    ("get contact, $select everything", "orgContact", "entity",
     lambda w: ("GET", "/contacts/%s" % w.contact, {"$select": everything("orgContact")}, None)),
]
LABELS = [e[0] for e in ENDPOINTS]


@pytest.fixture(scope="module")
def world(raw, sandbox):
    return World(raw, sandbox)


def headers_for(params):
    """Advanced queries ($count=true) also need ConsistencyLevel: eventual."""
    return {"ConsistencyLevel": "eventual"} if params and "$count" in params else None


def objects_in(body, shape):
    if shape == "entity":
        return [body]
    assert isinstance(body.get("value"), list), body
    return body["value"]


def problems_of(body, type_name, shape, where):
    problems = []
    objects = objects_in(body, shape)
    for index, obj in enumerate(objects):
        check_object(obj, type_name, "%s[%d]" % (where, index) if shape == "collection" else where, problems)
    return objects, problems


@pytest.mark.parametrize("label,type_name,shape,make", ENDPOINTS, ids=LABELS)
def test_every_object_returned_fits_the_v1_schema(raw, world, label, type_name, shape, make):
    method, path, params, body = make(world)
    response = raw.call(method, path, params=params, json=body, headers=headers_for(params))
    assert response.status_code < 300, response.text
    objects, problems = problems_of(response.json(), type_name, shape, label)
    assert objects, "%s returned no object to check" % label
    assert problems == []


def test_every_object_in_batch_item_bodies_fits_the_v1_schema(raw, world):
    calls = [(label, type_name, shape, make(world)) for label, type_name, shape, make in ENDPOINTS]
    problems, checked = [], 0
    for first in range(0, len(calls), 20):
        chunk = calls[first:first + 20]
        items = []
        for index, (_, _, _, (method, path, params, body)) in enumerate(chunk):
            url = path + ("?" + "&".join("%s=%s" % kv for kv in params.items()) if params else "")
            item = {"id": str(index), "method": method, "url": url}
            if body is not None:
                item.update(body=body, headers={"Content-Type": "application/json"})
            if headers_for(params):
                item["headers"] = dict(item.get("headers", {}), **headers_for(params))
            items.append(item)
        response = raw.call("POST", "/$batch", json={"requests": items})
        assert response.status_code == 200
        for answer in response.json()["responses"]:
            label, type_name, shape, _ = chunk[int(answer["id"])]
            assert answer["status"] < 300, (label, answer.get("body"))
            objects, found = problems_of(answer["body"], type_name, shape, "$batch " + label)
            problems.extend(found)
            checked += len(objects)
    assert checked >= len(calls)
    assert problems == []


def test_the_validator_catches_what_it_should():
    problems = []
    check_object({"id": "x", "shoeSize": 42}, "user", "user", problems)
    check_object({"id": "x", "accountEnabled": "yes", "businessPhones": None}, "user", "user", problems)
    check_object({"id": "x", "assignedLicenses": [{"skuId": "not-a-guid", "disabledPlans": []}]}, "user", "user", problems)
    check_object({"id": "x", "passwordProfile": {"password": "x", "colour": "red"}}, "user", "user", problems)
    check_object({"id": "x", "createdDateTime": "yesterday"}, "group", "group", problems)
    assert len(problems) == 6, problems


# Routes that return no user, group, invitation or subscribedSku object (writes answering 204, $ref,
# $count, organization and domains); every other route under /v1.0 must be in ENDPOINTS.
NO_OBJECT_ROUTES = {
    ("PATCH", "/v1.0/users/{id}"), ("DELETE", "/v1.0/users/{id}"), ("GET", "/v1.0/users/$count"),
    ("PUT", "/v1.0/users/{id}/manager/$ref"), ("DELETE", "/v1.0/users/{id}/manager/$ref"),
    ("PATCH", "/v1.0/groups/{id}"), ("DELETE", "/v1.0/groups/{id}"),
    ("DELETE", "/v1.0/directory/deletedItems/{id}"), ("GET", "/v1.0/directory/deletedItems"),
    ("GET", "/v1.0/domains"), ("GET", "/v1.0/domains/{id}"), ("GET", "/v1.0/organization"),
    ("POST", "/v1.0/$batch"), ("DELETE", "/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}"),
    # The default seed's contacts are in no group; the route answers through the same objects_response as
    # "user memberOf" (test_sandbox_apps.py checks its groups with a seed that has some).
    ("GET", "/v1.0/contacts/{id}/memberOf"),
}


def test_the_walk_covers_every_route_that_returns_these_objects(raw, world, sandbox):
    from graph_sandbox.app import build_app

    class Stub:
        pass

    app = build_app(Stub())
    routes = {(method, route.path) for route in app.routes if isinstance(route, Route) and route.path.startswith("/v1.0/")
              for method in route.methods - {"HEAD"}}
    wanted = {r for r in routes if r not in NO_OBJECT_ROUTES and not r[1].endswith(("/$ref", "/$count"))}
    sandbox.reset_counters()
    for _, _, _, make in ENDPOINTS:
        method, path, params, body = make(world)
        raw.call(method, path, params=params, json=body, headers=headers_for(params))
    walked = {tuple(key.split(" ", 1)) for key in sandbox.counters()["operations"]["by_route"]}
    assert wanted - walked == set(), "routes returning objects that ENDPOINTS does not call"
