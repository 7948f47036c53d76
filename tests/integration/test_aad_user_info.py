"""aad_user_info through ansible-playbook against the Graph sandbox.

Users are set up with aad_user and Graph; what the module returns is compared
with what Graph says.
"""
import pytest

DEPARTMENT = "Info Desk"
BOSS = "info.boss@contoso.com"
ONE = "info.one@contoso.com"
TWO = "info.two@contoso.com"

# The options of aad_user a user read by aad_user_info comes back with.
OPTION_NAMES = {
    "id", "user_principal_name", "display_name", "given_name", "surname", "mail_nickname", "account_enabled",
    "department", "job_title", "company_name", "employee_id", "employee_type", "office_location",
    "street_address", "city", "state_province", "postal_code", "country", "usage_location", "mobile_phone",
    "business_phones", "other_mails", "preferred_language", "password_policies", "on_premises_extension_attributes",
}


def info_task(**options):
    return {"name": "info", "m365.cloud_identity.aad_user_info": options, "register": "out"}


@pytest.fixture(scope="module")
def people(graph, sandbox, tmp_path_factory):
    """Three users, a manager link, a group and a licence, set up once for the file."""
    group = graph.post("/groups", json={"displayName": "Info Group", "mailNickname": "infogroup",
                                        "mailEnabled": False, "securityEnabled": True, "groupTypes": []})
    users = {}
    one_extra = {"jobTitle": "Clerk", "state": "WA", "usageLocation": "US",
                 "onPremisesExtensionAttributes": {"extensionAttribute2": "x2"}}
    for upn, extra in ((BOSS, {}), (ONE, one_extra), (TWO, {})):
        alias = upn.split("@", maxsplit=1)[0]
        body = {"accountEnabled": True, "displayName": alias, "mailNickname": alias,
                "userPrincipalName": upn, "department": DEPARTMENT,
                "passwordProfile": {"password": "Info!Passw0rd", "forceChangePasswordNextSignIn": True}}
        body.update(extra)
        users[upn] = graph.post("/users", json=body)
    graph.request("PUT", "/users/%s/manager/$ref" % users[ONE]["id"],
                  json={"@odata.id": sandbox.object_url(users[BOSS]["id"], "users")})
    graph.post("/groups/%s/members/$ref" % group["id"],
               json={"@odata.id": sandbox.object_url(users[ONE]["id"])})
    sku = next(s for s in graph.list("/subscribedSkus", select="skuId,skuPartNumber", top=None)
               if s["skuPartNumber"] == "ENTERPRISEPACK")
    graph.post("/users/%s/assignLicense" % users[ONE]["id"],
               json={"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []})
    return {"users": users, "group": group, "sku": sku}


def test_one_user_by_upn_with_manager_groups_and_licenses(people, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([info_task(user_principal_name=ONE, include=["manager", "groups", "licenses"])])
    found = play.task("info").result["users"]
    assert play.task("info").status == "ok"
    assert len(found) == 1
    user = found[0]
    assert OPTION_NAMES <= set(user)
    assert user["id"] == people["users"][ONE]["id"]
    assert user["department"] == DEPARTMENT and user["job_title"] == "Clerk" and user["state_province"] == "WA"
    assert user["on_premises_extension_attributes"] == {"extension_attribute2": "x2"}
    assert user["manager"] == BOSS
    assert user["groups"] == {"set": ["Info Group"]}
    assert [(lic["sku_part_number"], lic["assigned_by_group"]) for lic in user["licenses"]] == [("ENTERPRISEPACK", None)]
    assert sandbox.counters()["http"]["write"] == 0


def test_one_user_by_id_and_a_missing_one(people, run_play):
    play = run_play([info_task(id=people["users"][TWO]["id"]),
                     {"name": "missing", "m365.cloud_identity.aad_user_info": {"user_principal_name": "nobody@contoso.com"},
                      "register": "missing"}])
    assert [u["user_principal_name"] for u in play.task("info").result["users"]] == [TWO]
    assert "manager" not in play.task("info").result["users"][0]
    assert play.task("missing").result["users"] == []


def test_filter_and_all(people, graph, run_play):
    play = run_play([info_task(filter="department eq '%s'" % DEPARTMENT),
                     {"name": "all", "m365.cloud_identity.aad_user_info": {}, "register": "all"},
                     {"name": "advanced", "m365.cloud_identity.aad_user_info": {
                         "filter": "endswith(userPrincipalName,'two@contoso.com')"}, "register": "advanced"}])
    assert sorted(u["user_principal_name"] for u in play.task("info").result["users"]) == [BOSS, ONE, TWO]
    everyone = graph.list("/users", select="userPrincipalName")
    assert sorted(u["user_principal_name"] for u in play.task("all").result["users"]) == sorted(
        u["userPrincipalName"] for u in everyone)
    assert [u["user_principal_name"] for u in play.task("advanced").result["users"]] == [TWO]


def test_exclude_leaves_named_users_out_and_reads_nothing_more_for_them(people, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([info_task(filter="department eq '%s'" % DEPARTMENT, include=["manager"],
                               exclude=[BOSS.upper(), people["users"][TWO]["id"]])])
    found = play.task("info").result["users"]
    assert [(u["user_principal_name"], u["manager"]) for u in found] == [(ONE, BOSS)]
    # The list read and one $batch with the one remaining user's manager: nothing for the excluded two.
    assert sandbox.counters()["operations"]["by_route"].get("GET /v1.0/users/{id}/manager") == 1


def test_output_fed_back_to_aad_user_changes_nothing(people, run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([
        info_task(filter="department eq '%s'" % DEPARTMENT, include=["manager", "groups"]),
        {"name": "apply", "m365.cloud_identity.aad_user": {"users": "{{ out.users }}"}, "register": "applied"},
    ])
    applied = play.task("apply")
    assert applied.status == "ok"
    assert applied.result["summary"]["unchanged"] == 3
    # Graph operations, not HTTP requests: reads of several users go through $batch (a POST).
    assert sandbox.counters()["operations"]["write"] == 0


def test_read_only_app_can_read(people, run_play, sandbox):
    reader = next(app for app in sandbox.conn["apps"] if app["name"] == "m365-reader")
    play = run_play([{"name": "info", "m365.cloud_identity.aad_user_info": {
        "user_principal_name": TWO, "client_id": reader["client_id"],
        "client_secret": reader["client_secret"]}, "register": "out"}])
    assert [u["user_principal_name"] for u in play.task("info").result["users"]] == [TWO]
