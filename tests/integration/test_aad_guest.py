"""aad_guest and aad_guest_info through ansible-playbook against the Graph sandbox.

State is asserted through Graph (the `graph` fixture) and invitation counts through the
sandbox's operation counters; never through the sandbox's database.
"""

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key

GUEST_SELECT = "id,mail,userType,externalUserState,department,companyName,displayName,userPrincipalName"
INVITE_ROUTE = "POST /v1.0/invitations"


def guest_task(base=None, name="guest", **options):
    """An aad_guest task: the options of `base`, then the keyword options over them."""
    merged = dict(base or {})
    merged.update(options)
    return {"name": name, "m365.cloud_identity.aad_guest": merged}


def info_task(name="info", **options):
    return {"name": name, "m365.cloud_identity.aad_guest_info": options}


def find_guest(graph, address):
    """The guest invited with `address`, as Graph lists it (None when there is none)."""
    guests = graph.list("/users", select=GUEST_SELECT, filter="userType eq 'Guest'")
    matches = [g for g in guests if (g.get("mail") or "").lower() == address.lower()]
    return matches[0] if matches else None


def deleted_ids(graph):
    return [u["id"] for u in graph.list("/directory/deletedItems/microsoft.graph.user", select="id")]


def invitations_sent(sandbox):
    return sandbox.counters()["operations"]["by_route"].get(INVITE_ROUTE, 0)


def writes(sandbox):
    return sandbox.counters()["operations"]["write"]


def test_guest_lifecycle(graph, run_play, sandbox):
    address = "ann.lifecycle@fabrikam.com"
    spec = dict(email=address, display_name="Ann Lifecycle", company_name="Fabrikam", department="Logistics")
    sandbox.reset_counters()

    checked = run_play([guest_task(spec)], check=True)
    task = checked.task("guest")
    assert task.status == "changed" and task.result["action"] == "invited"
    assert task.result["guest"]["user_principal_name"] == "ann.lifecycle_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    assert find_guest(graph, address) is None
    assert writes(sandbox) == 0

    invited = run_play([guest_task(spec)]).task("guest")
    assert invited.status == "changed" and invited.result["action"] == "invited"
    guest = invited.result["guest"]
    assert guest["external_user_state"] == "PendingAcceptance"
    assert guest["redeem_url"].startswith("https://login.microsoftonline.com/redeem?rd=")
    in_graph = find_guest(graph, address)
    assert in_graph["id"] == guest["id"]
    assert (in_graph["displayName"], in_graph["companyName"], in_graph["department"]) == (
        "Ann Lifecycle", "Fabrikam", "Logistics")
    assert invitations_sent(sandbox) == 1

    # Same task again, address in another case: found, nothing sent, nothing written.
    before = writes(sandbox)
    rerun = run_play([guest_task(spec, email=address.upper())]).task("guest")
    assert rerun.status == "ok" and rerun.result["action"] == "unchanged"
    assert "redeem_url" not in rerun.result["guest"]
    assert invitations_sent(sandbox) == 1
    assert writes(sandbox) == before

    updated = run_play([guest_task(spec, department="Procurement")], diff=True).task("guest")
    assert updated.status == "changed" and updated.result["action"] == "updated"
    assert updated.result["diff"]["before"]["department"] == "Logistics"
    assert updated.result["diff"]["after"]["department"] == "Procurement"
    assert find_guest(graph, address)["department"] == "Procurement"
    assert invitations_sent(sandbox) == 1

    resent = run_play([guest_task(email=address, resend=True, send_invitation_message=True)]).task("guest")
    assert resent.status == "changed" and resent.result["action"] == "invited"
    assert resent.result["guest"]["id"] == guest["id"]
    assert resent.result["guest"]["redeem_url"]
    assert invitations_sent(sandbox) == 2
    assert find_guest(graph, address)["department"] == "Procurement"  # no attribute left out was touched

    removed = run_play([guest_task(email=address, state="absent")]).task("guest")
    assert removed.status == "changed" and removed.result["action"] == "deleted"
    assert find_guest(graph, address) is None
    assert guest["id"] in deleted_ids(graph)
    again = run_play([guest_task(email=address, state="absent")]).task("guest")
    assert again.status == "ok" and again.result["action"] == "unchanged"

    restored = run_play([guest_task(spec, department="Procurement")]).task("guest")
    assert restored.status == "changed" and restored.result["action"] == "restored"
    assert find_guest(graph, address)["id"] == guest["id"]
    assert guest["id"] not in deleted_ids(graph)
    assert invitations_sent(sandbox) == 2  # restored, not invited again


