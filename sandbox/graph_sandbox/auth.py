"""The Microsoft identity platform side: OIDC discovery and the client-credentials token endpoint.

Tokens are RS256 JWTs signed with a key kept in the state directory, shaped as Entra's v1.0 app-only tokens
(``issue_access_token``); the client proves itself with a secret, a certificate-signed assertion, or a
federated token (federation.py). Graph requests are accepted only
with a token this sandbox signed, for its tenant, not expired. Error bodies follow Entra's token error
format (FIDELITY.md 1.3): {"error", "error_description": "AADSTS...", "error_codes", ...}.
"""
import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import federation
from .http import GraphHTTPError, sandbox_of

TOKEN_LIFETIME = 3599
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us",
                   "https://microsoftgraph.chinacloudapi.cn", "00000003-0000-0000-c000-000000000000")


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _tenant_or_error(request):
    tenant = sandbox_of(request).tenant
    name = request.path_params["tenant"].lower()
    if name not in (tenant.id.lower(), *(d.lower() for d in tenant.verified_domains)):
        return None, token_error(400, "invalid_request", 90002,
                                 "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud." % request.path_params["tenant"])
    return tenant, None


def token_error(status, error, code, description):
    now = datetime.now(timezone.utc)
    trace = str(uuid.uuid4())
    return JSONResponse({
        "error": error,
        "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
            code, description, trace, uuid.uuid4(), now.strftime("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }, status_code=status)


def base_url(request):
    return "%s://%s" % (request.url.scheme, request.url.netloc)


async def openid_configuration(request):
    tenant, error = _tenant_or_error(request)
    if error:
        return error
    root = "%s/%s" % (base_url(request), request.path_params["tenant"])
    return JSONResponse({
        "issuer": "%s/v2.0" % root,
        "authorization_endpoint": "%s/oauth2/v2.0/authorize" % root,
        "token_endpoint": "%s/oauth2/v2.0/token" % root,
        "device_authorization_endpoint": "%s/oauth2/v2.0/devicecode" % root,
        "jwks_uri": "%s/discovery/v2.0/keys" % root,
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "EU",
    })


async def jwks(request):
    return JSONResponse({"keys": [sandbox_of(request).signing_jwk]})


def _check_assertion(app, assertion, token_endpoint):
    """None when the client assertion is valid for the app, else (code, description)."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return 50027, "JWT token is invalid or malformed."
    cert_pem = app.get("cert_pem")
    if not cert_pem:
        return 700027, "Client assertion failed signature validation. No certificate is registered for app '%s'." % app["id"]
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    der = cert.public_bytes(Encoding.DER)
    thumbprints = {"x5t": _b64url(hashlib.sha1(der).digest()), "x5t#S256": _b64url(hashlib.sha256(der).digest())}
    # MSAL sends the thumbprint base64url-encoded with its "=" padding; the JOSE form has none.
    given = [(k, str(header[k]).rstrip("=")) for k in ("x5t#S256", "x5t") if k in header]
    if not given or not any(hmac.compare_digest(v, thumbprints[k]) for k, v in given):
        return 700027, "Client assertion failed signature validation. Key was not found."
    if header.get("alg") not in ("RS256", "PS256"):
        return 5002738, "Invalid JWT token. '%s' is not a supported signature algorithm." % header.get("alg")
    try:
        claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"], audience=token_endpoint,
                            options={"require": ["exp", "aud", "iss", "sub"]}, leeway=300)
    except jwt.ExpiredSignatureError:
        return 700024, "Client assertion is not within its valid time range."
    except jwt.InvalidAudienceError:
        return 700021, "Client assertion audience claim does not match Realm issuer."
    except jwt.InvalidSignatureError:
        return 700027, "Client assertion failed signature validation."
    except jwt.PyJWTError as exc:
        return 50027, "JWT token is invalid or malformed. %s" % exc
    if claims.get("iss") != app["id"] or claims.get("sub") != app["id"]:
        return 700023, "Client assertion contains an invalid issuer or subject; both must be the client id."
    return None


async def token(request):
    sandbox = sandbox_of(request)
    sandbox.counters.count_token()
    tenant, error = _tenant_or_error(request)
    if error:
        return error
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return token_error(400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type '%s'." % form.get("grant_type", ""))
    client_id = form.get("client_id", "")
    app = tenant.apps.get(client_id)
    if app is None:
        return token_error(400, "unauthorized_client", 700016,
                           "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant." % (client_id, tenant.id))
    scope = form.get("scope", "")
    resources = [s[:-len("/.default")] for s in scope.split() if s.endswith("/.default")]
    accepted = GRAPH_AUDIENCES + (base_url(request),)
    if not resources or not all(r.rstrip("/") in accepted for r in resources):
        return token_error(400, "invalid_scope", 1002012,
                           "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)." % scope)
    if "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return token_error(400, "invalid_request", 50027, "Invalid client_assertion_type.")
        assertion = form["client_assertion"]
        if federation.is_federated_assertion(assertion):
            problem = federation.check_federated_assertion(sandbox, app, assertion, base_url(request))
            if problem:
                return token_error(400, *problem)
            sandbox.counters.count_federated_assertion(federation.fingerprint(assertion))
        else:
            endpoint = "%s/%s/oauth2/v2.0/token" % (base_url(request), request.path_params["tenant"])
            problem = _check_assertion(app, assertion, endpoint)
            if problem:
                return token_error(400, "invalid_client", problem[0], problem[1])
        # A client assertion, whether signed with the app's certificate or federated, is a credential the
        # app proves possession of: appidacr 2 (1 is a shared secret).
        authentication = "2"
    elif "client_secret" in form:
        if not app.get("secret") or not hmac.compare_digest(form["client_secret"], app["secret"]):
            return token_error(400, "invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'." % client_id)
        authentication = "1"
    else:
        return token_error(400, "invalid_client", 7000218,
                           "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    access_token = issue_access_token(sandbox, app, resources[0].rstrip("/"), authentication)
    return JSONResponse({"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME,
                         "access_token": access_token})


def issue_access_token(sandbox, app, audience, authentication):
    """An app-only Graph access token shaped as Entra's v1.0 tokens (FIDELITY 7.14; docs/graph-rules.md).

    ``authentication`` is the appidacr claim: "1" client secret, "2" certificate or other client assertion.
    """
    tenant_id = sandbox.tenant.id
    now = int(time.time())
    claims = {
        "aud": audience, "iss": "https://sts.windows.net/%s/" % tenant_id, "iat": now, "nbf": now,
        "exp": now + TOKEN_LIFETIME, "app_displayname": app["name"], "appid": app["id"], "appidacr": authentication,
        "idp": "https://sts.windows.net/%s/" % tenant_id, "idtyp": "app", "oid": app["servicePrincipalId"],
        "roles": app["roles"], "sub": app["servicePrincipalId"], "tid": tenant_id,
        "uti": _b64url(uuid.uuid4().bytes), "ver": "1.0",
    }
    return jwt.encode(claims, sandbox.signing_key, algorithm="RS256", headers={"kid": sandbox.signing_kid, "typ": "JWT"})


# Tokens this sandbox already verified (keyed by signing key id and token), so each request does not
# pay for an RSA verification and PyJWT's parsing: that was half the time of a GET /users/{id}.
_verified_tokens = {}


def authenticate(sandbox, authorization):
    """The token's roles, or GraphHTTPError 401 as Graph answers a missing, expired or foreign token."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise GraphHTTPError(401, "InvalidAuthenticationToken", "Access token is empty.")
    value = value.strip()
    claims = _verified_tokens.get((sandbox.signing_kid, value))
    if claims is not None:
        if claims["exp"] <= time.time():
            raise GraphHTTPError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return claims
    try:
        claims = jwt.decode(value, sandbox.signing_public_key, algorithms=["RS256"],
                            options={"verify_aud": False, "require": ["exp", "tid"]})
    except jwt.ExpiredSignatureError:
        raise GraphHTTPError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    except jwt.InvalidSignatureError:
        raise GraphHTTPError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature.")
    except jwt.PyJWTError:
        raise GraphHTTPError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
    if claims.get("tid") != sandbox.tenant.id:
        raise GraphHTTPError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
    if len(_verified_tokens) >= 1000:
        _verified_tokens.clear()
    _verified_tokens[(sandbox.signing_kid, value)] = claims
    return claims


routes = federation.routes + [
    Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route("/{tenant}/discovery/v2.0/keys", jwks, methods=["GET"]),
    Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
]
