"""Turn a Graph sandbox's connection.json into playbook extra vars or shell variables.

`make demo` waits with it until the sandbox (process --pid) has written a
complete connection.json, then writes the m365_* variables that
playbooks/demo.yml puts into module_defaults. The vars file holds the client
secret, so it is created readable by its owner only.

With --env it prints `export` lines for the environment variables the modules
read (AZURE_TENANT_ID, ...), for trying modules by hand against `make sandbox`.
"""

import argparse
import json
import os
import shlex
import sys
import time

CONNECTION_KEYS = ("tenant_id", "client_id", "client_secret", "authority_host", "graph_endpoint", "ca_path")
ENVIRONMENT_NAMES = dict(
    tenant_id="AZURE_TENANT_ID",
    client_id="AZURE_CLIENT_ID",
    client_secret="AZURE_CLIENT_SECRET",
    authority_host="AZURE_AUTHORITY_HOST",
    graph_endpoint="M365_GRAPH_ENDPOINT",
    ca_path="M365_CA_PATH",
)


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_connection(path, pid, wait_seconds):
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            pass  # not written yet, or written half-way
        if pid and not process_alive(pid):
            sys.exit("The sandbox exited before writing %s." % path)
        time.sleep(0.1)
    sys.exit("No complete %s after %d s." % (path, wait_seconds))


def write_private(path, data):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("connection_json")
    parser.add_argument("vars_json", nargs="?", help="extra-vars file to write")
    parser.add_argument("--env", action="store_true", help="print shell export lines instead")
    parser.add_argument("--wait", type=int, default=60, help="seconds to wait for connection.json")
    parser.add_argument("--pid", type=int, help="the sandbox process; stop waiting if it exits")
    args = parser.parse_args()
    if not (args.env or args.vars_json):
        parser.error("give a vars_json file to write, or --env")

    connection = read_connection(args.connection_json, args.pid, args.wait)
    if args.env:
        for key in CONNECTION_KEYS:
            print("export %s=%s" % (ENVIRONMENT_NAMES[key], shlex.quote(connection[key])))
        return
    extra_vars = dict(("m365_" + key, connection[key]) for key in CONNECTION_KEYS)
    extra_vars["m365_domain"] = connection.get("default_domain")
    write_private(args.vars_json, extra_vars)
    print("Graph sandbox ready at %s (tenant %s)" % (connection["graph_endpoint"], connection["tenant_id"]))


if __name__ == "__main__":
    main()
