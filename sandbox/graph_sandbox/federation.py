"""Workload identity federation: the sandbox's own test issuer, and Entra's checks of a federated token.

An app registration trusts an external issuer through federated identity credentials (issuer, subject,
audiences; Graph's federatedIdentityCredential). A workload presents that issuer's token as the
``client_assertion`` of a client-credentials request; Entra accepts it only when one credential of the app
matches its issuer, subject and audience, its signature verifies against the issuer's published keys, and it
has not expired (docs/graph-rules.md, "Workload identity federation").

The sandbox plays the external issuer too: ``POST /_sandbox/federated-token`` issues a token for an app's
first federated credential, as the AKS webhook projects one into a pod, with overrides for negative tests.
"""
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timezone

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import JSONResponse
from starlette.routing import Route

from .http import sandbox_of

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ISSUER_PATH = "/_sandbox/issuer"
# A credential's issuer given as this word in the seed is the sandbox's own test issuer (its URL has the port).
SANDBOX_ISSUER = "sandbox"
FEDERATED_TOKEN_LIFETIME = 3600
DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
CHECK_CREDENTIAL = "Check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s" % DOCS


def issuer_url(base):
    return base + ISSUER_PATH


def credentials_of(app, base):
    """The app's federated identity credentials, with the sandbox issuer resolved to its URL."""
    return [dict(fic, issuer=issuer_url(base) if fic["issuer"] == SANDBOX_ISSUER else fic["issuer"])
            for fic in app.get("federatedIdentityCredentials") or []]


def is_federated_assertion(assertion):
    """A federated token's issuer is its identity provider's URL; a certificate-signed assertion's is a client id."""
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return False
    return isinstance(issuer, str) and issuer.lower().startswith(("https://", "http://"))


def fingerprint(assertion):
    """What the counters keep of an accepted assertion: enough to tell two apart, never the token."""
    return hashlib.sha256(assertion.encode()).hexdigest()[:16]


def _utc(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_federated_assertion(sandbox, app, assertion, base):
    """None when Entra would accept the federated token for the app, else (error, AADSTS code, description)."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "invalid_client", 50027, "JWT token is invalid or malformed."
    issuer, subject, audience = claims.get("iss"), claims.get("sub"), claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    credentials = credentials_of(app, base)
    if not credentials:
        return "invalid_request", 70021, (
            "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'."
            " Assertion Subject: '%s'. Assertion Audience: '%s'." % (issuer, subject, audience))
    credentials = [fic for fic in credentials if fic["issuer"] == issuer]
    if not credentials:
        return "invalid_request", 700211, "No matching federated identity record found for presented assertion issuer '%s'. %s" % (
            issuer, CHECK_CREDENTIAL)
    key = sandbox.federation_key
    if issuer != issuer_url(base) or not hmac.compare_digest(str(header.get("kid", "")), key.kid):
        return "invalid_client", 7000272, (
            "The certificate with identifier %s used to sign the federated credential could not be found in the"
            " metadata of identity provider %s. Please validate that your Identity Provider's metadata exposes"
            " the key used to sign the incoming token." % (header.get("kid"), issuer))
    try:
        jwt.decode(assertion, key.public_key, algorithms=["RS256"],
                   options={"verify_exp": False, "verify_nbf": False, "verify_aud": False, "verify_iat": False})
    except jwt.InvalidSignatureError:
        return "invalid_client", 50013, ("Assertion failed signature validation. [Reason - The provided signature"
                                         " value did not match the expected signature value.]")
    except jwt.PyJWTError:
        return "invalid_client", 50027, "JWT token is invalid or malformed."
    now = time.time()
    expires = claims.get("exp")
    # Entra allows five minutes of clock skew on assertions.
    if not isinstance(expires, (int, float)) or expires + 300 < now or claims.get("nbf", 0) - 300 > now:
        return "invalid_client", 700024, (
            "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s,"
            " expiry time of assertion %s." % (_utc(now), _utc(claims.get("nbf") or claims.get("iat") or 0),
                                               _utc(expires if isinstance(expires, (int, float)) else 0)))
    credentials = [fic for fic in credentials if set(audiences) & set(fic["audiences"])]
    if not credentials:
        return "invalid_request", 700212, "No matching federated identity record found for presented assertion audience '%s'. %s" % (
            audience, CHECK_CREDENTIAL)
    # Subjects are compared case-sensitively (Entra's breaking change of 2024-08).
    if not any(fic["subject"] == subject for fic in credentials):
        return "invalid_request", 700213, "No matching federated identity record found for presented assertion subject '%s'. %s" % (
            subject, CHECK_CREDENTIAL)
    return None


def _base(request):
    return "%s://%s" % (request.url.scheme, request.url.netloc)


async def federated_token(request):
    """POST {"client_id", optional "audience", "subject", "issuer", "expires_in", "signature"} -> a token."""
    sandbox = sandbox_of(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("client_id"):
        return JSONResponse({"error": "body must be a JSON object with client_id"}, status_code=400)
    app = sandbox.tenant.apps.get(str(body["client_id"]))
    if app is None:
        return JSONResponse({"error": "no app registration with client_id %s" % body["client_id"]}, status_code=404)
    credentials = credentials_of(app, _base(request))
    if not credentials and not body.get("subject"):
        return JSONResponse({"error": "app %s has no federated identity credential; give subject" % app["name"]},
                            status_code=400)
    fic = credentials[0] if credentials else {"issuer": issuer_url(_base(request)), "audiences": [TOKEN_EXCHANGE_AUDIENCE]}
    now = int(time.time())
    claims = {"iss": body.get("issuer") or issuer_url(_base(request)), "sub": body.get("subject") or fic["subject"],
              "aud": body.get("audience") or fic["audiences"][0], "iat": now, "nbf": now,
              "exp": now + int(body.get("expires_in", FEDERATED_TOKEN_LIFETIME)), "jti": str(uuid.uuid4())}
    if claims["exp"] <= now:
        claims["iat"] = claims["nbf"] = claims["exp"] - FEDERATED_TOKEN_LIFETIME
    signature = body.get("signature", "valid")
    if signature == "valid":
        token = sandbox.federation_key.sign(claims)
    elif signature in ("unknown_key", "tampered"):
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # unknown_key: a key the issuer does not publish; tampered: the issuer's key id on a foreign signature.
        kid = uuid.uuid4().hex if signature == "unknown_key" else sandbox.federation_key.kid
        token = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
    else:
        return JSONResponse({"error": "signature must be valid, unknown_key or tampered"}, status_code=400)
    return JSONResponse({"token": token, "issuer": claims["iss"], "subject": claims["sub"], "audience": claims["aud"],
                         "expires_on": claims["exp"]})


async def issuer_configuration(request):
    base = _base(request)
    return JSONResponse({"issuer": issuer_url(base), "jwks_uri": issuer_url(base) + "/keys",
                         "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                         "id_token_signing_alg_values_supported": ["RS256"]})


async def issuer_keys(request):
    return JSONResponse({"keys": [sandbox_of(request).federation_key.jwk]})


routes = [
    Route("/_sandbox/federated-token", federated_token, methods=["POST"]),
    Route(ISSUER_PATH + "/.well-known/openid-configuration", issuer_configuration, methods=["GET"]),
    Route(ISSUER_PATH + "/keys", issuer_keys, methods=["GET"]),
]
