# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Microsoft Graph application permissions each request needs, least privilege first.

Two uses, both only to give a better message (Graph itself decides):

* before a write, :func:`missing_for_request` compares the request with the
  ``roles`` claim of the app's token; when the token plainly holds none of the
  permissions that allow it, the module fails before its first write, naming
  the permission to grant (instead of one refused write per item);
* on a 403, :func:`forbidden_hint` names the permission the refused request
  needs.

Sources: each API's "Permissions" section in the Microsoft Graph v1.0
reference (create user, update user, delete user, assignLicense, create
invitation, create group, add member, add owner, restore deleted item,
list subscribedSkus, list domains) and the permissions reference. The README's
table ("Register an app") is :data:`MODULE_PERMISSIONS`; a test keeps both in step.

No Ansible imports: the Graph client and the unit tests use this file directly.
"""

from __future__ import annotations

import re

DIRECTORY_READ = "Directory.Read.All"
DIRECTORY_WRITE = "Directory.ReadWrite.All"

# What the README documents per module: the permissions every run needs, and those for some options.
MODULE_PERMISSIONS = {
    "aad_user": {"needs": ["User.ReadWrite.All"],
                 "options": ["Domain.Read.All", "Organization.Read.All", "GroupMember.ReadWrite.All"]},
    "aad_user_info": {"needs": ["User.Read.All"], "options": ["GroupMember.Read.All", "Organization.Read.All"]},
    "aad_group": {"needs": ["Group.Create", "Group.Read.All", "GroupMember.ReadWrite.All"],
                  "options": ["Group.ReadWrite.All", "User.Read.All", "RoleManagement.ReadWrite.Directory"]},
    "aad_group_info": {"needs": ["Group.Read.All"], "options": ["GroupMember.Read.All", "User.Read.All"]},
    "aad_license": {"needs": ["LicenseAssignment.ReadWrite.All", "Organization.Read.All"],
                    "options": ["User.Read.All", "Group.Read.All", "Group.ReadWrite.All"]},
    "aad_license_info": {"needs": ["Organization.Read.All"], "options": ["User.Read.All", "Group.Read.All"]},
    "aad_guest": {"needs": ["User.ReadWrite.All"],
                  "options": ["User.Invite.All", "Domain.Read.All", "Organization.Read.All"]},
    "aad_guest_info": {"needs": ["User.Read.All"], "options": []},
}

_ID = r"[^/]+"
# (methods, path pattern relative to /v1.0, what it does, permissions that allow it: least privilege first).
# The first matching row wins. Broader permissions that also allow a request (a ReadWrite for a Read,
# Directory.* for everything directory) are added by `allowing`.
REQUEST_PERMISSIONS = [
    (("POST",), r"/users/%s/assignLicense" % _ID, "assign licences to a user",
     ["LicenseAssignment.ReadWrite.All", "User.ReadWrite.All"]),
    (("POST",), r"/groups/%s/assignLicense" % _ID, "assign licences to a group",
     ["LicenseAssignment.ReadWrite.All", "Group.ReadWrite.All"]),
    (("POST", "DELETE"), r"/groups/%s/(members|owners)(/%s)?/\$ref" % (_ID, _ID), "change a group's members or owners",
     ["GroupMember.ReadWrite.All", "Group.ReadWrite.All"]),
    (("POST",), r"/groups", "create a group", ["Group.Create", "Group.ReadWrite.All"]),
    (("PATCH", "DELETE"), r"/groups/%s" % _ID, "update or delete a group", ["Group.ReadWrite.All"]),
    (("POST",), r"/invitations", "invite a guest", ["User.Invite.All", "User.ReadWrite.All"]),
    (("POST", "PATCH", "PUT", "DELETE"), r"/users(/.*)?", "create, update or delete a user", ["User.ReadWrite.All"]),
    (("POST", "DELETE"), r"/directory/deletedItems/%s(/restore)?" % _ID, "restore or purge a deleted user or group",
     ["User.ReadWrite.All", "Group.ReadWrite.All"]),
    (("GET",), r"/subscribedSkus(/.*)?", "read the tenant's subscriptions", ["Organization.Read.All"]),
    (("GET",), r"/organization(/.*)?", "read the organization", ["Organization.Read.All", "User.Read.All"]),
    (("GET",), r"/domains(/.*)?", "read the tenant's domains", ["Domain.Read.All"]),
    (("GET",), r"/groups.*", "read groups", ["GroupMember.Read.All", "Group.Read.All"]),
    (("GET",), r"/users.*", "read users", ["User.Read.All"]),
    (("GET",), r"/directory/deletedItems/microsoft\.graph\.group.*", "read deleted groups", ["Group.Read.All"]),
    (("GET",), r"/directory/deletedItems/microsoft\.graph\.user.*", "read deleted users", ["User.Read.All"]),
    (("GET",), r"/directory/deletedItems.*", "read deleted users or groups", ["User.Read.All", "Group.Read.All"]),
    (("GET", "POST"), r"/directoryObjects.*", "read directory objects", ["User.Read.All", "Group.Read.All"]),
]


def allowing(permission):
    """Every permission that grants at least what `permission` grants (itself first)."""
    broader = [permission]
    if permission.endswith(".Read.All"):
        broader.append(permission[:-len(".Read.All")] + ".ReadWrite.All")
        broader.append(DIRECTORY_READ)
    if permission in ("Group.Create", "GroupMember.ReadWrite.All"):
        broader.append("Group.ReadWrite.All")
    if permission == "GroupMember.Read.All":
        broader.append("Group.Read.All")
    broader.append(DIRECTORY_WRITE)
    return list(dict.fromkeys(broader))


def _relative(path):
    """'/v1.0/users/x?$select=id' or 'users/x' -> '/users/x'."""
    return "/" + path.split("?", 1)[0].split("/v1.0", 1)[-1].lstrip("/")


def request_rule(method, path):
    """(what the request does, permissions that allow it) for a Graph request, or None when unknown."""
    path = _relative(path)
    for methods, pattern, purpose, permissions in REQUEST_PERMISSIONS:
        if method.upper() in methods and re.match(pattern + r"$", path):
            return purpose, permissions
    return None


def _allowed_by(permissions):
    allowed = []
    for permission in permissions:
        allowed.extend(allowing(permission))
    return set(allowed)


def missing_for_request(roles, method, path, body=None):
    """(what, permissions to grant) when the token's roles plainly allow none of a write's ways, else None.

    A $batch is checked item by item; reads inside it are left to Graph. `roles` None (a token without
    a readable roles claim) never refuses.
    """
    if roles is None or method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None  # reads are left to Graph: a refused read changes nothing
    path = _relative(path)
    if path == "/$batch":
        for item in (body or {}).get("requests") or []:
            if str(item.get("method", "GET")).upper() in ("GET", "HEAD"):
                continue
            missing = missing_for_request(roles, item["method"], item.get("url") or "", item.get("body"))
            if missing:
                return missing
        return None
    rule = request_rule(method, path)
    if rule is None:
        return None
    purpose, permissions = rule
    if method.upper() == "PATCH" and path.startswith("/groups/") and body and all(
            key.endswith("@odata.bind") for key in body):
        # Only members@odata.bind / owners@odata.bind: a member change, not a property update.
        purpose, permissions = request_rule("POST", path + "/members/$ref")
    if _allowed_by(permissions) & set(roles):
        return None
    return purpose, permissions


def describe(purpose, permissions, roles=None):
    """The message part that names the permission(s) to grant."""
    least = permissions[0]
    others = list(permissions[1:])
    text = "To %s the app registration needs the Microsoft Graph application permission %s" % (purpose, least)
    if others:
        text += " (or %s)" % " or ".join(others)
    text += "; grant it under API permissions and give admin consent"
    if roles is not None:
        text += " (the token holds: %s)" % (", ".join(sorted(roles)) or "no application permissions")
    return text + "."


def forbidden_hint(method, path, roles=None):
    """(text, [permissions]) naming what a refused request needs, or (None, None) when the table has no row."""
    rule = request_rule(method, path)
    if rule is None:
        return None, None
    purpose, permissions = rule
    return describe(purpose, permissions, roles), list(permissions)


def module_lacks(module, roles):
    """The permissions the README lists as always needed by `module` that the token's roles do not cover."""
    row = MODULE_PERMISSIONS.get(module)
    if row is None or roles is None:
        return []
    held = set(roles)
    return [permission for permission in row["needs"] if not held & set(allowing(permission))]


def module_hint(module, roles):
    """" aad_user needs User.ReadWrite.All; the token lacks it." (empty when nothing is known to lack)."""
    lacking = module_lacks(module, roles)
    if not lacking:
        return ""
    return " %s needs %s (README, \"Register an app\"); the token lacks %s." % (
        module, " and ".join(MODULE_PERMISSIONS[module]["needs"]), ", ".join(lacking))
