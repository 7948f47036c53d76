"""Enterprise applications (service principals), their app roles and app role assignments.

A service principal is seeded (the sandbox has no application registrations to instantiate); its app role
assignments live in its document as ``_assignedTo`` (assignment id -> appRoleAssignment document). Rules
and sources are in docs/graph-rules.md, "App role assignments".
"""
import secrets
import uuid

from starlette.routing import Route

from ..http import (GraphHTTPError, collection_response, entity_response, iso, no_content, not_found, read_json,
                    require, tenant_of)
from .groups import READ as GROUP_READ, groups_of, live_group
from .users import live_user

# DC api/serviceprincipal-get.md, serviceprincipal-list-approleassignedto.md: Application.Read.All is the least.
READ = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
# DC api/serviceprincipal-post-approleassignedto.md and -delete-approleassignedto.md: AppRoleAssignment.ReadWrite.All
# (with Application.Read.All or Directory.Read.All to find the service principal).
WRITE = ("AppRoleAssignment.ReadWrite.All",)
# DC api/user-list-approleassignments.md: Directory.Read.All (AppRoleAssignment.ReadWrite.All also works).
USER_ASSIGNMENTS_READ = ("Directory.Read.All", "Directory.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")
# DC api/group-list-approleassignments.md: Group.Read.All.
GROUP_ASSIGNMENTS_READ = GROUP_READ + ("AppRoleAssignment.ReadWrite.All",)

# The default access role: assigns a principal to an app that declares no app roles (DC resources/approleassignment.md).
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"

# Graph's messages as public clients observe them (the docs list no error text for this API): ASSUMED wording.
ROLE_NOT_FOUND = "Permission being assigned was not found on application '%s'."
ALREADY_ASSIGNED = "Permission being assigned already exists on the object."
# ASSUMED (docs: only security groups, and users, are assigned from a group or user side; DC group-post-approleassignments.md).
NOT_SECURITY_GROUP = ("Group '%s' is not security-enabled: only users and security groups (including dynamic ones) "
                      "can be assigned to an application.")
WRONG_MEMBER_TYPE = "App role '%s' of application '%s' cannot be assigned to users or groups (allowedMemberTypes: %s)."
RESOURCE_MISMATCH = "resourceId '%s' must be the id of the service principal in the request URL ('%s')."


def bad_request(message):
    return GraphHTTPError(400, "Request_BadRequest", message)


def seed_service_principals(tenant, specs):
    """Seed entries: displayName, appId (else generated), appRoles (value, displayName, id optional)."""
    for spec in specs:
        app_id = spec.get("appId") or str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-app:" + spec["displayName"]))
        roles = []
        for role in spec.get("appRoles") or []:
            roles.append({
                "id": role.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "%s:%s" % (app_id, role["value"]))),
                "value": role["value"], "displayName": role.get("displayName", role["value"]),
                "description": role.get("description", role.get("displayName", role["value"])),
                "allowedMemberTypes": list(role.get("allowedMemberTypes") or ["User"]),
                "isEnabled": role.get("isEnabled", True), "origin": "Application"})
        doc = {"id": spec.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-sp:" + app_id)),
               "appId": app_id, "displayName": spec["displayName"], "appDisplayName": spec["displayName"],
               "accountEnabled": True, "servicePrincipalType": "Application", "appRoles": roles,
               "appRoleAssignmentRequired": bool(spec.get("appRoleAssignmentRequired", True)),
               "tags": list(spec.get("tags") or ["WindowsAzureActiveDirectoryIntegratedApp"]),
               "servicePrincipalNames": [app_id], "signInAudience": "AzureADMyOrg", "_assignedTo": {}}
        tenant.save("servicePrincipal", doc)


def path_object(request, store):
    """The object the path's {id} names in a store of seeded objects (service principals, contacts); 404 else."""
    doc = store.get(request.path_params["id"])
    if doc is None:
        raise not_found(request.path_params["id"])
    return doc


def live_service_principal(request):
    return path_object(request, tenant_of(request).service_principals)


def _live_assignments(tenant, sp):
    """Assignments whose principal still exists (a deleted user's or group's are not listed)."""
    return [a for a in (sp.get("_assignedTo") or {}).values() if tenant.directory_object(a["principalId"])[1] is not None]


async def list_service_principals(request):
    require(request, *READ)
    return collection_response(request, "servicePrincipal", list(tenant_of(request).service_principals.values()),
                               "servicePrincipals")


async def get_service_principal(request):
    require(request, *READ)
    return entity_response(request, "servicePrincipal", live_service_principal(request))


async def list_assigned_to(request):
    require(request, *READ)
    sp = live_service_principal(request)
    return collection_response(request, "appRoleAssignment", _live_assignments(tenant_of(request), sp),
                               "servicePrincipals('%s')/appRoleAssignedTo" % sp["id"], filterable=False)


