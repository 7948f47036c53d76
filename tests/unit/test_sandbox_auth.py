"""The sandbox's identity side (FIDELITY.md 1 and 4): MSAL gets tokens unchanged, Graph checks them.

Tokens come from the real MSAL, configured only as a client of Entra would be plus
``instance_discovery=False`` and the sandbox CA; errors are compared with Entra's AADSTS shapes.
"""
import base64
import hashlib
import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


def authority(sandbox):
    return "%s/%s" % (sandbox.conn["authority_host"], sandbox.conn["tenant_id"])


def token_endpoint(sandbox):
    return authority(sandbox) + "/oauth2/v2.0/token"


def msal_app(sandbox, client_id, credential):
    return msal.ConfidentialClientApplication(client_id, client_credential=credential, authority=authority(sandbox),
                                              instance_discovery=False, verify=sandbox.conn["ca_path"])


def certificate_parts(app):
    """(private key PEM, certificate PEM, certificate object) of a seeded app's credential file."""
    pem = open(app["certificate_path"]).read()
    key_pem = pem[:pem.index("-----BEGIN CERTIFICATE-----")]
    cert_pem = pem[len(key_pem):]
    return key_pem, cert_pem, x509.load_pem_x509_certificate(cert_pem.encode())


def graph_get(sandbox, path, token=None, headers=None):
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = "Bearer %s" % token
    return requests.get(sandbox.url + "/v1.0" + path, headers=headers, verify=sandbox.conn["ca_path"], timeout=30)


def post_token(sandbox, form):
    response = requests.post(token_endpoint(sandbox), data=form, verify=sandbox.conn["ca_path"], timeout=30)
    return response.status_code, response.json()


