"""The sandbox's /users (FIDELITY.md 2.1) and deleted items (2.5), checked on the wire with requests."""
import uuid

import pytest

DEFAULT_USER_PROPERTIES = {"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                           "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}
STRONG_PASSWORD = "Str0ng-Passw0rd!"


def user_body(alias=None, domain="contoso.com", **extra):
    alias = alias or "u%s" % uuid.uuid4().hex[:10]
    body = {"accountEnabled": True, "displayName": "User %s" % alias, "mailNickname": alias,
            "userPrincipalName": "%s@%s" % (alias, domain),
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}
    body.update(extra)
    return body


def create(raw, **extra):
    response = raw.call("POST", "/users", json=user_body(**extra))
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status, code, message=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    return error


# -- create ------------------------------------------------------------------------------------------

def test_create_returns_201_with_the_default_properties(raw):
    response = raw.call("POST", "/users", json=user_body("new.hire", givenName="New", jobTitle="Hire",
                                                             usageLocation="fr", department="Ops"))
    assert response.status_code == 201
    user = response.json()
    assert user["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    assert set(user) - {"@odata.context"} == DEFAULT_USER_PROPERTIES
    assert user["userPrincipalName"] == "new.hire@contoso.com" and user["givenName"] == "New"
    assert uuid.UUID(user["id"]) and user["businessPhones"] == []
    assert "passwordProfile" not in user
    selected = raw.call("GET", "/users/%s" % user["id"], params={"$select": "usageLocation,department,userType,accountEnabled"}).json()
    assert selected["usageLocation"] == "FR" and selected["userType"] == "Member" and selected["accountEnabled"] is True


@pytest.mark.parametrize("missing", ["accountEnabled", "displayName", "mailNickname", "passwordProfile",
                                     "userPrincipalName"])
def test_each_required_property_is_required(raw, missing):
    body = user_body()
    del body[missing]
    assert_error(raw.call("POST", "/users", json=body), 400, "Request_BadRequest",
                 "A value is required for property '%s' of resource 'User'." % missing)


def test_upn_accepts_every_allowed_character(raw):
    user = create(raw, alias="o'neil.a-b_c!d#e^f~g")
    assert raw.call("GET", "/users/%s" % user["id"]).json()["userPrincipalName"] == "o'neil.a-b_c!d#e^f~g@contoso.com"


@pytest.mark.parametrize("upn", ["two words@contoso.com", "comma,here@contoso.com", "accent\u00e9@contoso.com",
                                 "no-at-sign.contoso.com", "@contoso.com", "star*@contoso.com"])
def test_upn_with_a_forbidden_character_or_shape_is_invalid(raw, upn):
    assert_error(raw.call("POST", "/users", json=user_body(userPrincipalName=upn)), 400, "Request_BadRequest",
                 "Property userPrincipalName is invalid.")


def test_upn_in_an_unverified_domain_is_refused(raw):
    error = assert_error(raw.call("POST", "/users", json=user_body(domain="fabrikam.com")), 400, "Request_BadRequest")
    assert "verified domain" in error["message"]


def test_upn_in_the_initial_onmicrosoft_domain_is_accepted(raw):
    assert create(raw, domain="contoso.onmicrosoft.com")["userPrincipalName"].endswith("@contoso.onmicrosoft.com")


@pytest.mark.parametrize("nickname", ["has space", "at@sign", "semi;colon", "x" * 65, "caf\u00e9"])
def test_mail_nickname_rules(raw, nickname):
    assert_error(raw.call("POST", "/users", json=user_body(mailNickname=nickname)), 400, "Request_BadRequest",
                 "Invalid value specified for property 'mailNickname' of resource 'User'.")


@pytest.mark.parametrize("password", ["short1A", "alllowercase", "ALLUPPER123", "12345678901"])
def test_weak_passwords_are_refused(raw, password):
    body = user_body(passwordProfile={"password": password, "forceChangePasswordNextSignIn": True})
    error = assert_error(raw.call("POST", "/users", json=body), 400, "Request_BadRequest",
                         "The specified password does not comply with password complexity requirements. "
                         "Please provide a different password.")
    assert password not in error["message"]


def test_a_password_with_three_character_classes_is_enough(raw):
    create(raw, passwordProfile={"password": "lower-and-digits-1", "forceChangePasswordNextSignIn": False})


def test_duplicate_upn_is_a_400_with_object_conflict_details(raw):
    first = create(raw)
    again = user_body(userPrincipalName=first["userPrincipalName"].upper())
    error = assert_error(raw.call("POST", "/users", json=again), 400, "Request_BadRequest",
                         "Another object with the same value for property userPrincipalName already exists.")
    assert {"code": "ObjectConflict", "target": "userPrincipalName"}.items() <= error["details"][0].items()
    assert error["details"][1]["code"] == "ConflictingObjects"
    assert error["details"][1]["target"] == "User_%s" % first["id"]


def test_unknown_and_read_only_properties_are_refused(raw):
    assert_error(raw.call("POST", "/users", json=user_body(favouriteColour="blue")), 400, "Request_BadRequest")
    assert_error(raw.call("POST", "/users", json=user_body(id=str(uuid.uuid4()))), 400, "Request_BadRequest")
    assert_error(raw.call("POST", "/users", json=user_body(usageLocation="USA")), 400, "Request_BadRequest",
                 "Invalid value specified for property 'usageLocation' of resource 'User'.")
    assert_error(raw.call("POST", "/users", json=user_body(accountEnabled="yes")), 400, "Request_BadRequest",
                 "Invalid value specified for property 'accountEnabled' of resource 'User'.")


def test_an_empty_or_non_json_body_is_a_400(raw):
    assert raw.session.post(raw.base + "/users", data="{not json", verify=raw.ca,
                              headers={"Content-Type": "application/json"}).status_code == 400


# -- read --------------------------------------------------------------------------------------------

def test_get_by_id_and_by_upn_return_the_default_properties_only(raw):
    by_upn = raw.call("GET", "/users/Ada.Admin@contoso.com")
    assert by_upn.status_code == 200
    by_id = raw.call("GET", "/users/%s" % by_upn.json()["id"]).json()
    assert by_id == by_upn.json()
    assert set(by_id) - {"@odata.context"} == DEFAULT_USER_PROPERTIES
    assert "accountEnabled" not in by_id and "usageLocation" not in by_id


def test_select_returns_exactly_the_selected_properties_plus_id(raw):
    user = raw.call("GET", "/users/sid.sales@contoso.com", params={"$select": "accountEnabled,usageLocation,city"}).json()
    assert set(user) - {"@odata.context"} == {"id", "accountEnabled", "usageLocation", "city"}
    assert user["accountEnabled"] is False and user["city"] == "Chicago"


def test_select_of_an_unknown_property_is_a_400(raw):
    assert_error(raw.call("GET", "/users", params={"$select": "displayName,shoeSize"}), 400, "Request_BadRequest")


def test_single_user_only_property_is_501_on_the_collection_and_fine_on_one_user(raw):
    assert_error(raw.call("GET", "/users", params={"$select": "displayName,aboutMe"}), 501, "NotImplemented")
    one = raw.call("GET", "/users/ada.admin@contoso.com", params={"$select": "aboutMe"})
    assert one.status_code == 200 and "aboutMe" in one.json()


def test_a_missing_user_is_404_request_resource_not_found(raw):
    missing = str(uuid.uuid4())
    assert_error(raw.call("GET", "/users/%s" % missing), 404, "Request_ResourceNotFound",
                 "Resource '%s' does not exist or one of its queried reference-property objects are not present." % missing)


# -- update ------------------------------------------------------------------------------------------

def test_patch_returns_204_and_the_change_is_read_back(raw):
    user = create(raw)
    response = raw.call("PATCH", "/users/%s" % user["id"], json={"jobTitle": "Analyst", "usageLocation": "de",
                                                                   "otherMails": ["a@example.org"]})
    assert response.status_code == 204 and response.content == b""
    after = raw.call("GET", "/users/%s" % user["id"], params={"$select": "jobTitle,usageLocation,otherMails"}).json()
    assert (after["jobTitle"], after["usageLocation"], after["otherMails"]) == ("Analyst", "DE", ["a@example.org"])


def test_patch_to_a_taken_upn_is_a_conflict_and_to_a_weak_password_is_refused(raw):
    first, second = create(raw), create(raw)
    assert_error(raw.call("PATCH", "/users/%s" % second["id"], json={"userPrincipalName": first["userPrincipalName"]}),
                 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
    assert_error(raw.call("PATCH", "/users/%s" % second["id"], json={"passwordProfile": {"password": "weak"}}),
                 400, "Request_BadRequest")
    ok = raw.call("PATCH", "/users/%s" % second["id"], json={"passwordProfile": {"password": "An0ther-Str0ng!",
                                                                                    "forceChangePasswordNextSignIn": False}})
    assert ok.status_code == 204


def test_patch_of_a_missing_user_is_404(raw):
    assert_error(raw.call("PATCH", "/users/%s" % uuid.uuid4(), json={"jobTitle": "x"}), 404, "Request_ResourceNotFound")


# -- soft delete, restore, purge ---------------------------------------------------------------------

def deleted_users(raw):
    response = raw.call("GET", "/directory/deletedItems/microsoft.graph.user",
                          params={"$select": "id,userPrincipalName,deletedDateTime,displayName"})
    assert response.status_code == 200
    return {u["id"]: u for u in response.json()["value"]}


def test_delete_soft_deletes_then_restore_then_purge(raw):
    user = create(raw)
    upn = user["userPrincipalName"]
    assert raw.call("DELETE", "/users/%s" % user["id"]).status_code == 204
    assert_error(raw.call("GET", "/users/%s" % user["id"]), 404, "Request_ResourceNotFound")
    assert raw.call("GET", "/users", params={"$filter": "userPrincipalName eq '%s'" % upn}).json()["value"] == []

    # In deleted items, the UPN is prefixed with the object id (no dashes), and deletedDateTime is set.
    deleted = deleted_users(raw)[user["id"]]
    assert deleted["userPrincipalName"] == user["id"].replace("-", "") + upn
    assert deleted["deletedDateTime"].endswith("Z")

    restored = raw.call("POST", "/directory/deletedItems/%s/restore" % user["id"])
    assert restored.status_code == 200
    body = restored.json()
    assert body["@odata.type"] == "#microsoft.graph.user"
    assert body["@odata.context"].endswith("$metadata#directoryObjects/$entity")
    assert body["userPrincipalName"] == upn and body["id"] == user["id"]
    assert raw.call("GET", "/users/%s" % upn).status_code == 200
    assert user["id"] not in deleted_users(raw)

    # Purge: gone from deleted items for good.
    assert raw.call("DELETE", "/users/%s" % user["id"]).status_code == 204
    assert raw.call("DELETE", "/directory/deletedItems/%s" % user["id"]).status_code == 204
    assert user["id"] not in deleted_users(raw)
    assert_error(raw.call("GET", "/directory/deletedItems/%s" % user["id"]), 404, "Request_ResourceNotFound")
    assert_error(raw.call("POST", "/directory/deletedItems/%s/restore" % user["id"]), 404, "Request_ResourceNotFound")
    assert create(raw, userPrincipalName=upn)["id"] != user["id"]


def test_soft_delete_frees_the_upn_and_a_conflicting_restore_is_refused(raw):
    """FIDELITY.md 7.5 (this replaces the earlier "the UPN stays taken until purged")."""
    user = create(raw)
    upn = user["userPrincipalName"]
    assert raw.call("DELETE", "/users/%s" % user["id"]).status_code == 204
    successor = create(raw, userPrincipalName=upn)   # the UPN is free at once
    assert successor["id"] != user["id"]
    assert deleted_users(raw)[user["id"]]["userPrincipalName"] == user["id"].replace("-", "") + upn
    assert_error(raw.call("POST", "/directory/deletedItems/%s/restore" % user["id"]), 400, "Request_BadRequest",
                 "Another object with the same value for property userPrincipalName already exists.")
    assert user["id"] in deleted_users(raw)           # the refused restore changed nothing
    assert raw.call("DELETE", "/users/%s" % successor["id"]).status_code == 204
    restored = raw.call("POST", "/directory/deletedItems/%s/restore" % user["id"])
    assert restored.status_code == 200 and restored.json()["userPrincipalName"] == upn


def test_get_one_deleted_user_carries_its_type(raw):
    user = create(raw)
    raw.call("DELETE", "/users/%s" % user["id"])
    one = raw.call("GET", "/directory/deletedItems/%s" % user["id"]).json()
    assert one["@odata.type"] == "#microsoft.graph.user" and one["id"] == user["id"]


def test_deleted_items_without_a_type_cast_is_refused(raw):
    assert_error(raw.call("GET", "/directory/deletedItems"), 400, "Request_BadRequest")


# -- manager -----------------------------------------------------------------------------------------

def test_manager_ref_set_read_list_and_remove(raw):
    boss, report = create(raw), create(raw)
    ref = {"@odata.id": raw.sandbox.object_url(boss["id"], "users")}
    assert raw.call("PUT", "/users/%s/manager/$ref" % report["id"], json=ref).status_code == 204
    manager = raw.call("GET", "/users/%s/manager" % report["id"]).json()
    assert manager["id"] == boss["id"] and manager["@odata.type"] == "#microsoft.graph.user"
    reports = raw.call("GET", "/users/%s/directReports" % boss["id"]).json()["value"]
    assert [r["id"] for r in reports] == [report["id"]]
    assert raw.call("DELETE", "/users/%s/manager/$ref" % report["id"]).status_code == 204
    assert_error(raw.call("GET", "/users/%s/manager" % report["id"]), 404, "Request_ResourceNotFound")


def test_manager_that_does_not_exist_is_404_and_self_is_refused(raw):
    user = create(raw)
    missing = {"@odata.id": raw.sandbox.object_url(uuid.uuid4(), "users")}
    assert_error(raw.call("PUT", "/users/%s/manager/$ref" % user["id"], json=missing), 404, "Request_ResourceNotFound")
    itself = {"@odata.id": raw.sandbox.object_url(user["id"], "users")}
    assert_error(raw.call("PUT", "/users/%s/manager/$ref" % user["id"], json=itself), 400, "Request_BadRequest")


def test_purging_a_manager_clears_the_reports_manager(raw):
    boss, report = create(raw), create(raw)
    raw.call("PUT", "/users/%s/manager/$ref" % report["id"],
               json={"@odata.id": raw.sandbox.object_url(boss["id"], "users")})
    raw.call("DELETE", "/users/%s" % boss["id"])
    raw.call("DELETE", "/directory/deletedItems/%s" % boss["id"])
    assert_error(raw.call("GET", "/users/%s/manager" % report["id"]), 404, "Request_ResourceNotFound")


# -- directory facts ---------------------------------------------------------------------------------

def test_organization_and_domains_list_the_verified_domains(raw, sandbox):
    org = raw.call("GET", "/organization").json()["value"][0]
    assert org["id"] == sandbox.conn["tenant_id"]
    names = {d["name"] for d in org["verifiedDomains"]}
    assert names == set(sandbox.conn["verified_domains"])
    assert [d["name"] for d in org["verifiedDomains"] if d["isDefault"]] == [sandbox.conn["default_domain"]]
    domains = raw.call("GET", "/domains").json()["value"]
    assert {d["id"] for d in domains} == names and all(d["isVerified"] for d in domains)
    assert raw.call("GET", "/domains/contoso.com").json()["isDefault"] is False
    assert_error(raw.call("GET", "/domains/fabrikam.com"), 404, "Request_ResourceNotFound")


def test_get_by_ids_returns_the_known_objects_with_their_type(raw):
    user = create(raw)
    response = raw.call("POST", "/directoryObjects/getByIds", json={"ids": [user["id"], str(uuid.uuid4())],
                                                                     "types": ["user"]})
    assert response.status_code == 200
    value = response.json()["value"]
    assert [(v["id"], v["@odata.type"]) for v in value] == [(user["id"], "#microsoft.graph.user")]
    one = raw.call("GET", "/directoryObjects/%s" % user["id"]).json()
    assert one["@odata.type"] == "#microsoft.graph.user"


# -- concurrency -------------------------------------------------------------------------------------

def test_concurrent_clients_each_get_their_writes_and_nothing_is_lost(sandbox, raw):
    """Eight clients at once, creating users and adding them to one shared group: every write lands."""
    from concurrent.futures import ThreadPoolExecutor

    group = raw.call("POST", "/groups", json={"displayName": "Crowd", "mailEnabled": False, "mailNickname": "crowd",
                                              "securityEnabled": True}).json()

    def worker(n):
        with sandbox.wire() as wire:
            created = []
            for i in range(15):
                user = wire.call("POST", "/users", json=user_body("crowd%d.%d" % (n, i)))
                assert user.status_code == 201, user.text
                added = wire.call("POST", "/groups/%s/members/$ref" % group["id"],
                                  json={"@odata.id": sandbox.object_url(user.json()["id"])})
                assert added.status_code == 204, added.text
                created.append(user.json()["id"])
            return created

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [user_id for batch in pool.map(worker, range(8)) for user_id in batch]

    assert len(set(ids)) == 120
    listed = raw.call("GET", "/users", params={"$filter": "startswith(userPrincipalName,'crowd')", "$top": "999",
                                                "$select": "id"}).json()["value"]
    assert {u["id"] for u in listed} == set(ids)
    members = raw.call("GET", "/groups/%s/members" % group["id"], params={"$top": "999", "$select": "id"}).json()["value"]
    assert {m["id"] for m in members} == set(ids)
