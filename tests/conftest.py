"""Shared fixtures: the collection's import layout, and a live Graph sandbox per test module."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "m365" / "cloud_identity"


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

    def app(self, name):
        """Connection details of one seeded app registration, by name."""
        return next(a for a in self.conn["apps"] if a["name"] == name)

    def control(self, method, path, json=None):
        response = requests.request(method, "%s/_sandbox/%s" % (self.url, path.lstrip("/")), json=json,
                                    verify=self.conn["ca_path"], timeout=30)
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


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A fresh sandbox (default Contoso seed) for each test module."""
    box = Sandbox(tmp_path_factory.mktemp("sandbox")).start()
    yield box
    box.stop()


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
