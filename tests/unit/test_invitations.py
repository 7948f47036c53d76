"""Guest logic: input checks, lookup by invited address, plans, and the requests a run sends."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult, GraphError
from ansible_collections.m365.cloud_identity.plugins.module_utils.invitations import (
    GuestIndex,
    GuestInputError,
    check_domains,
    invitation_body,
    manage_guests,
    pending_days,
    plan_guest,
    select_guests,
    validate_specs,
)

UTC = datetime.timezone.utc


def spec(email="ann@fabrikam.com", **options):
    base = dict(email=email, state="present")
    base.update(options)
    return base


def guest(user_id="g1", email="ann@fabrikam.com", state="PendingAcceptance", **props):
    doc = {
        "id": user_id,
        "mail": email,
        "otherMails": [email],
        "userType": "Guest",
        "displayName": "Ann",
        "userPrincipalName": "%s#EXT#@contoso.onmicrosoft.com" % email.replace("@", "_"),
        "externalUserState": state,
        "externalUserStateChangeDateTime": "2024-05-01T10:00:00Z",
        "creationType": "Invitation",
    }
    doc.update(props)
    return doc


class FakeGraph(object):
    """Just enough of GraphClient: canned list reads, batches answered by a callback, every call kept."""

    def __init__(self, guests=(), deleted=(), domains=("contoso.onmicrosoft.com", "contoso.com"), answer=None):
        self.guests = list(guests)
        self.deleted = list(deleted)
        self.domains = domains
        self.answer = answer or self.default_answer
        self.lists = []
        self.batched = []

    def list(self, path, select=None, filter=None, params=None, headers=None, top=999):
        self.lists.append((path, filter))
        if path == "/domains":
            return [{"id": d, "isVerified": True, "isDefault": d.endswith(".onmicrosoft.com")} for d in self.domains]
        if path == "/users":
            return self.guests
        if path == "/directory/deletedItems/microsoft.graph.user":
            return self.deleted
        raise AssertionError("unexpected list of " + path)

    def batch(self, requests):
        self.batched.extend(requests)
        return [self.answer(request) for request in requests]

    @staticmethod
    def default_answer(request):
        if request["method"] == "POST" and request["url"] == "/invitations":
            return BatchResult(request["id"], 201, {
                "id": "inv-1", "invitedUser": {"id": "new-id"}, "status": "PendingAcceptance",
                "inviteRedeemUrl": "https://login.microsoftonline.com/redeem?rd=x"})
        if request["method"] == "GET":
            return BatchResult(request["id"], 200, guest("new-id", userPrincipalName="read-back-upn"))
        return BatchResult(request["id"], 204, None)

    def writes(self):
        return [(r["method"], r["url"]) for r in self.batched if r["method"] != "GET"]


# ---- input checks -----------------------------------------------------------------


@pytest.mark.parametrize("address", ["ann", "ann@", "@fabrikam.com", "ann@fabrikam", "ann fabrikam@x.com",
                                     "ann..b@fabrikam.com", "ann@fabrikam..com", ".ann@fabrikam.com"])
def test_invalid_addresses_are_refused_naming_the_option(address):
    with pytest.raises(GuestInputError) as refused:
        validate_specs([spec(address)])
    assert "email %r is not a valid e-mail address" % address in str(refused.value)


@pytest.mark.parametrize("address", ["ann@fabrikam.com", "Ann.O'Neil+b2b@mail.fabrikam.co.uk", "x@a-b.io"])
def test_ordinary_addresses_pass(address):
    validate_specs([spec(address)])


def test_http_redirect_url_is_refused():
    with pytest.raises(GuestInputError) as refused:
        validate_specs([spec(redirect_url="http://myapps.microsoft.com")])
    assert "redirect_url must be an https:// URL" in str(refused.value)


def test_every_bad_item_is_reported_at_once_with_its_position():
    with pytest.raises(GuestInputError) as refused:
        validate_specs([spec("ok@fabrikam.com"), spec("bad"), spec("x@y.com", redirect_url="ftp://x"),
                        spec("OK@Fabrikam.com")])
    errors = refused.value.errors
    assert len(errors) == 3
    assert errors[0].startswith("guests[1] (bad): email 'bad'")
    assert errors[1].startswith("guests[2] (x@y.com): redirect_url")
    assert "given twice (guests[0] and guests[3])" in errors[2]


def test_absent_items_need_no_redirect_url_check():
    validate_specs([spec(state="absent", redirect_url="http://ignored")])


def test_resend_and_reset_redemption_exclude_each_other():
    with pytest.raises(GuestInputError, match="mutually exclusive"):
        validate_specs([spec(resend=True, reset_redemption=True)])


def test_address_in_a_verified_domain_is_refused_case_insensitively():
    with pytest.raises(GuestInputError) as refused:
        check_domains([spec("bob@Contoso.COM")], ["contoso.onmicrosoft.com", "contoso.com"])
    assert "contoso.com, a verified domain of this tenant" in str(refused.value)
    check_domains([spec("bob@contoso.com.evil.io")], ["contoso.com"])  # only the exact domain


# ---- lookup ------------------------------------------------------------------------------------


def test_guest_is_found_by_mail_or_other_mails_ignoring_case():
    by_mail = guest("g1", "ann@fabrikam.com")
    by_other = guest("g2", "old@else.com", otherMails=["Carl@Fabrikam.com"])
    index = GuestIndex([by_mail, by_other])
    assert index.find("ANN@fabrikam.com")["id"] == "g1"
    assert index.find("carl@fabrikam.com")["id"] == "g2"
    assert index.find("nobody@fabrikam.com") is None


def test_two_guests_with_one_address_is_an_error_listing_both():
    index = GuestIndex([guest("g1", "ann@fabrikam.com"), guest("g2", "ann@fabrikam.com")])
    with pytest.raises(ValueError, match="ids g1, g2"):
        index.find("ann@fabrikam.com")


# ---- plans ------------------------------------------------------------------------------------


def test_new_guest_is_invited_and_other_attributes_patched_after():
    plan = plan_guest(spec(display_name="Ann", department="Sales", usage_location="fr"), None, None)
    assert plan.action == "invited"
    assert plan.invitation["invitedUserEmailAddress"] == "ann@fabrikam.com"
    assert plan.invitation["invitedUserDisplayName"] == "Ann"
    assert plan.patch == {"department": "Sales", "usageLocation": "FR"}


def test_existing_guest_gets_attribute_changes_only():
    plan = plan_guest(spec(display_name="Ann", department="Sales", send_invitation_message=True),
                      guest(department="Ops"), None)
    assert plan.action == "updated"
    assert plan.invitation is None
    assert plan.patch == {"department": "Sales"}


def test_existing_guest_matching_the_spec_is_unchanged():
    plan = plan_guest(spec(display_name="Ann"), guest(), None)
    assert plan.action == "unchanged"
    assert not plan.patch and not plan.invitation


def test_resend_goes_to_a_pending_guest_but_not_to_one_who_accepted():
    assert plan_guest(spec(resend=True), guest(state="PendingAcceptance"), None).action == "invited"
    assert plan_guest(spec(resend=True), guest(state="Accepted"), None).action == "unchanged"


def test_reset_redemption_applies_once_the_guest_has_accepted():
    plan = plan_guest(spec(reset_redemption=True), guest("g7", state="Accepted"), None)
    assert plan.action == "invited"
    assert plan.invitation["resetRedemption"] is True
    assert plan.invitation["invitedUser"] == {"id": "g7"}
    assert plan_guest(spec(reset_redemption=True), guest(state="PendingAcceptance"), None).action == "unchanged"


def test_deleted_guest_is_restored_not_invited_again():
    plan = plan_guest(spec(department="Sales"), None, guest("g9", department="Ops"))
    assert plan.action == "restored"
    assert plan.restore and plan.invitation is None
    assert plan.patch == {"department": "Sales"}


def test_absent_deletes_a_guest_and_is_unchanged_without_one():
    assert plan_guest(spec(state="absent"), guest(), None).action == "deleted"
    assert plan_guest(spec(state="absent"), None, guest()).action == "unchanged"
    purge = plan_guest(spec(state="absent", permanent=True), None, guest("g9"))
    assert purge.action == "deleted" and purge.purge and not purge.delete


def test_member_invitation_and_message_options_reach_the_body():
    body = invitation_body(spec(invited_user_type="member", send_invitation_message=True, message_body="Hi",
                                message_language="fr-FR", cc_recipient="boss@fabrikam.com",
                                redirect_url="https://portal.example.com"))
    assert body["invitedUserType"] == "Member"
    assert body["sendInvitationMessage"] is True
    assert body["inviteRedirectUrl"] == "https://portal.example.com"
    assert body["invitedUserMessageInfo"] == {
        "customizedMessageBody": "Hi", "messageLanguage": "fr-FR",
        "ccRecipients": [{"emailAddress": {"address": "boss@fabrikam.com"}}]}


# ---- a whole run against a fake Graph ----------------------------------------------------------


def test_bad_input_fails_before_any_request():
    graph = FakeGraph()
    with pytest.raises(GuestInputError):
        manage_guests(graph, [spec("not-an-address")], check_mode=False)
    assert graph.lists == [] and graph.batched == []


def test_verified_domain_fails_after_reading_domains_and_before_any_write():
    graph = FakeGraph()
    with pytest.raises(GuestInputError):
        manage_guests(graph, [spec("ok@fabrikam.com"), spec("bob@contoso.com")], check_mode=False)
    assert [path for path, _filter in graph.lists] == ["/domains"]
    assert graph.batched == []


def test_check_mode_reads_but_never_writes_and_predicts_the_guest():
    graph = FakeGraph()
    results = manage_guests(graph, [spec(display_name="Ann", department="Sales")], check_mode=True)
    assert graph.batched == []
    assert results[0]["action"] == "invited" and results[0]["changed"]
    assert results[0]["object"]["user_principal_name"] == "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    assert results[0]["object"]["external_user_state"] == "PendingAcceptance"
    assert results[0]["diff"]["after"]["department"] == "Sales"


def test_invitation_then_patch_then_read_back():
    graph = FakeGraph()
    results = manage_guests(graph, [spec(department="Sales")], check_mode=False)
    assert graph.writes() == [("POST", "/invitations"), ("PATCH", "/users/new-id")]
    assert [r["method"] for r in graph.batched][-1] == "GET"
    guest_result = results[0]["object"]
    assert guest_result["id"] == "new-id"
    assert guest_result["user_principal_name"] == "read-back-upn"
    assert guest_result["redeem_url"].startswith("https://login.microsoftonline.com/redeem")


def test_one_list_read_of_guests_for_many_items():
    graph = FakeGraph(guests=[guest("g1", "ann@fabrikam.com")])
    manage_guests(graph, [spec("ann@fabrikam.com", department="Sales"), spec("bo@fabrikam.com"),
                          spec("cy@fabrikam.com")], check_mode=False)
    user_reads = [entry for entry in graph.lists if entry[0] == "/users"]
    assert user_reads == [("/users", "userType eq 'Guest'")]


def test_deleted_items_are_read_only_when_a_guest_is_missing():
    graph = FakeGraph(guests=[guest()])
    manage_guests(graph, [spec(department="Sales")], check_mode=True)
    assert "/directory/deletedItems/microsoft.graph.user" not in [path for path, _filter in graph.lists]


def test_restore_then_patch():
    graph = FakeGraph(deleted=[guest("g9", department="Ops")])
    results = manage_guests(graph, [spec(department="Sales")], check_mode=False)
    assert graph.writes() == [("POST", "/directory/deletedItems/g9/restore"), ("PATCH", "/users/g9")]
    assert results[0]["action"] == "restored"
    assert results[0]["object"]["department"] == "Sales"


def test_a_failed_item_does_not_stop_the_others():
    def answer(request):
        if request["method"] == "PATCH" and request["url"] == "/users/g1":
            return BatchResult(request["id"], 400, {"error": {"code": "Request_BadRequest", "message": "nope"}})
        return FakeGraph.default_answer(request)

    graph = FakeGraph(guests=[guest("g1", "ann@fabrikam.com"), guest("g2", "bo@fabrikam.com")], answer=answer)
    results = manage_guests(graph, [spec("ann@fabrikam.com", department="X"), spec("bo@fabrikam.com", department="Y")],
                            check_mode=False)
    assert [r["action"] for r in results] == ["failed", "updated"]
    assert results[0]["error"] == "Failed to update guest ann@fabrikam.com: nope"


def test_a_guest_not_yet_replicated_is_patched_again_after_a_wait():
    calls = {"patch": 0}
    waits = []

    def answer(request):
        if request["method"] == "PATCH":
            calls["patch"] += 1
            if calls["patch"] == 1:
                return BatchResult(request["id"], 404, {"error": {"code": "Request_ResourceNotFound", "message": "x"}})
        return FakeGraph.default_answer(request)

    graph = FakeGraph(answer=answer)
    results = manage_guests(graph, [spec(department="Sales")], check_mode=False, sleep=waits.append)
    assert results[0]["action"] == "invited"
    assert calls["patch"] == 2 and len(waits) == 1 and 0 < waits[0] <= 0.5


def test_domains_fall_back_to_the_organization_without_domain_permission():
    class NoDomains(FakeGraph):
        def list(self, path, **kwargs):
            if path == "/domains":
                raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            if path == "/organization":
                return [{"verifiedDomains": [{"name": "contoso.com", "isDefault": True}]}]
            return FakeGraph.list(self, path, **kwargs)

    with pytest.raises(GuestInputError, match="verified domain"):
        manage_guests(NoDomains(), [spec("bob@contoso.com")], check_mode=True)


# ---- aad_guest_info ------------------------------------------------------------------------------


def test_pending_days_count_from_the_last_state_change():
    now = datetime.datetime(2024, 5, 11, 9, 0, tzinfo=UTC)
    assert pending_days(guest(externalUserStateChangeDateTime="2024-05-01T10:00:00Z"), now) == 9
    assert pending_days(guest(externalUserStateChangeDateTime=None, createdDateTime="2024-05-10T08:59:00.123Z"), now) == 1
    assert pending_days(guest(state="Accepted"), now) is None


def test_select_guests_filters_by_state_domain_and_age():
    now = datetime.datetime(2024, 6, 1, tzinfo=UTC)
    docs = [
        guest("g1", "ann@fabrikam.com", externalUserStateChangeDateTime="2024-05-01T00:00:00Z"),
        guest("g2", "bo@Fabrikam.com", state="Accepted"),
        guest("g3", "cy@tailspin.com", externalUserStateChangeDateTime="2024-05-30T00:00:00Z"),
    ]
    assert [g["id"] for g in select_guests(docs, now)] == ["g1", "g2", "g3"]
    assert [g["id"] for g in select_guests(docs, now, external_user_state="PendingAcceptance")] == ["g1", "g3"]
    assert [g["id"] for g in select_guests(docs, now, domains=["FABRIKAM.com"])] == ["g1", "g2"]
    assert [g["id"] for g in select_guests(docs, now, min_pending_days=30)] == ["g1"]
    assert [g["id"] for g in select_guests(docs, now, email="CY@tailspin.com")] == ["g3"]
    first = select_guests(docs, now)[0]
    assert first["domain"] == "fabrikam.com" and first["pending_days"] == 31


def test_a_guest_invited_before_a_later_step_failed_is_still_reported_with_its_redeem_url():
    def answer(request):
        if request["method"] == "PATCH":
            return BatchResult(request["id"], 400, {"error": {"code": "Request_BadRequest", "message": "bad value"}})
        return FakeGraph.default_answer(request)

    results = manage_guests(FakeGraph(answer=answer), [spec(department="Sales")], check_mode=False)
    assert results[0]["action"] == "failed"
    assert results[0]["error"] == "Failed to update guest ann@fabrikam.com: bad value"
    assert results[0]["object"]["id"] == "new-id"
    assert results[0]["object"]["redeem_url"].startswith("https://login.microsoftonline.com/redeem")