def test_redeem_shows_accepted_in_guest_info_and_reset_redemption(graph, run_play, sandbox):
    address = "bo.redeem@tailspintoys.com"
    run_play([guest_task(email=address, display_name="Bo")])
    pending = run_play([info_task(email=address)]).task("info").result["guests"]
    assert [g["external_user_state"] for g in pending] == ["PendingAcceptance"]
    assert pending[0]["pending_days"] == 0 and pending[0]["domain"] == "tailspintoys.com"

    sandbox.control("POST", "guests/%s/redeem" % quote_key(address))
    assert find_guest(graph, address)["externalUserState"] == "Accepted"
    play = run_play([
        info_task("accepted", email=address, external_user_state="Accepted"),
        info_task("pending", email=address, external_user_state="PendingAcceptance"),
    ])
    accepted = play.task("accepted").result["guests"]
    assert [(g["email"], g["external_user_state"], g["pending_days"]) for g in accepted] == [
        (address, "Accepted", None)]
    assert play.task("pending").result["guests"] == []

    # resend does nothing to a guest who accepted; reset_redemption makes them redeem again, once.
    sent = invitations_sent(sandbox)
    assert run_play([guest_task(email=address, resend=True)]).task("guest").status == "ok"
    reset = run_play([guest_task(email=address, reset_redemption=True)]).task("guest")
    assert reset.status == "changed" and reset.result["guest"]["external_user_state"] == "PendingAcceptance"
    assert find_guest(graph, address)["externalUserState"] == "PendingAcceptance"
    assert run_play([guest_task(email=address, reset_redemption=True)]).task("guest").status == "ok"
    assert invitations_sent(sandbox) == sent + 1


def test_guest_info_filters_by_domain_and_pending_age(run_play):
    run_play([guest_task(guests=[{"email": "cy@northwind.example"}, {"email": "di@northwind.example"},
                                 {"email": "ed@woodgrove.example"}])])
    play = run_play([
        info_task("northwind", domain=["NorthWind.example"]),
        info_task("fresh", domain=["woodgrove.example"], min_pending_days=0),
        info_task("old", min_pending_days=1),
    ])
    assert [g["email"] for g in play.task("northwind").result["guests"]] == ["cy@northwind.example", "di@northwind.example"]
    assert play.task("northwind").result["count"] == 2
    assert [g["email"] for g in play.task("fresh").result["guests"]] == ["ed@woodgrove.example"]
    assert play.task("old").result["guests"] == []


