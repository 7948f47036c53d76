"""The sandbox's rules for the HR attributes of users (docs/graph-rules.md, "HR attributes"), on the wire."""
import uuid

import pytest

from test_sandbox_users import assert_error, create, user_body

HR_SELECT = "mail,faxNumber,employeeHireDate,employeeOrgData,ageGroup,consentProvidedForMinor,proxyAddresses"


def read(raw, user, select=HR_SELECT):
    response = raw.call("GET", "/users/%s" % user["id"], params={"$select": select})
    assert response.status_code == 200, response.text
    return response.json()


def patch(raw, user, **body):
    return raw.call("PATCH", "/users/%s" % user["id"], json=body)


def test_hr_properties_are_written_and_read_with_their_schema_types(raw):
    alias = "hr%s" % uuid.uuid4().hex[:8]
    user = create(raw, alias=alias, mail="%s@contoso.com" % alias, faxNumber="+1 425 555 0100",
                  employeeHireDate="2024-05-01T00:00:00Z", employeeOrgData={"division": "Retail", "costCenter": "CC-1"},
                  ageGroup="Adult", consentProvidedForMinor="NotRequired")
    got = read(raw, user)
    assert got["mail"] == "%s@contoso.com" % alias
    assert got["proxyAddresses"] == ["SMTP:%s@contoso.com" % alias]
    assert got["faxNumber"] == "+1 425 555 0100"
    assert got["employeeHireDate"] == "2024-05-01T00:00:00Z"
    assert got["employeeOrgData"] == {"division": "Retail", "costCenter": "CC-1"}
    assert (got["ageGroup"], got["consentProvidedForMinor"]) == ("Adult", "NotRequired")


def test_dates_are_stored_in_utc_with_z(raw):
    user = create(raw)
    assert patch(raw, user, employeeHireDate="2024-05-01T09:30:00+02:00").status_code == 204
    assert read(raw, user, "employeeHireDate")["employeeHireDate"] == "2024-05-01T07:30:00Z"
    assert patch(raw, user, employeeHireDate="2024-05-01T07:30:00.0000000Z").status_code == 204
    assert read(raw, user, "employeeHireDate")["employeeHireDate"] == "2024-05-01T07:30:00Z"


@pytest.mark.parametrize("value", ["2024-13-01T00:00:00Z", "tomorrow", "2024-05-01", "01/05/2024", "2024-05-01T10:00:00"])
def test_a_value_that_is_not_a_date_time_offset_is_refused(raw, value):
    user = create(raw)
    assert_error(patch(raw, user, employeeHireDate=value), 400, "BadRequest",
                 "Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'." % value)
    assert read(raw, user, "employeeHireDate")["employeeHireDate"] is None


def test_a_date_of_the_wrong_json_type_is_refused(raw):
    user = create(raw)
    assert_error(patch(raw, user, employeeHireDate=20240501), 400, "Request_BadRequest")


@pytest.mark.parametrize("prop,value", [("ageGroup", "Teen"), ("ageGroup", "adult"),
                                        ("consentProvidedForMinor", "Yes"), ("consentProvidedForMinor", True)])
def test_age_group_and_consent_take_only_graph_values(raw, prop, value):
    user = create(raw)
    assert_error(patch(raw, user, **{prop: value}), 400, "Request_BadRequest")


def test_legal_age_group_classification_is_read_only(raw):
    user = create(raw)
    assert_error(patch(raw, user, legalAgeGroupClassification="Adult"), 400, "Request_BadRequest")


def test_employee_org_data_is_replaced_whole(raw):
    user = create(raw, employeeOrgData={"division": "Retail", "costCenter": "CC-1"})
    assert patch(raw, user, employeeOrgData={"division": "Online"}).status_code == 204
    assert read(raw, user)["employeeOrgData"] == {"division": "Online", "costCenter": None}


@pytest.mark.parametrize("value", [{"department": "x"}, {"division": 7}, "Retail"])
def test_employee_org_data_takes_only_its_two_string_keys(raw, value):
    user = create(raw)
    assert_error(patch(raw, user, employeeOrgData=value), 400, "Request_BadRequest")


def test_mail_is_writable_and_clearable_and_drives_proxy_addresses(raw):
    user = create(raw)
    assert patch(raw, user, mail="first.last@contoso.com").status_code == 204
    assert read(raw, user)["proxyAddresses"] == ["SMTP:first.last@contoso.com"]
    assert patch(raw, user, mail=None).status_code == 204
    got = read(raw, user)
    assert got["mail"] is None and got["proxyAddresses"] == []


@pytest.mark.parametrize("value", ["José@contoso.com", "not-an-address"])
def test_mail_must_be_an_ascii_smtp_address(raw, value):
    user = create(raw)
    assert_error(patch(raw, user, mail=value), 400, "Request_BadRequest",
                 "Invalid value specified for property 'mail' of resource 'User'.")


def test_mail_another_user_holds_is_a_proxy_address_conflict(raw):
    address = "shared%s@contoso.com" % uuid.uuid4().hex[:6]
    holder = create(raw, mail=address)
    other = create(raw)
    error = assert_error(patch(raw, other, mail=address.upper()), 400, "Request_BadRequest",
                         "Another object with the same value for property proxyAddresses already exists.")
    assert error["details"][1]["target"] == "User_%s" % holder["id"]


