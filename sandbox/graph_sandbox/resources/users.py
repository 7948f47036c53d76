"""/users: member accounts (FIDELITY.md 2.1), their manager, and the rules Graph applies on write."""
import hashlib
import re
import uuid

from starlette.routing import Route

from .. import schema
from . import user_hr
from ..http import (GraphHTTPError, collection_response, count_response, entity_response, iso, no_content, not_found,
                    read_json, reference_id, require, tenant_of)

READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
WRITE = ("User.ReadWrite.All", "Directory.ReadWrite.All")
# Entra roles that let an app reset another user's password (FIDELITY.md 7.5; DC api/user-update.md).
PASSWORD_RESET_ROLES = ("User Administrator", "Privileged Authentication Administrator", "Global Administrator")

REQUIRED_ON_CREATE = ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName")
READ_ONLY = {"id", "createdDateTime", "assignedLicenses", "assignedPlans", "licenseAssignmentStates", "proxyAddresses",
             "creationType", "externalUserState", "externalUserStateChangeDateTime", "deletedDateTime",
             "lastPasswordChangeDateTime", "provisionedPlans", "securityIdentifier", "signInActivity",
             "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesLastSyncDateTime",
             "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
             "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "isManagementRestricted", "isResourceAccount",
             "identityParentId", "signInSessionsValidFromDateTime", "serviceProvisioningErrors", "print",
             "authorizationInfo", "mailboxSettings", "customSecurityAttributes", "deviceEnrollmentLimit"}
UPN_LOCAL = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+$")
NICKNAME_FORBIDDEN = set('@()\\[]";:<>, ')
USAGE_LOCATION = re.compile(r"^[A-Za-z]{2}$")
WEAK_PASSWORD = ("The specified password does not comply with password complexity requirements. "
                 "Please provide a different password.")
_EDM_TYPES = {"Edm.String": str, "Edm.Boolean": bool, "Edm.DateTimeOffset": str, "Edm.Guid": str, "Edm.Int32": int}


def invalid(prop):
    return GraphHTTPError(400, "Request_BadRequest", "Invalid value specified for property '%s' of resource 'User'." % prop)


def _check_value(prop, value):
    spec = schema.type_properties("user")[prop]
    edm = spec["type"]
    if value is None:
        if not spec["nullable"]:
            raise invalid(prop)
        return
    if edm.startswith("Collection("):
        inner = _EDM_TYPES.get(edm[len("Collection("):-1])
        if not isinstance(value, list) or (inner and not all(isinstance(v, inner) for v in value)):
            raise invalid(prop)
    elif edm in _EDM_TYPES:
        if not isinstance(value, _EDM_TYPES[edm]) or (edm == "Edm.Int32" and isinstance(value, bool)):
            raise invalid(prop)
    elif not isinstance(value, dict):
        raise invalid(prop)


