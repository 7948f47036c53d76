"""The sandbox refuses what Graph refuses, and accepts what Graph accepts: FIDELITY.md section 7.

Each test names the section it proves; docs/graph-rules.md states each rule with its Microsoft source.
Everything goes over the wire (the `raw` fixture), as any Graph client would see it.
"""
import time
import uuid

import pytest
import requests

STRONG_PASSWORD = "Str0ng-Passw0rd!"
JSON = {"Content-Type": "application/json"}
E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


def alias():
    return "r%s" % uuid.uuid4().hex[:10]


def user_body(name=None, **extra):
    name = name or alias()
    body = {"accountEnabled": True, "displayName": "Rules %s" % name, "mailNickname": name,
            "userPrincipalName": "%s@contoso.com" % name, "usageLocation": "GB",
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}
    body.update(extra)
    return body


def group_body(kind="security", name=None, **extra):
    name = name or alias()
    body = {"displayName": "Rules %s" % name, "mailNickname": name, "mailEnabled": kind == "unified",
            "securityEnabled": kind != "unified", "groupTypes": ["Unified"] if kind == "unified" else []}
    body.update(extra)
    return body


def created(response):
    assert response.status_code == 201, response.text
    return response.json()


def error_of(response, status, code=None, message=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    if code:
        assert error["code"] == code, error
    if message:
        assert error["message"] == message, error
    return error


@pytest.fixture
def lag(sandbox):
    """Set a replication lag for one test; back to none afterwards."""
    def set_lag(seconds):
        sandbox.configure(replication_lag_seconds=seconds)
    yield set_lag
    sandbox.configure(replication_lag_seconds=0)


def ref(sandbox, object_id):
    return {"@odata.id": sandbox.object_url(object_id)}


# -- 7.2 uniqueName ----------------------------------------------------------------------------------

def test_7_2_filter_on_unique_name_is_an_unsupported_query(raw):
    for params, headers in (({"$filter": "uniqueName eq 'x'"}, None),
                            ({"$filter": "uniqueName eq 'x'", "$count": "true"}, {"ConsistencyLevel": "eventual"})):
        error_of(raw.call("GET", "/groups", params=params, headers=headers), 400, "Request_UnsupportedQuery")


def test_7_2_a_group_is_read_updated_and_deleted_by_its_unique_name(raw):
    name = "rules-%s" % uuid.uuid4().hex[:8]
    group = created(raw.call("POST", "/groups", json=group_body(uniqueName=name)))
    got = raw.call("GET", "/groups(uniqueName='%s')" % name)
    assert got.status_code == 200 and got.json()["id"] == group["id"]
    assert raw.call("GET", "/groups(uniqueName='%s')/members" % name).status_code == 200
    assert raw.call("PATCH", "/groups(uniqueName='%s')" % name, json={"description": "by key"}).status_code == 204
    assert raw.call("GET", "/groups/%s" % group["id"]).json()["description"] == "by key"
    error_of(raw.call("GET", "/groups(uniqueName='no-such-%s')" % name), 404, "Request_ResourceNotFound")
    assert raw.call("DELETE", "/groups(uniqueName='%s')" % name).status_code == 204
    error_of(raw.call("GET", "/groups/%s" % group["id"]), 404, "Request_ResourceNotFound")


def test_7_2_the_upsert_creates_then_updates_and_never_makes_a_twin(raw, sandbox, lag):
    name = "upsert-%s" % uuid.uuid4().hex[:8]
    path = "/groups(uniqueName='%s')" % name
    body = group_body(name=name.replace("-", ""))
    error_of(raw.call("PATCH", path, json=body), 404, "Request_ResourceNotFound")   # no Prefer: no create
    lag(3)
    first = raw.call("PATCH", path, json=body, headers={"Prefer": "create-if-missing"})
    group = created(first)
    assert group["uniqueName"] == name and group["displayName"] == body["displayName"]
    # A retry within the replication lag updates the same group: no twin, ever.
    again = raw.call("PATCH", path, json=dict(body, description="second"), headers={"Prefer": "create-if-missing"})
    assert again.status_code == 204, again.text
    lag(0)
    time.sleep(3.1)
    everyone = raw.call("GET", "/groups", params={"$filter": "displayName eq '%s'" % body["displayName"]}).json()["value"]
    assert [(g["id"], g["description"]) for g in everyone] == [(group["id"], "second")]


def test_7_2_the_upsert_works_inside_a_batch(raw):
    name = "batched-%s" % uuid.uuid4().hex[:8]
    item = {"id": "1", "method": "PATCH", "url": "/groups(uniqueName='%s')" % name,
            "body": group_body(name=name.replace("-", "")), "headers": dict(JSON, Prefer="create-if-missing")}
    answer = raw.call("POST", "/$batch", json={"requests": [item]}).json()["responses"][0]
    assert answer["status"] == 201 and answer["body"]["uniqueName"] == name


# -- 7.3 writes referencing a new object ---------------------------------------------------------------

def test_7_3_writes_referencing_an_object_not_yet_replicated_fail_until_it_is(raw, sandbox, lag):
    group = created(raw.call("POST", "/groups", json=group_body()))
    boss = created(raw.call("POST", "/users", json=user_body()))
    lag(1.5)
    new = created(raw.call("POST", "/users", json=user_body()))
    error_of(raw.call("POST", "/groups/%s/members/$ref" % group["id"], json=ref(sandbox, new["id"])), 400,
             "Request_BadRequest", "The source resource object or one of the objects being referenced do not exist.")
    error_of(raw.call("PUT", "/users/%s/manager/$ref" % boss["id"], json=ref(sandbox, new["id"])), 404,
             "Request_ResourceNotFound")
    error_of(raw.call("PATCH", "/users/%s" % new["id"], json={"jobTitle": "x"}), 404, "Request_ResourceNotFound")
    assign = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    error_of(raw.call("POST", "/users/%s/assignLicense" % new["id"], json=assign), 404, "Request_ResourceNotFound")
    new_group = created(raw.call("POST", "/groups", json=group_body()))
    error_of(raw.call("POST", "/groups/%s/owners/$ref" % new_group["id"], json=ref(sandbox, boss["id"])), 404,
             "Request_ResourceNotFound")
    time.sleep(1.6)
    assert raw.call("POST", "/groups/%s/members/$ref" % group["id"], json=ref(sandbox, new["id"])).status_code == 204
    assert raw.call("PUT", "/users/%s/manager/$ref" % boss["id"], json=ref(sandbox, new["id"])).status_code == 204
    assert raw.call("PATCH", "/users/%s" % new["id"], json={"jobTitle": "x"}).status_code == 204
    assert raw.call("POST", "/groups/%s/owners/$ref" % new_group["id"], json=ref(sandbox, boss["id"])).status_code == 204


def test_7_3_a_restored_user_is_not_referable_at_once_either(raw, sandbox, lag):
    user = created(raw.call("POST", "/users", json=user_body()))
    group = created(raw.call("POST", "/groups", json=group_body()))
    assert raw.call("DELETE", "/users/%s" % user["id"]).status_code == 204
    lag(1.5)
    assert raw.call("POST", "/directory/deletedItems/%s/restore" % user["id"]).status_code == 200
    error_of(raw.call("POST", "/groups/%s/members/$ref" % group["id"], json=ref(sandbox, user["id"])), 400,
             "Request_BadRequest")


# -- 7.4 members and owners -----------------------------------------------------------------------------

def test_7_4_owners_bind_only_on_create_and_owners_by_ref(raw, sandbox):
    owner, other = (created(raw.call("POST", "/users", json=user_body())) for _ in range(2))
    group = created(raw.call("POST", "/groups", json=group_body(
        **{"owners@odata.bind": [sandbox.object_url(owner["id"])]})))
    error_of(raw.call("PATCH", "/groups/%s" % group["id"], json={"owners@odata.bind": [sandbox.object_url(other["id"])]}),
             400, "Request_BadRequest")
    assert raw.call("POST", "/groups/%s/owners/$ref" % group["id"], json=ref(sandbox, other["id"])).status_code == 204
    owners = raw.call("GET", "/groups/%s/owners" % group["id"]).json()["value"]
    assert {o["id"] for o in owners} == {owner["id"], other["id"]}


@pytest.mark.parametrize("holder, member", [
    ("security", "unified"),        # a Microsoft 365 group cannot be a member of any group
    ("unified", "unified"),
    ("unified", "security"),        # a security group cannot be a member of a Microsoft 365 group
])
def test_7_4_nesting_rules(raw, sandbox, holder, member):
    outer = created(raw.call("POST", "/groups", json=group_body(holder)))
    inner = created(raw.call("POST", "/groups", json=group_body(member)))
    error_of(raw.call("POST", "/groups/%s/members/$ref" % outer["id"], json=ref(sandbox, inner["id"])), 400,
             "Request_BadRequest")
    error_of(raw.call("PATCH", "/groups/%s" % outer["id"], json={"members@odata.bind": [sandbox.object_url(inner["id"])]}),
             400, "Request_BadRequest")
    assert raw.call("GET", "/groups/%s/members" % outer["id"]).json()["value"] == []


def test_7_4_security_groups_nest_and_users_join_microsoft_365_groups(raw, sandbox):
    outer, inner = (created(raw.call("POST", "/groups", json=group_body())) for _ in range(2))
    assert raw.call("POST", "/groups/%s/members/$ref" % outer["id"], json=ref(sandbox, inner["id"])).status_code == 204
    team = created(raw.call("POST", "/groups", json=group_body("unified")))
    user = created(raw.call("POST", "/users", json=user_body()))
    assert raw.call("POST", "/groups/%s/members/$ref" % team["id"], json=ref(sandbox, user["id"])).status_code == 204


def test_7_4_a_role_assignable_group_cannot_hold_groups(sandbox_factory, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "tenant: {id: 7d0c4b8e-0000-4000-8000-000000000002, default_domain: contoso.com,"
        " verified_domains: [contoso.com]}\n"
        "apps:\n  - {name: admin, client_id: 3c4d5e6f-0000-4000-8000-000000000001, client_secret: generate,\n"
        "     roles: [Group.ReadWrite.All, RoleManagement.ReadWrite.Directory]}\n")
    box = sandbox_factory(seed=seed)
    with box.wire() as wire:
        admins = created(wire.call("POST", "/groups", json=group_body(isAssignableToRole=True)))
        inner = created(wire.call("POST", "/groups", json=group_body()))
        error_of(wire.call("POST", "/groups/%s/members/$ref" % admins["id"], json=ref(box, inner["id"])), 400,
                 "Request_BadRequest", "A role-assignable group cannot have groups as members.")


def test_7_4_removing_a_member_that_is_not_there_answers_404_or_400(raw, sandbox):
    group = created(raw.call("POST", "/groups", json=group_body()))
    missing = "/groups/%s/members/%s/$ref" % (group["id"], uuid.uuid4())
    try:
        sandbox.configure(missing_reference_removal=400)
        error_of(raw.call("DELETE", missing), 400, "Request_BadRequest",
                 "One or more removed object references do not exist for the following modified properties: 'members'.")
        sandbox.configure(missing_reference_removal="alternate")
        statuses = [raw.call("DELETE", missing).status_code for _ in range(4)]
        assert sorted(statuses) == [400, 400, 404, 404]
    finally:
        sandbox.configure(missing_reference_removal=404)
    error_of(raw.call("DELETE", missing), 404, "Request_ResourceNotFound")


# -- 7.5 users -------------------------------------------------------------------------------------------

def test_7_5_only_one_business_phone(raw):
    error_of(raw.call("POST", "/users", json=user_body(businessPhones=["+1 555 0100", "+1 555 0101"])), 400,
             "Request_BadRequest", "Invalid value specified for property 'businessPhones' of resource 'User'.")
    user = created(raw.call("POST", "/users", json=user_body(businessPhones=["+1 555 0100"])))
    error_of(raw.call("PATCH", "/users/%s" % user["id"], json={"businessPhones": ["1", "2"]}), 400, "Request_BadRequest")


ROLE_SEED = """tenant: {id: 7d0c4b8e-0000-4000-8000-000000000003, default_domain: contoso.com, verified_domains: [contoso.com]}
apps:
  - {name: helpdesk, client_id: 4d5e6f70-0000-4000-8000-000000000001, client_secret: generate,
     roles: [User.ReadWrite.All], directory_roles: [User Administrator]}
  - {name: no-role, client_id: 4d5e6f70-0000-4000-8000-000000000002, client_secret: generate,
     roles: [User.ReadWrite.All]}
  - {name: restorer, client_id: 4d5e6f70-0000-4000-8000-000000000003, client_secret: generate,
     roles: [User.DeleteRestore.All]}
"""


@pytest.fixture(scope="module")
def role_box(tmp_path_factory):
    from conftest import Sandbox
    seed = tmp_path_factory.mktemp("roles") / "seed.yaml"
    seed.write_text(ROLE_SEED)
    box = Sandbox(seed.parent / "state", seed).start()
    yield box
    box.stop()


def test_7_5_a_password_reset_needs_a_directory_role_but_a_create_does_not(role_box):
    assert role_box.app("helpdesk")["directory_roles"] == ["User Administrator"]
    with role_box.wire("no-role") as plain, role_box.wire("helpdesk") as helpdesk:
        user = created(plain.call("POST", "/users", json=user_body()))   # create with a password: no role needed
        reset = {"passwordProfile": {"password": "An0ther-Passw0rd!", "forceChangePasswordNextSignIn": True}}
        error_of(plain.call("PATCH", "/users/%s" % user["id"], json=reset), 403, "Authorization_RequestDenied")
        assert plain.call("PATCH", "/users/%s" % user["id"], json={"jobTitle": "fine"}).status_code == 204
        assert helpdesk.call("PATCH", "/users/%s" % user["id"], json=reset).status_code == 204


def test_7_5_user_delete_restore_all_restores_and_purges(role_box):
    with role_box.wire("no-role") as writer, role_box.wire("restorer") as restorer:
        first, second = (created(writer.call("POST", "/users", json=user_body())) for _ in range(2))
        for user in (first, second):
            assert writer.call("DELETE", "/users/%s" % user["id"]).status_code == 204
        assert restorer.call("POST", "/directory/deletedItems/%s/restore" % first["id"]).status_code == 200
        assert restorer.call("DELETE", "/directory/deletedItems/%s" % second["id"]).status_code == 204
        assert writer.call("GET", "/users/%s" % first["id"]).status_code == 200


# -- 7.7 advanced queries on groups ----------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"$filter": "displayName ne 'x'"}, {"$filter": "not(securityEnabled eq true)"},
    {"$filter": "endswith(mail,'@contoso.com')"}, {"$search": '"displayName:Rules"'},
])
def test_7_7_advanced_group_queries_need_the_header_and_count(raw, params):
    plain = raw.call("GET", "/groups", params=params)
    assert plain.status_code == 400 and plain.json()["error"]["code"] in ("Request_UnsupportedQuery", "Request_BadRequest")
    advanced = raw.call("GET", "/groups", params=dict(params, **{"$count": "true"}), headers={"ConsistencyLevel": "eventual"})
    assert advanced.status_code == 200, advanced.text
    assert "@odata.count" in advanced.json()


