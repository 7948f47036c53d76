"""aad_user through ansible-playbook against the Graph sandbox.

State is asserted through Graph (the `graph` fixture), write counts through the
sandbox's counters; never through the sandbox's database.
"""
import json

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError, quote_key
from ansible_collections.m365.cloud_identity.plugins.module_utils.passwords import password_problem

SELECT = ("id,userPrincipalName,displayName,mailNickname,department,jobTitle,usageLocation,accountEnabled,"
          "businessPhones,onPremisesExtensionAttributes,passwordPolicies")
SEEDED_ADMIN = "ada.admin@contoso.com"


def get_user(graph, upn):
    try:
        return graph.get("/users/%s" % quote_key(upn), params={"$select": SELECT})
    except GraphError as error:
        if error.status == 404:
            return None
        raise


def deleted_user_ids(graph):
    return [u["id"] for u in graph.list("/directory/deletedItems/microsoft.graph.user", select="id")]


def manager_of(graph, user_id):
    try:
        return graph.get("/users/%s/manager" % user_id, params={"$select": "id,userPrincipalName"})["userPrincipalName"]
    except GraphError as error:
        if error.status == 404:
            return None
        raise


def member_ids(graph, group_id):
    return [m["id"] for m in graph.list("/groups/%s/members" % group_id, select="id")]


def make_group(graph, name, dynamic=False):
    body = {"displayName": name, "mailNickname": name.replace(" ", "").lower(), "mailEnabled": False,
            "securityEnabled": True, "groupTypes": []}
    if dynamic:
        body.update(groupTypes=["DynamicMembership"], membershipRule='user.department -eq "Sales"',
                    membershipRuleProcessingState="On")
    return graph.post("/groups", json=body)


def user_task(**options):
    return {"name": "user", "m365.cloud_identity.aad_user": options, "register": "out"}


def recorded(play):
    """Everything the result-recording callback saw (what a log callback would see)."""
    return json.dumps([task.result for task in play.tasks])


def writes(sandbox):
    return sandbox.counters()["http"]["write"]


def test_user_lifecycle(graph, run_play, sandbox):
    upn = "alice.lifecycle@contoso.com"
    spec = dict(user_principal_name=upn, display_name="Alice Lifecycle", department="Sales", job_title="Rep",
                usage_location="NO", business_phones=["+47 555 0100"], password="Initial!Passw0rd",
                on_premises_extension_attributes={"extension_attribute1": "cc-1"})

    sandbox.reset_counters()
    checked = run_play([user_task(**spec)], check=True)
    assert checked.task("user").status == "changed"
    assert checked.task("user").result["action"] == "created"
    assert checked.task("user").result["user"]["department"] == "Sales"
    assert "generated_password" not in checked.task("user").result
    assert get_user(graph, upn) is None
    assert writes(sandbox) == 0

    created = run_play([user_task(**spec)])
    assert created.task("user").status == "changed" and created.task("user").result["action"] == "created"
    user = get_user(graph, upn)
    assert user["displayName"] == "Alice Lifecycle" and user["mailNickname"] == "alice.lifecycle"
    assert user["department"] == "Sales" and user["usageLocation"] == "NO" and user["accountEnabled"] is True
    assert user["onPremisesExtensionAttributes"]["extensionAttribute1"] == "cc-1"
    assert created.task("user").result["user"]["id"] == user["id"]
    assert "Initial!Passw0rd" not in created.output and "Initial!Passw0rd" not in recorded(created)

    sandbox.reset_counters()
    again = run_play([user_task(**spec)])
    assert again.task("user").status == "ok" and again.task("user").result["action"] == "unchanged"
    assert writes(sandbox) == 0

    marketing = dict(spec)
    marketing["department"] = "Marketing"
    updated = run_play([user_task(**marketing)], diff=True)
    assert updated.task("user").status == "changed" and updated.task("user").result["action"] == "updated"
    assert updated.task("user").result["diff"] == {"before": {"department": "Sales"}, "after": {"department": "Marketing"}}
    assert get_user(graph, upn)["department"] == "Marketing"

    cleared = run_play([user_task(user_principal_name=upn, job_title="", business_phones=[])], diff=True)
    assert cleared.task("user").result["diff"] == {
        "before": {"job_title": "Rep", "business_phones": ["+47 555 0100"]},
        "after": {"job_title": None, "business_phones": []}}
    user = get_user(graph, upn)
    assert user["jobTitle"] is None and user["businessPhones"] == []
    assert user["department"] == "Marketing"  # left out, left alone

    deleted = run_play([user_task(user_principal_name=upn, state="absent")])
    assert deleted.task("user").status == "changed" and deleted.task("user").result["action"] == "deleted"
    assert get_user(graph, upn) is None
    assert user["id"] in deleted_user_ids(graph)

    restored = run_play([user_task(user_principal_name=upn, display_name="Alice Lifecycle", department="Finance")])
    assert restored.task("user").status == "changed" and restored.task("user").result["action"] == "restored"
    back = get_user(graph, upn)
    assert back["id"] == user["id"] and back["department"] == "Finance"
    assert user["id"] not in deleted_user_ids(graph)

    purged = run_play([user_task(user_principal_name=upn, state="absent", permanent=True)])
    assert purged.task("user").result["action"] == "deleted"
    assert get_user(graph, upn) is None and user["id"] not in deleted_user_ids(graph)

    sandbox.reset_counters()
    gone = run_play([user_task(user_principal_name=upn, state="absent", permanent=True)])
    assert gone.task("user").status == "ok" and gone.task("user").result["action"] == "unchanged"
    assert writes(sandbox) == 0