def password_is_strong(password):
    """Entra's rule for cloud accounts: 8-256 characters, three of the four character classes."""
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        return False
    classes = [any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    return sum(classes) >= 3


def upn_taken(tenant, upn, except_id=None):
    """The live user holding the UPN. A soft-deleted user frees it: deleted items list it as
    ``{id without dashes}{upn}`` (FIDELITY.md 7.5)."""
    live = tenant.find_user(upn) if "@" in upn else None
    if live is not None and live["id"] != except_id:
        return live
    return None


def conflict(prop, other):
    return GraphHTTPError(400, "Request_BadRequest",
                          "Another object with the same value for property %s already exists." % prop,
                          details=[{"code": "ObjectConflict", "message": "", "target": prop},
                                   {"code": "ConflictingObjects", "message": "", "target": "User_%s" % other["id"]}])


def validate_properties(tenant, body, existing=None):
    """Graph's checks on a user body; raises GraphHTTPError on the first problem."""
    known = schema.type_properties("user")
    for prop, value in body.items():
        if prop not in known:
            raise GraphHTTPError(400, "Request_BadRequest", "Property '%s' does not exist on type 'microsoft.graph.user'." % prop)
        if prop in READ_ONLY:
            raise GraphHTTPError(400, "Request_BadRequest", "Property '%s' is read-only and cannot be set." % prop)
        _check_value(prop, value)
    if "displayName" in body and (not body["displayName"] or len(body["displayName"]) > 256):
        raise invalid("displayName")
    if len(body.get("businessPhones") or []) > 1:
        raise invalid("businessPhones")  # only one number can be set (FIDELITY.md 7.5)
    if "userPrincipalName" in body:
        upn = body["userPrincipalName"]
        local, at, domain = (upn or "").rpartition("@")
        if not at or not local or len(local) > 64 or not UPN_LOCAL.match(local) or local.startswith(".") or local.endswith("."):
            raise GraphHTTPError(400, "Request_BadRequest", "Property userPrincipalName is invalid.")
        if not tenant.is_verified_domain(domain) and "#EXT#" not in local:
            raise GraphHTTPError(400, "Request_BadRequest",
                                 "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
        other = upn_taken(tenant, upn, except_id=existing and existing["id"])
        if other:
            raise conflict("userPrincipalName", other)
    if "mailNickname" in body:
        nickname = body["mailNickname"] or ""
        if not nickname or len(nickname) > 64 or any(c in NICKNAME_FORBIDDEN or ord(c) > 127 for c in nickname):
            raise invalid("mailNickname")
    if body.get("usageLocation") is not None and not USAGE_LOCATION.match(body["usageLocation"]):
        raise invalid("usageLocation")
    if "passwordPolicies" in body and body["passwordPolicies"] is not None:
        allowed = {"DisablePasswordExpiration", "DisableStrongPassword", "None"}
        if not set(p.strip() for p in body["passwordPolicies"].split(",")) <= allowed:
            raise invalid("passwordPolicies")
    profile = body.get("passwordProfile")
    if profile is not None:
        if not isinstance(profile, dict) or set(profile) - set(schema.type_properties("passwordProfile")):
            raise invalid("passwordProfile")
        if "password" in profile or existing is None:
            policies = body.get("passwordPolicies", (existing or {}).get("passwordPolicies")) or ""
            if not profile.get("password") or ("DisableStrongPassword" not in policies and not password_is_strong(profile["password"])):
                raise GraphHTTPError(400, "Request_BadRequest", WEAK_PASSWORD)
    user_hr.check_properties(tenant, body, existing)


def apply_password(doc, profile):
    if profile.get("password"):
        doc["_passwordHash"] = hashlib.sha256(profile["password"].encode()).hexdigest()
        doc["lastPasswordChangeDateTime"] = iso()
    for flag in ("forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"):
        if flag in profile:
            doc["_" + flag] = bool(profile[flag])


def create_user(tenant, body, creation_type=None):
    """Validate and store a new user; returns the stored document."""
    missing = [p for p in REQUIRED_ON_CREATE if body.get(p) in (None, "")]
    if missing:
        raise GraphHTTPError(400, "Request_BadRequest", "A value is required for property '%s' of resource 'User'." % missing[0])
    validate_properties(tenant, body)
    doc = {k: v for k, v in body.items() if k != "passwordProfile"}
    doc.update(id=str(uuid.uuid4()), createdDateTime=iso(), creationType=creation_type,
               userType=body.get("userType") or "Member")
    if doc.get("usageLocation"):
        doc["usageLocation"] = doc["usageLocation"].upper()
    doc["proxyAddresses"] = ["SMTP:%s" % doc["mail"]] if doc.get("mail") else []
    apply_password(doc, body["passwordProfile"])
    tenant.save("user", doc)
    return doc


def update_user(tenant, doc, body):
    validate_properties(tenant, body, existing=doc)
    for prop, value in body.items():
        if prop == "passwordProfile":
            apply_password(doc, value)
        elif prop == "onPremisesExtensionAttributes" and value is not None:
            merged = dict(doc.get(prop) or {})
            merged.update(value)
            doc[prop] = merged
        elif prop == "usageLocation" and value:
            doc[prop] = value.upper()
        else:
            doc[prop] = value
    if "mail" in body:
        doc["proxyAddresses"] = ["SMTP:%s" % doc["mail"]] if doc.get("mail") else []
    tenant.save("user", doc)


def live_user(request, key=None):
    """The user named in the path (id or UPN), honouring replication lag; 404 otherwise."""
    tenant = tenant_of(request)
    key = key or request.path_params["id"]
    user = tenant.find_user(key)
    if user is None or not tenant.replicated(user["id"]):
        raise not_found(key)
    return user


def visible_users(tenant):
    return [u for u in tenant.users.values() if tenant.replicated(u["id"])]


async def list_users(request):
    require(request, *READ)
    user_hr.require_for_select(request)
    return collection_response(request, "user", visible_users(tenant_of(request)), "users",
                               expansions={"manager": ("user", _manager_of)})


def _manager_of(tenant, user):
    """The user's manager, for $expand=manager (None when it has none)."""
    return tenant.users.get(user.get("_manager") or "")


async def count_users(request):
    require(request, *READ)
    return count_response(request, "user", visible_users(tenant_of(request)))


async def post_user(request):
    require(request, *WRITE)
    body = await read_json(request, "user")
    user_hr.require_for_body(request, body)
    doc = create_user(tenant_of(request), body)
    return entity_response(request, "user", doc, status=201, context="users/$entity")


async def get_user(request):
    require(request, *READ)
    user_hr.require_for_select(request)
    return entity_response(request, "user", live_user(request), context="users/$entity")


def require_password_reset_role(request):
    """A password reset needs a directory role on the app besides User.ReadWrite.All (FIDELITY.md 7.5)."""
    app = tenant_of(request).apps.get(getattr(request.state, "app_id", None) or "") or {}
    if not set(app.get("directoryRoles") or ()).intersection(PASSWORD_RESET_ROLES):
        raise GraphHTTPError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


async def patch_user(request):
    require(request, *WRITE)
    user = live_user(request)
    body = await read_json(request, "user")
    user_hr.require_for_body(request, body)
    if "passwordProfile" in body:
        require_password_reset_role(request)
    update_user(tenant_of(request), user, body)
    return no_content()


def soft_delete(tenant, kind, doc):
    """Move a user or group to deleted items (kept 30 days in Graph)."""
    entry = {"id": doc["id"], "kind": kind, "doc": doc, "deletedDateTime": iso()}
    tenant.drop(kind, doc["id"])
    tenant.save("deleted", entry)
    return entry


async def delete_user(request):
    require(request, *WRITE)
    user = live_user(request)
    soft_delete(tenant_of(request), "user", user)
    return no_content()


async def put_manager(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    user = live_user(request)
    body = await read_json(request)
    if not body.get("@odata.id"):
        raise GraphHTTPError(400, "Request_BadRequest", "Invalid request body: '@odata.id' is required.")
    manager_id = reference_id(request, body["@odata.id"])
    manager = tenant.users.get(manager_id)
    if manager is None or not tenant.replicated(manager_id):  # a new manager is not referable yet (7.3)
        raise not_found(manager_id)
    if manager_id == user["id"]:
        raise GraphHTTPError(400, "Request_BadRequest", "A user cannot be their own manager.")
    user["_manager"] = manager_id
    tenant.save("user", user)
    return no_content()


async def get_manager(request):
    require(request, *READ)
    tenant = tenant_of(request)
    user = live_user(request)
    manager = tenant.users.get(user.get("_manager") or "")
    if manager is None:
        raise not_found("manager")
    return entity_response(request, "user", manager, context="directoryObjects/$entity", odata_type=True)


async def delete_manager(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    user = live_user(request)
    if not user.get("_manager"):
        raise not_found("manager")
    user.pop("_manager")
    tenant.save("user", user)
    return no_content()


async def direct_reports(request):
    require(request, *READ)
    tenant = tenant_of(request)
    user = live_user(request)
    reports = tenant.reports_of(user["id"])
    return collection_response(request, "user", reports, "directoryObjects", odata_type=True)


routes = [
    Route("/v1.0/users", list_users, methods=["GET"]),
    Route("/v1.0/users", post_user, methods=["POST"]),
    Route("/v1.0/users/$count", count_users, methods=["GET"]),
    Route("/v1.0/users/{id}", get_user, methods=["GET"]),
    Route("/v1.0/users/{id}", patch_user, methods=["PATCH"]),
    Route("/v1.0/users/{id}", delete_user, methods=["DELETE"]),
    Route("/v1.0/users/{id}/manager", get_manager, methods=["GET"]),
    Route("/v1.0/users/{id}/manager/$ref", put_manager, methods=["PUT"]),
    Route("/v1.0/users/{id}/manager/$ref", delete_manager, methods=["DELETE"]),
    Route("/v1.0/users/{id}/directReports", direct_reports, methods=["GET"]),
]
