"""aad_contact_info through ansible-playbook: contacts with the groups they belong to.

Contacts and their distribution lists come from the seed (Graph v1.0 cannot create contacts), so this file runs
against a sandbox of its own whose seed puts a contact into two lists.
"""
import importlib.util
import textwrap
from pathlib import Path

import pytest

from graph_sandbox.seed import DEFAULT_SEED

CONTACTS = textwrap.dedent("""
    contacts:
      - {displayName: Pat Partner, givenName: Pat, surname: Partner, mail: pat.partner@fabrikam.com,
         companyName: Fabrikam, jobTitle: Account Manager, memberOf: [Partners, Fabrikam Project]}
      - {displayName: Quinn Supplier, mail: quinn@northwindtraders.com, companyName: Northwind Traders}
    """)


def _sandbox_class():
    """The test harness's Sandbox (tests/conftest.py), loaded by path: `conftest` here is this directory's."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("root_conftest_for_contacts", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """This module's sandbox: the default seed with contacts that belong to distribution lists."""
    seed = tmp_path_factory.mktemp("contacts") / "seed.yaml"
    seed.write_text(DEFAULT_SEED.read_text().split("\ncontacts:")[0] + CONTACTS)
    box = _sandbox_class()(seed.parent / "state", seed).start()
    yield box
    box.stop()


def test_contacts_with_their_groups(run_play, sandbox):
    sandbox.reset_counters()
    play = run_play([
        {"name": "all", "m365.cloud_identity.aad_contact_info": {}},
        {"name": "one", "m365.cloud_identity.aad_contact_info": {"mail": "pat.partner@fabrikam.com"}},
    ], check=True)
    contacts = play.task("all").result["contacts"]
    assert [(c["display_name"], c["company_name"], c["groups"]) for c in contacts] == [
        ("Pat Partner", "Fabrikam", ["Fabrikam Project", "Partners"]),
        ("Quinn Supplier", "Northwind Traders", []),
    ]
    one = play.task("one").result["contacts"]
    assert [c["mail"] for c in one] == ["pat.partner@fabrikam.com"] and one[0]["job_title"] == "Account Manager"
    assert play.task("all").status == "ok"
    assert sandbox.counters()["http"]["write"] == 0