def test_generated_password_goes_to_the_password_file_once_and_never_to_output(graph, run_play, tmp_path):
    upn = "gen.password@contoso.com"
    password_file = tmp_path / "passwords.jsonl"
    task = user_task(user_principal_name=upn, display_name="Generated Password", password_file=str(password_file))
    play = run_play([task, dict(task, name="rerun"),
                     {"name": "no password in results", "ansible.builtin.assert": {
                         "that": ["out.action == 'unchanged'", "out.generated_password is not defined"]}}],
                    verbosity=4, diff=True)
    [line] = [json.loads(text) for text in password_file.read_text().splitlines()]
    assert (line["user_principal_name"], line["action"]) == (upn, "created")
    assert line["id"] == get_user(graph, upn)["id"] and password_problem(line["password"]) is None
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert line["password"] not in play.output
    assert line["password"] not in recorded(play)
    assert play.task("no password in results").status == "ok"
    # Not censored: the task's result is there to read.
    assert play.tasks[0].result["user"]["user_principal_name"] == upn
    assert "generated_password" not in play.tasks[0].result
    # password_file names a file, not a secret: Ansible must not warn that it lacks no_log.
    assert "did not set no_log" not in play.output


def test_a_generated_password_needs_a_password_file_and_nothing_is_written_without_one(graph, run_play, sandbox):
    sandbox.reset_counters()
    # m365_password_file "" switches off the password_file that conftest's module_defaults give aad_user.
    play = run_play([user_task(user_principal_name="no.file@contoso.com", display_name="No File")],
                    extra_vars={"m365_password_file": ""}, expect_failure=True)
    message = play.task("user").result["msg"]
    assert "no.file@contoso.com" in message and "set password_file" in message
    assert get_user(graph, "no.file@contoso.com") is None and writes(sandbox) == 0


def test_sandbox_refuses_a_weak_password(graph):
    # The rule the generated password is checked against above is enforced by the sandbox.
    with pytest.raises(GraphError) as raised:
        graph.post("/users", json={"accountEnabled": True, "displayName": "Weak", "mailNickname": "weak",
                                   "userPrincipalName": "weak@contoso.com",
                                   "passwordProfile": {"password": "password", "forceChangePasswordNextSignIn": True}})
    assert raised.value.status == 400 and "complexity" in raised.value.message


