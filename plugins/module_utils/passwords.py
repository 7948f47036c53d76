# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Passwords for cloud-only accounts: Entra's complexity rule and a generator.

Microsoft Entra ID's password policy for cloud accounts (Microsoft Learn,
"Password policies and account restrictions in Microsoft Entra ID"):
8 to 256 characters; three of the four classes lowercase, uppercase, digit,
symbol; only ASCII letters, digits, the symbols below and the blank space.

No Ansible imports: the sandbox and unit tests use this file directly.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import stat
import string

MIN_LENGTH = 8
MAX_LENGTH = 256
REQUIRED_CLASSES = 3

# The symbols Entra allows in a password (plus the blank space).
ALLOWED_SYMBOLS = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> "

# The generator uses symbols that survive YAML, shells and CSV unquoted.
GENERATED_SYMBOLS = "!#%*+-=?@^_~"
GENERATED_LENGTH = 20

_CLASSES = (
    ("lowercase letters", string.ascii_lowercase),
    ("uppercase letters", string.ascii_uppercase),
    ("digits", string.digits),
    ("symbols", ALLOWED_SYMBOLS),
)

COMPLEXITY_RULE = (
    "Entra requires %d to %d characters, at least %d of: lowercase letters, uppercase letters, "
    "digits, symbols (%s), and no other characters (no letters outside A-Z, no accents)"
    % (MIN_LENGTH, MAX_LENGTH, REQUIRED_CLASSES, ALLOWED_SYMBOLS.strip())
)


def character_classes(password):
    """The names of the character classes the password uses."""
    return [name for name, chars in _CLASSES if any(char in chars for char in password)]


def password_problem(password, require_classes=True):
    """Why the password breaks Entra's rule, or None when it complies.

    require_classes=False checks only length and characters (for users with the
    DisableStrongPassword policy).
    The message never contains the password or any of its characters.
    """
    if not isinstance(password, str):
        return "the password must be a string"
    if len(password) < MIN_LENGTH:
        return "the password is shorter than %d characters" % MIN_LENGTH
    if len(password) > MAX_LENGTH:
        return "the password is longer than %d characters" % MAX_LENGTH
    allowed = string.ascii_letters + string.digits + ALLOWED_SYMBOLS
    if any(char not in allowed for char in password):
        return "the password contains a character Entra does not allow"
    if require_classes and len(character_classes(password)) < REQUIRED_CLASSES:
        return "the password uses only %d of the 4 character classes" % len(character_classes(password))
    return None


def is_strong(password):
    return password_problem(password) is None


def generate_password(length=GENERATED_LENGTH):
    """A random password with every class present, from the OS's CSPRNG."""
    if length < 4 or length > MAX_LENGTH:
        raise ValueError("length must be between 4 and %d" % MAX_LENGTH)
    pools = [string.ascii_lowercase, string.ascii_uppercase, string.digits, GENERATED_SYMBOLS]
    everything = "".join(pools)
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice(everything) for _position in range(length - len(pools))]
    # Shuffle so the guaranteed characters are not always first.
    for index in range(len(chars) - 1, 0, -1):
        swap = secrets.randbelow(index + 1)
        chars[index], chars[swap] = chars[swap], chars[index]
    return "".join(chars)


# ---- the password file -----------------------------------------------------------------------

class PasswordFileError(ValueError):
    """A password file the module must not write to; raised before any write to the tenant."""


class PasswordFile(object):
    """Where the passwords a task set or generated go: never into results, logs or diffs.

    One JSON object per line, appended: ``{"user_principal_name", "id",
    "password", "action", "time"}``. The file is created with mode 0600; an
    existing file that its group or others can read is refused, as is a
    directory that does not exist, both before anything is written to the tenant.
    """

    def __init__(self, path, clock=None):
        self.path = path
        self._clock = clock
        self._handle = None

    def check(self):
        """Raise PasswordFileError when the file cannot be used safely."""
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise PasswordFileError("password_file: directory %s does not exist; create it (mode 0700) or choose "
                                    "another path" % directory)
        if os.path.isdir(self.path):
            raise PasswordFileError("password_file: %s is a directory; give the path of a file" % self.path)
        if os.path.exists(self.path):
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
            if mode & 0o077:
                raise PasswordFileError("password_file: %s has mode %04o, so others could read the passwords; "
                                        "chmod 600 it or choose a new file" % (self.path, mode))
        if not os.access(directory if not os.path.exists(self.path) else self.path, os.W_OK):
            raise PasswordFileError("password_file: %s is not writable" % self.path)

    def append(self, user_principal_name, object_id, password, action):
        """Add one line and flush it at once, so nothing set is lost if the task stops later."""
        if self._handle is None:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._handle = os.fdopen(descriptor, "a")
        moment = self._clock() if self._clock else datetime.datetime.now(datetime.timezone.utc)
        record = {"user_principal_name": user_principal_name, "id": object_id, "password": password,
                  "action": action, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None
