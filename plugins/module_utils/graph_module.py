# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The frame every module of the collection stands in.

GraphModule wraps AnsibleModule: it adds the connection options, builds the
GraphClient on first use, and turns a GraphError into one fail_json. Results
and diffs are built in results.py (no Ansible imports), so that every module
reports the same way (see docs/architecture.md, "Module wrapper").
"""

from __future__ import annotations

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.m365.cloud_identity.plugins.module_utils.validation import shape_problems

try:
    from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import (
        GraphClient,
        GraphError,
        IMPORT_ERROR as GRAPH_CLIENT_IMPORT_ERROR,
        resolve_auth,
    )
    from ansible_collections.m365.cloud_identity.plugins.module_utils import permissions
    GRAPH_CLIENT_IMPORT_TRACEBACK = None
except ImportError as import_error:
    # Keep the module importable without msal / requests (ansible-test sanity
    # imports it that way); GraphModule reports the missing library clearly.
    GRAPH_CLIENT_IMPORT_ERROR = import_error
    GRAPH_CLIENT_IMPORT_TRACEBACK = traceback.format_exc()
    GraphClient = resolve_auth = None

    class GraphError(Exception):  # placeholder so `except GraphError` stays valid
        pass


from ansible_collections.m365.cloud_identity.plugins.module_utils.results import (
    graph_error_details,
    graph_error_message,
    items_outcome,
)

# The Python libraries the client needs, as named on PyPI.
REQUIRED_LIBRARIES = "msal and requests"

# AZURE_CLOUD_ENVIRONMENT holds an Azure cloud name (AWX's built-in "Microsoft Azure
# Resource Manager" credential and azure.azcollection use it); these are the clouds
# a Microsoft 365 tenant can live in. US Government DoD tenants set cloud: usgov_dod.
AZURE_CLOUD_NAMES = {
    "AzureCloud": "public",
    "AzureUSGovernment": "usgov",
    "AzureChinaCloud": "china",
}


def nonempty_env_fallback(*names):
    """The first of the environment variables `names` that is set to a non-empty value.

    AWX injects a credential field left empty as an empty string; that counts as unset,
    so the next name (or the option's default) applies.
    """
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def cloud_env_fallback():
    """AZURE_CLOUD (public, usgov, ...), else AZURE_CLOUD_ENVIRONMENT's Azure cloud name."""
    value = os.environ.get("AZURE_CLOUD")
    if value:
        return value
    azure_name = os.environ.get("AZURE_CLOUD_ENVIRONMENT")
    if azure_name:
        # An unknown name is passed on, so that the choices check names it.
        return AZURE_CLOUD_NAMES.get(azure_name, azure_name)
    raise AnsibleFallbackNotFound


def _env(*names):
    return (nonempty_env_fallback, list(names))


# The second names of tenant_id, client_id and client_secret are those AWX's
# built-in Azure Resource Manager credential injects.
GRAPH_CONNECTION_SPEC = dict(
    # Required except with a managed identity (checked in GraphModule._check_credential).
    tenant_id=dict(type="str", fallback=_env("AZURE_TENANT_ID", "AZURE_TENANT")),
    client_id=dict(type="str", fallback=_env("AZURE_CLIENT_ID")),
    client_secret=dict(type="str", no_log=True, fallback=_env("AZURE_CLIENT_SECRET", "AZURE_SECRET")),
    client_certificate_path=dict(type="path", fallback=_env("AZURE_CLIENT_CERTIFICATE_PATH")),
    client_certificate_password=dict(
        type="str", no_log=True, fallback=_env("AZURE_CLIENT_CERTIFICATE_PASSWORD")
    ),
    cloud=dict(
        type="str",
        default="public",
        choices=["public", "usgov", "usgov_dod", "china"],
        fallback=(cloud_env_fallback,),
    ),
    authority_host=dict(type="str", fallback=_env("AZURE_AUTHORITY_HOST")),
    graph_endpoint=dict(type="str", fallback=_env("M365_GRAPH_ENDPOINT")),
    ca_path=dict(type="path", fallback=_env("M365_CA_PATH")),
    timeout=dict(type="int", default=60),
    auth=dict(
        type="str",
        default="auto",
        choices=["auto", "client_secret", "client_certificate", "federated_token", "managed_identity"],
        fallback=_env("M365_AUTH"),
    ),
    federated_token_file=dict(type="path", fallback=_env("AZURE_FEDERATED_TOKEN_FILE")),
    managed_identity_client_id=dict(type="str", fallback=_env("M365_MANAGED_IDENTITY_CLIENT_ID")),
)

CONNECTION_OPTIONS = tuple(GRAPH_CONNECTION_SPEC)

# The option of every module with a list form (documented by the list_results doc fragment).
LIST_RESULTS_SPEC = dict(return_unchanged=dict(type="bool", default=False))


class GraphModule(object):
    """An AnsibleModule with the connection options and a lazily built GraphClient."""

    def __init__(self, argument_spec, list_results=False, **ansible_module_kwargs):
        """``list_results``: the module has a list form, so it takes ``return_unchanged``."""
        spec = dict(GRAPH_CONNECTION_SPEC)
        if list_results:
            spec.update(LIST_RESULTS_SPEC)
        spec.update(argument_spec)
        ansible_module_kwargs.setdefault("supports_check_mode", True)
        shapes = _shape_problems(spec)
        for name in shapes:
            # Let AnsibleModule accept the value as it is, then fail with a message that names the option.
            # no_log: its sub-options may hold secrets (a user's password).
            spec[name] = dict(type="raw", aliases=spec[name].get("aliases") or [], no_log=True)
        self.module = AnsibleModule(argument_spec=spec, **ansible_module_kwargs)
        if shapes:
            self.fail("; ".join(shapes[name] for name in sorted(shapes)))
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
        module_name = getattr(self.module, "_name", "").rsplit(".", 1)[-1]
        # The module's name in the User-Agent tells requests apart in Graph's (and the sandbox's) logs.
        client = GraphClient(user_agent=module_name or None, **self.connection_params())
        watch_permissions(client, module_name)
        return client

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
        result, failure = items_outcome(results, object_name, single, with_diff=self.diff_mode,
                                        return_unchanged=bool(self.params.get("return_unchanged")))
        if failure:
            self.fail(failure, **result)
        return result


def _shape_problems(spec):
    """Options with sub-options given in the wrong shape, read from the raw module arguments."""
    try:
        from ansible.module_utils.basic import _load_params
        return shape_problems(spec, _load_params())
    except Exception:  # an Ansible without _load_params: leave the check to AnsibleModule
        return {}


def watch_permissions(client, module_name=None):
    """Fail before a write the token's roles plainly do not allow; name the permission a 403 needed
    (and what the module needs that the token lacks)."""

    def write_check(method, path, body):
        roles = client.token_roles()
        missing = permissions.missing_for_request(roles, method, path, body)
        if missing:
            error = GraphError(403, "MissingPermission", "Not sent: " + permissions.describe(
                missing[0], missing[1], roles) + permissions.module_hint(module_name, roles))
            error.missing_permissions = list(missing[1])
            raise error

    def forbidden_hint(method, path):
        roles = client.token_roles()
        hint, needed = permissions.forbidden_hint(method, path, roles)
        extra = permissions.module_hint(module_name, roles)
        if extra:
            return (hint or "") + extra, (needed or []) + permissions.module_lacks(module_name, roles)
        return hint, needed

    client.write_check = write_check
    client.forbidden_hint = forbidden_hint
