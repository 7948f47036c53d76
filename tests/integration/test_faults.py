"""The modules converge when Graph throttles, fails over, drops connections or lags behind its writes."""

from __future__ import annotations

COUNT = 60


def people(prefix):
    return [{"user_principal_name": "%s%02d@contoso.com" % (prefix, n), "display_name": "%s %02d" % (prefix, n),
             "department": "Faults"} for n in range(COUNT)]


def users_task(users, password_file):
    """New users get generated passwords, which go to password_file (results never hold them)."""
    return {"name": "users", "register": "out",
            "m365.cloud_identity.aad_user": {"users": users, "password_file": str(password_file)}}


def summary_of(play):
    return play.task("summary").result["msg"]


def tasks(users, password_file):
    return [users_task(users, password_file), {"name": "summary", "ansible.builtin.debug": {"msg": "{{ out.summary }}"}}]


def department_count(graph, prefix):
    found = graph.list("/users", filter="startswith(userPrincipalName,'%s')" % prefix, select=["id", "department"])
    return sum(1 for user in found if user["department"] == "Faults")


def test_bulk_users_converge_through_injected_429_503_and_dropped_reads(run_play, graph, sandbox, tmp_path):
    # A fixed sequence, so the test is the same on every run: the first Graph requests of the play fail.
    sandbox.configure(faults={"sequence": [429, 503, "drop", 429, 503], "retry_after": 0.2})
    play = run_play(tasks(people("fault"), tmp_path / "pw.jsonl"))
    assert summary_of(play)["created"] == COUNT and summary_of(play)["failed"] == 0
    assert sandbox.counters()["http"]["by_status"].get("429", 0) >= 2
    assert department_count(graph, "fault") == COUNT

    rerun = run_play(tasks(people("fault"), tmp_path / "pw.jsonl"))
    assert summary_of(rerun)["unchanged"] == COUNT


def test_bulk_users_converge_under_throttling_of_batch_items(run_play, graph, sandbox, tmp_path):
    # A budget small enough that items inside $batch answers come back 429 and are re-sent.
    sandbox.configure(faults={"sequence": []}, throttling={"enabled": True, "ru_per_10s": 40, "writes_per_150s": 3000})
    sandbox.reset_counters()
    play = run_play(tasks(people("throttled"), tmp_path / "pw.jsonl"))
    assert summary_of(play)["created"] == COUNT and summary_of(play)["failed"] == 0
    sandbox.configure(throttling={"enabled": False})
    assert department_count(graph, "throttled") == COUNT


def test_a_group_with_new_members_converges_despite_replication_lag(run_play, graph, sandbox, tmp_path):
    sandbox.configure(faults={"sequence": []}, throttling={"enabled": False}, replication_lag_seconds=1.5)
    try:
        play = run_play([
            users_task([{"user_principal_name": "lag.one@contoso.com", "display_name": "Lag One"},
                        {"user_principal_name": "lag.two@contoso.com", "display_name": "Lag Two"}],
                       tmp_path / "pw.jsonl"),
            {"name": "group", "m365.cloud_identity.aad_group": {
                "display_name": "Lagging Team", "unique_name": "lagging-team",
                "members": {"set": ["lag.one@contoso.com", "lag.two@contoso.com"]}}},
        ])
        assert play.task("group").status == "changed"
    finally:
        sandbox.configure(replication_lag_seconds=0)
    group = graph.get("/groups(uniqueName='lagging-team')", params={"$select": "id"})
    members = graph.list("/groups/%s/members" % group["id"], select=["userPrincipalName"])
    assert sorted(m["userPrincipalName"] for m in members) == ["lag.one@contoso.com", "lag.two@contoso.com"]
