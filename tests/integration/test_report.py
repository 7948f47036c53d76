"""playbooks/report.yml against a seeded sandbox, the page rendered in headless Chromium.

The tenant gets licence errors (a group licence with more members than seats), a dynamic group,
a pending and an accepted guest. The test runs the playbook with a spec to compare against, opens
the page in Debian's chromium (driven by Playwright; installed here when missing), and checks what
a reader would see: no console error, every chart drawn with one bar per figure, and the figures
those of aad_license_info. A screenshot is kept in tests/output/report/ for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "tests" / "output" / "report"
SALES_RULE = 'user.department -eq "Sales"'


def install_chromium():
    """Debian's chromium, installed with apt-get when missing (CI starts from a fresh machine)."""
    found = shutil.which("chromium")
    if found:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        completed = subprocess.run(prefix + command, capture_output=True, text=True, env=env, check=False)
        if completed.returncode != 0:
            pytest.fail("Could not install chromium (%s): %s" % (" ".join(command), completed.stderr[-2000:]))
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium but it is not on PATH")
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = install_chromium()
    with sync_playwright() as playwright:
        # Root cannot use Chromium's sandbox; the page is our own file.
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def seeded(sandbox, graph, tenant):
    """Licence errors, a dynamic group, guests in both states, on top of the default Contoso seed."""
    skus = dict((s["skuPartNumber"], s["skuId"]) for s in graph.list("/subscribedSkus", top=None))
    visio_team = tenant.group(members=tenant.users(5))     # Visio Plan 2 has 3 seats: 2 members in error
    graph.post("/groups/%s/assignLicense" % visio_team["id"],
               json={"addLicenses": [{"skuId": skus["VISIOCLIENT"], "disabledPlans": []}], "removeLicenses": []})
    graph.post("/groups", json={"displayName": "Sales (dynamic)", "mailNickname": "sales-dynamic",
                                "mailEnabled": False, "securityEnabled": True, "groupTypes": ["DynamicMembership"],
                                "membershipRule": SALES_RULE, "membershipRuleProcessingState": "On"})
    for address in ("pending.partner@fabrikam.com", "accepted.partner@fabrikam.com"):
        graph.post("/invitations", json={"invitedUserEmailAddress": address, "inviteRedirectUrl": "https://myapps.microsoft.com"})
    sandbox.control("POST", "guests/accepted.partner@fabrikam.com/redeem")
    return dict(visio_team=visio_team)


SPEC = {
    "groups": [{"display_name": "Report Drift Team", "unique_name": "report-drift-team", "group_type": "security",
                "licenses": ["SPE_E5"]}],
    "users": [
        {"user_principal_name": "ada.admin@contoso.com", "job_title": "Chief Identity Officer", "licenses": ["SPE_E3"]},
        {"user_principal_name": "new.joiner@contoso.com", "display_name": "New Joiner", "department": "Sales",
         "usage_location": "US", "password": "Correct-Horse-Battery-9"},
    ],
    "guests": [{"email": "future.partner@fabrikam.com", "display_name": "Future Partner"}],
}


