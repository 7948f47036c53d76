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

import secrets
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