# -- 7.8 bind URLs ---------------------------------------------------------------------------------------

def test_7_8_references_name_the_graph_host_in_use_and_no_other(raw, sandbox):
    group = created(raw.call("POST", "/groups", json=group_body()))
    user = created(raw.call("POST", "/users", json=user_body()))
    for foreign in ("https://graph.microsoft.com/v1.0/directoryObjects/%s" % user["id"],
                    "https://graph.microsoft.us/v1.0/directoryObjects/%s" % user["id"],
                    "directoryObjects/%s" % user["id"]):
        error_of(raw.call("POST", "/groups/%s/members/$ref" % group["id"], json={"@odata.id": foreign}), 400,
                 "Request_BadRequest")
        error_of(raw.call("POST", "/groups", json=group_body(**{"members@odata.bind": [foreign]})), 400,
                 "Request_BadRequest")
    assert raw.call("POST", "/groups/%s/members/$ref" % group["id"],
                    json={"@odata.id": sandbox.object_url(user["id"], "users")}).status_code == 204


# -- 7.10 case -------------------------------------------------------------------------------------------

def test_7_10_property_names_and_segments_match_in_any_case_and_answers_are_camel_case(raw, sandbox):
    name = alias()
    body = {"AccountEnabled": True, "displayname": "Case %s" % name, "mailNickName": name, "surName": "Case",
            "userPrincipalName": "%s@contoso.com" % name,
            "PasswordProfile": {"Password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}
    user = created(raw.call("POST", "/users", json=body))
    assert user["surname"] == "Case" and "surName" not in user
    group = created(raw.call("POST", "/groups", json={"DisplayName": "Case %s" % name, "mailNickName": name,
                                                       "MailEnabled": False, "SecurityEnabled": True,
                                                       "Members@odata.bind": [sandbox.object_url(user["id"])]}))
    assert group["mailNickname"] == name and group["securityEnabled"] is True
    for path in ("/Groups/%s/Members", "/groups/%s/MEMBERS", "/groups/%s/members/Microsoft.Graph.User"):
        response = raw.call("GET", path % group["id"])
        assert response.status_code == 200, (path, response.text)
        assert [m["id"] for m in response.json()["value"]] == [user["id"]]
    assert raw.call("GET", "/groups/%s/Owners" % group["id"]).status_code == 200
    assert raw.call("GET", "/Directory/DeletedItems/Microsoft.Graph.User").status_code == 200
    assert raw.call("PATCH", "/Users/%s" % user["id"], json={"JobTitle": "Cased"}).status_code == 204
    assert raw.call("GET", "/users/%s" % user["id"], params={"$select": "jobTitle"}).json()["jobTitle"] == "Cased"


# -- 7.11 unknown routes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, segment", [
    ("GET", "/nothingHere", "nothingHere"),
    ("GET", "/groups/%(id)s/ownerz", "ownerz"),
    ("POST", "/users/%(id)s/assignLicence", "assignLicence"),
    ("GET", "/directory/deletedStuff", "deletedStuff"),
])
def test_7_11_an_unknown_path_is_a_json_400_naming_the_segment(raw, method, path, segment):
    response = raw.call(method, path % {"id": uuid.uuid4()}, json={} if method == "POST" else None)
    error_of(response, 400, "BadRequest", "Resource not found for the segment '%s'." % segment)
    assert response.headers["request-id"]


