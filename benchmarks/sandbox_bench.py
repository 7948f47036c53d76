"""How fast the Graph sandbox answers, next to a bare Starlette app on the same server settings.

Run from the repository root (it starts and stops its own servers in a temporary directory):

    .venv/bin/python benchmarks/sandbox_bench.py [--users 10000] [--requests 3000] [--rounds 6] [--pages 30]

It prints:
- GETs per second for ``GET /v1.0/users/{id}`` (one ``requests.Session``, TLS keep-alive, one thread)
  against the sandbox seeded with ``--users`` users, and for a trivial JSON GET against a bare Starlette
  app served by uvicorn with the sandbox's settings (TLS, httptools, uvloop), and the ratio of the two;
- the time to fetch one 999-item page, ``GET /v1.0/users?$top=999`` (median and worst of ``--pages``).

Issue 2's target: the sandbox at >= 80% of the bare app's GETs/s, and a 999-item page under 50 ms.
This is a benchmark, not a test: it prints numbers and exits 0 whatever they are.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_DIR = ROOT / "sandbox"
DEFAULT_SEED = SANDBOX_DIR / "graph_sandbox" / "data" / "default_seed.yaml"

# The bare app: the same uvicorn settings as graph_sandbox/cli.py, a handler that does no work.
BARE_APP = textwrap.dedent("""
    import json, socket, sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def user(request):
        return JSONResponse({"id": request.path_params["id"], "displayName": "Bare"})

    app = Starlette(routes=[Route("/v1.0/users/{id}", user)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    config = uvicorn.Config(app, ssl_certfile=sys.argv[1], log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=30, http="httptools", loop="uvloop")
    uvicorn.Server(config).run(sockets=[sock])
""")


def write_seed(path, user_count):
    """The default Contoso seed plus ``user_count`` generated members."""
    seed = yaml.safe_load(DEFAULT_SEED.read_text())
    seed["users"] = list(seed.get("users") or []) + [
        {"userPrincipalName": "bench.user%05d@contoso.com" % n, "displayName": "Bench User %05d" % n,
         "accountEnabled": True, "department": "Bench", "usageLocation": "US",
         "passwordProfile": {"password": "Bench-Passw0rd-%05d" % n, "forceChangePasswordNextSignIn": False}}
        for n in range(user_count)]
    path.write_text(yaml.safe_dump(seed, sort_keys=False))


def start_sandbox(state_dir, seed_path, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    cmd = [sys.executable, "-m", "graph_sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
           "--state-dir", str(state_dir), "--seed", str(seed_path)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    connection = state_dir / "connection.json"
    deadline = time.monotonic() + timeout
    while not connection.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit("sandbox did not start: %s" % process.stderr.read().decode(errors="replace"))
        time.sleep(0.1)
    return process, json.loads(connection.read_text())


def start_bare(server_pem):
    process = subprocess.Popen([sys.executable, "-c", BARE_APP, str(server_pem)], stdout=subprocess.PIPE)
    port = json.loads(process.stdout.readline())["port"]
    time.sleep(0.5)  # the socket is bound before uvicorn starts accepting
    return process, port


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def access_token(conn):
    # verify= per request: a global REQUESTS_CA_BUNDLE would override a Session's verify.
    url = "%s/%s/oauth2/v2.0/token" % (conn["authority_host"], conn["tenant_id"])
    form = {"grant_type": "client_credentials", "client_id": conn["client_id"],
            "client_secret": conn["client_secret"], "scope": "https://graph.microsoft.com/.default"}
    response = requests.post(url, data=form, verify=conn["ca_path"], timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def gets_per_second(session, url, ca_path, count, headers=None):
    started = time.perf_counter()
    for _ in range(count):
        response = session.get(url, headers=headers, verify=ca_path)
        if response.status_code != 200:
            raise SystemExit("GET %s answered %s" % (url, response.status_code))
    return count / (time.perf_counter() - started)


def compare_rates(targets, count, rounds):
    """Median GETs/s of each target over ``rounds`` alternating rounds (fair on a busy machine).

    targets: {name: (session, url, ca_path, headers)}.
    """
    rates = {name: [] for name in targets}
    for session, url, ca_path, headers in targets.values():
        gets_per_second(session, url, ca_path, 50, headers)  # warm up: handshake, keep-alive, caches
    for _ in range(rounds):
        for name, (session, url, ca_path, headers) in targets.items():
            rates[name].append(gets_per_second(session, url, ca_path, count // rounds, headers))
    return {name: statistics.median(values) for name, values in rates.items()}


def page_times(session, url, ca_path, headers, pages):
    times = []
    for _ in range(pages + 3):
        started = time.perf_counter()
        response = session.get(url, headers=headers, verify=ca_path)
        times.append(time.perf_counter() - started)
        if response.status_code != 200 or len(response.json()["value"]) != 999:  # needs >= 999 users
            raise SystemExit("the 999-item page answered %s" % response.status_code)
    return times[3:]  # the first pages warm caches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000, help="users seeded besides the default ones")
    parser.add_argument("--requests", type=int, default=3000, help="timed GETs per server")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds the GETs are split into")
    parser.add_argument("--pages", type=int, default=30, help="timed 999-item pages")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        tmp = Path(tmp)
        seed_path = tmp / "seed.yaml"
        write_seed(seed_path, args.users)
        started = time.perf_counter()
        sandbox, conn = start_sandbox(tmp / "state", seed_path)
        print("sandbox started with %d users in %.1f s" % (args.users + 6, time.perf_counter() - started))
        bare = None
        try:
            bare, port = start_bare(tmp / "state" / "server.pem")
            headers = {"Authorization": "Bearer %s" % access_token(conn)}
            ca_path = conn["ca_path"]
            base = conn["graph_endpoint"] + "/v1.0"
            with requests.Session() as graph, requests.Session() as plain:
                first = graph.get(base + "/users", params={"$top": "1"}, headers=headers, verify=ca_path)
                user_id = first.json()["value"][0]["id"]
                rates = compare_rates({
                    "sandbox": (graph, "%s/users/%s" % (base, user_id), ca_path, headers),
                    "bare": (plain, "https://127.0.0.1:%d/v1.0/users/%s" % (port, user_id), ca_path, None),
                }, args.requests, args.rounds)
                pages = page_times(graph, base + "/users?$top=999", ca_path, headers, args.pages)
        finally:
            stop(sandbox)
            if bare:
                stop(bare)

    print("GET /v1.0/users/{id}, median of %d alternating rounds of %d GETs:" % (args.rounds, args.requests // args.rounds))
    print("  sandbox:        %6.0f GETs/s" % rates["sandbox"])
    print("  bare Starlette: %6.0f GETs/s" % rates["bare"])
    print("  sandbox / bare: %.0f%% (target >= 80%%)" % (100.0 * rates["sandbox"] / rates["bare"]))
    print("GET /v1.0/users?$top=999: median %.1f ms, worst %.1f ms over %d pages (target < 50 ms)"
          % (1000 * statistics.median(pages), 1000 * max(pages), len(pages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