def test_leave_date_is_written_and_read_with_the_lifecycle_permission(raw):
    user = create(raw)
    assert patch(raw, user, employeeLeaveDateTime="2025-09-30T23:59:59Z").status_code == 204
    assert read(raw, user, "employeeLeaveDateTime")["employeeLeaveDateTime"] == "2025-09-30T23:59:59Z"
    assert patch(raw, user, employeeLeaveDateTime=None).status_code == 204
    assert read(raw, user, "employeeLeaveDateTime")["employeeLeaveDateTime"] is None


def test_reading_the_leave_date_needs_the_lifecycle_permission(sandbox):
    with sandbox.wire("m365-reader") as reader:
        response = reader.call("GET", "/users", params={"$select": "id,employeeLeaveDateTime"})
        assert_error(response, 403, "Authorization_RequestDenied")
        assert reader.call("GET", "/users", params={"$select": "id,employeeHireDate"}).status_code == 200


def test_writing_the_leave_date_needs_the_lifecycle_permission(sandbox_factory, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "tenant: {id: 3f0c9a52-6b1e-4d7a-8c2f-9e4b5a6d7c81, default_domain: fabrikam.onmicrosoft.com,"
        " verified_domains: [fabrikam.onmicrosoft.com]}\n"
        "apps: [{name: app, client_id: 7d4c2b1a-0e9f-4a8b-b7c6-d5e4f3a2b1c0, client_secret: generate,"
        " roles: [User.ReadWrite.All]}]\n")
    box = sandbox_factory(seed=seed)
    with box.wire("app") as wire:
        body = user_body(domain="fabrikam.onmicrosoft.com", employeeLeaveDateTime="2025-09-30T23:59:59Z")
        assert_error(wire.call("POST", "/users", json=body), 403, "Authorization_RequestDenied")
        del body["employeeLeaveDateTime"]
        created = wire.call("POST", "/users", json=body)
        assert created.status_code == 201
        response = wire.call("PATCH", "/users/%s" % created.json()["id"],
                             json={"employeeLeaveDateTime": "2025-09-30T23:59:59Z"})
        assert_error(response, 403, "Authorization_RequestDenied")
        assert wire.call("PATCH", "/users/%s" % created.json()["id"],
                         json={"employeeHireDate": "2024-05-01T00:00:00Z"}).status_code == 204


# -- sponsors (DC api/user-post-sponsors.md, user-list-sponsors.md, user-delete-sponsors.md) ------------

def sponsor_ref(wire, object_id):
    """On the sandbox's own Graph host: Graph refuses another cloud's host (FIDELITY.md 7.8)."""
    return {"@odata.id": wire.sandbox.object_url(object_id)}


def test_sponsors_are_added_listed_and_removed(raw):
    guest, sponsor = create(raw), create(raw)
    group = raw.call("POST", "/groups", json={"displayName": "Sponsors %s" % guest["id"][:8], "mailEnabled": False,
                                              "mailNickname": "sp%s" % guest["id"][:8], "securityEnabled": True})
    assert group.status_code == 201
    group = group.json()
    for object_id in (sponsor["id"], group["id"]):
        assert raw.call("POST", "/users/%s/sponsors/$ref" % guest["id"], json=sponsor_ref(raw, object_id)).status_code == 204
    listed = raw.call("GET", "/users/%s/sponsors" % guest["id"], params={"$select": "id,displayName"}).json()["value"]
    assert [(s["@odata.type"], s["id"]) for s in listed] == [("#microsoft.graph.user", sponsor["id"]),
                                                              ("#microsoft.graph.group", group["id"])]
    assert raw.call("DELETE", "/users/%s/sponsors/%s/$ref" % (guest["id"], sponsor["id"])).status_code == 204
    listed = raw.call("GET", "/users/%s/sponsors" % guest["id"]).json()["value"]
    assert [s["id"] for s in listed] == [group["id"]]


def test_sponsor_errors(raw, sandbox):
    guest, sponsor = create(raw), create(raw)
    path = "/users/%s/sponsors/$ref" % guest["id"]
    assert raw.call("POST", path, json=sponsor_ref(raw, sponsor["id"])).status_code == 204
    assert_error(raw.call("POST", path, json=sponsor_ref(raw, sponsor["id"])), 400, "Request_BadRequest",
                 "One or more added object references already exist for the following modified properties: 'sponsors'.")
    assert_error(raw.call("POST", path, json=sponsor_ref(raw, str(uuid.uuid4()))), 404, "Request_ResourceNotFound")
    assert_error(raw.call("DELETE", "/users/%s/sponsors/%s/$ref" % (guest["id"], str(uuid.uuid4()))), 404,
                 "Request_ResourceNotFound")
    with sandbox.wire("m365-reader") as reader:
        assert reader.call("GET", "/users/%s/sponsors" % guest["id"]).status_code == 200
        assert_error(reader.call("POST", path, json=sponsor_ref(reader, guest["id"])), 403, "Authorization_RequestDenied")
