# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Results and diffs, built the same way for every module.

One item result per planned item; the single form returns its object, the
list form returns the items that changed or failed (every item with
``return_all``) and a summary counting every action. Diffs have one shape:
``before`` / ``after`` in option names, secrets masked, and in the list form
each diff names its item in ``before_header`` / ``after_header``.

No Ansible imports: unit tests and the engine use this file directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError

# Actions that write (or would write, in check mode) to the tenant.
CHANGING_ACTIONS = frozenset(["created", "updated", "restored", "deleted", "invited"])
SUMMARY_ACTIONS = ("created", "updated", "restored", "unchanged", "deleted", "failed", "not_attempted")

SECRET_CHANGED = "<changed>"
SECRET_UNCHANGED = "<unchanged>"

# Added to a 403: the usual cause is a missing application permission or admin consent.
PERMISSION_HINT = (" The app registration lacks a Microsoft Graph application permission for this: grant the"
                   " permissions the module's documentation lists (ansible-doc) and give admin consent.")

# Keys of an item result that are not copied to the top level of a single-form result.
ITEM_KEYS = frozenset(["key", "action", "changed", "object", "diff", "error"])


def graph_error_message(error):
    """Render a GraphError as "Failed to <context>: <message>"."""
    message = getattr(error, "message", None) or str(error)
    if getattr(error, "status", None) == 403 and not getattr(error, "missing_permissions", None):
        message += PERMISSION_HINT
    context = getattr(error, "context", None)
    if context:
        return "Failed to %s: %s" % (context, message)
    if getattr(error, "code", None) in ("InvalidConfiguration", "MissingPermission"):
        return message  # says what to fix, and that nothing was sent
    return "Microsoft Graph request failed: %s" % message


def graph_error_details(error):
    """The machine-readable fields of a GraphError, for fail_json and item results."""
    return dict(
        status=getattr(error, "status", None),
        code=getattr(error, "code", None),
        request_id=getattr(error, "request_id", None),
    )


def attribute_diff(before, after, secret_keys=()):
    """Before/after of the keys whose values differ, with secrets masked.

    A secret key present in `after` (the module will set it) always shows as
    "<changed>" after and, when `before` has it, "<unchanged>" before: the
    current value of a secret cannot be read, and its values never leave the
    module.
    """
    before = before or {}
    after = after or {}
    diff = {"before": {}, "after": {}}
    for key in sorted(set(before) | set(after), key=str):
        if key in secret_keys:
            if key in after and after[key] is not None:
                diff["after"][key] = SECRET_CHANGED
                if key in before:
                    diff["before"][key] = SECRET_UNCHANGED
            continue
        if before.get(key) == after.get(key):
            continue
        if key in before:
            diff["before"][key] = before[key]
        if key in after:
            diff["after"][key] = after[key]
    return diff


def item_result(key, action, obj=None, diff=None, error=None, **extra):
    """One item of a list-form result (the single form is a list of one)."""
    result = dict(
        key=key,
        action=action,
        changed=action in CHANGING_ACTIONS,
        object=obj,
        diff=diff,
        error=error,
    )
    result.update(extra)
    return result


def failed_item(key, error, obj=None, written=False, not_attempted=False):
    """A failed item built from a GraphError or a validation error.

    ``written``: part of the item was written before the failure (a user created, its manager not set),
    so the item counts as changed. ``not_attempted``: the task stopped before sending its writes.
    """
    action = "not_attempted" if not_attempted else "failed"
    if isinstance(error, GraphError):
        result = item_result(key, action, obj=obj, error=graph_error_message(error), **graph_error_details(error))
    else:
        result = item_result(key, action, obj=obj, error=str(error))
    result["changed"] = bool(written)
    return result


def summarize(results):
    """Counts of items by action; every usual action is present, zero or not."""
    summary = dict((action, 0) for action in SUMMARY_ACTIONS)
    for result in results:
        summary[result["action"]] = summary.get(result["action"], 0) + 1
    return summary


def _public_item(item, object_name):
    """The item with its object under the module's object name (`user`, `group`, ...)."""
    public = dict((key, value) for key, value in item.items() if key != "object")
    public[object_name] = item.get("object")
    return public


def items_outcome(results, object_name, single, with_diff=False, return_unchanged=False):
    """Build the module result of a single-or-list run.

    Returns (result, failure message or None). The single form returns the
    object under `object_name`, `action` and `diff` (plus any extra keys of
    the item); the list form returns `results` for the items that changed or
    failed (every item with ``return_unchanged``) and a `summary` counting
    every action, so a 10,000-item run that changes nothing stays small.
    Failed items never hide the others: the failure message lists every
    failed key and reason, and the result still carries all items that
    changed, so what was written is reported even when the task fails.
    """
    changed = any(item.get("changed") for item in results)
    failed = [item for item in results if item.get("action") in ("failed", "not_attempted")]

    if single:
        item = results[0]
        result = dict(changed=changed, action=item["action"])
        result[object_name] = item.get("object")
        if item.get("diff") is not None:
            result["diff"] = item["diff"]
        for key, value in item.items():
            if key not in ITEM_KEYS:
                result[key] = value
        failure = item.get("error") if failed else None
        return result, failure

    shown = [item for item in results
             if return_unchanged or item.get("changed") or item.get("action") not in ("unchanged", None)]
    result = dict(
        changed=changed,
        results=[_public_item(item, object_name) for item in shown],
        summary=summarize(results),
    )
    diffs = [_named_diff(item) for item in results if _has_changes(item.get("diff"))]
    if with_diff and diffs:
        # Ansible shows a list of diffs one after the other.
        result["diff"] = diffs
    failure = None
    if failed:
        reasons = "; ".join("%s: %s%s" % (
            item["key"], "not attempted: " if item["action"] == "not_attempted" else "", item.get("error"))
            for item in failed)
        failure = "%d of %d %ss failed: %s" % (len(failed), len(results), object_name, reasons)
        written = len([item for item in results if item.get("changed")])
        if written:
            failure += "; %d changed (see results)" % written
    return result, failure


def _has_changes(diff):
    return bool(diff) and bool(diff.get("before") or diff.get("after"))


def _named_diff(item):
    """A list-form diff, headed with the item it belongs to."""
    diff = dict(item["diff"])
    diff.setdefault("before_header", "%s (before)" % item["key"])
    diff.setdefault("after_header", "%s (after)" % item["key"])
    return diff
