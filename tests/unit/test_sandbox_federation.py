"""The sandbox's secretless sign-in (FIDELITY 7.9) and its v1.0 access tokens (FIDELITY 7.14).

Federated tokens come from the sandbox's own test issuer (POST /_sandbox/federated-token) and go to the
token endpoint as client assertions, the way the collection's GraphClient sends them; the managed identity
endpoint is called in the App Service protocol, as msal's ManagedIdentityClient calls it.
"""
import hashlib
import time

import jwt
import pytest
import requests

from test_sandbox_auth import assert_aadsts, assertion_form, post_token

AUTOMATION = "m365-cloud-identity"
READER = "m365-reader"


def federated_token(sandbox, app_name=AUTOMATION, **overrides):
    body = dict(client_id=sandbox.app(app_name)["client_id"], **overrides)
    response = requests.post(sandbox.conn["federation"]["token_url"], json=body, verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def exchange(sandbox, token, app_name=AUTOMATION):
    return post_token(sandbox, assertion_form(sandbox.app(app_name), token))


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


# -- the test issuer -----------------------------------------------------------------------------------

def test_federated_token_names_the_apps_credential(sandbox):
    claims = claims_of(federated_token(sandbox))
    credential = sandbox.app(AUTOMATION)["federated_identity_credentials"][0]
    assert claims["iss"] == credential["issuer"] == sandbox.conn["federation"]["issuer"]
    assert claims["sub"] == "system:serviceaccount:awx:automation-job" == credential["subject"]
    assert claims["aud"] == "api://AzureADTokenExchange"
    assert 3500 <= claims["exp"] - time.time() <= 3600


def test_the_test_issuer_publishes_its_keys(sandbox):
    issuer = sandbox.conn["federation"]["issuer"]
    config = requests.get(issuer + "/.well-known/openid-configuration", verify=sandbox.conn["ca_path"], timeout=30).json()
    assert config["issuer"] == issuer
    keys = requests.get(config["jwks_uri"], verify=sandbox.conn["ca_path"], timeout=30).json()["keys"]
    token = federated_token(sandbox)
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]


def test_federated_token_for_an_unknown_app_is_404(sandbox):
    response = requests.post(sandbox.conn["federation"]["token_url"], json={"client_id": "nope"},
                             verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 404


# -- the token endpoint --------------------------------------------------------------------------------

def test_a_federated_token_buys_a_graph_token_and_is_counted(sandbox):
    sandbox.reset_counters()
    token = federated_token(sandbox)
    status, body = exchange(sandbox, token)
    assert status == 200, body
    claims = claims_of(body["access_token"])
    assert claims["appid"] == sandbox.app(AUTOMATION)["client_id"] and claims["appidacr"] == "2"
    assert sandbox.counters()["federated_assertions"] == [hashlib.sha256(token.encode()).hexdigest()[:16]]


@pytest.mark.parametrize("overrides, app_name, error, code", [
    ({"audience": "api://AzureADMyOrg"}, AUTOMATION, "invalid_request", 700212),
    ({"expires_in": -3600}, AUTOMATION, "invalid_client", 700024),
    ({"issuer": "https://oidc.prod-aks.azure.com/other/"}, AUTOMATION, "invalid_request", 700211),
    ({"subject": "system:serviceaccount:awx:someone-else"}, AUTOMATION, "invalid_request", 700213),
    ({"signature": "unknown_key"}, AUTOMATION, "invalid_client", 7000272),
    ({"signature": "tampered"}, AUTOMATION, "invalid_client", 50013),
])
def test_a_bad_federated_token_gets_entras_aadsts_code(sandbox, overrides, app_name, error, code):
    status, body = exchange(sandbox, federated_token(sandbox, app_name, **overrides))
    assert_aadsts(status, body, error, code)


def test_the_token_of_another_app_is_refused_for_its_subject(sandbox):
    """The reader app's workload token, presented by the automation app: its subject matches no credential."""
    status, body = exchange(sandbox, federated_token(sandbox, READER), AUTOMATION)
    assert_aadsts(status, body, "invalid_request", 700213)
    assert "system:serviceaccount:reports:reader" in body["error_description"]


def test_an_app_without_federated_credentials_refuses_any_federated_token(sandbox):
    token = federated_token(sandbox, AUTOMATION)
    status, body = exchange(sandbox, token, "m365-cloud-identity-cert")
    assert_aadsts(status, body, "invalid_request", 70021)


# -- FIDELITY 7.14: v1.0 app-only tokens ---------------------------------------------------------------

def test_app_only_tokens_are_v1_tokens(sandbox):
    claims = claims_of(sandbox.token())
    app = sandbox.app(AUTOMATION)
    tenant = sandbox.conn["tenant_id"]
    assert claims["ver"] == "1.0"
    assert claims["iss"] == "https://sts.windows.net/%s/" % tenant and claims["tid"] == tenant
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appid"] == app["client_id"] and claims["appidacr"] == "1"
    assert claims["idtyp"] == "app" and claims["app_displayname"] == AUTOMATION
    assert claims["oid"] == claims["sub"] != app["client_id"]
    assert "azp" not in claims and "upn" not in claims
    assert set(claims["roles"]) == set(app["roles"])


def test_the_service_principal_id_is_stable_per_app(sandbox):
    assert claims_of(sandbox.token())["oid"] == claims_of(sandbox.token())["oid"] != claims_of(sandbox.token(READER))["oid"]


# -- the managed identity endpoint (App Service protocol) ----------------------------------------------

def identity_get(sandbox, header=None, **params):
    identity = sandbox.conn["managed_identity"]
    params.setdefault("api-version", "2019-08-01")
    params.setdefault("resource", sandbox.conn["graph_endpoint"])
    headers = {"X-IDENTITY-HEADER": identity["IDENTITY_HEADER"] if header is None else header}
    return requests.get(identity["IDENTITY_ENDPOINT"], params=params, headers=headers, timeout=30)


def test_the_identity_endpoint_is_loopback_http(sandbox):
    assert sandbox.conn["managed_identity"]["IDENTITY_ENDPOINT"].startswith("http://127.0.0.1:")


def test_system_assigned_identity_token_graph_accepts(sandbox):
    response = identity_get(sandbox)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["resource"] == sandbox.conn["graph_endpoint"]
    assert 3500 <= int(body["expires_on"]) - time.time() <= 3600
    claims = claims_of(body["access_token"])
    identity = sandbox.app("m365-managed-identity")
    assert claims["appid"] == body["client_id"] == identity["client_id"]
    assert set(claims["roles"]) == set(identity["roles"])
    users = requests.get(sandbox.url + "/v1.0/users", headers={"Authorization": "Bearer " + body["access_token"]},
                         verify=sandbox.conn["ca_path"], timeout=30)
    assert users.status_code == 200


def test_user_assigned_identity_by_client_id(sandbox):
    identity = sandbox.app("m365-reader-identity")
    response = identity_get(sandbox, client_id=identity["client_id"], resource="https://graph.microsoft.com")
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["roles"] == identity["roles"]


@pytest.mark.parametrize("header, params, status", [
    ("", {}, 401),
    ("wrong", {}, 401),
    (None, {"api-version": "2017-09-01"}, 400),
    (None, {"resource": "https://management.azure.com"}, 400),
    (None, {"client_id": "00000000-0000-0000-0000-000000000000"}, 400),
])
def test_identity_endpoint_refusals(sandbox, header, params, status):
    response = identity_get(sandbox, header, **params)
    assert response.status_code == status
    assert response.json()["statusCode"] == status and response.json()["message"]
