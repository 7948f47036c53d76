"""Organisational contacts: read-only, from the seed (Graph v1.0 has no create; Exchange Online or directory
synchronisation makes them). A contact's groups come from the groups that hold it as a member."""
import uuid

from starlette.routing import Route

from ..http import collection_response, entity_response, require, tenant_of
from .groups import groups_of, objects_response
from .service_principals import path_object

# DC api/orgcontact-list.md, orgcontact-get.md: OrgContact.Read.All; memberOf also needs Group.Read.All
# (orgcontact-list-memberof.md); Directory.Read.All covers both.
READ = ("OrgContact.Read.All", "Directory.Read.All", "Directory.ReadWrite.All")
GROUPS_READ = ("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")


def seed_contacts(tenant, specs):
    """Seed entries: orgContact properties, plus ``memberOf``: display names of distribution lists holding the
    contact (created here as mail-enabled, non-security groups when the seed has none of that name)."""
    from .groups import _add  # the member map every group keeps

    for spec in specs:
        body = dict(spec)
        member_of = body.pop("memberOf", None) or []
        mail = body.get("mail")
        doc = dict(body, id=body.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-contact:%s" % mail)))
        doc.setdefault("mailNickname", (mail or doc["displayName"]).split("@")[0])
        doc.setdefault("proxyAddresses", ["SMTP:%s" % mail] if mail else [])
        tenant.save("contact", doc)
        for name in member_of:
            group = next((g for g in tenant.groups.values() if g.get("displayName") == name), None)
            if group is None:
                nickname = "".join(c for c in name if c.isalnum()) or "list"
                group = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-list:" + name)), "displayName": name,
                         "mailEnabled": True, "securityEnabled": False, "groupTypes": [], "mailNickname": nickname,
                         "mail": "%s@%s" % (nickname, tenant.default_domain),
                         "proxyAddresses": ["SMTP:%s@%s" % (nickname, tenant.default_domain)],
                         "visibility": None, "createdDateTime": "2024-01-01T00:00:00Z"}
            _add(group, "members", [doc["id"]])
            tenant.save("group", group)


def live_contact(request):
    return path_object(request, tenant_of(request).contacts)


async def list_contacts(request):
    require(request, *READ)
    return collection_response(request, "orgContact", list(tenant_of(request).contacts.values()), "contacts")


async def get_contact(request):
    require(request, *READ)
    return entity_response(request, "orgContact", live_contact(request), context="contacts/$entity")


async def list_member_of(request):
    require(request, *READ)
    require(request, *GROUPS_READ)
    contact = live_contact(request)
    return objects_response(request, [g["id"] for g in groups_of(tenant_of(request), contact["id"])])


routes = [
    Route("/v1.0/contacts", list_contacts, methods=["GET"]),
    Route("/v1.0/contacts/{id}", get_contact, methods=["GET"]),
    Route("/v1.0/contacts/{id}/memberOf", list_member_of, methods=["GET"]),
]
