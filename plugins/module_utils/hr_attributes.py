# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The user attributes an HR feed sets: dates, age group and consent, organisation data.

Shared by aad_user, aad_guest and aad_user_info (through users.py), with no Ansible
imports. Each attribute has an option name (snake_case) and a Graph property
(camelCase); values are checked before any request and normalised, so a rerun
compares equal with what Graph returns:

* dates (employee_hire_date, employee_leave_date_time) take ISO 8601 (a date, or a
  date and time with or without an offset) and are written and compared in Graph's
  UTC form 2024-05-01T00:00:00Z;
* age_group and consent_provided_for_minor take Graph's values in any case and are
  written in Graph's spelling;
* employee_org_data (division, cost_center) is one complex value in Graph: a key left
  out keeps its value, because the PATCH always sends both (Graph nulls a key the
  body leaves out).

An empty string clears an attribute, as for the other user attributes.
"""

from __future__ import annotations

import datetime
import re

# Option -> Graph property, for the dates Graph keeps as DateTimeOffset.
DATE_ATTRIBUTES = (
    ("employee_hire_date", "employeeHireDate"),
    ("employee_leave_date_time", "employeeLeaveDateTime"),
)
# Option -> (Graph property, the values Graph allows) (DC api/user-update.md).
ENUM_ATTRIBUTES = (
    ("age_group", "ageGroup", ("Minor", "NotAdult", "Adult")),
    ("consent_provided_for_minor", "consentProvidedForMinor", ("Granted", "Denied", "NotRequired")),
)
ORG_DATA_OPTION = "employee_org_data"
ORG_DATA_PROPERTY = "employeeOrgData"
# employee_org_data key -> employeeOrgData property (DC resources/employeeorgdata.md).
ORG_DATA_KEYS = (("division", "division"), ("cost_center", "costCenter"))


def org_data_argument_spec():
    """The argument spec of employee_org_data, shared by aad_user and aad_guest."""
    return dict(type="dict", options=dict((key, dict(type="str")) for key, _prop in ORG_DATA_KEYS))


HR_ATTRIBUTES = dict(
    list(DATE_ATTRIBUTES)
    + [(option, prop) for option, prop, _values in ENUM_ATTRIBUTES]
    + [(ORG_DATA_OPTION, ORG_DATA_PROPERTY)]
)
LEAVE_DATE_PROPERTY = "employeeLeaveDateTime"

# Reading employeeLeaveDateTime needs User-LifeCycleInfo.Read.All, writing it
# User-LifeCycleInfo.ReadWrite.All, on top of the User.* permissions (DC resources/user.md,
# api/user-update.md, tutorial-lifecycle-workflows-set-employeeleavedatetime.md).

# An SMTP address as Graph takes it for mail: ASCII only ("can't contain accent characters", DC resources/user.md).
_MAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(\.\d{1,7})?([Zz]|[+-]\d{2}:?\d{2})?$")


def parse_iso8601(value):
    """An ISO 8601 date or date-time -> aware UTC datetime (UTC when no offset); ValueError if not one."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if _ISO_DATE.match(text):
            moment = datetime.datetime.strptime(text, "%Y-%m-%d")
        else:
            found = _ISO_DATE_TIME.match(text)
            if not found:
                raise ValueError(text)
            day, clock, fraction, offset = found.groups()
            clock_format = "%H:%M:%S" if clock.count(":") == 2 else "%H:%M"
            moment = datetime.datetime.strptime(day + "T" + clock, "%Y-%m-%dT" + clock_format)
            if fraction:
                moment = moment.replace(microsecond=int((fraction[1:] + "000000")[:6]))
            if offset and offset.upper() != "Z":
                sign = 1 if offset[0] == "+" else -1
                digits = offset[1:].replace(":", "")
                delta = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                moment = moment.replace(tzinfo=datetime.timezone(sign * delta))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def graph_datetime(value):
    """A date option -> Graph's UTC form (2024-05-01T00:00:00Z); None for None or ""."""
    if value is None or value == "":
        return None
    moment = parse_iso8601(value)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += (".%06d" % moment.microsecond).rstrip("0")
    return text + "Z"


