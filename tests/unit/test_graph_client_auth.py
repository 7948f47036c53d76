"""How GraphClient signs in without a secret: the `auth` choice, workload identity federation and
managed identity (FIDELITY 7.9).

No network: MSAL is real, and the requests the client's session would send are recorded and answered
from a script, so the request MSAL makes to IMDS or the App Service endpoint is checked as sent.
"""

import time

import pytest
import requests

from test_graph_client import FakeMsalApp, Transport, gc, make_response

MANAGED_IDENTITY_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT",
                        "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST")


@pytest.fixture
def no_managed_identity_env(monkeypatch):
    for name in MANAGED_IDENTITY_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ---- choosing the credential ---------------------------------------------------------------

@pytest.mark.parametrize("settings, expected", [
    ({"client_secret": "s"}, "client_secret"),
    ({"client_certificate_path": "/app.pem"}, "client_certificate"),
    ({"federated_token_file": "/token"}, "federated_token"),
    ({"managed_identity_client_id": "mi"}, "managed_identity"),
    ({"auth": "managed_identity"}, "managed_identity"),
    # An explicit choice wins over other configured credentials.
    ({"auth": "federated_token", "client_secret": "s", "federated_token_file": "/token"}, "federated_token"),
    ({"auth": "client_secret", "client_secret": "s", "client_certificate_path": "/app.pem"}, "client_secret"),
])
def test_auth_picks_the_one_configured_or_the_chosen_credential(settings, expected):
    assert gc.resolve_auth(**settings) == expected


def test_auto_with_two_credentials_names_both_and_says_to_set_auth():
    with pytest.raises(gc.GraphError) as caught:
        gc.resolve_auth("auto", client_secret="s", federated_token_file="/var/run/token")
    message = caught.value.message
    assert "client_secret (or AZURE_CLIENT_SECRET)" in message
    assert "federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)" in message
    assert "Set auth (or M365_AUTH)" in message
    assert "client_certificate_path" not in message


def test_a_chosen_method_without_its_setting_is_named():
    with pytest.raises(gc.GraphError, match="auth is federated_token but federated_token_file"):
        gc.resolve_auth("federated_token", client_secret="s")


def test_managed_identity_needs_no_tenant_or_client_id():
    client = gc.GraphClient(auth="managed_identity")
    assert client.auth == "managed_identity" and client.tenant_id is None


def test_other_methods_still_need_tenant_and_client_id():
    with pytest.raises(gc.GraphError, match="tenant_id and client_id are required"):
        gc.GraphClient(federated_token_file="/token")


# ---- workload identity federation ----------------------------------------------------------

