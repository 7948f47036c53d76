# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The frame every module of the collection stands in.

GraphModule wraps AnsibleModule: it adds the connection options, builds the
GraphClient on first use, and turns a GraphError into one fail_json. The
helpers below build the results and diffs the modules return, so that every
module reports the same way (see docs/architecture.md, "Module wrapper").
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import (
        GraphClient,
        GraphError,
        IMPORT_ERROR as GRAPH_CLIENT_IMPORT_ERROR,
        resolve_auth,
    )
    GRAPH_CLIENT_IMPORT_TRACEBACK = None
except ImportError as import_error:
    # Keep the module importable without msal / requests (ansible-test sanity
    # imports it that way); GraphModule reports the missing library clearly.
    GRAPH_CLIENT_IMPORT_ERROR = import_error
    GRAPH_CLIENT_IMPORT_TRACEBACK = traceback.format_exc()
    GraphClient = resolve_auth = None

    class GraphError(Exception):  # placeholder so `except GraphError` stays valid
        pass


# The Python libraries the client needs, as named on PyPI.
REQUIRED_LIBRARIES = "msal and requests"

GRAPH_CONNECTION_SPEC = dict(
    # Required except with a managed identity (checked in GraphModule._check_credential).
    tenant_id=dict(type="str", fallback=(env_fallback, ["AZURE_TENANT_ID"])),
    client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
    client_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_CLIENT_SECRET"])),
    client_certificate_path=dict(type="path", fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PATH"])),
    client_certificate_password=dict(
        type="str", no_log=True, fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PASSWORD"])
    ),
    cloud=dict(
        type="str",
        default="public",
        choices=["public", "usgov", "usgov_dod", "china"],
        fallback=(env_fallback, ["AZURE_CLOUD"]),
    ),
    authority_host=dict(type="str", fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
    graph_endpoint=dict(type="str", fallback=(env_fallback, ["M365_GRAPH_ENDPOINT"])),
    ca_path=dict(type="path", fallback=(env_fallback, ["M365_CA_PATH"])),
    timeout=dict(type="int", default=60),
    auth=dict(
        type="str",
        default="auto",
        choices=["auto", "client_secret", "client_certificate", "federated_token", "managed_identity"],
        fallback=(env_fallback, ["M365_AUTH"]),
    ),
    federated_token_file=dict(type="path", fallback=(env_fallback, ["AZURE_FEDERATED_TOKEN_FILE"])),
    managed_identity_client_id=dict(type="str", fallback=(env_fallback, ["M365_MANAGED_IDENTITY_CLIENT_ID"])),
)

CONNECTION_OPTIONS = tuple(GRAPH_CONNECTION_SPEC)

# Actions that write (or would write, in check mode) to the tenant.
CHANGING_ACTIONS = frozenset(["created", "updated", "restored", "deleted", "invited"])
SUMMARY_ACTIONS = ("created", "updated", "restored", "unchanged", "deleted", "failed")

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
    if getattr(error, "status", None) == 403:
        message += PERMISSION_HINT
    context = getattr(error, "context", None)
    if context:
        return "Failed to %s: %s" % (context, message)
    return "Microsoft Graph request failed: %s" % message


def graph_error_details(error):
    """The machine-readable fields of a GraphError, for fail_json and item results."""
    return dict(
        status=getattr(error, "status", None),
        code=getattr(error, "code", None),
        request_id=getattr(error, "request_id", None),
    )


class GraphModule(object):
    """An AnsibleModule with the connection options and a lazily built GraphClient."""

    def __init__(self, argument_spec, **ansible_module_kwargs):
        spec = dict(GRAPH_CONNECTION_SPEC)
        spec.update(argument_spec)
        ansible_module_kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleModule(argument_spec=spec, **ansible_module_kwargs)
        self._client = None
        self._check_credential()

    def _check_credential(self):
        """Fail before any request when the sign-in settings are incomplete or ambiguous."""
        if resolve_auth is None:
            return  # the missing library is reported when the client is built
        params = self.params
        try:
            auth = resolve_auth(params.get("auth"), params.get("client_secret"), params.get("client_certificate_path"),
                                params.get("federated_token_file"), params.get("managed_identity_client_id"))
        except GraphError as error:
            self.fail(error.message)
        if auth != "managed_identity":
            missing = [name for name in ("tenant_id", "client_id") if not params.get(name)]
            if missing:
                self.fail("%s %s required to sign in with %s: set %s (or %s)." % (
                    " and ".join(missing), "is" if len(missing) == 1 else "are", auth, " and ".join(missing),
                    " and ".join("AZURE_" + name.upper() for name in missing)))

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return self.module._diff

    @property
    def client(self):
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def connection_params(self):
        return dict((name, self.params.get(name)) for name in CONNECTION_OPTIONS)

    def _build_client(self):
        if GRAPH_CLIENT_IMPORT_ERROR is not None:
            self._fail_missing_library(GRAPH_CLIENT_IMPORT_ERROR, GRAPH_CLIENT_IMPORT_TRACEBACK)
        return GraphClient(**self.connection_params())

    def _fail_missing_library(self, error, error_traceback=None):
        library = getattr(error, "name", None) or REQUIRED_LIBRARIES
        if error_traceback is None:
            error_traceback = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.module.fail_json(msg=missing_required_lib(library), exception=error_traceback)

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def run(self, main):
        """Call main(self) and exit with its result; a GraphError fails the task once."""
        try:
            result = main(self)
        except GraphError as error:
            self.fail(graph_error_message(error), **graph_error_details(error))
        else:
            self.module.exit_json(**result)

    def finish(self, results, object_name, single):
        """Exit result of a single-or-list run; fails when any item failed."""
        result, failure = items_outcome(results, object_name, single, with_diff=self.diff_mode)
        if failure:
            self.fail(failure, **result)
        return result


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


def failed_item(key, error, obj=None):
    """A failed item built from a GraphError or a validation error."""
    if isinstance(error, GraphError):
        return item_result(key, "failed", obj=obj, error=graph_error_message(error), **graph_error_details(error))
    return item_result(key, "failed", obj=obj, error=str(error))


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


def items_outcome(results, object_name, single, with_diff=False):
    """Build the module result of a single-or-list run.

    Returns (result, failure message or None). The single form returns the
    object under `object_name`, `action` and `diff` (plus any extra keys of
    the item, e.g. a generated password); the list form returns `results` and
    `summary`. Failed items never hide the others: the failure message lists
    every failed key and reason, and the result still carries all items.
    """
    changed = any(item.get("changed") for item in results)
    failed = [item for item in results if item.get("action") == "failed"]

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

    result = dict(
        changed=changed,
        results=[_public_item(item, object_name) for item in results],
        summary=summarize(results),
    )
    diffs = [item["diff"] for item in results if item.get("diff")]
    if with_diff and diffs:
        # Ansible shows a list of diffs one after the other.
        result["diff"] = diffs
    failure = None
    if failed:
        reasons = "; ".join("%s: %s" % (item["key"], item.get("error")) for item in failed)
        failure = "%d of %d %ss failed: %s" % (len(failed), len(results), object_name, reasons)
    return result, failure
