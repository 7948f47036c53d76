"""The sandbox's /invitations (FIDELITY.md 2.4) and its redeem control, over the wire with GraphClient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "sandbox" / "graph_sandbox" / "data"
                     / "v1.0-identity-schema.json").read_text())
INVITATION_PROPS = set(SCHEMA["types"]["invitation"]["properties"]) | {"id"}
GUEST_SELECT = ("id,mail,otherMails,userPrincipalName,mailNickname,userType,creationType,"
                "externalUserState,externalUserStateChangeDateTime,displayName,accountEnabled")


def invite(graph, address, **extra):
    body = {"invitedUserEmailAddress": address, "inviteRedirectUrl": "https://myapps.microsoft.com"}
    body.update(extra)
    return graph.post("/invitations", json=body)


def read_user(graph, key):
    return graph.get("/users/%s" % quote_key(key), params={"$select": GUEST_SELECT})


def redeem(sandbox, key):
    return sandbox.control("POST", "guests/%s/redeem" % quote_key(key))


def guest_count(graph):
    return len(graph.list("/users", select="id", filter="userType eq 'Guest'"))


def test_invitation_answers_201_with_graphs_shape(graph):
    answer = invite(graph, "ann@fabrikam.com", invitedUserDisplayName="Ann Fabrikam",
                    invitedUserMessageInfo={"customizedMessageBody": "Hi", "messageLanguage": "fr-FR",
                                            "ccRecipients": [{"emailAddress": {"address": "boss@fabrikam.com"}}]})
    assert answer["@odata.context"].endswith("$metadata#invitations/$entity")
    assert answer["status"] == "PendingAcceptance"
    assert answer["invitedUserEmailAddress"] == "ann@fabrikam.com"
    assert answer["invitedUserType"] == "Guest"
    assert answer["sendInvitationMessage"] is False
    assert answer["inviteRedeemUrl"].startswith("https://login.microsoftonline.com/redeem?rd=")
    assert answer["invitedUserMessageInfo"]["messageLanguage"] == "fr-FR"
    assert set(answer["invitedUser"]) == {"id"}
    # Only schema properties (plus the invitedUser navigation Graph expands), none internal.
    assert set(answer) - {"@odata.context", "invitedUser"} <= INVITATION_PROPS


def test_invitation_creates_the_guest_user_graph_describes(graph):
    answer = invite(graph, "Bo.Smith@Tailspin.com", invitedUserDisplayName="Bo")
    user = read_user(graph, answer["invitedUser"]["id"])
    assert user["userType"] == "Guest"
    assert user["mail"] == "Bo.Smith@Tailspin.com"
    assert user["otherMails"] == ["Bo.Smith@Tailspin.com"]
    assert user["userPrincipalName"] == "Bo.Smith_Tailspin.com#EXT#@contoso.onmicrosoft.com"
    assert user["mailNickname"] == "Bo.Smith_Tailspin.com#EXT#"
    assert user["creationType"] == "Invitation"
    assert user["externalUserState"] == "PendingAcceptance"
    assert user["externalUserStateChangeDateTime"].endswith("Z")
    assert user["displayName"] == "Bo"


def test_guest_is_readable_by_upn_with_hash_encoded_directly_and_in_a_batch(graph):
    invite(graph, "cy@tailspin.com")
    upn = "cy_tailspin.com#EXT#@contoso.onmicrosoft.com"
    assert "%23EXT%23" in quote_key(upn)
    assert read_user(graph, upn)["mail"] == "cy@tailspin.com"
    [result] = graph.batch([{"method": "GET", "url": "/users/%s?$select=mail" % quote_key(upn)}])
    assert result.status == 200 and result.body["mail"] == "cy@tailspin.com"


def test_inviting_an_invited_address_again_returns_the_same_guest(graph):
    first = invite(graph, "dee@fabrikam.com")
    before = guest_count(graph)
    second = invite(graph, "DEE@fabrikam.com")
    assert second["invitedUser"]["id"] == first["invitedUser"]["id"]
    assert second["id"] != first["id"]
    assert guest_count(graph) == before


def test_redeem_then_reset_redemption(graph, sandbox):
    user_id = invite(graph, "eve@fabrikam.com")["invitedUser"]["id"]
    redeemed = redeem(sandbox, "Eve@Fabrikam.com")
    assert redeemed["id"] == user_id and redeemed["externalUserState"] == "Accepted"
    assert read_user(graph, user_id)["externalUserState"] == "Accepted"

    again = invite(graph, "eve@fabrikam.com")
    assert again["status"] == "Completed"  # nothing to redeem
    assert read_user(graph, user_id)["externalUserState"] == "Accepted"

    reset = invite(graph, "eve@fabrikam.com", resetRedemption=True, invitedUser={"id": user_id})
    assert reset["invitedUser"]["id"] == user_id
    assert reset["status"] == "PendingAcceptance"
    assert read_user(graph, user_id)["externalUserState"] == "PendingAcceptance"


def test_redeem_by_user_id_and_unknown_guest(sandbox, graph):
    user_id = invite(graph, "fay@fabrikam.com")["invitedUser"]["id"]
    assert redeem(sandbox, user_id)["externalUserState"] == "Accepted"
    with pytest.raises(Exception) as missing:
        redeem(sandbox, "nobody@nowhere.example")
    assert "404" in str(missing.value)


def test_member_invitation_creates_a_b2b_member(graph):
    answer = invite(graph, "gus@fabrikam.com", invitedUserType="Member")
    user = read_user(graph, answer["invitedUser"]["id"])
    assert user["userType"] == "Member"
    assert user["externalUserState"] == "PendingAcceptance"


def test_address_in_a_verified_domain_is_refused_and_creates_nothing(graph):
    before = len(graph.list("/users", select="id"))
    with pytest.raises(GraphError) as refused:
        invite(graph, "someone@Contoso.com")
    assert refused.value.status == 400 and refused.value.code == "BadRequest"
    assert "verified domain" in refused.value.message
    assert len(graph.list("/users", select="id")) == before


@pytest.mark.parametrize("body, property_name", [
    ({"inviteRedirectUrl": "https://myapps.microsoft.com"}, "invitedUserEmailAddress"),
    ({"invitedUserEmailAddress": "hal@fabrikam.com"}, "inviteRedirectUrl"),
])
def test_required_properties(graph, body, property_name):
    with pytest.raises(GraphError) as refused:
        graph.post("/invitations", json=body)
    assert refused.value.status == 400
    assert "'%s'" % property_name in refused.value.message


def test_invalid_address_and_user_type_are_refused(graph):
    with pytest.raises(GraphError) as bad_address:
        invite(graph, "not an address")
    assert bad_address.value.status == 400
    with pytest.raises(GraphError) as bad_type:
        invite(graph, "ivy@fabrikam.com", invitedUserType="Admin")
    assert "invitedUserType" in bad_type.value.message


def test_invitations_need_user_invite_permission(new_client):
    reader = new_client("m365-reader")
    with pytest.raises(GraphError) as denied:
        invite(reader, "jo@fabrikam.com")
    assert denied.value.status == 403 and denied.value.code == "Authorization_RequestDenied"


def test_invitations_run_as_batch_items(graph, sandbox):
    sandbox.reset_counters()
    results = graph.batch([
        {"method": "POST", "url": "/invitations",
         "body": {"invitedUserEmailAddress": "k%d@fabrikam.com" % n, "inviteRedirectUrl": "https://myapps.microsoft.com"}}
        for n in range(3)])
    assert [r.status for r in results] == [201, 201, 201]
    assert len(set(r.body["invitedUser"]["id"] for r in results)) == 3
    counters = sandbox.counters()
    assert counters["operations"]["by_route"]["POST /v1.0/invitations"] == 3
    assert counters["http"]["by_route"] == {"POST /v1.0/$batch": 1}


def test_guest_filter_lists_guests_only(graph):
    invite(graph, "lee@fabrikam.com")
    guests = graph.list("/users", select=["userType", "mail"], filter="userType eq 'Guest'")
    assert guests and all(g["userType"] == "Guest" for g in guests)
    assert "lee@fabrikam.com" in [g["mail"] for g in guests]
    assert not any(g["mail"] and g["mail"].endswith("@contoso.com") for g in guests)
