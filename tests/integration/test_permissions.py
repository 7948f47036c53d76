"""The README's least-privilege table, checked: each writing module works with exactly the application
permissions the README lists for it, and with one of them removed fails with a message naming it,
before any write reaches the sandbox.

The sandbox of this file is seeded with one app registration per permission set (`roles` is what its
tokens carry); run_play's connection is switched to an app through extra vars.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandbox" / "graph_sandbox" / "data" / "default_seed.yaml"


def _sandbox_class():
    """tests/conftest.py's Sandbox (both conftest files are named `conftest`, so load it by path)."""
    spec = importlib.util.spec_from_file_location("m365_tests_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Sandbox


Sandbox = _sandbox_class()

MEMBER = "ada.admin@contoso.com"
EXISTING_GROUP = "perm-existing-team"

# module -> (the permissions the README lists for what the tasks do, the tasks by name, and for each
# permission the task that needs it). The exact app runs every task; an app without one permission runs
# the task that needs it.
CASES = {
    "aad_user": (["User.ReadWrite.All"],
                 {"create": {"user_principal_name": "perm.user@contoso.com", "display_name": "Perm User",
                             "password": "Perm!ssion9x"}},
                 {"User.ReadWrite.All": "create"}),
    "aad_group": (["Group.Create", "Group.Read.All", "GroupMember.ReadWrite.All", "User.Read.All"],
                  {"create": {"display_name": "Permission Team", "unique_name": "permission-team",
                              "group_type": "security"},
                   "add member": {"unique_name": EXISTING_GROUP, "members": {"add": [MEMBER]}}},
                  {"Group.Create": "create", "Group.Read.All": "create", "GroupMember.ReadWrite.All": "add member",
                   "User.Read.All": "add member"}),
    "aad_license": (["LicenseAssignment.ReadWrite.All", "Organization.Read.All", "User.Read.All"],
                    {"assign": {"user": MEMBER, "licenses": {"add": [{"sku": "POWER_BI_STANDARD"}]}}},
                    {"LicenseAssignment.ReadWrite.All": "assign", "Organization.Read.All": "assign",
                     "User.Read.All": "assign"}),
    "aad_guest": (["User.ReadWrite.All"],
                  {"invite": {"email": "perm.guest@fabrikam.com", "display_name": "Perm Guest",
                              "send_invitation_message": False}},
                  {"User.ReadWrite.All": "invite"}),
}


def app_name(module, removed=None):
    return "%s-without-%s" % (module, removed) if removed else "%s-exact" % module


def seed_apps():
    apps = []
    for module, (permissions, _tasks, _needs) in CASES.items():
        apps.append({"name": app_name(module), "client_id": str(uuid.uuid4()), "client_secret": "generate",
                     "roles": list(permissions)})
        for removed in permissions:
            apps.append({"name": app_name(module, removed), "client_id": str(uuid.uuid4()),
                         "client_secret": "generate", "roles": [p for p in permissions if p != removed]})
    return apps


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A sandbox whose seed adds the apps of this file to the default tenant."""
    seed = yaml.safe_load(SEED.read_text())
    seed["apps"] = seed["apps"] + seed_apps()
    state = tmp_path_factory.mktemp("permissions-sandbox")
    seed_file = state / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    box = Sandbox(state / "state", seed_file).start()
    with box.client() as graph:  # the group whose members the aad_group case changes
        graph.post("/groups", json={"displayName": EXISTING_GROUP, "mailNickname": EXISTING_GROUP,
                                    "mailEnabled": False, "securityEnabled": True, "uniqueName": EXISTING_GROUP})
    yield box
    box.stop()


def as_app(sandbox, name):
    app = sandbox.app(name)
    return {"m365_client_id": app["client_id"], "m365_client_secret": app["client_secret"]}


def task(module, name, options):
    return {"name": name, "m365.cloud_identity.%s" % module: options, "ignore_errors": True}


def test_readme_lists_the_permissions_this_test_grants():
    readme = (ROOT / "README.md").read_text()
    for module, (permissions, _tasks, _needs) in CASES.items():
        row = next(line for line in readme.splitlines() if line.startswith("| `%s` |" % module))
        for permission in permissions:
            assert "`%s`" % permission in row, (module, permission)


@pytest.mark.parametrize("module", sorted(CASES))
def test_module_works_with_the_readme_permissions_and_names_any_one_removed(module, run_play, sandbox):
    permissions, tasks, needs = CASES[module]
    assert sorted(needs) == sorted(permissions)
    # Removed-permission runs first, so the objects do not exist yet and each task would have to write.
    for removed in permissions:
        name = needs[removed]
        sandbox.reset_counters()
        play = run_play([task(module, name, tasks[name])], extra_vars=as_app(sandbox, app_name(module, removed)))
        result = play.task(name)
        assert result.status == "failed", (removed, result.result)
        assert removed in result.result["msg"], (removed, result.result["msg"])
        assert sandbox.counters()["http"]["write"] == 0, (removed, sandbox.counters()["http"]["by_route"])

    every_task = [task(module, name, options) for name, options in tasks.items()]
    first = run_play(every_task, extra_vars=as_app(sandbox, app_name(module)))
    assert [(t.status, t.result.get("msg")) for t in first.tasks] == [("changed", None)] * len(tasks)
    again = run_play(every_task, extra_vars=as_app(sandbox, app_name(module)))
    assert [t.status for t in again.tasks] == ["ok"] * len(tasks)
