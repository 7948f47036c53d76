# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The connection options shared by every module of the collection.
    # The argument spec with the same options is GRAPH_CONNECTION_SPEC in
    # plugins/module_utils/graph_module.py; keep both in step.
    DOCUMENTATION = r"""
options:
  tenant_id:
    description:
      - The directory (tenant) ID of the Microsoft Entra tenant to manage.
      - If not set, the value of the E(AZURE_TENANT_ID) environment variable is used, else that of
        E(AZURE_TENANT) (set by the AWX credential type I(Microsoft Azure Resource Manager)).
      - Required, except with O(auth=managed_identity).
    type: str
  client_id:
    description:
      - The application (client) ID of the app registration the modules sign in as.
      - If not set, the value of the E(AZURE_CLIENT_ID) environment variable is used.
      - Required, except with O(auth=managed_identity), which ignores it (see O(managed_identity_client_id)).
    type: str
  auth:
    description:
      - How to sign in.
      - V(auto) uses the one credential that is configured among O(client_secret), O(client_certificate_path),
        O(federated_token_file) and O(managed_identity_client_id), and fails, naming them, when none or more
        than one is.
      - V(client_secret), V(client_certificate) and V(federated_token) use that credential of the app
        registration O(client_id) and ignore the others.
      - V(managed_identity) signs in as the managed identity of the Azure resource the module runs on
        (an App Service, Functions or Container Apps host through E(IDENTITY_ENDPOINT) and E(IDENTITY_HEADER),
        Azure Arc, or an Azure VM through its instance metadata service). It needs no tenant or client ID.
      - If not set, the value of the E(M365_AUTH) environment variable is used.
    type: str
    choices: [auto, client_secret, client_certificate, federated_token, managed_identity]
    default: auto
  client_secret:
    description:
      - A client secret of the app registration.
      - If not set, the value of the E(AZURE_CLIENT_SECRET) environment variable is used, else that of
        E(AZURE_SECRET) (set by the AWX credential type I(Microsoft Azure Resource Manager)).
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file holding the private key and the certificate registered on the app.
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used.
    type: path
  federated_token_file:
    description:
      - Path to a file holding a token from an external identity provider that the app registration trusts
        through a federated identity credential (workload identity federation), for example the service
        account token that the AKS workload identity webhook projects into a pod.
      - The file is read again at every token request, so a token the platform rotates is picked up.
      - If not set, the value of the E(AZURE_FEDERATED_TOKEN_FILE) environment variable is used.
    type: path
  managed_identity_client_id:
    description:
      - The client ID of a user-assigned managed identity to sign in as. Without it, O(auth=managed_identity)
        uses the system-assigned identity.
      - If not set, the value of the E(M365_MANAGED_IDENTITY_CLIENT_ID) environment variable is used.
    type: str
  client_certificate_password:
    description:
      - The password protecting the private key in O(client_certificate_path), if any.
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used.
    type: str
  cloud:
    description:
      - The Microsoft cloud the tenant lives in. It selects the sign-in and Microsoft Graph hosts.
      - V(public) is the global service, V(usgov) is GCC High, V(usgov_dod) is DoD, and
        V(china) is the service operated by 21Vianet.
      - If not set, the value of the E(AZURE_CLOUD) environment variable is used, else the Azure cloud
        named by E(AZURE_CLOUD_ENVIRONMENT) (V(AzureCloud) is V(public), V(AzureUSGovernment) is
        V(usgov), V(AzureChinaCloud) is V(china)), as the AWX credential type
        I(Microsoft Azure Resource Manager) sets it.
    type: str
    choices: [public, usgov, usgov_dod, china]
    default: public
  authority_host:
    description:
      - Overrides the sign-in host picked by O(cloud), for example V(https://127.0.0.1:8443)
        for the local Graph sandbox. Must be an C(https) URL.
      - If not set, the value of the E(AZURE_AUTHORITY_HOST) environment variable is used.
    type: str
  graph_endpoint:
    description:
      - Overrides the Microsoft Graph base URL picked by O(cloud), without the version,
        for example V(https://127.0.0.1:8443). The modules append C(/v1.0).
      - If not set, the value of the E(M365_GRAPH_ENDPOINT) environment variable is used.
    type: str
  ca_path:
    description:
      - A CA bundle (PEM file, or a directory of PEM files) to trust for the sign-in and Graph hosts
        instead of the system default.
      - TLS certificates are always verified; no option or value turns verification off.
      - Empty or not set means the default trust store (which honours E(REQUESTS_CA_BUNDLE)). A path that
        does not exist or holds no PEM certificate fails the task before any connection.
      - If not set, the value of the E(M365_CA_PATH) environment variable is used.
    type: path
  timeout:
    description:
      - Timeout of each HTTP request, in seconds.
    type: int
    default: 60
notes:
  - The app registration (or managed identity) needs Microsoft Graph B(application) permissions, granted
    with admin consent. Each module lists the least-privileged permissions it needs. When the app's token
    plainly lacks the permission a write needs, the task fails before that write, naming the permission.
  - Give credentials through the environment variables (or C(module_defaults) from vaulted variables),
    not as options built with C(lookup('env', ...)), because option values are written into the
    module's temporary files on the host that runs it.
  - An environment variable set to an empty string counts as not set (AWX injects a credential
    field left empty that way).
  - Set the connection options once for all modules of the collection with
    C(module_defaults) and the action group C(group/m365.cloud_identity.graph).
requirements:
  - msal
  - requests
  - cryptography
"""

    # For modules that write: check mode predicts, --diff shows the changes.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the tenant.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: full
  action_group:
    description: Use C(group/m365.cloud_identity.graph) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - m365.cloud_identity.graph
"""

    # For the modules with a list form (users, groups, assignments, guests).
    LIST_RESULTS = r"""
options:
  return_unchanged:
    description:
      - In the list form, also list the items that were already as asked in C(results).
      - By default C(results) holds only the items that changed, would change in check mode, or failed, so a
        task over thousands of items that changes nothing stays small in the job log; C(summary) counts every
        item, unchanged ones included, either way.
    type: bool
    default: false
"""

    # For the read-only _info modules.
    INFO_ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in C(check_mode) and return the same result; the module never writes.
    support: full
  diff_mode:
    description: The module never changes anything, so there is no diff.
    support: N/A
  action_group:
    description: Use C(group/m365.cloud_identity.graph) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - m365.cloud_identity.graph
"""