def test_report_of_a_seeded_tenant_reads_well_in_chromium(seeded, run_playbook, run_play, graph, browser, tmp_path):
    html_path = tmp_path / "reports" / "tenant.html"
    html_path.parent.mkdir()
    vars_ = {"m365_report_path": str(html_path), "m365_tenant": SPEC}

    check = run_playbook("playbooks/report.yml", extra_vars=vars_, check=True)
    assert check.task("Write the report").status == "changed" and not html_path.exists()

    first = run_playbook("playbooks/report.yml", extra_vars=vars_, verbosity=3)
    assert first.task("Write the report").status == "changed"
    assert "Correct-Horse-Battery-9" not in first.output
    data = json.loads(html_path.with_suffix(".json").read_text())
    page = html_path.read_text()
    assert oct(html_path.stat().st_mode & 0o777) == "0o600"
    assert "Correct-Horse-Battery-9" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in page and "src=" not in page and len(page.encode()) < 2_000_000

    # Nothing in the tenant changed: the second run leaves the files alone.
    second = run_playbook("playbooks/report.yml", extra_vars=vars_)
    assert second.task("Write the report").status == "ok"

    licences = run_play([{"name": "Licences", "m365.cloud_identity.aad_license_info": {}, "register": "info"}])
    skus = licences.task("Licences").result["skus"]
    assert [(s["display_name"], s["enabled"], s["consumed"], s["free"]) for s in data["licenses"]["skus"]] == \
        [(s["display_name"], s["enabled"], s["consumed"], s["free"]) for s in skus]
    visio = next(s for s in data["licenses"]["skus"] if s["sku_part_number"] == "VISIOCLIENT")
    assert (visio["consumed"], visio["in_error"], visio["utilisation"]) == (3, 2, 100.0)
    assert {e["error"] for e in visio["users_in_error"]} == {"CountViolation"}
    assert {e["group"] for e in visio["users_in_error"]} == {seeded["visio_team"]["displayName"]}
    assert data["guests"]["by_state"] == {"PendingAcceptance": 1, "Accepted": 1, "Other": 0}
    assert [g["mail"] for g in data["guests"]["oldest_pending"]] == ["pending.partner@fabrikam.com"]
    assert [g["rule"] for g in data["groups"]["dynamic"]] == [SALES_RULE]
    assert data["users"]["total"] == 11 and data["users"]["disabled"] == 1
    stages = dict((s["name"], s) for s in data["drift"]["stages"])
    assert sorted(stages) == ["Groups", "Guests", "Licences", "Users"]
    assert [stages["Groups"]["summary"]["created"], stages["Users"]["summary"]["created"],
            stages["Users"]["summary"]["updated"], stages["Licences"]["summary"]["updated"],
            stages["Guests"]["summary"]["invited"]] == [1, 1, 1, 1, 1], json.dumps(stages["Licences"])
    ada = next(i for i in stages["Users"]["items"] if i["key"] == "ada.admin@contoso.com")
    assert ada["changes"] == ["job_title"]
    # Check mode really wrote nothing.
    assert graph.list("/users", filter="userPrincipalName eq 'new.joiner@contoso.com'", select=["id"]) == []

    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    tab.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on("request", lambda request: problems.append("fetched " + request.url)
           if not request.url.startswith("file://") else None)
    tab.goto(html_path.as_uri())
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT_DIR / "tenant-report.png"), full_page=True)
    assert problems == []

    def bars(chart, kind=None):
        selector = "#%s rect.bar%s" % (chart, "." + kind if kind else "")
        return tab.eval_on_selector_all(selector, "els => els.map(e => [Number(e.dataset.value), e.getBBox().width])")

    assert [drawn_bar[0] for drawn_bar in bars("chart-licences", "purchased")] == [s["enabled"] for s in skus]
    assert [drawn_bar[0] for drawn_bar in bars("chart-licences", "consumed")] == [s["consumed"] for s in skus]
    # Drawn: a bar is as wide as its value allows (the largest is the widest, zero is empty).
    drawn = bars("chart-licences", "purchased")
    widest = max(drawn, key=lambda drawn_bar: drawn_bar[1])
    assert widest[0] == max(s["enabled"] for s in skus) and widest[1] > 100
    assert len(bars("chart-departments")) == 2 * len(data["users"]["by_department"])
    assert [drawn_bar[0] for drawn_bar in bars("chart-guest-states")] == [1, 1, 0]
    assert len(bars("chart-guest-ages")) == 3 * 5
    assert len(bars("chart-group-kinds")) == 4
    assert len(bars("chart-largest-groups")) == len(data["groups"]["largest"])
    assert len(bars("chart-drift")) > 0
    for chart in tab.query_selector_all("svg.chart"):
        assert chart.get_attribute("role") == "img"
        assert chart.query_selector("title").text_content() and chart.query_selector("desc").text_content()
        box = chart.bounding_box()
        assert box["width"] > 200 and box["height"] > 20
    # The numbers are in the licence table too, for screen readers and copy-paste.
    table_rows = tab.eval_on_selector_all(
        "#table-licences tbody tr:not(.total)",
        "rows => rows.map(r => Array.from(r.cells).slice(1, 4).map(c => Number(c.textContent.replace(/,/g, ''))))")
    assert table_rows == [[s["enabled"], s["consumed"], s["free"]] for s in skus]
    tab.close()
