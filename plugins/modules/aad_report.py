#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aad_report
short_description: Write a tenant identity report, one self-contained HTML page with charts, and its data as JSON
version_added: 1.0.0
description:
  - Reads the tenant through Microsoft Graph (subscribed SKUs, users, groups and their member counts,
    in a few paged and batched requests) and writes a report of it to O(path), with the same figures
    as JSON at O(json_path).
  - 'The page shows: seats per licence (bought, in use, free, utilisation, assignments in error with the
    users concerned); member accounts per department, enabled or disabled, and those without a usage
    location; guests by invitation state and age, with the oldest pending invitations; groups by kind,
    the largest groups and every dynamic membership rule; and, when O(drift) is given, what applying
    a tenant spec would change.'
  - The page needs nothing beside itself (no script, no web font, no network). Styles are inline and
    charts are inline SVG images with a title and a description, each with a table of the same numbers.
    It prints cleanly.
  - Figures are aggregated in the module, so a 10,000-user tenant gives a page of a few hundred rows;
    lists are cut at O(top) rows.
  - The files are rewritten only when a figure changed (the generation time alone does not count), so
    the task reports C(changed) only then.
author:
  - m365.cloud_identity maintainers (@m365-cloud-identity)
extends_documentation_fragment:
  - m365.cloud_identity.graph
  - ansible.builtin.files
options:
  path:
    description: Where to write the HTML page. Its directory must exist.
    type: path
    required: true
  json_path:
    description: Where to write the JSON data. By default O(path) with the extension C(.json).
    type: path
  title:
    description: The page's title.
    type: str
    default: Tenant identity report
  top:
    description: How many rows lists (largest groups, departments, users in error, oldest invitations) show at most.
    type: int
    default: 10
  drift:
    description:
      - The changes applying a tenant spec would make, one entry per stage, for the report's drift section.
        Each entry takes C(name) and a list-form module's check-mode C(results) and C(summary), or C(error)
        when that check run failed; an entry with C(skipped) true is left out. playbooks/report.yml fills it from M(m365.cloud_identity.aad_group),
        M(m365.cloud_identity.aad_user), M(m365.cloud_identity.aad_guest) and
        M(m365.cloud_identity.aad_license) run in check mode on the spec.
      - Omit it for a report without a drift section.
    type: list
    elements: dict
attributes:
  check_mode:
    description: In check mode the tenant is read and the report built, but no file is written.
    support: full
  diff_mode:
    description: Does not return a diff.
    support: none
  action_group:
    description: Use C(group/m365.cloud_identity.graph) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - m365.cloud_identity.graph
notes:
  - 'Permissions: C(User.Read.All), C(Group.Read.All) (or C(GroupMember.Read.All)) and C(Organization.Read.All).'
  - The report names users (principal names of accounts without a usage location, in licence error, or
    with a pending invitation); set O(mode) to keep it private.
seealso:
  - module: m365.cloud_identity.aad_license_info
  - module: m365.cloud_identity.aad_group_info
"""

EXAMPLES = r"""
- name: Write the tenant report
  m365.cloud_identity.aad_report:
    path: /srv/reports/tenant.html
    mode: "0640"
  register: report

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ report.html_path }} ({{ report.summary.seats_in_error }} licence assignments in error)"

- name: Compare the tenant with a spec (check mode), then draw both
  m365.cloud_identity.aad_user:
    users: "{{ m365_tenant.users }}"
  check_mode: true
  register: user_drift

- name: Write the report with the drift
  m365.cloud_identity.aad_report:
    path: /srv/reports/tenant.html
    drift:
      - name: Users
        results: "{{ user_drift.results }}"
        summary: "{{ user_drift.summary }}"
"""

RETURN = r"""
html_path:
  description: The HTML page.
  returned: always
  type: str
  sample: /srv/reports/tenant.html
json_path:
  description: The JSON data.
  returned: always
  type: str
  sample: /srv/reports/tenant.json
html_bytes:
  description: Size of the HTML page.
  returned: always
  type: int
summary:
  description: Headline figures of the report.
  returned: always
  type: dict
  contains:
    users:
      description: Member accounts (guests not included).
      type: int
    users_disabled:
      description: Member accounts that cannot sign in.
      type: int
    users_without_usage_location:
      description: Member accounts without a usage location.
      type: int
    guests:
      description: Guest accounts.
      type: int
    guests_pending:
      description: Guests who have not accepted their invitation.
      type: int
    groups:
      description: Groups.
      type: int
    seats_enabled:
      description: Seats bought, all SKUs together.
      type: int
    seats_consumed:
      description: Seats in use, all SKUs together.
      type: int
    seats_in_error:
      description: Licence assignments in an error state (for example C(CountViolation)).
      type: int
    drift_changes:
      description: Objects applying the spec would change.
      type: int
      returned: when O(drift) is given
"""

import datetime
import json
import os

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.report_html import render
from ansible_collections.m365.cloud_identity.plugins.module_utils.tenant_report import (
    build_report,
    headline,
    read_tenant,
)


def default_json_path(path):
    return os.path.splitext(path)[0] + ".json"


def unchanged_since(json_path, report):
    """True when the JSON already there holds the same figures (whatever its generation time)."""
    try:
        with open(json_path) as handle:
            previous = json.load(handle)
    except (IOError, OSError, ValueError):
        return False
    figures = json.loads(json.dumps(dict(report, generated_at=None)))
    return isinstance(previous, dict) and dict(previous, generated_at=None) == figures


def write_file(module, path, text):
    """Write atomically (a reader never sees half a report)."""
    temp = "%s.tmp-%d" % (path, os.getpid())
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
    module.atomic_move(temp, path)


def main_logic(graph):
    params = graph.params
    module = graph.module
    html_path = params["path"]
    json_path = params.get("json_path") or default_json_path(html_path)
    if params["top"] < 1:
        graph.fail("top must be 1 or more, got %d" % params["top"])
    if not os.path.isdir(os.path.dirname(os.path.abspath(html_path))):
        graph.fail("path: the directory of %s does not exist; create it first" % html_path)
    drift = None
    if params.get("drift") is not None:
        drift = []
        for index, stage in enumerate(params["drift"]):
            if not stage.get("name"):
                graph.fail("drift[%d]: each stage needs a name (and the module's results and summary, or error)"
                           % index)
            if not boolean(stage.get("skipped") or False, strict=False):
                drift.append(stage)

    now = datetime.datetime.now(datetime.timezone.utc)
    report = build_report(read_tenant(graph.client), now, top=params["top"], drift=drift,
                          title=params["title"])
    page = render(report)
    changed = not (os.path.exists(html_path) and unchanged_since(json_path, report))
    if changed and not graph.check_mode:
        write_file(module, json_path, json.dumps(report, indent=1, sort_keys=True) + "\n")
        write_file(module, html_path, page)
    result = dict(changed=changed, html_path=html_path, json_path=json_path,
                  html_bytes=len(page.encode("utf-8")), summary=headline(report))
    if not graph.check_mode:
        for path in (html_path, json_path):
            file_args = module.load_file_common_arguments(params, path=path)
            result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    return result


def main():
    graph = GraphModule(
        dict(
            path=dict(type="path", required=True),
            json_path=dict(type="path"),
            title=dict(type="str", default="Tenant identity report"),
            top=dict(type="int", default=10),
            drift=dict(type="list", elements="dict"),
        ),
        add_file_common_args=True,
    )
    graph.run(main_logic)


if __name__ == "__main__":
    main()
