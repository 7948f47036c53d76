"""How long the tenant report of a 10,000-user tenant takes, and how big its page is.

Run from the repository root (it starts and stops its own sandbox in a temporary directory):

    .venv/bin/python benchmarks/report_bench.py [--users 10000] [--departments 40] [--guests 300]

The sandbox is seeded with ``--users`` members spread over ``--departments`` departments (some
disabled, some without a usage location, most with a direct Microsoft 365 E3 licence), then given
one dynamic group per department, 20 security groups, a group licence with fewer seats than members
(so that assignments are in error) and ``--guests`` invited guests, a third of them accepted.

It prints the time of the whole ``ansible-playbook playbooks/report.yml`` run (what a user waits
for), the time of the module's three steps in-process (read the tenant, aggregate, draw), the
requests the report made, and the size of the HTML and JSON. Issue 16's target: under 30 s and an
HTML page under 2 MB. This is a benchmark, not a test: it prints numbers and exits 0 whatever they are.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from sandbox_bench import DEFAULT_SEED, access_token, start_sandbox, stop

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SKUS = [{"part_number": "SPE_E3", "prepaid": 9500}, {"part_number": "SPE_E5", "prepaid": 500},
        {"part_number": "EMSPREMIUM", "prepaid": 2000}, {"part_number": "POWER_BI_STANDARD", "prepaid": 10000},
        {"part_number": "VISIOCLIENT", "prepaid": 50}]


def write_seed(path, users, departments):
    seed = yaml.safe_load(DEFAULT_SEED.read_text())
    seed["skus"] = SKUS
    generated = []
    for n in range(users):
        user = {"userPrincipalName": "report.user%05d@contoso.com" % n, "displayName": "Report User %05d" % n,
                "accountEnabled": n % 20 != 0, "department": "Department %02d" % (n % departments),
                "passwordProfile": {"password": "Report-Passw0rd-%05d" % n, "forceChangePasswordNextSignIn": False}}
        if n % 50 != 7:
            user["usageLocation"] = "US"
            if n % 10 < 9:
                user["licenses"] = ["SPE_E3"]
        generated.append(user)
    seed["users"] = list(seed.get("users") or []) + generated
    path.write_text(yaml.safe_dump(seed, sort_keys=False))


class Graph:
    """Just enough of Graph for setting the tenant up: $batch in chunks of 20."""

    def __init__(self, conn):
        self.base = conn["graph_endpoint"] + "/v1.0"
        self.ca_path = conn["ca_path"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer %s" % access_token(conn)

    def batch(self, items):
        answers = []
        for start in range(0, len(items), 20):
            chunk = [dict(item, id=str(n), headers={"Content-Type": "application/json"})
                     for n, item in enumerate(items[start:start + 20])]
            response = self.session.post(self.base + "/$batch", json={"requests": chunk}, verify=self.ca_path)
            response.raise_for_status()
            for answer in sorted(response.json()["responses"], key=lambda a: int(a["id"])):
                if answer["status"] >= 300:
                    raise SystemExit("set-up request failed: %s" % answer)
                answers.append(answer.get("body"))
        return answers


def set_up(conn, departments, guests):
    graph = Graph(conn)
    dynamic = graph.batch([{"method": "POST", "url": "/groups", "body": {
        "displayName": "All of Department %02d" % d, "mailNickname": "dept%02d" % d, "mailEnabled": False,
        "securityEnabled": True, "groupTypes": ["DynamicMembership"],
        "membershipRule": 'user.department -eq "Department %02d"' % d, "membershipRuleProcessingState": "On"}}
        for d in range(departments)])
    graph.batch([{"method": "POST", "url": "/groups", "body": {
        "displayName": "Project %02d" % n, "mailNickname": "project%02d" % n, "mailEnabled": False,
        "securityEnabled": True}} for n in range(20)])
    skus = dict((s["skuPartNumber"], s["skuId"]) for s in graph.session.get(
        graph.base + "/subscribedSkus", verify=graph.ca_path).json()["value"])
    graph.batch([{"method": "POST", "url": "/groups/%s/assignLicense" % dynamic[0]["id"], "body": {
        "addLicenses": [{"skuId": skus["VISIOCLIENT"], "disabledPlans": []}], "removeLicenses": []}}])
    invited = graph.batch([{"method": "POST", "url": "/invitations", "body": {
        "invitedUserEmailAddress": "partner%04d@fabrikam.com" % n, "inviteRedirectUrl": "https://myapps.microsoft.com"}}
        for n in range(guests)])
    for guest in invited[::3]:
        response = graph.session.post("%s/_sandbox/guests/%s/redeem" % (conn["graph_endpoint"], guest["invitedUser"]["id"]),
                                      verify=graph.ca_path)
        response.raise_for_status()
    graph.session.close()


def counters(conn, reset=False):
    url = "%s/_sandbox/counters%s" % (conn["graph_endpoint"], "/reset" if reset else "")
    response = requests.request("POST" if reset else "GET", url, verify=conn["ca_path"], timeout=30)
    response.raise_for_status()
    return response.json()


def run_playbook(conn, work):
    extra_vars = dict(("m365_" + key, conn[key]) for key in
                      ("tenant_id", "client_id", "client_secret", "authority_host", "graph_endpoint", "ca_path"))
    extra_vars["m365_report_path"] = str(work / "playbook" / "tenant.html")
    (work / "playbook").mkdir()
    vars_file = work / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    started = time.perf_counter()
    completed = subprocess.run([str(ANSIBLE_PLAYBOOK), str(ROOT / "playbooks" / "report.yml"), "-e", "@%s" % vars_file],
                               cwd=str(ROOT), env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit("report.yml failed:\n%s%s" % (completed.stdout[-3000:], completed.stderr[-3000:]))
    return elapsed, work / "playbook" / "tenant.html"


def in_process(conn):
    """The module's three steps, timed one by one."""
    sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphClient
    from ansible_collections.m365.cloud_identity.plugins.module_utils.report_html import render
    from ansible_collections.m365.cloud_identity.plugins.module_utils.tenant_report import build_report, read_tenant

    client = GraphClient(tenant_id=conn["tenant_id"], client_id=conn["client_id"], client_secret=conn["client_secret"],
                         authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                         ca_path=conn["ca_path"])
    try:
        times = {}
        started = time.perf_counter()
        tenant = read_tenant(client)
        times["read the tenant"] = time.perf_counter() - started
        started = time.perf_counter()
        report = build_report(tenant, datetime.datetime.now(datetime.timezone.utc))
        times["aggregate"] = time.perf_counter() - started
        started = time.perf_counter()
        page = render(report)
        times["draw the page"] = time.perf_counter() - started
    finally:
        client.close()
    return times, report, page


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000, help="member accounts seeded besides the default ones")
    parser.add_argument("--departments", type=int, default=40)
    parser.add_argument("--guests", type=int, default=300)
    args = parser.parse_args(argv)
    if not COLLECTIONS.exists():
        raise SystemExit("run `make collection` first")

    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        work = Path(tmp)
        write_seed(work / "seed.yaml", args.users, args.departments)
        started = time.perf_counter()
        sandbox, conn = start_sandbox(work / "state", work / "seed.yaml", timeout=600)
        try:
            set_up(conn, args.departments, args.guests)
            print("tenant ready in %.1f s: %d members, %d guests, %d groups" % (
                time.perf_counter() - started, args.users + 6, args.guests, args.departments + 20))
            counters(conn, reset=True)
            playbook_time, html_path = run_playbook(conn, work)
            used = counters(conn)
            times, report, page = in_process(conn)
        finally:
            stop(sandbox)
        html_bytes = html_path.stat().st_size
        json_bytes = html_path.with_suffix(".json").stat().st_size

    print("ansible-playbook playbooks/report.yml: %.1f s (target < 30 s), %d Graph requests (%d operations)" % (
        playbook_time, used["http"]["total"], used["operations"]["total"]))
    print("in-process: " + ", ".join("%s %.2f s" % item for item in times.items()))
    print("HTML %.0f KiB (target < 2 MiB), JSON %.0f KiB; in-process page %.0f KiB" % (
        html_bytes / 1024.0, json_bytes / 1024.0, len(page.encode("utf-8")) / 1024.0))
    totals = report["licenses"]["totals"]
    print("report: %d members, %d guests, %d groups, %d of %d seats in use, %d assignments in error" % (
        report["users"]["total"], report["guests"]["total"], report["groups"]["total"], totals["consumed"],
        totals["enabled"], totals["in_error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