def _graph_datetime_or_raw(value):
    """Graph's stored value in the same form (kept as is if Graph ever sends something unparsable)."""
    try:
        return graph_datetime(value)
    except ValueError:
        return value


def _canonical(value, allowed):
    for name in allowed:
        if name.lower() == str(value).lower():
            return name
    return None


def hr_problems(item):
    """Problems with the item's HR options, found without a request; [] when valid."""
    problems = []
    mail = item.get("mail")
    if mail not in (None, "") and not _MAIL.match(mail):
        problems.append("mail '%s' is not an SMTP address Graph accepts (alias@domain, ASCII letters without "
                        "accents)" % mail)
    for option, _prop in DATE_ATTRIBUTES:
        value = item.get(option)
        if value in (None, ""):
            continue
        try:
            parse_iso8601(value)
        except ValueError:
            problems.append("%s '%s' is not an ISO 8601 date or date and time; use for example 2024-05-01 or "
                            "2024-05-01T09:00:00Z (\"\" clears it)" % (option, value))
    for option, _prop, allowed in ENUM_ATTRIBUTES:
        value = item.get(option)
        if value not in (None, "") and _canonical(value, allowed) is None:
            problems.append("%s '%s' is not a value Graph accepts; use %s (\"\" clears it)"
                            % (option, value, ", ".join(allowed)))
    org_data = item.get(ORG_DATA_OPTION)
    if org_data is not None:
        if not isinstance(org_data, dict):
            problems.append("%s must be a dictionary with the keys division and cost_center" % ORG_DATA_OPTION)
        else:
            known = [key for key, _prop in ORG_DATA_KEYS]
            for key in sorted(org_data):
                if key not in known:
                    problems.append("%s: unknown key '%s'; use %s" % (ORG_DATA_OPTION, key, " or ".join(known)))
                elif org_data[key] is not None and not isinstance(org_data[key], str):
                    problems.append("%s.%s must be a string (\"\" clears it)" % (ORG_DATA_OPTION, key))
    return problems


def org_data_to_option(value):
    """Graph's employeeOrgData -> {division, cost_center} (both keys, None when unset)."""
    value = value or {}
    return dict((key, value.get(prop) or None) for key, prop in ORG_DATA_KEYS)


def hr_to_options(doc):
    """A Graph user's HR properties in option names (the form the options take)."""
    options = {}
    for option, prop in DATE_ATTRIBUTES:
        if prop == LEAVE_DATE_PROPERTY and prop not in doc:
            continue  # not read (it needs its own permission)
        options[option] = _graph_datetime_or_raw(doc.get(prop))
    for option, prop, _allowed in ENUM_ATTRIBUTES:
        options[option] = doc.get(prop) or None
    options[ORG_DATA_OPTION] = org_data_to_option(doc.get(ORG_DATA_PROPERTY))
    return options


def hr_changes(item, doc):
    """Graph properties to write for the HR options the item sets, and the diff in option names.

    Returns (changes, before, after); an option left out (None) is left alone. Expects
    an item that hr_problems() found valid.
    """
    changes, before, after = {}, {}, {}
    for option, prop in DATE_ATTRIBUTES:
        if item.get(option) is None:
            continue
        want = graph_datetime(item[option])
        have = _graph_datetime_or_raw(doc.get(prop))
        if want != have:
            changes[prop] = want
            before[option], after[option] = have, want
    for option, prop, allowed in ENUM_ATTRIBUTES:
        if item.get(option) is None:
            continue
        want = _canonical(item[option], allowed) if item[option] != "" else None
        have = doc.get(prop) or None
        if want != have:
            changes[prop] = want
            before[option], after[option] = have, want
    org_data = item.get(ORG_DATA_OPTION)
    if org_data is not None:
        have = org_data_to_option(doc.get(ORG_DATA_PROPERTY))
        want = dict(have)
        for key, _prop in ORG_DATA_KEYS:
            if org_data.get(key) is not None:
                want[key] = org_data[key] or None
        if want != have:
            # Both keys, always: Graph sets a key the body leaves out to null.
            changes[ORG_DATA_PROPERTY] = dict((prop, want[key]) for key, prop in ORG_DATA_KEYS)
            before[ORG_DATA_OPTION], after[ORG_DATA_OPTION] = have, want
    return changes, before, after
