"""`make demo`'s playbook against a fresh sandbox: builds the example, then changes nothing, never leaks a secret."""

from __future__ import annotations

import json
import re

import yaml


def every_secret(conn):
    """All client secrets the sandbox handed out."""
    secrets = {conn["client_secret"]}
    secrets.update(app["client_secret"] for app in conn.get("apps", []) if app.get("client_secret"))
    return secrets


def test_demo_builds_the_example_then_changes_nothing_and_never_shows_a_secret(run_playbook, graph, sandbox, tmp_path):
    export_path = tmp_path / "export.yml"
    password_file = tmp_path / "passwords.jsonl"
    demo_vars = {"m365_demo_export_path": str(export_path), "m365_tenant_password_file": str(password_file)}
    play = run_playbook("playbooks/demo.yml", verbosity=3, extra_vars=demo_vars)

    first = play.task("Keep the first run's summary").result["ansible_facts"]["demo_first_run"]
    assert first["counts"]["groups"]["created"] == 11
    assert first["counts"]["users"]["created"] == 60
    assert first["counts"]["guests"]["invited"] == 2
    assert first["failures"] == [] and first["changed"]
    second = play.task("Keep the second run's summary").result["ansible_facts"]["demo_second_run"]
    assert not second["changed"] and second["counts"]["users"]["unchanged"] == 60
    assert "Second run: nothing changed" in play.stdout
    assert "Export re-applied: nothing changed" in play.stdout

    # The new accounts got generated passwords: each reached the password file once (mode 0600), none is
    # in the output (which is not censored: no no_log) or the export, and neither is any client secret.
    users_task = [task for task in play.tasks if task.name.endswith("Users | create, update or restore the spec's users")]
    assert len(users_task) == 3 and not any("censored" in task.result for task in users_task)
    assert password_file.stat().st_mode & 0o777 == 0o600
    passwords = [json.loads(line)["password"] for line in password_file.read_text().splitlines()]
    assert len(passwords) == 60 and len(set(passwords)) == 60
    for secret in every_secret(sandbox.conn) | set(passwords):
        assert secret not in play.output
        assert secret not in export_path.read_text()
    assert "generated_password" not in play.output and "password" not in export_path.read_text()

    # The tenant holds the company, checked through Graph.
    staff = [u for u in graph.list("/users", select=["companyName"]) if u.get("companyName") == "Contoso Ltd"]
    assert len(staff) == 60
    exported = yaml.safe_load(export_path.read_text())["m365_tenant"]
    assert len([u for u in exported["users"] if u.get("company_name") == "Contoso Ltd"]) == 60

    # Running the whole demo again writes nothing at all.
    sandbox.reset_counters()
    again = run_playbook("playbooks/demo.yml", extra_vars=demo_vars)
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", again.stdout)
    assert sandbox.counters()["operations"]["write"] == 0
