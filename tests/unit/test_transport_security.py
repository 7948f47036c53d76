"""TLS trust that cannot be switched off, token requests retried like Graph requests, and the
permission table that names the fix of a 403 (graph_client.py, permissions.py, graph_module.py)."""

import base64
import json

import pytest
import requests

from ansible_collections.m365.cloud_identity.plugins.module_utils import graph_client as gc
from ansible_collections.m365.cloud_identity.plugins.module_utils import permissions
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import (
    graph_error_message,
    watch_permissions,
)

from test_graph_client import FakeMsalApp, Transport, make_response, graph_error, SECRET  # noqa: F401

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def token_with_roles(roles):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    claims = {"aud": "https://graph.microsoft.com", "tid": "tenant-1"}
    if roles is not None:
        claims["roles"] = roles
    return "%s.%s.signature" % (part({"alg": "RS256", "typ": "JWT"}), part(claims))


@pytest.fixture
def make_client(monkeypatch):
    def factory(script, roles=None, **options):
        options.setdefault("client_secret", SECRET)
        client = gc.GraphClient("tenant-1", "client-1", **options)
        client._msal_app = FakeMsalApp({"access_token": token_with_roles(roles)})
        client.sleeps = []
        client._sleep = client.sleeps.append
        client._random = lambda: 0.5
        client.transport = Transport(script)
        monkeypatch.setattr(client._session, "request", client.transport)
        return client
    return factory


# ---- TLS ---------------------------------------------------------------------------

@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_ca_path_means_the_default_trust_store(empty):
    assert gc.trust_setting(empty) is True
    client = gc.GraphClient("t", "c", client_secret=SECRET, ca_path=empty)
    assert client.verify is True and client.ca_path is None


def test_default_trust_keeps_requests_ca_bundle(monkeypatch, tmp_path):
    """verify=True still lets REQUESTS_CA_BUNDLE choose the bundle (proxies with their own CA rely on it)."""
    bundle = tmp_path / "corporate.pem"
    bundle.write_text(PEM)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    settings = requests.Session().merge_environment_settings("https://graph.microsoft.com/v1.0", {}, None, True, None)
    assert settings["verify"] == str(bundle)