def assertion(sandbox, app, key_pem=None, cert=None, **overrides):
    """A client assertion as MSAL builds it (RS256 + x5t), with claims or header overridden."""
    own_key, _, own_cert = certificate_parts(app)
    cert = cert or own_cert
    der = cert.public_bytes(serialization.Encoding.DER)
    now = int(time.time())
    claims = {"aud": token_endpoint(sandbox), "iss": app["client_id"], "sub": app["client_id"], "iat": now,
              "exp": now + 600, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
    return jwt.encode(claims, key_pem or own_key, algorithm="RS256", headers={"x5t": x5t})


def assertion_form(app, client_assertion):
    return {"grant_type": "client_credentials", "client_id": app["client_id"], "scope": GRAPH_SCOPE[0],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion}


def assert_aadsts(status, body, error, code):
    assert status == 400
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


@pytest.fixture
def sandbox_ca_bundle(sandbox, monkeypatch):
    # The machine sets REQUESTS_CA_BUNDLE globally, and requests lets it override MSAL's verify=.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.conn["ca_path"])


@pytest.fixture
def token_requests(monkeypatch):
    """The form bodies MSAL posts to the token endpoint (recorded, then sent unchanged)."""
    sent = []
    original = requests.Session.request

    def spy(self, method, url, *args, **kwargs):
        if method.upper() == "POST" and url.endswith("/oauth2/v2.0/token"):
            sent.append(kwargs.get("data"))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    return sent


# -- MSAL against the sandbox -------------------------------------------------------------------------

def test_openid_configuration_names_the_sandbox_endpoints(sandbox):
    response = requests.get(authority(sandbox) + "/v2.0/.well-known/openid-configuration",
                            verify=sandbox.conn["ca_path"], timeout=30)
    doc = response.json()
    assert response.status_code == 200
    assert doc["token_endpoint"] == token_endpoint(sandbox)
    assert doc["authorization_endpoint"] == authority(sandbox) + "/oauth2/v2.0/authorize"
    assert doc["issuer"] == authority(sandbox) + "/v2.0"


def test_openid_configuration_of_an_unknown_tenant_is_aadsts90002(sandbox):
    response = requests.get("%s/%s/v2.0/.well-known/openid-configuration" % (sandbox.url, uuid.uuid4()),
                            verify=sandbox.conn["ca_path"], timeout=30)
    assert_aadsts(response.status_code, response.json(), "invalid_request", 90002)


def test_msal_with_a_client_secret_gets_a_token_graph_accepts(sandbox, sandbox_ca_bundle):
    result = msal_app(sandbox, sandbox.conn["client_id"], sandbox.conn["client_secret"]).acquire_token_for_client(GRAPH_SCOPE)
    assert result.get("token_type") == "Bearer", result.get("error_description")
    assert result["expires_in"] > 3000
    assert graph_get(sandbox, "/users", result["access_token"]).status_code == 200


def test_access_token_carries_roles_tenant_audience_and_an_hour_of_life(sandbox):
    token = sandbox.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["tid"] == sandbox.conn["tenant_id"]
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appid"] == sandbox.conn["client_id"]
    assert "User.ReadWrite.All" in claims["roles"]
    assert 3500 <= claims["exp"] - time.time() <= 3600


def test_msal_with_a_certificate_thumbprint_signs_rs256_with_x5t(sandbox, sandbox_ca_bundle, token_requests):
    app = sandbox.app("m365-cloud-identity-cert")
    key_pem, _, cert = certificate_parts(app)
    credential = {"private_key": key_pem, "thumbprint": cert.fingerprint(hashes_sha1()).hex()}
    result = msal_app(sandbox, app["client_id"], credential).acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" in result, result.get("error_description")
    header = jwt.get_unverified_header(token_requests[-1]["client_assertion"])
    assert header["alg"] == "RS256" and "x5t" in header
    assert graph_get(sandbox, "/users", result["access_token"]).status_code == 200


def test_msal_with_a_public_certificate_signs_ps256_with_x5t_s256(sandbox, sandbox_ca_bundle, token_requests):
    app = sandbox.app("m365-cloud-identity-cert")
    key_pem, cert_pem, _ = certificate_parts(app)
    credential = {"private_key": key_pem, "public_certificate": cert_pem}
    result = msal_app(sandbox, app["client_id"], credential).acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" in result, result.get("error_description")
    header = jwt.get_unverified_header(token_requests[-1]["client_assertion"])
    assert header["alg"] == "PS256" and "x5t#S256" in header
    assert graph_get(sandbox, "/users", result["access_token"]).status_code == 200


def hashes_sha1():
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA1()


# -- token errors (Entra's AADSTS JSON) ---------------------------------------------------------------

def test_msal_with_a_wrong_secret_returns_aadsts7000215(sandbox, sandbox_ca_bundle):
    result = msal_app(sandbox, sandbox.conn["client_id"], "not-the-secret").acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "not-the-secret" not in result["error_description"]


def test_an_unknown_client_returns_aadsts700016(sandbox):
    unknown = str(uuid.uuid4())
    status, body = post_token(sandbox, {"grant_type": "client_credentials", "client_id": unknown,
                                        "client_secret": "whatever", "scope": GRAPH_SCOPE[0]})
    assert_aadsts(status, body, "unauthorized_client", 700016)
    assert unknown in body["error_description"]


def test_a_valid_assertion_built_by_hand_is_accepted(sandbox):
    app = sandbox.app("m365-cloud-identity-cert")
    status, body = post_token(sandbox, assertion_form(app, assertion(sandbox, app)))
    assert status == 200 and body["token_type"] == "Bearer"


def test_an_expired_assertion_returns_aadsts700024(sandbox):
    app = sandbox.app("m365-cloud-identity-cert")
    now = int(time.time())
    expired = assertion(sandbox, app, iat=now - 3600, exp=now - 1800)
    assert_aadsts(*post_token(sandbox, assertion_form(app, expired)), "invalid_client", 700024)


def test_an_assertion_signed_by_another_key_fails_signature_validation(sandbox):
    app = sandbox.app("m365-cloud-identity-cert")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = assertion(sandbox, app, key_pem=other_key)  # right x5t, wrong signature
    assert_aadsts(*post_token(sandbox, assertion_form(app, forged)), "invalid_client", 700027)


def test_an_assertion_for_another_audience_returns_aadsts700021(sandbox):
    app = sandbox.app("m365-cloud-identity-cert")
    wrong = assertion(sandbox, app, aud="https://login.microsoftonline.com/%s/oauth2/v2.0/token" % sandbox.conn["tenant_id"])
    assert_aadsts(*post_token(sandbox, assertion_form(app, wrong)), "invalid_client", 700021)


def test_an_assertion_whose_issuer_is_not_the_client_is_refused(sandbox):
    app = sandbox.app("m365-cloud-identity-cert")
    wrong = assertion(sandbox, app, iss=sandbox.conn["client_id"], sub=sandbox.conn["client_id"])
    assert_aadsts(*post_token(sandbox, assertion_form(app, wrong)), "invalid_client", 700023)


def test_a_scope_without_default_suffix_is_invalid_scope(sandbox):
    status, body = post_token(sandbox, {"grant_type": "client_credentials", "client_id": sandbox.conn["client_id"],
                                        "client_secret": sandbox.conn["client_secret"], "scope": "User.Read.All"})
    assert_aadsts(status, body, "invalid_scope", 1002012)


# -- Graph's token checks (401) and permissions (403) -------------------------------------------------

def assert_graph_error(response, status, code, message=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if message:
        assert error["message"] == message
    assert error["innerError"]["request-id"] == response.headers["request-id"]


def test_graph_without_a_token_is_401_access_token_is_empty(sandbox):
    assert_graph_error(graph_get(sandbox, "/users"), 401, "InvalidAuthenticationToken", "Access token is empty.")


def signed_token(key, sandbox, **overrides):
    now = int(time.time())
    claims = {"aud": "https://graph.microsoft.com", "tid": sandbox.conn["tenant_id"], "iat": now - 60, "nbf": now - 60,
              "exp": now + 3600, "appid": sandbox.conn["client_id"], "roles": ["User.ReadWrite.All"]}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256")


def sandbox_signing_key(sandbox):
    return (sandbox.state_dir / "token-signing-key.pem").read_bytes()


def test_graph_with_an_expired_token_is_401(sandbox):
    now = int(time.time())
    expired = signed_token(sandbox_signing_key(sandbox), sandbox, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    response = graph_get(sandbox, "/users", expired)
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert "expired" in response.json()["error"]["message"]


def test_graph_with_a_token_signed_by_another_key_is_401(sandbox):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_graph_error(graph_get(sandbox, "/users", signed_token(other, sandbox)), 401, "InvalidAuthenticationToken")


def test_graph_with_a_token_of_another_tenant_is_401(sandbox):
    foreign = signed_token(sandbox_signing_key(sandbox), sandbox, tid=str(uuid.uuid4()))
    assert_graph_error(graph_get(sandbox, "/users", foreign), 401, "InvalidAuthenticationToken")


def test_graph_with_a_garbage_token_is_401(sandbox):
    assert_graph_error(graph_get(sandbox, "/users", "not.a.jwt"), 401, "InvalidAuthenticationToken")


def test_a_verified_token_stays_accepted_and_a_sandbox_token_is_not_reusable_elsewhere(sandbox):
    token = sandbox.token()
    for _ in range(3):  # repeated use of one token (the sandbox caches verification)
        assert graph_get(sandbox, "/users", token).status_code == 200
    assert_graph_error(graph_get(sandbox, "/users", token + "x"), 401, "InvalidAuthenticationToken")


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/users", {"accountEnabled": True, "displayName": "Nope", "mailNickname": "nope",
                        "userPrincipalName": "nope@contoso.com",
                        "passwordProfile": {"password": "Str0ng-Passw0rd!", "forceChangePasswordNextSignIn": True}}),
    ("PATCH", "/users/ada.admin@contoso.com", {"jobTitle": "Nope"}),
    ("DELETE", "/users/ada.admin@contoso.com", None),
])
def test_the_read_only_app_may_read_but_gets_403_on_writes(sandbox, method, path, body):
    token = sandbox.token("m365-reader")
    assert graph_get(sandbox, "/users/ada.admin@contoso.com", token).status_code == 200
    response = requests.request(method, sandbox.url + "/v1.0" + path, json=body, verify=sandbox.conn["ca_path"],
                                headers={"Authorization": "Bearer %s" % token}, timeout=30)
    assert_graph_error(response, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    # Nothing was written.
    full = sandbox.token()
    assert graph_get(sandbox, "/users/ada.admin@contoso.com?$select=jobTitle", full).json()["jobTitle"] == "Identity Administrator"


def test_graph_responses_carry_request_ids_and_odata_headers(sandbox):
    response = graph_get(sandbox, "/users/ada.admin@contoso.com", sandbox.token(),
                         headers={"client-request-id": "11111111-2222-3333-4444-555555555555"})
    assert response.status_code == 200
    assert uuid.UUID(response.headers["request-id"])
    assert response.headers["client-request-id"] == "11111111-2222-3333-4444-555555555555"
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"].startswith("application/json;odata.metadata=minimal")
    assert response.json()["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
