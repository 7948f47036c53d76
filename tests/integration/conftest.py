"""Fixtures that run ansible-playbook against the sandbox of the test file.

`sandbox` (tests/conftest.py) starts one Graph sandbox per test module and `graph`
(tests/conftest.py) reads the tenant back through Graph; these fixtures run plays
against it with the connection set once through
`module_defaults: {group/m365.cloud_identity.graph: ...}`, and read each
task's status and result back from the `record_results` callback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / ".build" / "collections"
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"
# The ansible-playbook of the interpreter running pytest (the project's .venv).
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK_TIMEOUT = 600

# Connection options taken from the sandbox's connection.json.
CONNECTION_KEYS = ("tenant_id", "client_id", "client_secret", "authority_host", "graph_endpoint", "ca_path")

# Variables that would let the caller's shell change what a test runs against.
INHERITED_PREFIXES = ("ANSIBLE_", "AZURE_", "M365_")


@dataclass
class TaskResult:
    name: str
    action: str
    host: str
    status: str          # ok, changed, failed, skipped, unreachable
    result: dict         # what the task returned (includes `diff` with --diff)


@dataclass
class PlayResult:
    rc: int
    stdout: str
    stderr: str
    tasks: list = field(default_factory=list)

    @property
    def output(self):
        """Everything ansible-playbook printed."""
        return self.stdout + self.stderr

    def task(self, name):
        """The result of the task with this name (the last one, if it ran more than once)."""
        matches = [task for task in self.tasks if task.name == name]
        if not matches:
            raise KeyError("no task named %r; tasks: %s" % (name, [task.name for task in self.tasks]))
        return matches[-1]

    def changed(self):
        """Names of the tasks that reported a change."""
        return [task.name for task in self.tasks if task.status == "changed"]

    def passwords(self):
        """The records aad_user appended to the play's password_file (run_play), oldest first."""
        path = getattr(self, "password_file", None)
        if path is None or not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


def connection_vars(conn):
    """Extra vars that carry a sandbox's connection options into a play."""
    values = dict(("m365_" + key, conn[key]) for key in CONNECTION_KEYS)
    values["m365_domain"] = conn.get("default_domain")
    return values


def module_defaults(connection=True):
    """The play's module_defaults: every connection option from the extra vars (unless `connection` is
    false), and the file where aad_user appends the passwords it sets (results never carry them)."""
    defaults = {"m365.cloud_identity.aad_user": {"password_file": "{{ m365_password_file }}"}}
    if connection:
        defaults["group/m365.cloud_identity.graph"] = dict((key, "{{ m365_%s }}" % key) for key in CONNECTION_KEYS)
    return defaults


def playbook_environment(results_path, work_dir, extra_env=None):
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith(INHERITED_PREFIXES))
    env.update(extra_env or {})
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACK_DIR),
        ANSIBLE_CALLBACKS_ENABLED="record_results",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_LOCAL_TEMP=str(work_dir / "ansible-tmp"),
        M365_TEST_RESULTS=str(results_path),
    )
    return env


def run_ansible_playbook(playbook, work_dir, extra_vars, check=False, diff=False, verbosity=0,
                         expect_failure=False, env=None):
    """Run one playbook and return its PlayResult; fail the test on an unexpected rc.

    `env` adds environment variables to ansible-playbook's process (as a platform such as an AWX pod
    or App Service sets them); the tasks' modules inherit them.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    results_path = work_dir / "results.json"
    vars_path = work_dir / "extra-vars.json"
    if results_path.exists():
        results_path.unlink()
    # A file, not the command line: the secret stays out of process listings.
    vars_path.write_text(json.dumps(extra_vars))

    command = [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", "@%s" % vars_path]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)

    completed = subprocess.run(command, cwd=str(REPO_ROOT), env=playbook_environment(results_path, work_dir, env),
                               capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
    records = json.loads(results_path.read_text()) if results_path.exists() else []
    result = PlayResult(completed.returncode, completed.stdout, completed.stderr,
                        [TaskResult(**record) for record in records])

    if expect_failure:
        assert result.rc != 0, "the play was expected to fail but succeeded:\n" + result.stdout
    else:
        assert result.rc == 0, "ansible-playbook exited %d:\n%s\n%s" % (result.rc, result.stdout, result.stderr)
    return result


@pytest.fixture
def run_play(sandbox, tmp_path):
    """run_play(tasks, check=False, diff=False, verbosity=0, extra_vars=None, expect_failure=False,
    env=None, connection=True).

    `tasks` is a list of task dicts (or a YAML string of one); they run in one
    play on localhost with the sandbox's connection in module_defaults, or with
    `connection=False` without it (the connection then comes from `env`).
    """
    runs = []

    def run(tasks, check=False, diff=False, verbosity=0, extra_vars=None, expect_failure=False, env=None,
            connection=True):
        if isinstance(tasks, str):
            tasks = yaml.safe_load(tasks)
        play = dict(
            name="integration test play",
            hosts="localhost",
            connection="local",
            gather_facts=False,
            module_defaults=module_defaults(connection),
            tasks=tasks,
        )
        work_dir = tmp_path / ("run-%d" % len(runs))
        work_dir.mkdir()
        playbook = work_dir / "play.yml"
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        all_vars = connection_vars(sandbox.conn)
        # Empty (extra_vars m365_password_file="") means no password_file.
        all_vars["m365_password_file"] = str(work_dir / "passwords.jsonl")
        all_vars.update(extra_vars or {})
        runs.append(playbook)
        result = run_ansible_playbook(playbook, work_dir, all_vars, check=check, diff=diff, verbosity=verbosity,
                                      expect_failure=expect_failure, env=env)
        result.password_file = Path(all_vars["m365_password_file"]) if all_vars["m365_password_file"] else None
        return result

    return run


@pytest.fixture
def run_playbook(sandbox, tmp_path):
    """run_playbook(path, ...): run a playbook of the repository against the sandbox."""
    runs = []

    def run(playbook, check=False, diff=False, verbosity=0, extra_vars=None, expect_failure=False):
        work_dir = tmp_path / ("playbook-%d" % len(runs))
        runs.append(playbook)
        all_vars = connection_vars(sandbox.conn)
        all_vars.update(extra_vars or {})
        return run_ansible_playbook(REPO_ROOT / playbook, work_dir, all_vars, check=check, diff=diff,
                                    verbosity=verbosity, expect_failure=expect_failure)

    return run