def test_missing_ca_path_fails_naming_the_option(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(gc.GraphError) as caught:
        gc.GraphClient("t", "c", client_secret=SECRET, ca_path=missing)
    assert caught.value.code == "InvalidConfiguration"
    assert "ca_path %s does not exist" % missing in caught.value.message
    assert "M365_CA_PATH" in caught.value.message
    # The module shows the message as is: it names the option, no request was made.
    assert graph_error_message(caught.value).startswith("ca_path ")


def test_ca_path_without_a_certificate_fails(tmp_path):
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("just text\n")
    with pytest.raises(gc.GraphError, match="ca_path .* holds no PEM certificate"):
        gc.GraphClient("t", "c", client_secret=SECRET, ca_path=str(not_pem))
    empty_dir = tmp_path / "certs"
    empty_dir.mkdir()
    with pytest.raises(gc.GraphError, match="holds no PEM certificate"):
        gc.trust_setting(str(empty_dir))
    (empty_dir / "ca.pem").write_text(PEM)
    assert gc.trust_setting(str(empty_dir)) == str(empty_dir)


def test_msal_http_client_can_never_turn_verification_off(make_client):
    client = make_client([make_response(200, {"token_type": "Bearer"})] * 2)
    http_client = gc._VerifyingHttpClient(client)
    http_client.post("https://login.example/t/oauth2/v2.0/token", data={}, verify=False)
    http_client.get("https://login.example/t/v2.0/.well-known/openid-configuration", verify="")
    assert [call["verify"] for call in client.transport.calls] == [True, True]


# ---- token requests retried ----------------------------------------------------------

def reset_connection():
    return requests.exceptions.ConnectionError(
        requests.packages.urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


def test_token_request_retries_resets_5xx_and_429(make_client):
    ok = make_response(200, {"access_token": "x"})
    client = make_client([reset_connection(), make_response(503, text="busy"),
                          make_response(429, {"error": "throttled"}, {"Retry-After": "7"}), ok])
    http_client = gc._VerifyingHttpClient(client)
    assert http_client.post("https://login.example/t/oauth2/v2.0/token", data={}) is ok
    assert len(client.transport.calls) == 4
    assert client.sleeps[2] == 7.0  # Retry-After honoured
    assert client.stats["token_requests"] == 4 and client.stats["retries"] == 3


def test_token_request_retries_are_bounded(make_client):
    client = make_client([make_response(503, text="busy")] * 50)
    client.max_retries = 3
    response = gc._VerifyingHttpClient(client).post("https://login.example/t/oauth2/v2.0/token", data={})
    assert response.status_code == 503
    assert len(client.transport.calls) == 4

    client = make_client([reset_connection()] * 50)
    client.max_retry_wait = 2.5
    with pytest.raises(requests.exceptions.ConnectionError):
        gc._VerifyingHttpClient(client).post("https://login.example/t/oauth2/v2.0/token", data={})
    assert sum(client.sleeps) <= 2.5


def test_token_tls_failure_is_not_retried(make_client):
    client = make_client([requests.exceptions.SSLError("certificate verify failed")])
    with pytest.raises(requests.exceptions.SSLError):
        gc._VerifyingHttpClient(client).post("https://login.example/t/oauth2/v2.0/token", data={})
    assert client.sleeps == []


def test_token_400_is_not_retried(make_client):
    client = make_client([make_response(400, {"error": "invalid_client"})])
    assert gc._VerifyingHttpClient(client).post("https://login.example/t/oauth2/v2.0/token").status_code == 400
    assert len(client.transport.calls) == 1


# ---- permissions ---------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, roles, missing", [
    ("POST", "/v1.0/users", {}, ["User.Read.All"], "User.ReadWrite.All"),
    ("POST", "/v1.0/users", {}, ["User.ReadWrite.All"], None),
    ("POST", "/v1.0/users", {}, ["Directory.ReadWrite.All"], None),
    ("PATCH", "/v1.0/users/u1", {}, [], "User.ReadWrite.All"),
    ("POST", "/v1.0/users/u1/assignLicense", {}, ["User.ReadWrite.All"], None),
    ("POST", "/v1.0/users/u1/assignLicense", {}, ["Organization.Read.All"], "LicenseAssignment.ReadWrite.All"),
    ("POST", "/v1.0/groups", {}, ["Group.Create"], None),
    ("POST", "/v1.0/groups", {}, ["GroupMember.ReadWrite.All"], "Group.Create"),
    ("PATCH", "/v1.0/groups/g1", {"description": "x"}, ["Group.Create"], "Group.ReadWrite.All"),
    ("PATCH", "/v1.0/groups/g1", {"members@odata.bind": []}, ["GroupMember.ReadWrite.All"], None),
    ("POST", "/v1.0/groups/g1/members/$ref", {}, ["Group.Create"], "GroupMember.ReadWrite.All"),
    ("DELETE", "/v1.0/groups/g1/owners/u1/$ref", {}, ["Group.ReadWrite.All"], None),
    ("POST", "/v1.0/invitations", {}, ["User.ReadWrite.All"], None),
    ("POST", "/v1.0/invitations", {}, ["User.Read.All"], "User.Invite.All"),
    ("POST", "/v1.0/$batch", {"requests": [{"method": "GET", "url": "/users"}]}, [], None),
    ("POST", "/v1.0/$batch", {"requests": [{"method": "POST", "url": "/groups/g/members/$ref"}]},
     ["User.ReadWrite.All"], "GroupMember.ReadWrite.All"),
    ("POST", "/v1.0/$batch", {"requests": [{"method": "PATCH", "url": "/groups/g1",
                                            "body": {"members@odata.bind": ["x"]}}]}, ["GroupMember.ReadWrite.All"], None),
    ("GET", "/v1.0/directory/deletedItems/microsoft.graph.group", None, [], None),  # reads: left to Graph
    ("POST", "/v1.0/users", {}, None, None),  # no roles claim: Graph decides
])
def test_missing_for_request(method, path, body, roles, missing):
    found = permissions.missing_for_request(roles, method, path, body)
    assert (found[1][0] if found else None) == missing


def test_readme_table_matches_the_permission_table():
    import pathlib
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    for module, row in permissions.MODULE_PERMISSIONS.items():
        line = next(line for line in readme.splitlines() if line.startswith("| `%s` |" % module))
        needs = line.split("|")[2]
        for permission in row["needs"]:
            assert "`%s`" % permission in needs, (module, permission)


def test_write_is_refused_before_it_is_sent_when_the_token_lacks_the_permission(make_client):
    client = make_client([], roles=["User.Read.All", "Domain.Read.All"])
    watch_permissions(client)
    with pytest.raises(gc.GraphError) as caught:
        client.post("/users", json={"displayName": "x"})
    assert client.transport.calls == []
    error = caught.value
    assert error.status == 403 and error.missing_permissions[0] == "User.ReadWrite.All"
    message = graph_error_message(error)
    assert "User.ReadWrite.All" in message and "documentation lists" not in message
    assert token_with_roles(["User.Read.All", "Domain.Read.All"]) not in message


def test_refused_read_names_the_permission(make_client):
    client = make_client([graph_error(403, "Authorization_RequestDenied", "Insufficient privileges.")],
                         roles=["User.ReadWrite.All"])
    watch_permissions(client)
    with pytest.raises(gc.GraphError) as caught:
        client.get("/subscribedSkus")
    assert "Organization.Read.All" in graph_error_message(caught.value)


def test_refused_batch_item_names_the_permission(make_client):
    denied = {"id": "1", "status": 403, "body": {"error": {"code": "Authorization_RequestDenied",
                                                           "message": "Insufficient privileges."}}}
    client = make_client([make_response(200, {"responses": [denied]})], roles=None)
    watch_permissions(client)
    [result] = client.batch([{"id": "1", "method": "POST", "url": "/groups/g1/members/$ref", "body": {}}])
    assert "GroupMember.ReadWrite.All" in graph_error_message(result.error)