def test_update_password_on_create_and_always(run_play, sandbox):
    upn = "pw.owner@contoso.com"
    run_play([user_task(user_principal_name=upn, display_name="Password Owner", password="First!Passw0rd")])

    sandbox.reset_counters()
    kept = run_play([user_task(user_principal_name=upn, display_name="Password Owner", password="Second!Passw0rd")])
    assert kept.task("user").status == "ok" and kept.task("user").result["action"] == "unchanged"
    assert writes(sandbox) == 0

    sandbox.reset_counters()
    always = run_play([user_task(user_principal_name=upn, password="Third!Passw0rd", update_password="always",
                                 force_change_password_next_sign_in=False)], diff=True, verbosity=3)
    assert always.task("user").status == "changed" and always.task("user").result["action"] == "updated"
    assert always.task("user").result["diff"] == {"before": {"password": "<unchanged>"}, "after": {"password": "<changed>"}}
    assert writes(sandbox) == 1
    assert "Third!Passw0rd" not in always.output and "Third!Passw0rd" not in recorded(always)


BAD_INPUT = [
    (dict(user_principal_name="x@fabrikam.com"), ["user_principal_name", "not a verified domain", "contoso.com"]),
    (dict(user_principal_name="bad name@contoso.com"), ["user_principal_name", "A-Z a-z 0-9"]),
    (dict(user_principal_name="nick@contoso.com", mail_nickname="n" * 65), ["mail_nickname", "64"]),
    (dict(user_principal_name="uk@contoso.com", usage_location="UK"), ["usage_location", "ISO 3166", "did you mean GB?"]),
    (dict(user_principal_name="mgr@contoso.com", manager="nobody@contoso.com"), ["manager", "nobody@contoso.com"]),
    (dict(user_principal_name="weak@contoso.com", password="lowercaseonly"), ["password is too weak", "3 of"]),
]


@pytest.mark.parametrize("options, expected", BAD_INPUT, ids=[
    "unverified-domain", "invalid-characters", "long-mail-nickname", "usage-location", "unknown-manager",
    "weak-password"])
def test_bad_input_fails_before_any_write(graph, run_play, sandbox, options, expected):
    sandbox.reset_counters()
    failed = run_play([user_task(display_name="Bad Input", **options)], expect_failure=True)
    message = failed.task("user").result["msg"]
    for text in expected:
        assert text in message
    assert "lowercaseonly" not in failed.output
    assert writes(sandbox) == 0
    assert get_user(graph, options["user_principal_name"]) is None


def test_dynamic_group_is_refused_before_any_write(graph, run_play, sandbox):
    make_group(graph, "Sales Dynamic", dynamic=True)
    sandbox.reset_counters()
    failed = run_play([user_task(user_principal_name="dyn@contoso.com", display_name="Dyn",
                                 groups={"add": ["Sales Dynamic"]})], expect_failure=True)
    assert "dynamic membership group" in failed.task("user").result["msg"]
    assert writes(sandbox) == 0
    assert get_user(graph, "dyn@contoso.com") is None


def test_manager_and_groups(graph, run_play, sandbox):
    team = make_group(graph, "Carol Team")
    other = make_group(graph, "Carol Other")
    upn = "carol@contoso.com"
    spec = dict(user_principal_name=upn, display_name="Carol", manager=SEEDED_ADMIN, password="Carol!Passw0rd",
                groups={"add": ["Carol Team", other["id"]]})
    created = run_play([user_task(**spec)])
    carol = get_user(graph, upn)
    assert created.task("user").result["user"]["manager"] == SEEDED_ADMIN
    assert manager_of(graph, carol["id"]) == SEEDED_ADMIN
    assert carol["id"] in member_ids(graph, team["id"]) and carol["id"] in member_ids(graph, other["id"])

    sandbox.reset_counters()
    again = run_play([user_task(**spec)])
    assert again.task("user").result["action"] == "unchanged" and writes(sandbox) == 0

    changed = run_play([user_task(user_principal_name=upn, manager="", groups={"set": ["Carol Team"]})], diff=True)
    assert changed.task("user").result["diff"] == {
        "before": {"manager": SEEDED_ADMIN, "groups": ["Carol Other", "Carol Team"]},
        "after": {"manager": None, "groups": ["Carol Team"]}}
    assert manager_of(graph, carol["id"]) is None
    assert carol["id"] in member_ids(graph, team["id"]) and carol["id"] not in member_ids(graph, other["id"])


