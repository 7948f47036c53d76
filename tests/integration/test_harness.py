"""The integration harness itself: plays run, results and diffs come back, failures surface."""

from __future__ import annotations


def test_tasks_report_status_and_registered_result(run_play, tmp_path):
    target = tmp_path / "note.txt"
    play = run_play([
        {"name": "say hello", "ansible.builtin.debug": {"msg": "hello"}},
        {"name": "write a file", "ansible.builtin.copy": {"content": "one\n", "dest": str(target), "mode": "0600"}},
        {"name": "never runs", "ansible.builtin.debug": {"msg": "x"}, "when": False},
    ])
    assert [(task.name, task.status) for task in play.tasks] == [
        ("say hello", "ok"), ("write a file", "changed"), ("never runs", "skipped")]
    assert play.task("say hello").result["msg"] == "hello"
    assert play.changed() == ["write a file"]
    assert target.read_text() == "one\n"


def test_diff_and_check_mode_are_passed_through(run_play, tmp_path):
    target = tmp_path / "note.txt"
    target.write_text("one\n")
    task = {"name": "change the file", "ansible.builtin.copy": {"content": "two\n", "dest": str(target), "mode": "0600"}}

    play = run_play([task], check=True, diff=True)
    diff = play.task("change the file").result["diff"]
    assert diff[0]["before"] == "one\n" and diff[0]["after"] == "two\n"
    assert target.read_text() == "one\n", "check mode wrote the file"


def test_a_failing_play_is_reported_with_its_message(run_play):
    play = run_play([{"name": "fail on purpose", "ansible.builtin.fail": {"msg": "stop here"}}], expect_failure=True)
    assert play.rc == 2
    assert play.task("fail on purpose").status == "failed"
    assert play.task("fail on purpose").result["msg"] == "stop here"
    assert "stop here" in play.stdout


def test_module_defaults_connect_modules_to_the_sandbox(run_play, graph, sandbox):
    play = run_play([{
        "name": "read a seeded user",
        "m365.cloud_identity.aad_user_info": {"user_principal_name": "ada.admin@contoso.com"},
    }], verbosity=3)
    users = play.task("read a seeded user").result["users"]
    expected = graph.get("/users/ada.admin@contoso.com")
    assert [user["id"] for user in users] == [expected["id"]]
    assert sandbox.conn["client_secret"] not in play.output


def test_a_wrong_secret_fails_the_task_with_a_message_not_a_traceback(run_play):
    wrong_secret = "not-the-secret-0123456789"
    play = run_play([{
        "name": "read with a wrong secret",
        "m365.cloud_identity.aad_user_info": {"user_principal_name": "ada.admin@contoso.com",
                                              "client_secret": wrong_secret},
    }], verbosity=3, expect_failure=True)
    task = play.task("read with a wrong secret")
    assert task.status == "failed"
    assert "AADSTS" in task.result["msg"]
    assert "Traceback" not in play.output
    assert wrong_secret not in play.output


def test_a_missing_permission_fails_before_the_write_and_names_what_to_grant(run_play, sandbox, graph):
    reader = sandbox.app("m365-reader")
    sandbox.reset_counters()
    play = run_play([{
        "name": "create as the read-only app",
        "m365.cloud_identity.aad_user": {"user_principal_name": "no.rights@contoso.com", "display_name": "No Rights",
                                         "password": "No!Rights2026",
                                         "client_id": reader["client_id"], "client_secret": reader["client_secret"]},
    }], expect_failure=True)
    result = play.task("create as the read-only app").result
    # The token's roles lack every permission that allows the create: refused before it is sent (issue 11),
    # naming the least-privileged permission instead of "the permissions the documentation lists".
    assert (result["status"], result["code"]) == (403, "MissingPermission")
    assert result["msg"].startswith("Not sent: To create, update or delete a user the app registration needs")
    assert "application permission User.ReadWrite.All" in result["msg"]
    assert "(the token holds: Domain.Read.All, Group.Read.All, Organization.Read.All, User.Read.All)" in result["msg"]
    assert sandbox.counters()["http"]["write"] == 0
    assert graph.list("/users", filter="userPrincipalName eq 'no.rights@contoso.com'", select=["id"]) == []
