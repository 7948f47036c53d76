"""`make demo`'s playbook against a fresh sandbox: creates, then changes nothing, never leaks a secret."""

from __future__ import annotations

import re

WRITING_TASKS = ("Create the user Adele Vance", "Create the security group Demo Team with Adele as a member")
DEMO_UPN = "adele.vance@contoso.onmicrosoft.com"


def every_secret(conn):
    """All client secrets the sandbox handed out."""
    secrets = {conn["client_secret"]}
    secrets.update(app["client_secret"] for app in conn.get("apps", []) if app.get("client_secret"))
    return secrets


def test_demo_creates_then_changes_nothing_and_never_shows_a_secret(run_playbook, graph, sandbox):
    first = run_playbook("playbooks/demo.yml", verbosity=3)
    assert [first.task(name).status for name in WRITING_TASKS] == ["changed", "changed"]
    # The user task creates the account with a generated password; its result is censored.
    assert "censored" in first.task(WRITING_TASKS[0]).result
    for secret in every_secret(sandbox.conn):
        assert secret not in first.output
    assert "generated_password" not in first.output

    user = graph.get("/users/" + DEMO_UPN)
    groups = graph.list("/groups", filter="uniqueName eq 'demo-team'", select=["id", "displayName"])
    assert len(groups) == 1
    members = graph.list("/groups/%s/members" % groups[0]["id"], select=["id"])
    assert [member["id"] for member in members] == [user["id"]]

    second = run_playbook("playbooks/demo.yml")
    assert [second.task(name).status for name in WRITING_TASKS] == ["ok", "ok"]
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", second.stdout)
    assert "Everything was already in place" in second.stdout
