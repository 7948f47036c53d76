# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where aad_user puts the passwords it sets: a file only its owner can read, never the task result.

One JSON object per line (JSON Lines), appended, so a file collects every run:
``{"user_principal_name", "id", "password", "action", "time"}``. The file is
created with mode 0600 and narrowed to 0600 if it exists with a wider mode.
Keeping passwords out of the result means a task needs no ``no_log``: its
failures and ``--diff`` stay readable in job logs (docs/security.md).

No Ansible imports; Python 3.9+.
"""

from __future__ import annotations

import datetime
import json
import os
import stat

FILE_MODE = 0o600


def password_record(user_principal_name, user_id, password, action, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"user_principal_name": user_principal_name, "id": user_id, "password": password, "action": action,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


def check_password_file(path):
    """Why the file cannot take passwords (its folder is missing, it is not a file), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "password_file %s: the folder %s does not exist; create it (mode 0700) first" % (path, folder)
    if os.path.exists(path) and not os.path.isfile(path):
        return "password_file %s is not a regular file; give the path of a file" % path
    return None


def append_passwords(path, records):
    """Append the records, one JSON line each; the file ends up mode 0600 whatever it was."""
    if not records:
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(descriptor, "a") as handle:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != FILE_MODE:
            os.fchmod(descriptor, FILE_MODE)
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
