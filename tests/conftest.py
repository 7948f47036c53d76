"""Shared fixtures: the collection's import layout, a live Graph sandbox per test module, and clients on it.

`graph` is a GraphClient on the module's sandbox and `raw` a plain requests session (Wire) for tests
that must see Graph's exact responses; `new_client` makes extra GraphClients for one test. Every
client and session is closed at teardown: an idle keep-alive connection delays the sandbox's shutdown.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "m365" / "cloud_identity"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Seconds a test waits for one response; the sandbox answers in milliseconds.
REQUEST_TIMEOUT = 30


def _ensure_collection_layout():
    """ansible_collections/m365/cloud_identity -> the repository root, so imports match a real install."""
    if not COLLECTION_LINK.exists():
        COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
        try:
            COLLECTION_LINK.symlink_to(ROOT, target_is_directory=True)
        except FileExistsError:  # another xdist worker made it first
            pass


_ensure_collection_layout()
for path in (str(COLLECTIONS), str(ROOT / "sandbox")):
    if path not in sys.path:
        sys.path.insert(0, path)


class Sandbox:
    """A running `python -m graph_sandbox serve` process and its connection details."""

    def __init__(self, state_dir, seed=None, extra_args=()):
        self.state_dir = Path(state_dir)
        self.seed = seed
        self.extra_args = list(extra_args)
        self.process = None
        self.conn = None
        self.log = self.state_dir / "sandbox.log"

    def start(self, timeout=30):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        connection = self.state_dir / "connection.json"
        connection.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "graph_sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
               "--state-dir", str(self.state_dir)] + (["--seed", str(self.seed)] if self.seed else []) + self.extra_args
        env = dict(os.environ, PYTHONPATH=str(ROOT / "sandbox"))
        self.process = subprocess.Popen(cmd, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not connection.exists():
            if self.process.poll() is not None:
                raise RuntimeError("sandbox exited with %s:\n%s" % (self.process.returncode, self.log.read_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox did not start within %ss:\n%s" % (timeout, self.log.read_text()))
            time.sleep(0.05)
        self.conn = json.loads(connection.read_text())
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def url(self):
        return self.conn["graph_endpoint"]

    def object_url(self, object_id, collection="directoryObjects"):
        """An @odata.id / @odata.bind URL on the sandbox's own Graph host, as Graph wants (FIDELITY.md 7.8)."""
        return "%s/v1.0/%s/%s" % (self.url, collection, object_id)

    def app(self, name):
        """Connection details of one seeded app registration, by name."""
        return next(a for a in self.conn["apps"] if a["name"] == name)

    def credentials(self, app_name=None):
        """The automation app's connection details, or those of another seeded app by name."""
        return self.app(app_name) if app_name else self.conn

    def token(self, app_name=None):
        """A Graph access token from the client-credentials grant, as the automation app or the named one."""
        app = self.credentials(app_name)
        response = requests.post("%s/%s/oauth2/v2.0/token" % (self.url, self.conn["tenant_id"]),
                                 data={"grant_type": "client_credentials", "client_id": app["client_id"],
                                       "client_secret": app["client_secret"], "scope": GRAPH_SCOPE},
                                 verify=self.conn["ca_path"], timeout=REQUEST_TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def client(self, app_name=None, **options):
        """A new GraphClient on this sandbox (the caller closes it); `options` override the defaults."""
        from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphClient

        app = self.credentials(app_name)
        settings = dict(tenant_id=self.conn["tenant_id"], client_id=app["client_id"],
                        client_secret=app.get("client_secret"), authority_host=self.conn["authority_host"],
                        graph_endpoint=self.conn["graph_endpoint"], ca_path=self.conn["ca_path"],
                        timeout=REQUEST_TIMEOUT)
        settings.update(options)
        return GraphClient(**settings)

    def wire(self, app_name=None):
        """A new Wire on this sandbox (the caller closes it, or uses it in a `with` block)."""
        return Wire(self, app_name)

    def control(self, method, path, json=None):
        response = requests.request(method, "%s/_sandbox/%s" % (self.url, path.lstrip("/")), json=json,
                                    verify=self.conn["ca_path"], timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def counters(self):
        return self.control("GET", "counters")

    def reset_counters(self):
        return self.control("POST", "counters/reset")

    def configure(self, **settings):
        return self.control("PATCH", "config", json=settings)

    def reset(self):
        return self.control("POST", "reset")


class Wire:
    """Graph v1.0 over one keep-alive requests session, for tests that must see Graph's exact responses."""

    def __init__(self, sandbox, app_name=None):
        self.sandbox = sandbox
        self.app_name = app_name
        self.base, self.ca = sandbox.url + "/v1.0", sandbox.conn["ca_path"]
        self.session = requests.Session()
        self.refresh_token()

    def refresh_token(self):
        self.session.headers["Authorization"] = "Bearer %s" % self.sandbox.token(self.app_name)

    def call(self, method, path, json=None, params=None, headers=None):
        """One request; `path` is relative to /v1.0, or an absolute URL such as a nextLink."""
        url = path if path.startswith("https://") else self.base + path
        # verify= per request: a global REQUESTS_CA_BUNDLE would override the session's.
        return self.session.request(method, url, json=json, params=params, headers=headers, verify=self.ca,
                                    timeout=REQUEST_TIMEOUT)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class TenantBuilder:
    """Makes throwaway users and security groups through Graph, for tests that need something to act on."""

    def __init__(self, graph, sandbox):
        self.graph = graph
        self.sandbox = sandbox

    def user(self, usage_location="US"):
        """A new enabled member account, with a usage location unless it is None."""
        alias = "test-%s" % uuid.uuid4().hex[:10]
        body = {"accountEnabled": True, "displayName": alias, "mailNickname": alias,
                "userPrincipalName": "%s@contoso.com" % alias,
                "passwordProfile": {"password": "Str0ng!%s" % uuid.uuid4().hex, "forceChangePasswordNextSignIn": True}}
        if usage_location:
            body["usageLocation"] = usage_location
        return self.graph.post("/users", json=body)

    def users(self, count):
        return [self.user() for _number in range(count)]

    def group(self, members=()):
        """A new security group (with a unique name) holding `members`."""
        name = "test-group-%s" % uuid.uuid4().hex[:8]
        group = self.graph.post("/groups", json={"displayName": name, "mailNickname": name, "mailEnabled": False,
                                                 "securityEnabled": True, "uniqueName": name})
        for member in members:
            self.add_member(group, member)
        return group

    def add_member(self, group, user):
        self.graph.post("/groups/%s/members/$ref" % group["id"],
                        json={"@odata.id": self.sandbox.object_url(user["id"])})


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A fresh sandbox (default Contoso seed) for each test module."""
    box = Sandbox(tmp_path_factory.mktemp("sandbox")).start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def graph(sandbox):
    """A GraphClient on the module's sandbox, as the automation app."""
    client = sandbox.client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def tenant(graph, sandbox):
    """A TenantBuilder on the module's sandbox: tenant.user(), tenant.users(n), tenant.group(members)."""
    return TenantBuilder(graph, sandbox)


@pytest.fixture(scope="module")
def raw(sandbox):
    """A Wire on the module's sandbox, as the automation app: responses exactly as Graph sends them."""
    with sandbox.wire() as wire:
        yield wire


@pytest.fixture
def new_client(sandbox):
    """new_client(app_name=None, **options): a fresh GraphClient for this test; all are closed after it."""
    clients = []

    def make(app_name=None, **options):
        client = sandbox.client(app_name, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sandbox_factory(tmp_path):
    """Start extra sandboxes (own seed, flags); all are stopped at the end of the test."""
    started = []

    def start(seed=None, extra_args=(), state_dir=None):
        box = Sandbox(state_dir or tmp_path / ("sandbox%d" % len(started)), seed, extra_args).start()
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


def pytest_configure(config):
    # Never let a test reach Microsoft: the sandbox's CA is passed explicitly where needed.
    os.environ.pop("AZURE_CLIENT_SECRET", None)