def test_7_11_a_trailing_slash_is_served_not_redirected(raw):
    response = raw.call("GET", "/users/", params={"$top": "1"})
    assert response.status_code == 200 and not response.history, response.text
    assert len(response.json()["value"]) == 1
    direct = requests.patch(raw.base + "/groups/", json={"displayName": "x"}, headers=raw.session.headers,
                            verify=raw.ca, allow_redirects=False, timeout=30)
    assert direct.status_code != 307 and direct.headers["Content-Type"].startswith("application/json")


# -- 7.12 type casts -------------------------------------------------------------------------------------

def test_7_12_type_casts_and_their_count(raw, sandbox):
    outer, inner = (created(raw.call("POST", "/groups", json=group_body())) for _ in range(2))
    users = [created(raw.call("POST", "/users", json=user_body())) for _ in range(2)]
    for member in users + [inner]:
        assert raw.call("POST", "/groups/%s/members/$ref" % outer["id"], json=ref(sandbox, member["id"])).status_code == 204
    base = "/groups/%s" % outer["id"]
    as_users = raw.call("GET", base + "/members/microsoft.graph.user").json()
    assert as_users["@odata.context"].endswith("#users")
    assert {u["id"] for u in as_users["value"]} == {u["id"] for u in users}
    as_groups = raw.call("GET", base + "/members/microsoft.graph.group").json()["value"]
    assert [g["id"] for g in as_groups] == [inner["id"]]
    eventual = {"ConsistencyLevel": "eventual"}
    assert raw.call("GET", base + "/members/$count", headers=eventual).text == "3"
    assert raw.call("GET", base + "/members/microsoft.graph.user/$count", headers=eventual).text == "2"
    error_of(raw.call("GET", base + "/members/$count"), 400, "Request_BadRequest")
    counted = raw.call("GET", base + "/members/microsoft.graph.user", params={"$count": "true"}, headers=eventual).json()
    assert counted["@odata.count"] == 2
    member_of = raw.call("GET", "/users/%s/memberOf/microsoft.graph.group" % users[0]["id"]).json()["value"]
    assert [g["id"] for g in member_of] == [outer["id"]]
    transitive = raw.call("GET", "/groups/%s/transitiveMemberOf/microsoft.graph.group" % inner["id"]).json()["value"]
    assert [g["id"] for g in transitive] == [outer["id"]]