def test_federated_token_file_is_read_at_every_token_request(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("first.jwt.value\n")
    built = []
    monkeypatch.setattr(gc.msal, "ConfidentialClientApplication", lambda client_id, **kw: built.append(kw) or kw)
    client = gc.GraphClient("tenant-1", "client-1", federated_token_file=str(token_file))
    client._build_msal_app()
    assertion = built[0]["client_credential"]["client_assertion"]
    assert callable(assertion)
    assert assertion() == "first.jwt.value"
    token_file.write_text("second.jwt.value")  # the platform rotated it
    assert assertion() == "second.jwt.value"


def test_federated_token_reaches_the_token_endpoint_as_a_jwt_bearer_assertion(tmp_path, monkeypatch):
    """The real MSAL, its requests recorded: the file's content is the client_assertion of the token POST."""
    token_file = tmp_path / "token"
    token_file.write_text("header.payload.signature")
    client = gc.GraphClient("tenant-1", "client-1", federated_token_file=str(token_file),
                            authority_host="https://login.example.test")
    root = "https://login.example.test/tenant-1"
    discovery = make_response(200, {"authorization_endpoint": root + "/oauth2/v2.0/authorize",
                                    "token_endpoint": root + "/oauth2/v2.0/token", "issuer": root + "/v2.0"})
    transport = Transport([discovery, make_response(200, {"access_token": "tok", "token_type": "Bearer",
                                                          "expires_in": 3599})])
    monkeypatch.setattr(client._session, "request", transport)
    assert client._access_token() == "tok"
    post = transport.calls[-1]
    assert post["method"] == "POST" and post["url"] == root + "/oauth2/v2.0/token"
    assert post["data"]["client_assertion"] == "header.payload.signature"
    assert post["data"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in post["data"]


def test_an_unreadable_token_file_is_named(tmp_path):
    client = gc.GraphClient("tenant-1", "client-1", federated_token_file=str(tmp_path / "missing"))
    with pytest.raises(gc.GraphError, match="Cannot read federated_token_file .*missing"):
        client._federated_assertion()


@pytest.mark.parametrize("code, words", [
    (700212, "api://AzureADTokenExchange"),
    (700024, "expired"),
    (700213, "another workload or app"),
    (700211, "issuer"),
])
def test_a_refused_federated_token_says_what_to_fix(tmp_path, code, words):
    token_file = tmp_path / "token"
    token_file.write_text("a.b.c")
    client = gc.GraphClient("tenant-1", "client-1", federated_token_file=str(token_file))
    client._msal_app = FakeMsalApp(result={"error": "invalid_client", "error_codes": [code],
                                           "error_description": "AADSTS%d: No match. Trace ID: 1" % code})
    with pytest.raises(gc.GraphError) as caught:
        client._access_token()
    assert caught.value.message.startswith("Token request for client client-1 failed: AADSTS%d: No match." % code)
    assert words in caught.value.message


# ---- managed identity ----------------------------------------------------------------------

def managed_identity_client(monkeypatch, response, **options):
    client = gc.GraphClient(auth="managed_identity", **options)
    transport = Transport([response])
    monkeypatch.setattr(client._session, "request", transport)
    return client, transport


@pytest.mark.parametrize("cloud, resource", [
    ("public", "https://graph.microsoft.com"),
    ("usgov", "https://graph.microsoft.us"),
    ("china", "https://microsoftgraph.chinacloudapi.cn"),
])
def test_imds_request_on_an_azure_vm(no_managed_identity_env, cloud, resource):
    client, transport = managed_identity_client(
        no_managed_identity_env, make_response(200, {"access_token": "vm-token", "expires_in": "86399",
                                                     "resource": resource, "token_type": "Bearer"}), cloud=cloud)
    assert client._access_token() == "vm-token"
    (call,) = transport.calls
    assert call["method"] == "GET"
    assert call["url"] == "http://169.254.169.254/metadata/identity/oauth2/token"
    assert call["params"] == {"api-version": "2018-02-01", "resource": resource}
    assert call["headers"]["Metadata"] == "true"


def test_imds_request_for_a_user_assigned_identity(no_managed_identity_env):
    client, transport = managed_identity_client(
        no_managed_identity_env, make_response(200, {"access_token": "vm-token", "expires_in": "86399"}),
        managed_identity_client_id="5e6f7a8b-0000-4000-8000-000000000001")
    client._access_token()
    assert transport.calls[0]["params"]["client_id"] == "5e6f7a8b-0000-4000-8000-000000000001"


def test_app_service_request_carries_the_identity_header(no_managed_identity_env):
    no_managed_identity_env.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41234/msi/token")
    no_managed_identity_env.setenv("IDENTITY_HEADER", "header-value-1")
    client, transport = managed_identity_client(
        no_managed_identity_env,
        make_response(200, {"access_token": "app-token", "expires_on": str(int(time.time()) + 3600),
                            "resource": "https://127.0.0.1:8443", "token_type": "Bearer"}),
        graph_endpoint="https://127.0.0.1:8443")
    assert client._access_token() == "app-token"
    (call,) = transport.calls
    assert call["url"] == "http://127.0.0.1:41234/msi/token"
    assert call["params"] == {"api-version": "2019-08-01", "resource": "https://127.0.0.1:8443"}
    assert call["headers"]["X-IDENTITY-HEADER"] == "header-value-1"


def test_managed_identity_errors_name_the_endpoint_and_hide_the_header(no_managed_identity_env):
    no_managed_identity_env.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41234/msi/token")
    no_managed_identity_env.setenv("IDENTITY_HEADER", "header-value-2")
    client = gc.GraphClient(auth="managed_identity")
    # Token requests are retried like Graph requests (issue 11): two retries, then the error.
    client.max_retries, client._sleep = 2, lambda seconds: None
    client._session.request = Transport([requests.exceptions.ConnectionError("refused header-value-2")] * 3)
    with pytest.raises(gc.GraphError) as caught:
        client._access_token()
    assert client.stats["retries"] == 2
    assert "managed identity endpoint 127.0.0.1:41234" in caught.value.message
    assert "header-value-2" not in str(caught.value)