def test_bulk_invitations_batched_with_per_item_results(graph, run_play, sandbox):
    existing = "fi.bulk@contoso-partner.example"
    run_play([guest_task(email=existing, department="Old")])
    sandbox.reset_counters()
    items = [{"email": "bulk%02d@contoso-partner.example" % n, "department": "Bulk"} for n in range(22)]
    items.append({"email": existing, "department": "New"})

    play = run_play([guest_task(guests=items, company_name="Contoso Partner")])
    result = play.task("guest").result
    assert play.task("guest").status == "changed"
    assert result["summary"]["invited"] == 22 and result["summary"]["updated"] == 1
    assert result["summary"]["failed"] == 0
    assert [r["key"] for r in result["results"]] == [item["email"] for item in items]
    assert all(r["guest"]["id"] for r in result["results"])

    counters = sandbox.counters()
    assert counters["operations"]["by_route"][INVITE_ROUTE] == 22
    # One list read of guests; invitations, updates and read-backs in $batch requests of 20.
    assert counters["http"]["by_route"]["GET /v1.0/users"] == 1
    assert INVITE_ROUTE not in counters["http"]["by_route"]
    assert counters["http"]["by_route"]["POST /v1.0/$batch"] <= 6
    bulk = find_guest(graph, "bulk21@contoso-partner.example")
    assert (bulk["department"], bulk["companyName"]) == ("Bulk", "Contoso Partner")
    assert find_guest(graph, existing)["department"] == "New"

    rerun = run_play([guest_task(guests=items, company_name="Contoso Partner")]).task("guest")
    assert rerun.status == "ok" and rerun.result["summary"]["unchanged"] == 23


def test_member_type_invitation_is_found_again(graph, run_play, sandbox):
    address = "gil.member@fabrikam.com"
    first = run_play([guest_task(email=address, invited_user_type="member")]).task("guest")
    assert first.result["guest"]["user_type"] == "Member"
    sent = invitations_sent(sandbox)
    again = run_play([guest_task(email=address, invited_user_type="member")]).task("guest")
    assert again.status == "ok" and again.result["action"] == "unchanged"
    assert invitations_sent(sandbox) == sent


def bad_input_fails_before_any_write(run_play, sandbox, task, expected):
    sandbox.reset_counters()
    play = run_play([task], expect_failure=True)
    result = play.task("guest")
    assert result.status == "failed"
    assert expected in result.result["msg"]
    assert "nothing was changed" in result.result["msg"]
    assert writes(sandbox) == 0


def test_invalid_email_is_refused(run_play, sandbox):
    bad_input_fails_before_any_write(run_play, sandbox, guest_task(email="hal.at.fabrikam.com"),
                                     "'hal.at.fabrikam.com' is not a valid e-mail address")


def test_address_in_a_verified_domain_is_refused(graph, run_play, sandbox):
    bad_input_fails_before_any_write(run_play, sandbox, guest_task(email="ivy@contoso.com"),
                                     "contoso.com, a verified domain of this tenant")
    try:
        graph.get("/users/%s" % quote_key("ivy_contoso.com#EXT#@contoso.onmicrosoft.com"))
        raise AssertionError("a guest was created")
    except GraphError as error:
        assert error.status == 404


def test_http_redirect_url_is_refused(run_play, sandbox):
    bad_input_fails_before_any_write(run_play, sandbox,
                                     guest_task(email="jo@fabrikam.com", redirect_url="http://myapps.microsoft.com"),
                                     "redirect_url must be an https:// URL")


def test_one_bad_item_in_a_list_stops_the_whole_list_before_any_write(graph, run_play, sandbox):
    task = guest_task(guests=[{"email": "kim.ok@fabrikam.com"}, {"email": "lou@contoso.com"}])
    bad_input_fails_before_any_write(run_play, sandbox, task, "guests[1]")
    assert find_guest(graph, "kim.ok@fabrikam.com") is None


def test_attributes_reach_a_guest_graph_has_not_replicated_yet(graph, run_play, sandbox):
    """Graph replicates a new guest asynchronously: the PATCH after the invitation waits for it."""
    address = "max.lag@fabrikam.com"
    sandbox.configure(replication_lag_seconds=1.5)
    try:
        invited = run_play([guest_task(email=address, department="Lagging", job_title="Buyer")]).task("guest")
    finally:
        sandbox.configure(replication_lag_seconds=0)
    assert invited.result["action"] == "invited"
    assert invited.result["guest"]["department"] == "Lagging"
    in_graph = graph.get("/users/%s" % invited.result["guest"]["id"], params={"$select": "department,jobTitle"})
    assert (in_graph["department"], in_graph["jobTitle"]) == ("Lagging", "Buyer")