def test_small_list_form_reports_each_item(graph, run_play):
    play = run_play([user_task(usage_location="DE", users=[
        {"user_principal_name": "list.one@contoso.com", "display_name": "List One", "password": "List!Passw0rd1"},
        {"user_principal_name": "list.two@contoso.com", "display_name": "List Two", "usage_location": "FR",
         "password": "List!Passw0rd2", "manager": "list.one@contoso.com"},
        {"user_principal_name": "list.bad@contoso.com", "display_name": "List Bad", "usage_location": "XX"},
    ])], expect_failure=True)
    result = play.task("user").result
    assert [r["action"] for r in result["results"]] == ["created", "created", "failed"]
    assert result["summary"]["created"] == 2 and result["summary"]["failed"] == 1
    assert "list.bad@contoso.com" in result["msg"] and "usage_location" in result["msg"]
    assert get_user(graph, "list.one@contoso.com")["usageLocation"] == "DE"   # top-level default
    two = get_user(graph, "list.two@contoso.com")
    assert two["usageLocation"] == "FR" and manager_of(graph, two["id"]) == "list.one@contoso.com"
    assert get_user(graph, "list.bad@contoso.com") is None


def test_a_no_op_reads_the_managers_of_300_users_in_one_request(graph, run_play, sandbox, tmp_path):
    """Managers come with the users ($filter=id in (15 ids) and $expand=manager, 20 filters to a $batch):
    320 managed users cost ceil(320/300) = 2 requests, where one GET per user cost 320 (16 batches)."""
    managed = 320
    items = [{"user_principal_name": "mboss@contoso.com", "display_name": "Manager Boss", "manager": ""}]
    items += [{"user_principal_name": "mreport%03d@contoso.com" % n, "display_name": "Report %d" % n,
               "manager": "mboss@contoso.com" if n % 2 else SEEDED_ADMIN} for n in range(managed - 1)]
    task = {"name": "users", "register": "out",
            "m365.cloud_identity.aad_user": {"usage_location": "US", "users": items,
                                             "password_file": str(tmp_path / "passwords.jsonl")}}
    assert run_play([task]).task("users").result["summary"]["created"] == managed
    report = get_user(graph, "mreport001@contoso.com")
    assert manager_of(graph, report["id"]) == "mboss@contoso.com"

    sandbox.reset_counters()
    again = run_play([task]).task("users").result
    http = sandbox.counters()["http"]
    assert again["summary"]["unchanged"] == managed
    assert http["write"] == 0
    assert "GET /v1.0/users/{id}/manager" not in http["by_route"], http["by_route"]
    assert http["by_route"].get("POST /v1.0/$batch") == 2, http["by_route"]
    assert http["by_module"] == {"aad_user": http["total"]}

    # A manager changed behind Ansible's back shows, with its name, in a check-mode diff.
    graph.request("PUT", "/users/%s/manager/$ref" % report["id"],
                  json={"@odata.id": "%s/directoryObjects/%s" % (graph.base_url, get_user(graph, SEEDED_ADMIN)["id"])})
    drift = run_play([task], check=True, diff=True).task("users").result
    changed = [r for r in drift["results"] if r["action"] == "updated"]
    assert [r["key"] for r in changed] == ["mreport001@contoso.com"]
    assert changed[0]["diff"] == {"before": {"manager": SEEDED_ADMIN}, "after": {"manager": "mboss@contoso.com"}}
