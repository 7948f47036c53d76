"""Deleted items, directoryObjects, organization and domains (FIDELITY.md 2.5)."""
from starlette.routing import Route

from ..http import (GraphHTTPError, collection_response, entity_response, graph_json, no_content, not_found, read_json,
                    require, tenant_of)
from .users import conflict

READ_DELETED = {"user": ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
                "group": ("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")}
# Restore and purge of users: User.DeleteRestore.All is the least privilege (FIDELITY.md 7.5).
WRITE_DELETED = {"user": ("User.DeleteRestore.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
                 "group": ("Group.ReadWrite.All", "Directory.ReadWrite.All")}
READ_OBJECTS = READ_DELETED["user"] + READ_DELETED["group"]
READ_ORG = ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
            "User.Read.All", "User.ReadWrite.All")
READ_DOMAINS = ("Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")


def deleted_view(entry):
    """A deleted object as Graph lists it: deletedDateTime set; a user's UPN prefixed with its id."""
    doc = dict(entry["doc"], deletedDateTime=entry["deletedDateTime"], _kind=entry["kind"])
    if entry["kind"] == "user":
        doc["userPrincipalName"] = entry["id"].replace("-", "") + doc["userPrincipalName"]
    return doc


def _entry(request, kinds=("user", "group")):
    tenant = tenant_of(request)
    entry = tenant.deleted.get(request.path_params["id"])
    if entry is None or entry["kind"] not in kinds:
        raise not_found(request.path_params["id"])
    return entry


async def list_deleted(request):
    kind = request.path_params["kind"].lower()   # segments match in any case (FIDELITY.md 7.10)
    if kind not in ("user", "group"):
        raise GraphHTTPError(400, "Request_BadRequest", "Type 'microsoft.graph.%s' is not supported for deleted items." % kind)
    require(request, *READ_DELETED[kind])
    docs = [deleted_view(e) for e in tenant_of(request).deleted.values() if e["kind"] == kind]
    return collection_response(request, kind, docs, "directory/deletedItems/microsoft.graph.%s" % kind)


async def list_deleted_untyped(request):
    raise GraphHTTPError(400, "Request_BadRequest",
                         "Unsupported query: list deleted items by type, e.g. /directory/deletedItems/microsoft.graph.user.")


async def get_deleted(request):
    entry = _entry(request)
    require(request, *READ_DELETED[entry["kind"]])
    return entity_response(request, entry["kind"], deleted_view(entry), context="directoryObjects/$entity", odata_type=True)


async def restore_deleted(request):
    tenant = tenant_of(request)
    entry = _entry(request)
    require(request, *WRITE_DELETED[entry["kind"]])
    doc = entry["doc"]
    if entry["kind"] == "user":
        upn = doc["userPrincipalName"]
        holder = tenant.find_user(upn)
        if holder:
            raise conflict("userPrincipalName", holder)
    elif doc.get("uniqueName") and any((g.get("uniqueName") or "").lower() == doc["uniqueName"].lower() for g in tenant.groups.values()):
        raise GraphHTTPError(400, "Request_BadRequest", "Another object with the same value for property uniqueName already exists.")
    tenant.drop("deleted", entry["id"])
    doc.pop("deletedDateTime", None)
    tenant.save(entry["kind"], doc)
    return entity_response(request, entry["kind"], doc, context="directoryObjects/$entity", odata_type=True)


def purge(tenant, entry):
    """Permanent deletion: the object and every membership or ownership it held."""
    tenant.drop("deleted", entry["id"])
    for kind, group in tenant.groups_holding(entry["id"]):
        for rel in ("_members", "_owners"):
            (group.get(rel) or {}).pop(entry["id"], None)
        if kind == "group":
            tenant.save("group", group)
        else:
            tenant.save("deleted", tenant.deleted[group["id"]])
    for user in tenant.reports_of(entry["id"]):
        user.pop("_manager")
        tenant.save("user", user)


