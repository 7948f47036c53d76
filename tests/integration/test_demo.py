"""`make demo`'s playbook against a fresh sandbox: creates, then changes nothing, never leaks a secret."""

from __future__ import annotations

import json
import re

WRITING_TASKS = (
    "Create the member accounts",
    "Create the security group Retail Team with Adele as a member",
    "Create a dynamic group of everyone enabled in Sales",
    "Create the Microsoft 365 group Project Falcon",
    "Give Adele Microsoft 365 E3 without Exchange and Sway",
    "License everyone in the dynamic Sales group with Enterprise Mobility + Security E5",
    "Invite a partner as a B2B guest",
)
DOMAIN = "contoso.onmicrosoft.com"
ADELE, MEGAN, ALEX = ("%s@%s" % (alias, DOMAIN) for alias in ("adele.vance", "megan.bowen", "alex.wilber"))


def every_secret(conn):
    """All client secrets the sandbox handed out."""
    secrets = {conn["client_secret"]}
    secrets.update(app["client_secret"] for app in conn.get("apps", []) if app.get("client_secret"))
    return secrets


def test_demo_creates_then_changes_nothing_and_never_shows_a_secret(run_playbook, graph, sandbox, tmp_path):
    password_file = tmp_path / "demo-passwords.jsonl"
    first = run_playbook("playbooks/demo.yml", verbosity=3, extra_vars={"m365_password_file": str(password_file)})
    assert [first.task(name).status for name in WRITING_TASKS] == ["changed"] * len(WRITING_TASKS)
    # The accounts get generated passwords: in the password file only, the task's result stays visible.
    assert "censored" not in first.task(WRITING_TASKS[0]).result
    generated = [json.loads(line) for line in password_file.read_text().splitlines()]
    assert sorted(line["user_principal_name"] for line in generated) == sorted([ADELE, MEGAN, ALEX])
    for secret in every_secret(sandbox.conn) | set(line["password"] for line in generated):
        assert secret not in first.output

    users = {upn: graph.get("/users/" + upn, params={"$select": "id,department,usageLocation"}) for upn in (ADELE, MEGAN, ALEX)}
    assert {upn: user["department"] for upn, user in users.items()} == {ADELE: "Retail", MEGAN: "Sales", ALEX: "Sales"}

    def group(unique_name):
        return graph.get("/groups(uniqueName='%s')" % unique_name, params={"$select": "id,groupTypes,membershipRule"})

    def member_ids(group_id):
        return {member["id"] for member in graph.list("/groups/%s/members" % group_id, select=["id"])}

    retail, sales, falcon = group("demo-retail-team"), group("demo-sales-dynamic"), group("demo-project-falcon")
    assert member_ids(retail["id"]) == {users[ADELE]["id"]}
    assert "DynamicMembership" in sales["groupTypes"]
    enabled_sales = {u["id"] for u in graph.list("/users", select=["id", "department", "accountEnabled"])
                     if u["department"] == "Sales" and u["accountEnabled"]}
    assert member_ids(sales["id"]) == enabled_sales and {users[MEGAN]["id"], users[ALEX]["id"]} <= enabled_sales
    assert falcon["groupTypes"] == ["Unified"]
    assert member_ids(falcon["id"]) == {users[u]["id"] for u in (ADELE, MEGAN, ALEX)}

    adele = graph.get("/users/" + ADELE, params={"$select": "licenseAssignmentStates"})
    direct = [s for s in adele["licenseAssignmentStates"] if s["assignedByGroup"] is None]
    assert len(direct) == 1 and len(direct[0]["disabledPlans"]) == 2
    megan = graph.get("/users/" + MEGAN, params={"$select": "licenseAssignmentStates"})
    assert [s["assignedByGroup"] for s in megan["licenseAssignmentStates"]] == [sales["id"]]

    guests = graph.list("/users", filter="userType eq 'Guest'", select=["mail", "externalUserState"])
    assert [g["mail"] for g in guests] == ["pat.partner@fabrikam.com"]

    sandbox.reset_counters()
    second = run_playbook("playbooks/demo.yml", extra_vars={"m365_password_file": str(password_file)})
    assert [second.task(name).status for name in WRITING_TASKS] == ["ok"] * len(WRITING_TASKS)
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", second.stdout)
    assert "Everything was already in place" in second.stdout
    assert len(password_file.read_text().splitlines()) == 3  # nothing set, nothing appended
    assert sandbox.counters()["operations"]["write"] == 0
