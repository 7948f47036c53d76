"""Enterprise apps, app role assignments and organisational contacts in the sandbox, as Graph serves them.

Each rule is in docs/graph-rules.md ("App role assignments", "Organisational contacts") with its source.
"""
import textwrap
import uuid

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"


def app(raw, name):
    found = raw.call("GET", "/servicePrincipals", params={"$filter": "displayName eq '%s'" % name}).json()["value"]
    assert len(found) == 1, found
    return found[0]


def role_id(sp, value):
    return next(role["id"] for role in sp["appRoles"] if role["value"] == value)


def assign(raw, sp, principal_id, role):
    return raw.call("POST", "/servicePrincipals/%s/appRoleAssignedTo" % sp["id"],
                    json={"principalId": principal_id, "resourceId": sp["id"], "appRoleId": role})


def security_group(raw, **extra):
    name = "apps-%s" % uuid.uuid4().hex[:8]
    body = {"displayName": name, "mailNickname": name, "mailEnabled": False, "securityEnabled": True, "groupTypes": []}
    body.update(extra)
    response = raw.call("POST", "/groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_seeded_apps_have_their_roles_and_are_found_by_app_id(raw):
    salesforce = app(raw, "Salesforce")
    assert sorted(role["value"] for role in salesforce["appRoles"]) == ["Admin", "User"]
    by_app_id = raw.call("GET", "/servicePrincipals", params={"$filter": "appId eq '%s'" % salesforce["appId"]})
    assert [sp["id"] for sp in by_app_id.json()["value"]] == [salesforce["id"]]
    assert app(raw, "Contoso Intranet")["appRoles"] == []


def test_assign_list_and_remove_a_user(raw, tenant):
    user = tenant.user()
    sp = app(raw, "Salesforce")
    response = assign(raw, sp, user["id"], role_id(sp, "Admin"))
    assert response.status_code == 201, response.text
    assignment = response.json()
    assert assignment["principalType"] == "User" and assignment["resourceDisplayName"] == "Salesforce"
    assert assignment["appRoleId"] == role_id(sp, "Admin") and assignment["principalId"] == user["id"]
    listed = raw.call("GET", "/servicePrincipals/%s/appRoleAssignedTo" % sp["id"]).json()["value"]
    assert assignment["id"] in [a["id"] for a in listed]
    mine = raw.call("GET", "/users/%s/appRoleAssignments" % user["id"]).json()["value"]
    assert [a["id"] for a in mine] == [assignment["id"]]
    path = "/servicePrincipals/%s/appRoleAssignedTo/%s" % (sp["id"], assignment["id"])
    assert raw.call("DELETE", path).status_code == 204
    assert raw.call("DELETE", path).status_code == 404
    assert raw.call("GET", "/users/%s/appRoleAssignments" % user["id"]).json()["value"] == []


def test_a_duplicate_assignment_is_refused(raw, tenant):
    user = tenant.user()
    sp = app(raw, "ServiceNow")
    assert assign(raw, sp, user["id"], role_id(sp, "User")).status_code == 201
    again = assign(raw, sp, user["id"], role_id(sp, "User"))
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "Permission being assigned already exists on the object."
    # Another role of the same app is another assignment.
    assert assign(raw, sp, user["id"], role_id(sp, "Admin")).status_code == 201


def test_an_unknown_role_is_refused(raw, tenant):
    sp = app(raw, "Salesforce")
    response = assign(raw, sp, tenant.user()["id"], str(uuid.uuid4()))
    assert response.status_code == 400
    assert "Permission being assigned was not found on application" in response.json()["error"]["message"]


def test_default_access_only_for_an_app_without_roles(raw, tenant):
    user = tenant.user()
    assert assign(raw, app(raw, "Contoso Intranet"), user["id"], DEFAULT_ACCESS).status_code == 201
    assert assign(raw, app(raw, "Salesforce"), user["id"], DEFAULT_ACCESS).status_code == 400


def test_an_application_only_role_is_not_for_users(raw, tenant):
    sp = app(raw, "ServiceNow")
    response = assign(raw, sp, tenant.user()["id"], role_id(sp, "Integration.ReadWrite"))
    assert response.status_code == 400 and "allowedMemberTypes" in response.json()["error"]["message"]


def test_groups_security_and_dynamic_yes_microsoft_365_no(raw):
    sp = app(raw, "Salesforce")
    plain = security_group(raw)
    dynamic = security_group(raw, groupTypes=["DynamicMembership"], membershipRule='user.department -eq "Sales"',
                             membershipRuleProcessingState="On")
    name = "apps-m365-%s" % uuid.uuid4().hex[:6]
    unified = raw.call("POST", "/groups", json={"displayName": name, "mailNickname": name, "mailEnabled": True,
                                                "securityEnabled": False, "groupTypes": ["Unified"]}).json()
    assert assign(raw, sp, plain["id"], role_id(sp, "User")).json()["principalType"] == "Group"
    assert assign(raw, sp, dynamic["id"], role_id(sp, "User")).status_code == 201
    refused = assign(raw, sp, unified["id"], role_id(sp, "User"))
    assert refused.status_code == 400 and "not security-enabled" in refused.json()["error"]["message"]
    listed = raw.call("GET", "/groups/%s/appRoleAssignments" % dynamic["id"]).json()["value"]
    assert [a["principalId"] for a in listed] == [dynamic["id"]]


def test_unknown_principal_and_resource_mismatch(raw):
    sp = app(raw, "Salesforce")
    missing = assign(raw, sp, str(uuid.uuid4()), role_id(sp, "User"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"
    other = app(raw, "ServiceNow")
    response = raw.call("POST", "/servicePrincipals/%s/appRoleAssignedTo" % sp["id"],
                        json={"principalId": str(uuid.uuid4()), "resourceId": other["id"],
                              "appRoleId": role_id(sp, "User")})
    assert response.status_code == 400


def test_a_user_lists_what_its_direct_groups_were_given(raw, tenant):
    user = tenant.user()
    group = tenant.group(members=[user])
    sp = app(raw, "Salesforce")
    assert assign(raw, sp, group["id"], role_id(sp, "User")).status_code == 201
    mine = raw.call("GET", "/users/%s/appRoleAssignments" % user["id"]).json()["value"]
    assert [(a["principalId"], a["principalType"]) for a in mine] == [(group["id"], "Group")]


def test_permissions(sandbox, raw):
    with sandbox.wire("m365-reader") as reader:
        sp = app(raw, "Salesforce")
        assert reader.call("GET", "/servicePrincipals").status_code == 403
        assert reader.call("GET", "/contacts").status_code == 403
        response = reader.call("POST", "/servicePrincipals/%s/appRoleAssignedTo" % sp["id"],
                               json={"principalId": str(uuid.uuid4()), "resourceId": sp["id"],
                                     "appRoleId": role_id(sp, "User")})
        assert response.status_code == 403


def test_contacts_are_listed_filtered_and_read_only(raw):
    contacts = raw.call("GET", "/contacts").json()["value"]
    assert {c["mail"] for c in contacts} >= {"pat.partner@fabrikam.com", "quinn@northwindtraders.com"}
    fabrikam = raw.call("GET", "/contacts", params={"$filter": "companyName eq 'Fabrikam'"}).json()["value"]
    assert [c["displayName"] for c in fabrikam] == ["Pat Partner"]
    # Graph v1.0 has no create for organisational contacts.
    refused = raw.call("POST", "/contacts", json={"displayName": "New", "mail": "new@example.com"})
    assert refused.status_code == 405


def test_a_contacts_groups(sandbox_factory, tmp_path):
    from graph_sandbox.seed import DEFAULT_SEED
    seed = tmp_path / "seed.yaml"
    seed.write_text(DEFAULT_SEED.read_text().split("\ncontacts:")[0] + textwrap.dedent("""
        contacts:
          - {displayName: Pat Partner, mail: pat.partner@fabrikam.com, companyName: Fabrikam,
             memberOf: [Partners, Fabrikam Project]}
          - {displayName: Lone Contact, mail: lone@example.org}
        """))
    box = sandbox_factory(seed=seed)
    with box.wire() as wire:
        contacts = {c["displayName"]: c for c in wire.call("GET", "/contacts").json()["value"]}
        groups = wire.call("GET", "/contacts/%s/memberOf" % contacts["Pat Partner"]["id"]).json()["value"]
        assert sorted(g["displayName"] for g in groups) == ["Fabrikam Project", "Partners"]
        assert all(g["@odata.type"] == "#microsoft.graph.group" and g["mailEnabled"] for g in groups)
        assert wire.call("GET", "/contacts/%s/memberOf" % contacts["Lone Contact"]["id"]).json()["value"] == []