async def delete_deleted(request):
    tenant = tenant_of(request)
    entry = _entry(request)
    require(request, *WRITE_DELETED[entry["kind"]])
    purge(tenant, entry)
    return no_content()


def _typed(kind, doc):
    return dict(doc, _kind=kind)


async def get_by_ids(request):
    require(request, *READ_OBJECTS)
    tenant = tenant_of(request)
    body = await read_json(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise GraphHTTPError(400, "Request_BadRequest", "A value is required for property 'ids'.")
    if len(ids) > 1000:
        raise GraphHTTPError(400, "Request_BadRequest", "The number of ids exceeds the limit of 1000.")
    types = {t.lower().replace("microsoft.graph.", "") for t in body.get("types") or ["user", "group"]}
    from .. import schema
    value = []
    for obj_id in ids:
        kind, doc = tenant.directory_object(obj_id)
        if doc is not None and kind in types and tenant.replicated(obj_id):
            item = {"@odata.type": "#microsoft.graph.%s" % kind}
            item.update(schema.project(kind, doc, None, tenant))
            value.append(item)
    return graph_json({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": value})


async def get_directory_object(request):
    require(request, *READ_OBJECTS)
    tenant = tenant_of(request)
    kind, doc = tenant.directory_object(request.path_params["id"])
    if doc is None or not tenant.replicated(doc["id"]):
        raise not_found(request.path_params["id"])
    return entity_response(request, kind, doc, context="directoryObjects/$entity", odata_type=True)


def _domain(tenant, name):
    return {"id": name, "authenticationType": "Managed", "availabilityStatus": None, "isAdminManaged": True,
            "isDefault": name == tenant.default_domain, "isInitial": name.endswith(".onmicrosoft.com"), "isRoot": True,
            "isVerified": True, "passwordNotificationWindowInDays": 14, "passwordValidityPeriodInDays": 2147483647,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"], "state": None}


async def list_domains(request):
    require(request, *READ_DOMAINS)
    tenant = tenant_of(request)
    return graph_json({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#domains",
                       "value": [_domain(tenant, d) for d in tenant.verified_domains]})


async def get_domain(request):
    require(request, *READ_DOMAINS)
    tenant = tenant_of(request)
    name = request.path_params["id"]
    match = next((d for d in tenant.verified_domains if d.lower() == name.lower()), None)
    if match is None:
        raise not_found(name)
    return graph_json(dict(_domain(tenant, match), **{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#domains/$entity"}))


async def organization(request):
    require(request, *READ_ORG)
    tenant = tenant_of(request)
    org = {"id": tenant.id, "displayName": tenant.info.get("display_name"), "tenantType": "AAD",
           "countryLetterCode": "US", "preferredLanguage": "en", "createdDateTime": "2024-01-01T00:00:00Z",
           "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": d == tenant.default_domain,
                                "isInitial": d.endswith(".onmicrosoft.com"), "name": d, "type": "Managed"}
                               for d in tenant.verified_domains]}
    return graph_json({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization", "value": [org]})


routes = [
    Route("/v1.0/directory/deletedItems", list_deleted_untyped, methods=["GET"]),
    Route("/v1.0/directory/deletedItems/microsoft.graph.{kind}", list_deleted, methods=["GET"]),
    Route("/v1.0/directory/deletedItems/{id}", get_deleted, methods=["GET"]),
    Route("/v1.0/directory/deletedItems/{id}", delete_deleted, methods=["DELETE"]),
    Route("/v1.0/directory/deletedItems/{id}/restore", restore_deleted, methods=["POST"]),
    Route("/v1.0/directoryObjects/getByIds", get_by_ids, methods=["POST"]),
    Route("/v1.0/directoryObjects/{id}", get_directory_object, methods=["GET"]),
    Route("/v1.0/domains", list_domains, methods=["GET"]),
    Route("/v1.0/domains/{id}", get_domain, methods=["GET"]),
    Route("/v1.0/organization", organization, methods=["GET"]),
]
