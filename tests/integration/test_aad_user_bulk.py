"""aad_user's list form at scale: 2,500 users against the Graph sandbox.

The request budget is the point: the first run creates everything with at most
130 write HTTP calls ($batch, 20 a call), a rerun writes nothing and reads with
at most 6 Graph requests (the token request is not a Graph request).
"""
import json
import time

import yaml

from ansible_collections.m365.cloud_identity.plugins.module_utils.passwords import password_problem

COUNT = 2500
PREFIX = "bulk"


def bulk_users():
    return [{"user_principal_name": "%s%04d@contoso.com" % (PREFIX, n), "display_name": "Bulk User %d" % n,
             "department": "Dept %d" % (n % 7), "job_title": "Worker"} for n in range(COUNT)]


def bulk_tasks(vars_file, password_file):
    """Load the items from a file (2,500 items do not belong on a command line) and apply them."""
    return [
        {"name": "load", "ansible.builtin.include_vars": {"file": str(vars_file), "name": "spec"}},
        {"name": "bulk", "register": "bulk",
         "m365.cloud_identity.aad_user": {"usage_location": "US", "users": "{{ spec.users }}",
                                          "password_file": str(password_file)}},
        {"name": "summary", "ansible.builtin.debug": {"var": "bulk.summary"}},
    ]


def summary(play):
    return play.task("summary").result["bulk.summary"]


def count_users(graph):
    return len(graph.list("/users", select="id", filter="startswith(userPrincipalName,'%s')" % PREFIX))


def test_bulk_create_rerun_and_recover(graph, run_play, sandbox, tmp_path):
    vars_file = tmp_path / "users.yml"
    vars_file.write_text(yaml.safe_dump({"users": bulk_users()}))
    secrets_file = tmp_path / "passwords.jsonl"

    sandbox.reset_counters()
    started = time.monotonic()
    first = run_play(bulk_tasks(vars_file, secrets_file))
    create_seconds = time.monotonic() - started
    counters = sandbox.counters()
    print("\ncreate: %s" % json.dumps(counters["http"]))
    assert summary(first)["created"] == COUNT and summary(first)["failed"] == 0
    assert counters["http"]["write"] <= 130, counters["http"]
    assert count_users(graph) == COUNT
    generated = [json.loads(line)["password"] for line in secrets_file.read_text().splitlines()]
    assert len(set(generated)) == COUNT and all(password_problem(p) is None for p in generated)
    assert not any(p in first.output for p in generated[:50])
    assert len(first.task("bulk").result["results"]) == COUNT  # every item changed

    sandbox.reset_counters()
    started = time.monotonic()
    again = run_play(bulk_tasks(vars_file, secrets_file))
    rerun_seconds = time.monotonic() - started
    counters = sandbox.counters()
    rerun_requests = counters["http"]["total"]
    assert summary(again)["unchanged"] == COUNT
    assert again.task("bulk").result["results"] == []  # unchanged items are only counted
    assert counters["http"]["write"] == 0
    assert counters["http"]["total"] <= 6, counters["http"]["by_route"]
    print("rerun: %s" % json.dumps(counters["http"]))

    # Some users deleted and some edited behind Ansible's back: the rerun restores and updates
    # them, still with one read of the users and one of the deleted users.
    users = dict((u["userPrincipalName"], u["id"]) for u in graph.list(
        "/users", select="id,userPrincipalName", filter="startswith(userPrincipalName,'%s')" % PREFIX))
    for n in range(25):
        graph.delete("/users/%s" % users["%s%04d@contoso.com" % (PREFIX, n)])
    for n in range(25, 50):
        graph.patch("/users/%s" % users["%s%04d@contoso.com" % (PREFIX, n)], json={"jobTitle": "Changed"})
    sandbox.reset_counters()
    recovered = run_play(bulk_tasks(vars_file, secrets_file))
    counters = sandbox.counters()
    print("recover: %s" % json.dumps(counters["http"]))
    assert summary(recovered)["restored"] == 25 and summary(recovered)["updated"] == 25
    assert summary(recovered)["unchanged"] == COUNT - 50
    assert counters["http"]["total"] - counters["http"]["write"] <= 6, counters["http"]["by_route"]
    assert count_users(graph) == COUNT
    restored = graph.get("/users/%s" % users["%s0000@contoso.com" % PREFIX], params={"$select": "id,jobTitle"})
    assert restored["id"] == users["%s0000@contoso.com" % PREFIX]
    print("\n%d users: create %.1fs, rerun %.1fs with %d Graph requests" % (
        COUNT, create_seconds, rerun_seconds, rerun_requests))


def test_info_pages_through_every_user(graph, run_play, sandbox):
    # Runs after the bulk test in this file: 2,500 users, three pages of 999.
    sandbox.reset_counters()
    play = run_play([{"name": "info", "register": "out", "m365.cloud_identity.aad_user_info": {
        "filter": "startswith(userPrincipalName,'%s')" % PREFIX}}])
    assert len(play.task("info").result["users"]) == COUNT
    assert sandbox.counters()["http"]["by_route"]["GET /v1.0/users"] == 3


def test_failed_items_do_not_stop_the_rest(graph, run_play, sandbox, tmp_path):
    items = [{"user_principal_name": "mixed%02d@contoso.com" % n, "display_name": "Mixed %d" % n}
             for n in range(40)]
    items[5]["usage_location"] = "ZZ"
    items[6]["user_principal_name"] = "mixed06@fabrikam.com"
    items[7]["manager"] = "nobody@contoso.com"
    items.append(dict(items[8]))  # listed twice
    vars_file = tmp_path / "mixed.yml"
    vars_file.write_text(yaml.safe_dump({"users": items}))

    sandbox.reset_counters()
    play = run_play([
        {"name": "load", "ansible.builtin.include_vars": {"file": str(vars_file), "name": "spec"}},
        {"name": "bulk", "register": "bulk", "ignore_errors": True,
         "m365.cloud_identity.aad_user": {"users": "{{ spec.users }}", "password": "Mixed!Passw0rd"}},
        {"name": "outcome", "ansible.builtin.debug": {
            "msg": {"summary": "{{ bulk.summary }}", "msg": "{{ bulk.msg }}",
                    "failed": "{{ bulk.results | selectattr('action', 'eq', 'failed') | map(attribute='key') | list }}"}}},
    ])
    outcome = play.task("outcome").result["msg"]
    assert play.task("bulk").status == "failed"
    assert outcome["summary"]["created"] == 37 and outcome["summary"]["failed"] == 4
    assert sorted(outcome["failed"]) == ["mixed05@contoso.com", "mixed06@fabrikam.com", "mixed07@contoso.com",
                                         "mixed08@contoso.com"]
    for key, reason in (("mixed05@contoso.com", "usage_location"), ("mixed06@fabrikam.com", "verified domain"),
                        ("mixed07@contoso.com", "manager"), ("mixed08@contoso.com", "more than once")):
        assert key in outcome["msg"] and reason in outcome["msg"]
    created = graph.list("/users", select="userPrincipalName", filter="startswith(userPrincipalName,'mixed')")
    names = set(u["userPrincipalName"] for u in created)
    assert len(names) == 37  # the duplicate mixed08 was created once
    assert "mixed05@contoso.com" not in names and "mixed07@contoso.com" not in names
