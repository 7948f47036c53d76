# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of option values that need no request, shared by the writing modules.

Each check returns a message naming the option, the value (the item) and the
fix, or None / [] when the value is fine. They run before any read or write,
so bad input never reaches Graph (docs/graph-rules.md, "Input checked before
any request", gives the Microsoft source of each limit).

No Ansible imports; Python 3.9+.
"""

from __future__ import annotations

import re
import unicodedata

# displayName of users and groups, and a guest's invitedUserDisplayName: at most 256 characters
# (Microsoft Graph user and group resource types).
DISPLAY_NAME_MAX = 256

# A language tag in BCP 47 form as Graph's preferredLanguage and messageLanguage take it: a two- or
# three-letter ISO 639 language, an optional four-letter script, an optional two-letter ISO 3166 region
# or three-digit UN M.49 area: en, en-US, zh-Hans-CN, es-419.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?$")

# An e-mail address: local@domain.tld, no spaces, no control characters, one @, a dotted domain whose
# labels are letters, digits and hyphens (IDNs allowed as Unicode letters).
_EMAIL = re.compile(r"^[^@\s]+@([^\W_]([\w-]*[^\W_])?\.)+[^\W\d_]{2,}$", re.UNICODE)


def _quoted(value, limit=60):
    """The value as a message shows it: repr-quoted (control characters visible), long ones shortened."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)


def _control_characters(value):
    return sorted(set(char for char in value if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")))


def text_problems(option, value, max_length=None, label=""):
    """Control characters, or more than max_length characters, in a free-text option."""
    if not isinstance(value, str) or value == "":
        return []
    where = label + ": " if label else ""
    problems = []
    bad = _control_characters(value)
    if bad:
        problems.append("%s%s %s contains control or invisible characters (%s); remove them"
                        % (where, option, _quoted(value), ", ".join("U+%04X" % ord(char) for char in bad)))
    if max_length is not None and len(value) > max_length:
        problems.append("%s%s %s is %d characters long; Microsoft Graph allows at most %d, shorten it"
                        % (where, option, _quoted(value), len(value), max_length))
    return problems


def display_name_problems(value, option="display_name", label=""):
    """A display name: not only spaces, no control characters, at most 256 characters."""
    if value is None:
        return []
    where = label + ": " if label else ""
    if isinstance(value, str) and value != "" and not value.strip():
        return ["%s%s %s is only whitespace; give a name people can read" % (where, option, _quoted(value))]
    return text_problems(option, value, DISPLAY_NAME_MAX, label)


def surrounding_space_problem(option, value):
    """Leading or trailing whitespace in a key such as a user principal name."""
    if not isinstance(value, str) or value == value.strip():
        return None
    side = "leading" if value != value.lstrip() else "trailing"
    if value != value.lstrip() and value != value.rstrip():
        side = "leading and trailing"
    return "%s %s has %s whitespace; remove it (%s)" % (option, _quoted(value), side, _quoted(value.strip()))


def email_problem(option, value):
    """An e-mail address option entry (other_mails, ...)."""
    if isinstance(value, str) and _EMAIL.match(value) and not _control_characters(value):
        return None
    return "%s entry %s is not an e-mail address; use the form name@example.com" % (option, _quoted(str(value)))


def email_list_problems(option, values):
    return [problem for problem in (email_problem(option, value) for value in values or []) if problem]


def language_tag_problem(option, value):
    """A BCP 47 language tag such as en-US (preferred_language, message_language)."""
    if value is None or value == "" or _LANGUAGE_TAG.match(value):
        return None
    return ("%s %s is not a language tag; use an ISO 639-1 language with an optional ISO 3166 region, "
            "such as en, en-US or fr-CA" % (option, _quoted(value)))


def permanent_problem(item, object_name):
    """permanent: true only makes sense with state: absent."""
    if item.get("permanent") and item.get("state", "present") != "absent":
        return ("permanent: true applies to state: absent only (it purges the deleted %s); set state: absent, "
                "or drop permanent" % object_name)
    return None


def _type_name(value):
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def shape_problems(spec, params, prefix=""):
    """{top-level option: message} for options with sub-options given in the wrong shape.

    Ansible's own message for these names no option ("dictionary requested, could not parse JSON or
    key=value"), so they are checked first. The message names the type, never the value (it may be
    a secret typed in the wrong place).
    """
    problems = {}
    for name, rule in spec.items():
        value = None
        for key in [name] + list(rule.get("aliases") or []):
            if isinstance(params, dict) and params.get(key) is not None:
                value = params[key]
        if value is None or not rule.get("options"):
            continue
        label = prefix + name
        if rule.get("type") == "dict":
            elements, where = [value], [label]
        elif rule.get("type") == "list" and rule.get("elements") == "dict":
            if not isinstance(value, list):
                problems[name] = "%s must be a list of mappings, got %s" % (label, _type_name(value))
                continue
            elements, where = value, ["%s[%d]" % (label, index) for index in range(len(value))]
        else:
            continue
        for element, element_label in zip(elements, where):
            if not isinstance(element, dict):
                problems[name] = "%s must be a mapping of its options (%s), got %s" % (
                    element_label, ", ".join(sorted(rule["options"])), _type_name(element))
                break
            inner = shape_problems(rule["options"], element, element_label + ".")
            if inner:
                problems[name] = next(iter(inner.values()))
                break
    return problems


def same_name(name):
    """A display name as matching compares it: Unicode NFC, case-folded.

    "Café" typed with a composed é (U+00E9) and with e + U+0301 is one name.
    """
    if name is None:
        return ""
    return unicodedata.normalize("NFC", name).casefold()


def spellings(name):
    """The name as given and in its composed (NFC) and decomposed (NFD) forms, for exact-match filters."""
    forms = [name, unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)]
    return [form for index, form in enumerate(forms) if form not in forms[:index]]