# -- 7.13 visibility -------------------------------------------------------------------------------------

def test_7_13_visibility(raw):
    assert created(raw.call("POST", "/groups", json=group_body()))["visibility"] == "Private"
    assert created(raw.call("POST", "/groups", json=group_body("unified")))["visibility"] == "Public"
    public_security = created(raw.call("POST", "/groups", json=group_body(visibility="Public")))
    assert public_security["visibility"] == "Public"
    assert raw.call("PATCH", "/groups/%s" % public_security["id"], json={"visibility": "Private"}).status_code == 204
    error_of(raw.call("POST", "/groups", json=group_body(visibility="HiddenMembership")), 400, "Request_BadRequest")
    hidden = created(raw.call("POST", "/groups", json=group_body("unified", visibility="HiddenMembership")))
    assert hidden["visibility"] == "HiddenMembership"
    error_of(raw.call("PATCH", "/groups/%s" % hidden["id"], json={"visibility": "Public"}), 400, "Request_BadRequest")
    team = created(raw.call("POST", "/groups", json=group_body("unified")))
    error_of(raw.call("PATCH", "/groups/%s" % team["id"], json={"visibility": "HiddenMembership"}), 400,
             "Request_BadRequest")


# -- reads: in-value limit, $expand on a list, member pages (docs/graph-rules.md) -------------------------------

