"""A user's sponsors: the users and groups responsible for a guest (docs/graph-rules.md, "Sponsors").

DC api/user-list-sponsors.md, user-post-sponsors.md, user-delete-sponsors.md: list with User.Read.All, add
(POST .../sponsors/$ref with an @odata.id naming a user or group, 204) and remove (DELETE
.../sponsors/{id}/$ref, 204) with User.ReadWrite.All. Stored on the user as ``_sponsors`` (ids, in the
order added).
"""
from starlette.routing import Route

from ..http import GraphHTTPError, no_content, not_found, read_json, reference_id, require, tenant_of
from .groups import ALREADY_EXIST, objects_response
from .users import READ, WRITE, live_user


async def list_sponsors(request):
    require(request, *READ)
    tenant = tenant_of(request)
    user = live_user(request)
    ids = [i for i in user.get("_sponsors") or [] if tenant.directory_object(i)[1] is not None]
    return objects_response(request, ids)


async def add_sponsor(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    user = live_user(request)
    sponsor_id = reference_id(request, (await read_json(request)).get("@odata.id"))
    kind, sponsor = tenant.directory_object(sponsor_id)
    if sponsor is None:
        raise not_found(sponsor_id)
    if sponsor_id == user["id"]:
        # Assumption (the docs are silent): a user cannot sponsor itself.
        raise GraphHTTPError(400, "Request_BadRequest", "A user cannot be their own sponsor.")
    sponsors = list(user.get("_sponsors") or [])
    if sponsor_id in sponsors:
        raise GraphHTTPError(400, "Request_BadRequest", ALREADY_EXIST % "sponsors")
    user["_sponsors"] = sponsors + [sponsor_id]
    tenant.save("user", user)
    return no_content()


async def remove_sponsor(request):
    require(request, *WRITE)
    tenant = tenant_of(request)
    user = live_user(request)
    sponsor_id = request.path_params["sponsor"]
    sponsors = list(user.get("_sponsors") or [])
    if sponsor_id not in sponsors:
        raise not_found(sponsor_id)
    sponsors.remove(sponsor_id)
    user["_sponsors"] = sponsors
    tenant.save("user", user)
    return no_content()


routes = [
    Route("/v1.0/users/{id}/sponsors", list_sponsors, methods=["GET"]),
    Route("/v1.0/users/{id}/sponsors/$ref", add_sponsor, methods=["POST"]),
    Route("/v1.0/users/{id}/sponsors/{sponsor}/$ref", remove_sponsor, methods=["DELETE"]),
]
