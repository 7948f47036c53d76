# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test-only callback: writes every task result of a run to a JSON file.

The integration tests enable it (tests/integration/conftest.py) and read the
file back, so they can assert on each task's status and returned values
without parsing the human-readable output.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: Record each task's status and result as JSON (integration tests only)
description:
  - Appends one record per task and host to the JSON list in the file named by the
    E(M365_TEST_RESULTS) environment variable, rewriting the file after every task.
  - Results are recorded as Ansible hands them to callbacks, so C(no_log) results are
    already censored.
requirements:
  - The E(M365_TEST_RESULTS) environment variable names the output file.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._records = []
        self._path = os.environ.get("M365_TEST_RESULTS")

    def _record(self, result, status):
        task = result._task
        self._records.append(dict(
            name=task.get_name(),
            action=task.action,
            host=result._host.get_name(),
            status=status,
            result=_public_result(result._result),
        ))
        self._write()

    def _write(self):
        if not self._path:
            return
        temporary = self._path + ".tmp"
        with open(temporary, "w") as handle:
            json.dump(self._records, handle, indent=1, default=str)
        os.replace(temporary, self._path)

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")


def _public_result(result):
    """The result without Ansible's internal `_ansible_*` bookkeeping keys."""
    return dict((key, value) for key, value in result.items() if not str(key).startswith("_ansible_"))