def test_an_in_filter_takes_at_most_15_values_unless_the_query_is_advanced(raw):
    ids = [str(uuid.uuid4()) for _ in range(16)]
    quoted = lambda values: "id in (%s)" % ", ".join("'%s'" % v for v in values)
    assert raw.call("GET", "/users", params={"$filter": quoted(ids[:15])}).status_code == 200
    error = error_of(raw.call("GET", "/users", params={"$filter": quoted(ids)}), 400, "Request_UnsupportedQuery")
    assert "16. Max allowed: 15" in error["message"]
    advanced = raw.call("GET", "/users", params={"$filter": quoted(ids), "$count": "true"},
                        headers={"ConsistencyLevel": "eventual"})
    assert advanced.status_code == 200, advanced.text


def test_a_users_manager_is_expanded_on_a_filtered_list_and_such_pages_hold_100(raw):
    boss, managed, alone = (created(raw.call("POST", "/users", json=user_body())) for _ in range(3))
    assert raw.call("PUT", "/users/%s/manager/$ref" % managed["id"], json=ref(raw.sandbox, boss["id"])).status_code == 204
    answer = raw.call("GET", "/users", params={
        "$filter": "id in ('%s', '%s')" % (managed["id"], alone["id"]), "$select": "id",
        "$expand": "manager($select=id,userPrincipalName)"})
    assert answer.status_code == 200, answer.text
    by_id = dict((u["id"], u) for u in answer.json()["value"])
    assert by_id[managed["id"]]["manager"] == {"@odata.type": "#microsoft.graph.user", "id": boss["id"],
                                               "userPrincipalName": boss["userPrincipalName"]}
    assert "manager" not in by_id[alone["id"]]  # Graph leaves out an empty single-valued navigation
    error_of(raw.call("GET", "/users", params={"$expand": "nosuchthing"}), 400, "Request_BadRequest")
    error_of(raw.call("GET", "/users", params={"$expand": "manager($select=nosuchproperty)"}), 400, "Request_BadRequest")
    existing = len(raw.call("GET", "/users", params={"$select": "id", "$top": 999}).json()["value"])
    for _ in range(max(0, 101 - existing)):
        created(raw.call("POST", "/users", json=user_body()))
    page = raw.call("GET", "/users", params={"$select": "id", "$top": 999, "$expand": "manager"}).json()
    assert len(page["value"]) == 100 and "@odata.nextLink" in page  # $top=999 or not: 100 with $expand
    assert len(raw.call("GET", "/users", params={"$select": "id", "$top": 999}).json()["value"]) > 100


def test_a_groups_members_come_999_to_a_page_at_most(raw):
    group = created(raw.call("POST", "/groups", json=group_body()))
    base = "/groups/%s/members" % group["id"]
    assert raw.call("GET", base, params={"$top": 999, "$select": "id,userPrincipalName"}).status_code == 200
    error = error_of(raw.call("GET", base, params={"$top": 1000}), 400, "Request_BadRequest")
    assert "between 1 and 999" in error["message"]
