"""A managed identity endpoint in the App Service / Functions protocol, served over http on loopback.

On App Service the platform sets IDENTITY_ENDPOINT (a loopback http URL) and IDENTITY_HEADER (a secret the
caller echoes in X-IDENTITY-HEADER); ``GET {endpoint}?resource=...&api-version=2019-08-01`` (plus
``client_id``, ``object_id``/``principal_id`` or ``mi_res_id`` for a user-assigned identity) answers a token
for the resource (docs/graph-rules.md, "Managed identity"). The sandbox serves it on its own port, for the
app registrations its seed marks ``managed_identity: system_assigned`` or ``user_assigned``; the tokens are
the same v1.0 Graph tokens as the token endpoint's.
"""
import hmac
import time

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import GRAPH_AUDIENCES, TOKEN_LIFETIME, issue_access_token

API_VERSION = "2019-08-01"
TOKEN_PATH = "/msi/token"


def _error(status, message):
    # App Service's error body: msal reads statusCode and message from it.
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


def _identity(apps, params):
    """The managed identity the request names, or the system-assigned one."""
    identities = [app for app in apps.values() if app.get("managedIdentity")]
    if params.get("client_id"):
        found = [app for app in identities if app["id"] == params["client_id"]]
    elif params.get("object_id") or params.get("principal_id"):
        wanted = params.get("object_id") or params.get("principal_id")
        found = [app for app in identities if app["servicePrincipalId"] == wanted]
    elif params.get("mi_res_id"):
        found = [app for app in identities if app.get("resourceId") == params["mi_res_id"]]
    else:
        found = [app for app in identities if app["managedIdentity"] == "system_assigned"]
    return found[0] if found else None


def build_identity_app(sandbox, graph_base, identity_header):
    """The ASGI app of the endpoint; ``graph_base`` is the sandbox's Graph URL (a valid resource too)."""

    async def token(request):
        given = request.headers.get("x-identity-header", "")
        if not given or not hmac.compare_digest(given, identity_header):
            return _error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        params = request.query_params
        if params.get("api-version") != API_VERSION:
            return _error(400, "api-version must be %s." % API_VERSION)
        resource = (params.get("resource") or "").rstrip("/")
        if resource.endswith("/.default"):
            return _error(400, "resource is a resource URI, not a scope: drop '/.default'.")
        if resource not in GRAPH_AUDIENCES + (graph_base,):
            return _error(400, "The sandbox issues tokens for Microsoft Graph only, not for resource '%s'." % resource)
        app = _identity(sandbox.tenant.apps, params)
        if app is None:
            return _error(400, "No managed identity found for the requested client_id, object_id or mi_res_id.")
        sandbox.counters.count_token()
        return JSONResponse({"access_token": issue_access_token(sandbox, app, resource, "2"),
                             "expires_on": str(int(time.time()) + TOKEN_LIFETIME), "resource": resource,
                             "token_type": "Bearer", "client_id": app["id"]})

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["GET"])])
