"""How fast the sandbox's write paths are in a large tenant: direct licences, group licences with member
adds, invitations and purges (issue 13: each should cost what it touches, not the tenant's size).

Run from the repository root (it starts and stops its own sandbox in a temporary directory):

    .venv/bin/python sandbox/write_bench.py [--users 10000] [--count 500]

It prints operations per second for ``--count`` operations of each kind (a plain user PATCH first, as the
reference for what one request costs over TLS), against a sandbox seeded with
``--users`` users (one keep-alive session, one thread). A benchmark, not a test: it prints and exits 0.
"""
import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from sandbox_bench import access_token, start_sandbox, stop, write_seed  # noqa: E402

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


class Client:
    def __init__(self, conn):
        self.base, self.ca = conn["graph_endpoint"] + "/v1.0", conn["ca_path"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer %s" % access_token(conn)

    def ids(self, path):
        found, url = [], self.base + path
        while url:
            page = self.session.get(url, verify=self.ca, timeout=60).json()
            found += [item["id"] for item in page["value"]]
            url = page.get("@odata.nextLink")
        return found

    def call(self, method, path, body=None, expect=(200, 201, 202, 204)):
        response = self.session.request(method, self.base + path, json=body, verify=self.ca, timeout=60)
        if response.status_code not in expect:
            raise SystemExit("%s %s: %s %s" % (method, path, response.status_code, response.text[:300]))
        return response.json() if response.content else None


def rate(label, count, step):
    started = time.perf_counter()
    for n in range(count):
        step(n)
    elapsed = time.perf_counter() - started
    print("%-44s %8.0f /s  (%d in %.2f s)" % (label, count / elapsed, count, elapsed), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.yaml"
        write_seed(seed_path, args.users)
        seed = yaml.safe_load(seed_path.read_text())
        seed["skus"] = [{"part_number": "SPE_E3", "prepaid": args.users + 5 * args.count}]
        seed_path.write_text(yaml.safe_dump(seed, sort_keys=False))
        process, conn = start_sandbox(Path(tmp) / "state", seed_path)
        try:
            client = Client(conn)
            requests.patch(conn["graph_endpoint"] + "/_sandbox/config", json={"group_license_delay_seconds": 0},
                           verify=client.ca, timeout=30)
            users = client.ids("/users?$select=id&$top=999&$filter=startswith(userPrincipalName,'bench.')")
            licence = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
            print("sandbox with %d users" % len(seed["users"]))
            rate("PATCH of a user (reference)", args.count,
                 lambda n: client.call("PATCH", "/users/%s" % users[n], {"jobTitle": "Bench %d" % n}))
            rate("assignLicense to a user (direct)", args.count,
                 lambda n: client.call("POST", "/users/%s/assignLicense" % users[n], licence))
            group = client.call("POST", "/groups", {"displayName": "Bench licensed", "mailNickname": "benchlic",
                                                    "mailEnabled": False, "securityEnabled": True})
            client.call("POST", "/groups/%s/assignLicense" % group["id"], licence)
            rate("member add to a licensed group + read states", args.count, lambda n: (
                client.call("POST", "/groups/%s/members/$ref" % group["id"],
                            {"@odata.id": "%s/directoryObjects/%s" % (client.base, users[args.count + n])}),
                client.call("GET", "/users/%s?$select=licenseAssignmentStates" % users[args.count + n])))
            rate("invitation of a new guest", args.count, lambda n: client.call("POST", "/invitations", {
                "invitedUserEmailAddress": "guest%d.%s@fabrikam.com" % (n, uuid.uuid4().hex[:6]),
                "inviteRedirectUrl": "https://myapps.microsoft.com"}))
            doomed = users[2 * args.count:3 * args.count]
            for user_id in doomed:
                client.call("DELETE", "/users/%s" % user_id)
            rate("purge of a deleted user", len(doomed),
                 lambda n: client.call("DELETE", "/directory/deletedItems/%s" % doomed[n]))
        finally:
            stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
