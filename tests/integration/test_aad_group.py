"""aad_group and aad_group_info through ansible-playbook against the Graph sandbox.

State is asserted through Graph (the `graph` fixture), never through the sandbox's database.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphClient, quote_key

ROOT = Path(__file__).resolve().parents[2]
SALES_RULE = '(user.department -eq "Sales") -and (user.accountEnabled -eq true)'

# A stdout callback that records every task result as JSON (used until the shared run_play lands).
RECORDER = textwrap.dedent('''
    import json, os
    from ansible.plugins.callback import CallbackBase

    class CallbackModule(CallbackBase):
        CALLBACK_VERSION = 2.0
        CALLBACK_TYPE = "stdout"
        CALLBACK_NAME = "group_test_recorder"

        def __init__(self):
            super().__init__()
            self.tasks = []

        def _record(self, result, status):
            data = dict(result._result)
            if status == "ok" and data.get("changed"):
                status = "changed"
            self.tasks.append({"name": result._task.get_name(), "status": status, "result": data})

        def v2_runner_on_ok(self, result):
            self._record(result, "ok")

        def v2_runner_on_failed(self, result, ignore_errors=False):
            self._record(result, "failed")

        def v2_runner_on_skipped(self, result):
            self._record(result, "skipped")

        def v2_playbook_on_stats(self, stats):
            with open(os.environ["GROUP_TEST_RESULTS"], "w") as handle:
                json.dump(self.tasks, handle, default=str)
''')


class PlayResult:
    def __init__(self, rc, stdout, tasks):
        self.rc = rc
        self.stdout = stdout
        self.tasks = tasks

    def __getitem__(self, index):
        return self.tasks[index]


@pytest.fixture(scope="module")
def graph(sandbox):
    conn = sandbox.conn
    client = GraphClient(conn["tenant_id"], conn["client_id"], client_secret=conn["client_secret"],
                         authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                         ca_path=conn["ca_path"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def run_play(sandbox, tmp_path_factory):
    work = tmp_path_factory.mktemp("plays")
    (work / "callbacks").mkdir()
    (work / "callbacks" / "group_test_recorder.py").write_text(RECORDER)
    conn = dict((k, sandbox.conn[k]) for k in ("tenant_id", "client_id", "client_secret", "authority_host",
                                                 "graph_endpoint", "ca_path"))
    counter = {"n": 0}

    def run(tasks, check=False, diff=False, expect_failure=False):
        counter["n"] += 1
        play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "module_defaults": {"group/m365.cloud_identity.graph": conn}, "tasks": tasks}]
        playbook = work / ("play%d.yml" % counter["n"])
        playbook.write_text(yaml.safe_dump(play))
        results = work / ("results%d.json" % counter["n"])
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
                   ANSIBLE_CALLBACK_PLUGINS=str(work / "callbacks"), ANSIBLE_STDOUT_CALLBACK="group_test_recorder",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, GROUP_TEST_RESULTS=str(results),
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook), "-i", "localhost,"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        tasks = json.loads(results.read_text()) if results.exists() else []
        failed = proc.returncode != 0
        assert failed == expect_failure, "rc=%s\n%s\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr, tasks)
        return PlayResult(proc.returncode, proc.stdout, tasks)

    return run


# ---------------------------------------------------------------------------------------------------
# helpers reading the tenant through Graph

def find_groups(graph, display_name):
    return graph.list("/groups", select="id,displayName,uniqueName,description,groupTypes,visibility,"
                      "membershipRule,membershipRuleProcessingState",
                      filter="displayName eq '%s'" % display_name.replace("'", "''"))


def one_group(graph, display_name):
    groups = find_groups(graph, display_name)
    assert len(groups) == 1, groups
    return groups[0]


def member_names(graph, group_id, relation="members"):
    objects = graph.list("/groups/%s/%s" % (group_id, relation), select="id,userPrincipalName,displayName,uniqueName")
    return sorted(o.get("userPrincipalName") or o.get("uniqueName") or o["displayName"] for o in objects)


def deleted_group_ids(graph):
    return [g["id"] for g in graph.list("/directory/deletedItems/microsoft.graph.group", select="id")]


def make_user(graph, alias, department="Engineering", enabled=True):
    return graph.post("/users", json={
        "accountEnabled": enabled, "displayName": alias.title(), "mailNickname": alias, "department": department,
        "userPrincipalName": "%s@contoso.com" % alias,
        "passwordProfile": {"password": "Str0ng!Passw0rd-%s" % alias, "forceChangePasswordNextSignIn": True}})


def group_task(**options):
    return {"name": "group", "m365.cloud_identity.aad_group": options, "register": "out"}


# ---------------------------------------------------------------------------------------------------
# each kind: check-mode create, create, rerun, update, delete

def test_security_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="Finance Team", unique_name="finance-team", description="Finance",
                members={"add": ["ada.admin@contoso.com"]}, owners={"add": ["ada.admin@contoso.com"]})
    sandbox.reset_counters()
    checked = run_play([group_task(**spec)], check=True)
    assert checked[0]["status"] == "changed"
    assert checked[0]["result"]["action"] == "created"
    assert checked[0]["result"]["members_added"] == ["ada.admin@contoso.com"]
    assert find_groups(graph, "Finance Team") == []
    assert sandbox.counters()["http"]["write"] == 0

    created = run_play([group_task(**spec)])
    assert created[0]["status"] == "changed"
    group = one_group(graph, "Finance Team")
    assert group["uniqueName"] == "finance-team" and group["groupTypes"] == []
    assert member_names(graph, group["id"]) == ["ada.admin@contoso.com"]
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]
    assert created[0]["result"]["group"]["id"] == group["id"]

    sandbox.reset_counters()
    again = run_play([group_task(**spec)])
    assert again[0]["status"] == "ok" and again[0]["result"]["action"] == "unchanged"
    assert sandbox.counters()["http"]["write"] == 0

    updated = run_play([group_task(**dict(spec, description="Finance and controlling"))], diff=True)
    assert updated[0]["status"] == "changed"
    assert updated[0]["result"]["diff"] == {"before": {"description": "Finance"},
                                            "after": {"description": "Finance and controlling"}}
    assert one_group(graph, "Finance Team")["description"] == "Finance and controlling"

    refused = run_play([group_task(unique_name="finance-team", state="absent")], expect_failure=True)
    assert "has members" in refused[0]["result"]["msg"] and "force: true" in refused[0]["result"]["msg"]
    assert len(find_groups(graph, "Finance Team")) == 1

    deleted = run_play([group_task(unique_name="finance-team", state="absent", force=True)])
    assert deleted[0]["result"]["action"] == "deleted"
    assert find_groups(graph, "Finance Team") == []
    assert group["id"] not in deleted_group_ids(graph)   # security groups are gone for good
    gone = run_play([group_task(unique_name="finance-team", state="absent")])
    assert gone[0]["status"] == "ok"


def test_microsoft365_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="Project Falcon", group_type="microsoft365", visibility="Private",
                owners={"add": ["ada.admin@contoso.com"]})
    run_play([group_task(**spec)], check=True)
    assert find_groups(graph, "Project Falcon") == []

    created = run_play([group_task(**spec)])
    assert created[0]["result"]["group"]["group_type"] == "microsoft365"
    group = one_group(graph, "Project Falcon")
    assert group["groupTypes"] == ["Unified"] and group["visibility"] == "Private"
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]

    sandbox.reset_counters()
    assert run_play([group_task(**spec)])[0]["status"] == "ok"
    assert sandbox.counters()["http"]["write"] == 0

    run_play([group_task(**dict(spec, visibility="Public", description="Falcon"))])
    group = one_group(graph, "Project Falcon")
    assert (group["visibility"], group["description"]) == ("Public", "Falcon")

    run_play([group_task(display_name="Project Falcon", state="absent")])
    assert find_groups(graph, "Project Falcon") == []
    assert group["id"] in deleted_group_ids(graph)     # soft-deleted

    restored = run_play([group_task(display_name="Project Falcon", group_type="microsoft365")])
    assert restored[0]["result"]["action"] == "restored"
    assert one_group(graph, "Project Falcon")["id"] == group["id"]
    assert member_names(graph, group["id"], "owners") == ["ada.admin@contoso.com"]

    run_play([group_task(display_name="Project Falcon", state="absent", permanent=True)])
    assert group["id"] not in deleted_group_ids(graph)


def test_dynamic_group_lifecycle(graph, run_play, sandbox):
    spec = dict(display_name="All Sales", membership_rule=SALES_RULE)
    checked = run_play([group_task(**spec)], check=True)
    preview = checked[0]["result"]["membership_preview"]
    assert find_groups(graph, "All Sales") == []

    run_play([group_task(**spec)])
    group = one_group(graph, "All Sales")
    assert group["groupTypes"] == ["DynamicMembership"]
    assert group["membershipRuleProcessingState"] == "On"
    members = member_names(graph, group["id"])
    expected = sorted(u["userPrincipalName"] for u in graph.list(
        "/users", select="userPrincipalName,department,accountEnabled")
        if u.get("department") == "Sales" and u.get("accountEnabled"))
    assert members == expected and len(expected) >= 2
    assert preview == {"count": len(members), "users": members, "truncated": False}

    sandbox.reset_counters()
    assert run_play([group_task(**spec)])[0]["status"] == "ok"
    assert sandbox.counters()["http"]["write"] == 0

    # Changing a user's department moves them in or out.
    eli = graph.get("/users/%s" % quote_key("eli.engineer@contoso.com"))
    graph.patch("/users/%s" % eli["id"], json={"department": "Sales"})
    assert "eli.engineer@contoso.com" in member_names(graph, group["id"])
    graph.patch("/users/%s" % eli["id"], json={"department": "Engineering"})
    assert "eli.engineer@contoso.com" not in member_names(graph, group["id"])

    # Paused keeps the membership computed last.
    run_play([group_task(display_name="All Sales", membership_rule_processing_state="Paused")])
    assert one_group(graph, "All Sales")["membershipRuleProcessingState"] == "Paused"
    graph.patch("/users/%s" % eli["id"], json={"department": "Sales"})
    assert member_names(graph, group["id"]) == members
    graph.patch("/users/%s" % eli["id"], json={"department": "Engineering"})

    refused = run_play([group_task(display_name="All Sales", members={"add": ["eli.engineer@contoso.com"]})],
                       expect_failure=True)
    assert "dynamic membership" in refused[0]["result"]["msg"]

    new_rule = 'user.department -in ["Sales", "Marketing"]'
    changed = run_play([group_task(display_name="All Sales", membership_rule=new_rule,
                                   membership_rule_processing_state="On")])
    assert changed[0]["status"] == "changed"
    assert one_group(graph, "All Sales")["membershipRule"] == new_rule
    assert "mia.marketing@contoso.com" in member_names(graph, group["id"])

    run_play([group_task(display_name="All Sales", state="absent", force=True)])
    assert find_groups(graph, "All Sales") == []


@pytest.mark.parametrize("rule, problem", [
    ('(user.department -eq "Sales"', "Unbalanced parentheses"),
    ('user.departmnt -eq "Sales"', "departmnt"),
    ('user.department -contians "Sales"', "-contians"),
])
def test_invalid_rule_fails_naming_the_problem_and_writes_nothing(graph, run_play, sandbox, rule, problem):
    sandbox.reset_counters()
    failed = run_play([group_task(display_name="Broken Rule", membership_rule=rule)], expect_failure=True)
    message = failed[0]["result"]["msg"]
    assert "membership_rule is invalid at position" in message and problem in message
    assert sandbox.counters()["http"]["write"] == 0
    assert find_groups(graph, "Broken Rule") == []


# ---------------------------------------------------------------------------------------------------
# members and owners

def test_members_add_remove_set_and_nested_groups(graph, run_play):
    run_play([group_task(display_name="Inner", unique_name="inner", members={"add": ["mia.marketing@contoso.com"]}),
              group_task(display_name="Outer", members={"add": ["ada.admin@contoso.com", "inner"]})])
    outer = one_group(graph, "Outer")
    assert member_names(graph, outer["id"]) == ["ada.admin@contoso.com", "inner"]
    transitive = graph.list("/groups/%s/transitiveMembers" % outer["id"], select="id,userPrincipalName")
    assert "mia.marketing@contoso.com" in [t.get("userPrincipalName") for t in transitive]

    removed = run_play([group_task(display_name="Outer", members={"remove": ["inner", "sid.sales@contoso.com"]})],
                       diff=True)
    assert removed[0]["result"]["members_removed"] == ["inner"]
    assert removed[0]["result"]["diff"]["before"]["members"] == ["ada.admin@contoso.com", "inner"]
    assert removed[0]["result"]["diff"]["after"]["members"] == ["ada.admin@contoso.com"]
    assert member_names(graph, outer["id"]) == ["ada.admin@contoso.com"]

    exact = ["sam.seller@contoso.com", "Inner", "sofia.sales@contoso.com"]
    result = run_play([group_task(display_name="Outer", members={"set": exact})])
    assert result[0]["result"]["members_added"] == ["inner", "sam.seller@contoso.com", "sofia.sales@contoso.com"]
    assert result[0]["result"]["members_removed"] == ["ada.admin@contoso.com"]
    assert member_names(graph, outer["id"]) == ["inner", "sam.seller@contoso.com", "sofia.sales@contoso.com"]
    assert run_play([group_task(display_name="Outer", members={"set": exact})])[0]["status"] == "ok"

    missing = run_play([group_task(display_name="Outer", members={"add": ["nobody@contoso.com"]})],
                       expect_failure=True)
    assert "nobody@contoso.com" in missing[0]["result"]["msg"]


def test_1200_members_in_one_task_with_at_most_5_writes(graph, run_play, sandbox):
    requests = [{"method": "POST", "url": "/users", "body": {
        "accountEnabled": True, "displayName": "Bulk %04d" % n, "mailNickname": "bulk%04d" % n,
        "userPrincipalName": "bulk%04d@contoso.com" % n,
        "passwordProfile": {"password": "Bulk!Passw0rd%04d" % n, "forceChangePasswordNextSignIn": True}}}
        for n in range(1200)]
    assert all(r.ok for r in graph.batch(requests))
    upns = ["bulk%04d@contoso.com" % n for n in range(1200)]

    sandbox.reset_counters()
    created = run_play([group_task(display_name="Everyone Bulk", members={"set": upns})])
    writes = sandbox.counters()["http"]["write"]
    assert created[0]["status"] == "changed"
    assert writes <= 5, writes
    group = one_group(graph, "Everyone Bulk")
    assert member_names(graph, group["id"]) == upns

    sandbox.reset_counters()
    again = run_play([group_task(display_name="Everyone Bulk", members={"set": upns})])
    assert again[0]["status"] == "ok"
    assert sandbox.counters()["http"]["write"] == 0
    print("1,200 members: %d write HTTP calls on create, 0 on rerun" % writes)


def test_last_owner_of_microsoft365_group_is_refused(graph, run_play, sandbox):
    run_play([group_task(display_name="Owned", group_type="microsoft365", owners={"add": ["ada.admin@contoso.com"]})])
    sandbox.reset_counters()
    failed = run_play([group_task(display_name="Owned", owners={"remove": ["ada.admin@contoso.com"]})],
                      expect_failure=True)
    assert "last owner" in failed[0]["result"]["msg"]
    assert sandbox.counters()["http"]["write"] == 0
    replaced = run_play([group_task(display_name="Owned", owners={"set": ["sam.seller@contoso.com"]})])
    assert replaced[0]["result"]["owners_added"] == ["sam.seller@contoso.com"]
    assert member_names(graph, one_group(graph, "Owned")["id"], "owners") == ["sam.seller@contoso.com"]


# ---------------------------------------------------------------------------------------------------
# keys, create-only options, bulk, info

def test_same_display_name_twice_is_a_clear_error(graph, run_play):
    ids = [graph.post("/groups", json={"displayName": "Twins", "mailNickname": "twins%d" % n, "mailEnabled": False,
                                       "securityEnabled": True})["id"] for n in range(2)]
    failed = run_play([group_task(display_name="Twins", description="x")], expect_failure=True)
    message = failed[0]["result"]["msg"]
    assert all(i in message for i in ids) and "unique_name or id" in message


def test_create_only_options_fail_clearly(graph, run_play):
    run_play([group_task(display_name="Fixed", unique_name="fixed")])
    failed = run_play([group_task(unique_name="fixed", is_assignable_to_role=True)], expect_failure=True)
    assert "is_assignable_to_role is set at creation only" in failed[0]["result"]["msg"]
    failed = run_play([group_task(unique_name="fixed", group_type="microsoft365")], expect_failure=True)
    assert "group_type cannot change" in failed[0]["result"]["msg"]
    assert one_group(graph, "Fixed")["groupTypes"] == []


def test_bulk_groups_one_read_batched_writes_per_item_results(graph, run_play, sandbox):
    sandbox.reset_counters()
    result = run_play([{"name": "bulk", "m365.cloud_identity.aad_group": {"groups": [
        {"display_name": "Bulk Child", "unique_name": "bulk-child", "members": {"add": ["eli.engineer@contoso.com"]}},
        {"display_name": "Bulk Parent", "members": {"add": ["bulk-child", "ada.admin@contoso.com"]}},
        {"display_name": "Bad Nick", "mail_nickname": "bad nick"},
    ]}}], expect_failure=True)
    out = result[0]["result"]
    assert [r["action"] for r in out["results"]] == ["created", "created", "failed"]
    assert out["summary"]["created"] == 2 and out["summary"]["failed"] == 1
    assert "mail_nickname" in out["msg"]
    counters = sandbox.counters()["http"]
    assert counters["by_route"].get("GET /v1.0/groups") == 1
    assert counters["write"] <= 2
    parent = one_group(graph, "Bulk Parent")
    assert member_names(graph, parent["id"]) == ["ada.admin@contoso.com", "bulk-child"]


def test_info_output_feeds_back_unchanged(graph, run_play):
    run_play([group_task(display_name="Exported", unique_name="exported", description="Export me",
                         members={"add": ["ada.admin@contoso.com"]}, owners={"add": ["sam.seller@contoso.com"]})])
    info = run_play([{"name": "info", "m365.cloud_identity.aad_group_info": {
        "unique_name": "exported", "include": ["members", "owners"]}, "register": "info"}])
    group = info[0]["result"]["group"]
    assert group["members"] == {"set": ["ada.admin@contoso.com"]}
    assert group["owners"] == {"set": ["sam.seller@contoso.com"]}
    assert group["description"] == "Export me"
    again = run_play([group_task(**group)])
    assert again[0]["status"] == "ok"
