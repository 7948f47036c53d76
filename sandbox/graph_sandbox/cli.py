"""python -m graph_sandbox serve --host 127.0.0.1 --port 0 --state-dir DIR [--seed FILE]"""
import argparse
import asyncio
import errno
import json
import os
import secrets
import socket
import sys
import threading
from pathlib import Path

import uvicorn

from . import federation, managed_identity
from .app import Sandbox, build_app
from .seed import SeedError
from .tls import ensure_certificates


class _Server(uvicorn.Server):
    """Writes connection.json once the socket accepts connections, removes it on shutdown."""

    def __init__(self, config, on_ready, on_stop):
        super().__init__(config)
        self._on_ready, self._on_stop = on_ready, on_stop

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()

    async def shutdown(self, sockets=None):
        self._on_stop()
        # Closing TLS waits for the client's close_notify, which an idle keep-alive client never sends
        # (uvloop waits 30 s): give connections a moment to finish, then abort them.
        asyncio.get_running_loop().call_later(1.0, self._abort_connections)
        await super().shutdown(sockets=sockets)

    def _abort_connections(self):
        for connection in list(self.server_state.connections):
            connection.transport.abort()

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful stop (a KeyboardInterrupt traceback for SIGINT,
        # status -15 for SIGTERM); the stop was clean, so exit 0 instead.
        self._captured_signals.clear()


def fail(message):
    print("graph_sandbox: error: %s" % message, file=sys.stderr)
    return 2


def _base_url(scheme, host, port):
    return "%s://%s:%d" % (scheme, host if ":" not in host else "[%s]" % host, port)


def connection_info(sandbox, host, port, ca_path, identity=None):
    """What connection.json holds; ``identity`` is (port, header) of the managed identity endpoint."""
    tenant = sandbox.tenant
    base = _base_url("https", host, port)
    apps = []
    for app in tenant.apps.values():
        entry = {"name": app["name"], "client_id": app["id"], "roles": app["roles"],
                 "directory_roles": app.get("directoryRoles", [])}
        if app.get("federatedIdentityCredentials"):
            entry["federated_identity_credentials"] = federation.credentials_of(app, base)
        if app.get("managedIdentity"):
            entry["managed_identity"] = app["managedIdentity"]
        if app.get("secret"):
            entry["client_secret"] = app["secret"]
        if app.get("key_pem"):
            path = sandbox.state_dir / "apps" / ("%s.pem" % app["id"])
            path.parent.mkdir(exist_ok=True)
            path.write_text(app["key_pem"] + app["cert_pem"])
            path.chmod(0o600)
            entry["certificate_path"] = str(path)
        apps.append(entry)
    main = next(a for a in apps if a.get("client_secret"))
    info = {"tenant_id": tenant.id, "client_id": main["client_id"], "client_secret": main["client_secret"],
            "authority_host": base, "graph_endpoint": base, "ca_path": str(ca_path),
            "default_domain": tenant.default_domain, "verified_domains": list(tenant.verified_domains), "apps": apps,
            "federation": {"issuer": federation.issuer_url(base), "audience": federation.TOKEN_EXCHANGE_AUDIENCE,
                           "token_url": base + "/_sandbox/federated-token"}}
    if identity:
        # The environment App Service gives a process with a managed identity.
        info["managed_identity"] = {"IDENTITY_ENDPOINT": _base_url("http", host, identity[0]) + managed_identity.TOKEN_PATH,
                                    "IDENTITY_HEADER": identity[1]}
    return info


def make_private(state_dir):
    """The state holds secrets (app credentials, keys, the SQLite WAL): owner only, 0700 / 0600."""
    os.umask(0o077)   # every file the server creates from now on
    state_dir.chmod(0o700)
    for path in state_dir.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def serve(args):
    state_dir = Path(args.state_dir).resolve()
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(state_dir)
        probe = state_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return fail("state directory %s is not writable: %s" % (state_dir, exc.strerror))
    config = {}
    if args.throttling:
        config["throttling"] = {"enabled": True}
    if args.replication_lag:
        config["replication_lag_seconds"] = args.replication_lag
    try:
        sandbox = Sandbox(state_dir, args.seed, config)
    except SeedError as exc:
        return fail(str(exc))
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return fail("port %d on %s is already in use; pick another --port, or 0 for a free one" % (args.port, args.host))
        return fail("cannot listen on %s:%d: %s" % (args.host, args.port, exc.strerror))
    port = sock.getsockname()[1]
    ca_path, server_pem = ensure_certificates(state_dir, [args.host])
    identity_sock = socket.socket(sock.family)
    identity_sock.bind((args.host, 0))
    identity_header = secrets.token_urlsafe(24)
    identity_server = uvicorn.Server(uvicorn.Config(
        managed_identity.build_identity_app(sandbox, _base_url("https", args.host, port), identity_header),
        log_level=args.log_level, access_log=args.access_log, lifespan="off", http="httptools", loop="asyncio"))
    # Its own thread and event loop; uvicorn installs signal handlers only in the main thread.
    threading.Thread(target=identity_server.run, kwargs={"sockets": [identity_sock]}, daemon=True,
                     name="managed-identity-endpoint").start()
    connection_file = state_dir / "connection.json"
    connection_file.unlink(missing_ok=True)

    def ready():
        tmp = connection_file.with_suffix(".tmp")
        identity = (identity_sock.getsockname()[1], identity_header)
        tmp.write_text(json.dumps(connection_info(sandbox, args.host, port, ca_path, identity), indent=2) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, connection_file)
        print("graph_sandbox: serving https://%s:%d (state in %s)" % (args.host, port, state_dir), flush=True)

    def stopped():
        connection_file.unlink(missing_ok=True)
        identity_server.should_exit = True

    uv_config = uvicorn.Config(build_app(sandbox), ssl_certfile=str(server_pem), log_level=args.log_level,
                               access_log=args.access_log, lifespan="off", timeout_keep_alive=30,
                               # httptools: h11 answers small requests ~50x slower here (delayed ACKs).
                               http="httptools", loop="uvloop",
                               # Idle keep-alive clients must not hold up SIGTERM.
                               timeout_graceful_shutdown=3)
    _Server(uv_config, ready, stopped).run(sockets=[sock])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="graph_sandbox", description="A local emulator of Microsoft Graph v1.0 for m365.cloud_identity.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the sandbox over TLS until SIGTERM or SIGINT")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    run.add_argument("--state-dir", required=True, help="where the tenant, CA and connection.json live")
    run.add_argument("--seed", help="YAML seed for a new tenant (default: the built-in Contoso tenant)")
    run.add_argument("--throttling", action="store_true", help="enforce Graph's identity throttling limits")
    run.add_argument("--replication-lag", type=float, default=0.0, help="seconds before a new object is readable")
    run.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    run.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    return serve(args)
