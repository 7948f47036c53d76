"""/invitations: B2B guest invitations (FIDELITY.md 2.4), and the sandbox-only redeem call.

POST /invitations creates the guest user (or finds the one already invited with that address) and
answers 201 with the invitation. Graph has no GET for an invitation, so the invitation documents are
kept in the tenant (kind "invitation") for the record only and never served.

POST /_sandbox/guests/{user id, e-mail address or UPN}/redeem stands in for the invited person
accepting the invitation: the guest's externalUserState becomes Accepted.

Error texts of the invitation manager are not documented; the ones below follow Graph's envelope
with the code "BadRequest" the invitation service uses, and their wording is an assumption.
"""
import re
import secrets
import uuid
from urllib.parse import quote, urlsplit

from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import schema
from ..http import METADATA, GraphHTTPError, graph_json, iso, read_json, require, tenant_of
from .users import conflict, upn_taken

INVITE = ("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
PENDING = "PendingAcceptance"
ACCEPTED = "Accepted"
USER_TYPES = ("Guest", "Member")
# Characters a UPN's local part may hold; others in an invited address become "_".
UPN_UNSAFE = re.compile(r"[^A-Za-z0-9'.\-_!#^~]")
EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")
KNOWN_BODY = set(schema.type_properties("invitation")) | {"invitedUser"}
INVITATION_READ_ONLY = {"id", "inviteRedeemUrl", "status"}


def bad_request(message):
    return GraphHTTPError(400, "BadRequest", message)


def _required(body, prop):
    value = body.get(prop)
    if not isinstance(value, str) or not value.strip():
        raise bad_request("A value is required for property '%s' of resource 'Invitation'." % prop)
    return value.strip()


def validate_invitation(tenant, body):
    """Graph's checks on an invitation body; returns (address, user type)."""
    for prop in body:
        if prop not in KNOWN_BODY:
            raise bad_request("Property '%s' does not exist on type 'microsoft.graph.invitation'." % prop)
        if prop in INVITATION_READ_ONLY:
            raise bad_request("Property '%s' is read-only and cannot be set." % prop)
    address = _required(body, "invitedUserEmailAddress")
    redirect = _required(body, "inviteRedirectUrl")
    if not EMAIL.match(address) or len(address) > 254:
        raise bad_request("The specified invitedUserEmailAddress '%s' is not a valid email address." % address)
    if urlsplit(redirect).scheme.lower() not in ("http", "https") or not urlsplit(redirect).netloc:
        raise bad_request("The specified inviteRedirectUrl '%s' is not a valid absolute URL." % redirect)
    domain = address.rpartition("@")[2]
    if tenant.is_verified_domain(domain):
        raise bad_request("The invited user's email address %s is in a verified domain of this directory; "
                          "only users from outside the organization can be invited." % address)
    user_type = body.get("invitedUserType") or "Guest"
    matching = [t for t in USER_TYPES if isinstance(user_type, str) and t.lower() == user_type.lower()]
    if not matching:
        raise bad_request("Invalid value specified for property 'invitedUserType' of resource 'Invitation'.")
    for prop in ("sendInvitationMessage", "resetRedemption"):
        if body.get(prop) is not None and not isinstance(body[prop], bool):
            raise bad_request("Invalid value specified for property '%s' of resource 'Invitation'." % prop)
    info = body.get("invitedUserMessageInfo")
    if info is not None:
        _check_message_info(info)
    if body.get("invitedUserDisplayName") is not None:
        name = body["invitedUserDisplayName"]
        if not isinstance(name, str) or len(name) > 256:
            raise bad_request("Invalid value specified for property 'invitedUserDisplayName' of resource 'Invitation'.")
    return address, matching[0]


def _check_message_info(info):
    known = set(schema.type_properties("invitedUserMessageInfo"))
    if not isinstance(info, dict) or set(info) - known:
        raise bad_request("Invalid value specified for property 'invitedUserMessageInfo' of resource 'Invitation'.")
    recipients = info.get("ccRecipients") or []
    if not isinstance(recipients, list) or len(recipients) > 1:
        # Graph documents a single additional recipient.
        raise bad_request("Only one ccRecipient is supported.")
    for recipient in recipients:
        address = ((recipient or {}).get("emailAddress") or {}).get("address")
        if not isinstance(address, str) or not EMAIL.match(address):
            raise bad_request("Invalid value specified for property 'ccRecipients' of resource 'Invitation'.")


def is_external(user):
    return user.get("userType") == "Guest" or user.get("creationType") == "Invitation"


def find_guest(tenant, address):
    """The live B2B user invited with this address (mail first, then otherMails), or None."""
    lowered = address.lower()
    external = [u for u in tenant.users_with_address(address) if is_external(u)]
    for user in external:
        if (user.get("mail") or "").lower() == lowered:
            return user
    return external[0] if external else None


def guest_names(address, default_domain):
    """(userPrincipalName, mailNickname) Graph derives from an invited address."""
    local, _, domain = address.partition("@")
    nickname = UPN_UNSAFE.sub("_", "%s_%s" % (local, domain)) + "#EXT#"
    return "%s@%s" % (nickname, default_domain), nickname


def create_guest(tenant, address, display_name, user_type):
    upn, nickname = guest_names(address, tenant.default_domain)
    other = upn_taken(tenant, upn)
    if other:
        raise conflict("userPrincipalName", other)
    now = iso()
    doc = {
        "id": str(uuid.uuid4()),
        "accountEnabled": True,
        "createdDateTime": now,
        "creationType": "Invitation",
        "displayName": display_name or address.partition("@")[0],
        "mail": address,
        "mailNickname": nickname,
        "otherMails": [address],
        "proxyAddresses": ["SMTP:%s" % address],
        "userPrincipalName": upn,
        "userType": user_type,
        "externalUserState": PENDING,
        "externalUserStateChangeDateTime": now,
    }
    tenant.save("user", doc)
    return doc


def reset_redemption(tenant, user, address):
    """The guest redeems again, possibly with a new address; it keeps its id and memberships."""
    if (user.get("mail") or "").lower() != address.lower():
        user["mail"] = address
        user["otherMails"] = [address]
        user["proxyAddresses"] = ["SMTP:%s" % address]
    user["externalUserState"] = PENDING
    user["externalUserStateChangeDateTime"] = iso()
    tenant.save("user", user)


def redeem_url(tenant, user_id, ticket):
    inner = "https://invitations.microsoft.com/redeem/?tenant=%s&user=%s&ticket=%s&ver=2.0" % (tenant.id, user_id, ticket)
    return "https://login.microsoftonline.com/redeem?rd=%s" % quote(inner, safe="").lower()


def invited_user_of(tenant, body, address):
    """The user an invitation is about: invitedUser.id when given, else the guest with the address."""
    invited = body.get("invitedUser")
    if invited is not None:
        user_id = invited.get("id") if isinstance(invited, dict) else None
        user = tenant.users.get(user_id or "")
        if user is None:
            raise bad_request("The invited user '%s' does not exist in this directory." % user_id)
        return user
    return find_guest(tenant, address)


async def post_invitation(request):
    require(request, *INVITE)
    tenant = tenant_of(request)
    body = await read_json(request)
    address, user_type = validate_invitation(tenant, body)
    user = invited_user_of(tenant, body, address)
    if user is None:
        if body.get("resetRedemption"):
            raise bad_request("Redemption can only be reset for an existing invited user.")
        user = create_guest(tenant, address, body.get("invitedUserDisplayName"), user_type)
    elif not is_external(user):
        raise bad_request("The invited user already exists in this directory as a member.")
    elif body.get("resetRedemption"):
        reset_redemption(tenant, user, address)
    ticket = secrets.token_hex(16)
    invitation = {
        "id": str(uuid.uuid4()),
        "invitedUserDisplayName": body.get("invitedUserDisplayName") or user.get("displayName"),
        "invitedUserEmailAddress": address,
        "invitedUserMessageInfo": _message_info(body.get("invitedUserMessageInfo")),
        "invitedUserType": user.get("userType") or user_type,
        "inviteRedeemUrl": redeem_url(tenant, user["id"], ticket),
        "inviteRedirectUrl": body["inviteRedirectUrl"],
        "resetRedemption": bool(body.get("resetRedemption")),
        "sendInvitationMessage": bool(body.get("sendInvitationMessage")),
        # A guest who already redeemed needs no new redemption.
        "status": "Completed" if user.get("externalUserState") == ACCEPTED else PENDING,
        "_invitedUserId": user["id"],
        "_createdDateTime": iso(),
    }
    tenant.save("invitation", invitation)
    out = {"@odata.context": "%s#invitations/$entity" % METADATA}
    out.update(schema.project("invitation", invitation, None, tenant))
    out["invitedUser"] = {"id": user["id"]}
    return graph_json(out, 201)


def _message_info(info):
    info = dict(info or {})
    return {
        "messageLanguage": info.get("messageLanguage"),
        "ccRecipients": list(info.get("ccRecipients") or []),
        "customizedMessageBody": info.get("customizedMessageBody"),
    }


def find_by_key(tenant, key):
    """A B2B user by object id, invited address or UPN (case-insensitive)."""
    user = tenant.users.get(key)
    if user is None and "@" in key:
        user = find_guest(tenant, key) or tenant.find_user(key)
    return user


async def redeem(request):
    """Sandbox only: the invited person accepts the invitation."""
    tenant = tenant_of(request)
    key = request.path_params["key"]
    user = find_by_key(tenant, key)
    if user is None:
        return JSONResponse({"error": "no guest %s" % key}, status_code=404)
    if not is_external(user) or not user.get("externalUserState"):
        return JSONResponse({"error": "user %s is not an invited guest" % key}, status_code=400)
    if user["externalUserState"] != ACCEPTED:
        user["externalUserState"] = ACCEPTED
        user["externalUserStateChangeDateTime"] = iso()
        tenant.save("user", user)
        tenant.commit()
    return JSONResponse({"id": user["id"], "userPrincipalName": user["userPrincipalName"],
                         "externalUserState": user["externalUserState"],
                         "externalUserStateChangeDateTime": user["externalUserStateChangeDateTime"]})


# Guests are users: /users serves reads, updates and deletes of them.
routes = [
    Route("/v1.0/invitations", post_invitation, methods=["POST"]),
    Route("/_sandbox/guests/{key}/redeem", redeem, methods=["POST"]),
]