def _role(sp, role_id):
    """The app role an assignment names, or None when the app does not define it."""
    assignable = [r for r in sp.get("appRoles") or [] if r.get("isEnabled", True)]
    if role_id == DEFAULT_ACCESS_ROLE and not any("User" in r.get("allowedMemberTypes", []) for r in assignable):
        return {"id": DEFAULT_ACCESS_ROLE, "allowedMemberTypes": ["User"], "value": None}
    return next((r for r in assignable if r["id"].lower() == str(role_id).lower()), None)


async def post_assigned_to(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    sp = live_service_principal(request)
    body = await read_json(request, "appRoleAssignment")
    for prop in ("principalId", "resourceId", "appRoleId"):
        if not isinstance(body.get(prop), str) or not body.get(prop):
            raise bad_request("Invalid value specified for property '%s' of resource 'AppRoleAssignment'." % prop)
    if body["resourceId"].lower() != sp["id"].lower():
        raise bad_request(RESOURCE_MISMATCH % (body["resourceId"], sp["id"]))
    kind, principal = tenant.directory_object(body["principalId"])
    if principal is None:
        raise not_found(body["principalId"])
    if not tenant.replicated(principal["id"]):
        raise bad_request("The source resource object or one of the objects being referenced do not exist.")
    if kind == "group" and not principal.get("securityEnabled"):
        raise bad_request(NOT_SECURITY_GROUP % principal.get("displayName"))
    role = _role(sp, body["appRoleId"])
    if role is None:
        raise bad_request(ROLE_NOT_FOUND % sp["appId"])
    if "User" not in role.get("allowedMemberTypes", []):
        raise bad_request(WRONG_MEMBER_TYPE % (role.get("value"), sp["displayName"], ", ".join(role["allowedMemberTypes"])))
    assignments = sp.setdefault("_assignedTo", {})
    if any(a["principalId"] == principal["id"] and a["appRoleId"] == role["id"] for a in assignments.values()):
        raise bad_request(ALREADY_ASSIGNED)
    # Assignment ids are opaque strings (43 URL-safe characters), not GUIDs.
    assignment = {"id": secrets.token_urlsafe(32)[:43], "appRoleId": role["id"], "createdDateTime": iso(),
                  "principalId": principal["id"], "principalType": "Group" if kind == "group" else "User",
                  "principalDisplayName": principal.get("displayName"), "resourceId": sp["id"],
                  "resourceDisplayName": sp["displayName"], "deletedDateTime": None}
    assignments[assignment["id"]] = assignment
    tenant.save("servicePrincipal", sp)
    return entity_response(request, "appRoleAssignment", assignment, status=201,
                           context="servicePrincipals('%s')/appRoleAssignedTo/$entity" % sp["id"])


async def delete_assigned_to(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    sp = live_service_principal(request)
    assignment_id = request.path_params["assignment"]
    if assignment_id not in (sp.get("_assignedTo") or {}):
        raise not_found(assignment_id)
    del sp["_assignedTo"][assignment_id]
    tenant.save("servicePrincipal", sp)
    return no_content()


def assignments_of(tenant, principal_ids):
    return [a for sp in tenant.service_principals.values() for a in (sp.get("_assignedTo") or {}).values()
            if a["principalId"] in principal_ids]


async def list_user_assignments(request):
    """A user's assignments, and those of the groups it is a direct member of (DC user-list-approleassignments.md)."""
    require(request, *USER_ASSIGNMENTS_READ)
    tenant = tenant_of(request)
    user = live_user(request)
    principals = {user["id"]} | {g["id"] for g in groups_of(tenant, user["id"])}
    return collection_response(request, "appRoleAssignment", assignments_of(tenant, principals),
                               "users('%s')/appRoleAssignments" % user["id"], filterable=False)


async def list_group_assignments(request):
    require(request, *GROUP_ASSIGNMENTS_READ)
    tenant = tenant_of(request)
    group = live_group(request)
    return collection_response(request, "appRoleAssignment", assignments_of(tenant, {group["id"]}),
                               "groups('%s')/appRoleAssignments" % group["id"], filterable=False)


routes = [
    Route("/v1.0/servicePrincipals", list_service_principals, methods=["GET"]),
    Route("/v1.0/servicePrincipals/{id}", get_service_principal, methods=["GET"]),
    Route("/v1.0/servicePrincipals/{id}/appRoleAssignedTo", list_assigned_to, methods=["GET"]),
    Route("/v1.0/servicePrincipals/{id}/appRoleAssignedTo", post_assigned_to, methods=["POST"]),
    Route("/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}", delete_assigned_to, methods=["DELETE"]),
    Route("/v1.0/users/{id}/appRoleAssignments", list_user_assignments, methods=["GET"]),
    Route("/v1.0/groups/{id}/appRoleAssignments", list_group_assignments, methods=["GET"]),
]
