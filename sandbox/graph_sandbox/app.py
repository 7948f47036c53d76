"""The ASGI application: Starlette routes for the token side, Graph v1.0 and the /_sandbox/ control API.

``GraphMiddleware`` wraps every Graph request (and every $batch item, which is dispatched back
through the same application) with what the real service does around a handler: request ids,
authentication, throttling, injected faults, counters, and one commit of the tenant per HTTP request.
"""
import json
import math
import random
import re
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route

from . import auth, control, seed
from .keys import SigningKey
from .http import GRAPH_CONTENT_TYPE, GraphHTTPError, error_body, error_response, graph_json, read_json
from .resources import contacts, directory, groups, invitations, licensing, service_principals, sponsors, users
from .tenant import Tenant

MAX_BATCH = 20


class Sandbox:
    """Everything one running sandbox owns: its state directory, tenant, signing key and controls."""

    def __init__(self, state_dir, seed_path=None, config=None):
        self.state_dir = Path(state_dir)
        self.seed = seed.read_seed(seed_path)
        self.rng = random.Random()
        self.control = control.Control(config, self.rng)
        self.counters = self.control.counters
        self._load_signing_key()
        self.tenant = Tenant(self.state_dir / "tenant.sqlite", replication_lag=lambda: self.control.replication_lag)
        if not self.tenant.initialized:
            seed.apply_seed(self.tenant, self.seed)
            self.tenant.settle()

    def _load_signing_key(self):
        key = SigningKey(self.state_dir / "token-signing-key.pem")
        self.signing_key, self.signing_public_key = key.private_key, key.public_key
        self.signing_jwk, self.signing_kid = key.jwk, key.kid
        # The sandbox's own test identity provider, whose tokens app registrations trust through
        # federated identity credentials (workload identity federation).
        self.federation_key = SigningKey(self.state_dir / "federation-issuer-key.pem")

    def reset(self):
        # Keep the app registrations: their generated secrets and certificates are in connection.json.
        apps = list(self.tenant.apps.values())
        self.tenant.wipe()
        seed.apply_seed(self.tenant, self.seed)
        self.tenant.settle()
        for app in self.tenant.apps.copy():
            self.tenant.drop("app", app)
        for app in apps:
            self.tenant.save("app", app)
        self.tenant.commit()
        self.control.reset()


def _header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


# /groups(uniqueName='x'): the alternate-key segment of FIDELITY.md 7.2 ('' escapes a quote in OData).
_ALTERNATE_KEY = re.compile(r"^groups\(uniqueName=(?:'((?:[^']|'')*)'|\"([^\"]*)\")\)$", re.IGNORECASE)
ALTERNATE_KEY_SCOPE = "graph_unique_name"


class GraphPaths:
    """What Graph's URL parser does before routing (FIDELITY.md 7.10, 7.11).

    Navigation segments match without regard to case (``/groups/{id}/Owners``), a trailing slash is
    ignored instead of redirected, ``groups(uniqueName='x')`` addresses a group by its alternate key,
    and a path that matches no route names the first segment that could not be resolved.
    """

    def __init__(self, routes):
        self.templates = [r.path.split("/")[2:] for r in routes if r.path.startswith("/v1.0/")]
        self.canonical = {}
        for template in self.templates:
            for segment in template:
                if "{" not in segment:
                    self.canonical.setdefault(segment.lower(), segment)

    def normalize(self, scope):
        path = scope["path"]
        segments = path.rstrip("/").split("/") if path != "/v1.0/" else path.split("/")
        for index in range(2, len(segments)):
            segment = segments[index]
            alternate = _ALTERNATE_KEY.match(segment)
            if alternate and index == 2:
                name = alternate.group(1).replace("''", "'") if alternate.group(1) is not None else alternate.group(2)
                scope[ALTERNATE_KEY_SCOPE] = name
                segments[index:index + 1] = ["groups", "(uniqueName)"]
                continue
            canonical = self.canonical.get(segment.lower())
            if canonical is not None:
                segments[index] = canonical
        normalized = "/".join(segments)
        if normalized != path:
            scope["path"] = normalized
            scope["raw_path"] = normalized.encode("utf-8")

    def unresolved_segment(self, path):
        segments = path.split("/")[2:] or [""]
        best = 0
        for template in self.templates:
            matched = 0
            for got, want in zip(segments, template):
                if "{" not in want and got != want:
                    break
                matched += 1
            best = max(best, matched)
        return segments[min(best, len(segments) - 1)]


class GraphMiddleware:
    def __init__(self, app, starlette_app):
        self.app = app
        self.starlette_app = starlette_app
        self._routes = {}  # (method, path) -> route template; matching every route costs a third of a GET
        self.paths = GraphPaths(starlette_app.routes)
        starlette_app.state.graph_paths = self.paths

    def _route_of(self, scope):
        key = (scope["method"], scope["path"])
        route = self._routes.get(key)
        if route is None:
            route = next((r.path for r in self.starlette_app.routes if r.matches(scope)[0] == Match.FULL), scope["path"])
            if len(self._routes) >= 10000:
                self._routes.clear()
            self._routes[key] = route
        return route

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1.0/"):
            return await self.app(scope, receive, send)
        self.paths.normalize(scope)
        sandbox = self.starlette_app.state.sandbox
        batch_item = scope.get("graph_batch_item", False)
        state = scope.setdefault("state", {})
        state["request_id"] = str(uuid.uuid4())
        state["client_request_id"] = _header(scope, b"client-request-id") or state["request_id"]
        method = scope["method"]
        route = self._route_of(scope)
        status_box = {}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                if not batch_item:
                    sandbox.tenant.commit()  # what the client is told has happened is on disk first
                status_box["status"] = message["status"]
                extra = [(b"request-id", state["request_id"].encode()),
                         (b"client-request-id", state["client_request_id"].encode()),
                         (b"odata-version", b"4.0")]
                message = dict(message, headers=list(message.get("headers", [])) + extra)
            await send(message)

        if not batch_item:
            # A $batch counts as a write only when one of its items writes (docs/architecture.md).
            is_write = await _batch_writes(scope, receive, state) if route == "/v1.0/$batch" else method != "GET"
            sandbox.counters.count_http(method, route, is_write, _header(scope, b"user-agent"))
            fault = sandbox.control.next_fault(scope["path"], sandbox.rng)
            if fault == "drop":
                return await _drop_connection(send)
            if fault == "lost_response":
                # The request is served and committed; only its answer is lost on the way back.
                await self._serve(scope, receive, _discard, sandbox, batch_item, state, method, route, status_box)
                return await _drop_connection(send)
            if fault in (429, 503):
                error = GraphHTTPError(fault, "TooManyRequests" if fault == 429 else "serviceNotAvailable",
                                       "Please retry again later." if fault == 429 else "The service is temporarily unavailable. Please retry later.",
                                       headers={"Retry-After": str(sandbox.control.config["faults"].get("retry_after", 1))})
                return await _send_error(scope, send_with_headers, error, status_box, sandbox)
        await self._serve(scope, receive, send_with_headers, sandbox, batch_item, state, method, route, status_box)

    async def _serve(self, scope, receive, send_with_headers, sandbox, batch_item, state, method, route, status_box):
        receive = state.pop("replay_receive", receive)
        try:
            claims = auth.authenticate(sandbox, _header(scope, b"authorization"))
            state["roles"] = set(claims.get("roles") or [])
            state["app_id"] = claims.get("appid")
            if route != "/v1.0/$batch":
                settings = sandbox.control.config["throttling"]
                if settings.get("enabled"):
                    query = dict(_query_items(scope))
                    limited = sandbox.control.throttle.charge(settings, state["app_id"], method, route, query)
                    if limited:
                        raise GraphHTTPError(429, "TooManyRequests", "Please retry again later.", headers={
                            # Whole seconds, at least one: HTTP's delay-seconds is an integer (RFC 9110 10.2.3).
                            "Retry-After": str(max(1, int(math.ceil(limited[0])))),
                            "x-ms-throttle-scope": "Tenant_Application/ReadWrite/%s/%s" % (state["app_id"], sandbox.tenant.id),
                            "x-ms-throttle-information": limited[1]})
                sandbox.counters.count_operation(method, route)  # served operations only: a 429 did nothing
        except GraphHTTPError as exc:
            return await _send_error(scope, send_with_headers, exc, status_box, sandbox)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not batch_item:
                sandbox.tenant.commit()
                sandbox.counters.count_status(status_box.get("status", 500))


async def _discard(message):
    pass


def _query_items(scope):
    from urllib.parse import parse_qsl
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


async def _batch_writes(scope, receive, state):
    """Whether a $batch request carries a write (its body is read here and replayed to the handler)."""
    if scope["method"] != "POST" or scope["path"] != "/v1.0/$batch":
        return False
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    state["replay_receive"] = replay
    try:
        items = json.loads(body).get("requests") or []
        return any(str(item.get("method", "GET")).upper() != "GET" for item in items if isinstance(item, dict))
    except (ValueError, AttributeError):
        return True


async def _send_error(scope, send, exc, status_box, sandbox):
    from starlette.requests import Request
    request = Request(scope)
    response = error_response(request, exc)
    await response(scope, None, send)
    if not scope.get("graph_batch_item"):
        sandbox.counters.count_status(exc.status)


class DroppedConnection(Exception):
    """Raised after a partial response so the server closes the connection mid-reply."""


async def _drop_connection(send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b'{"value": [', "more_body": True})
    raise DroppedConnection("fault injection: connection dropped")


async def graph_exception(request, exc):
    return error_response(request, exc)


async def routing_exception(request, exc):
    """Graph's JSON answers for a path no route serves, or a method the route does not take."""
    if not request.url.path.startswith("/v1.0/"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    if exc.status_code == 405:
        error = GraphHTTPError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.",
                               headers=exc.headers)
    elif exc.status_code == 404:
        segment = request.app.state.graph_paths.unresolved_segment(request.url.path)
        error = GraphHTTPError(400, "BadRequest", "Resource not found for the segment '%s'." % segment)
    else:
        error = GraphHTTPError(exc.status_code, "BadRequest", exc.detail)
    return error_response(request, error)


async def batch(request):
    """POST /v1.0/$batch: each item runs through the whole application, dependencies first."""
    body = await read_json(request)
    items = body.get("requests")
    if not isinstance(items, list) or not items:
        raise GraphHTTPError(400, "BadRequest", "Invalid batch payload format.")
    if len(items) > MAX_BATCH:
        raise GraphHTTPError(400, "BadRequest", "The number of requests in the batch exceeds the limit of %d." % MAX_BATCH)
    seen = set()
    for item in items:
        if not isinstance(item, dict) or not item.get("id") or not item.get("method") or not item.get("url"):
            raise GraphHTTPError(400, "BadRequest", "Invalid batch payload format: every request needs id, method and url.")
        key = str(item["id"]).lower()
        if key in seen:
            raise GraphHTTPError(400, "BadRequest", "Batch request contains duplicate request id '%s'." % item["id"])
        seen.add(key)
        headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
        if item.get("body") is not None and "content-type" not in headers:
            raise GraphHTTPError(400, "BadRequest", "Content-Type header must be specified for request '%s' with a body." % item["id"])
    for item in items:
        for dep in item.get("dependsOn") or []:
            if str(dep).lower() not in seen:
                raise GraphHTTPError(400, "BadRequest", "Request '%s' depends on '%s', which is not in the batch." % (item["id"], dep))
    independent = [item for item in items if not item.get("dependsOn")]
    if len(independent) != len(items) and len(independent) != 1:
        # Fully parallel (no dependsOn) or one sequence from a single first item (FIDELITY.md 7.1).
        raise GraphHTTPError(400, "BadRequest", "Batch should be either fully sequential or fully parallel")
    results = {}
    order = _dependency_order(items)
    if len(independent) == len(items):
        request.app.state.sandbox.rng.shuffle(order)  # a parallel batch runs in any order (FIDELITY.md 7.1)
    for item in order:
        failed = [d for d in item.get("dependsOn") or [] if results[str(d).lower()]["status"] >= 400]
        if failed:
            results[str(item["id"]).lower()] = {
                "id": item["id"], "status": 424, "headers": {"Content-Type": "application/json"},
                "body": error_body(request, "FailedDependency", "The request depends on '%s', which failed." % failed[0])}
            continue
        results[str(item["id"]).lower()] = await _run_item(request, item)
    responses = list(results.values())
    request.app.state.sandbox.rng.shuffle(responses)  # Graph answers in any order
    return graph_json({"responses": responses})


def _dependency_order(items):
    by_id = {str(i["id"]).lower(): i for i in items}
    done, order = set(), []

    def visit(item, path):
        key = str(item["id"]).lower()
        if key in done:
            return
        if key in path:
            raise GraphHTTPError(400, "BadRequest", "The batch contains a circular dependsOn.")
        for dep in item.get("dependsOn") or []:
            visit(by_id[str(dep).lower()], path | {key})
        done.add(key)
        order.append(item)

    for item in items:
        visit(item, frozenset())
    return order


async def _run_item(request, item):
    url = str(item["url"])
    if not url.startswith("/"):
        url = "/" + url
    if url.lower().startswith("/v1.0/") or url.lower().startswith("http"):
        return {"id": item["id"], "status": 400, "headers": {"Content-Type": "application/json"},
                "body": error_body(request, "BadRequest", "Invalid request URL '%s': a batch URL is relative to the version, e.g. /users." % url)}
    path, _, query = url.partition("?")
    from urllib.parse import unquote
    headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (item.get("headers") or {}).items()]
    for name in (b"authorization", b"client-request-id", b"host"):
        value = request.headers.get(name.decode())
        if value and not any(k == name for k, _ in headers):
            headers.append((name, value.encode("latin-1")))
    body = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": str(item["method"]).upper(),
             "scheme": request.url.scheme, "server": request.scope.get("server"), "client": request.scope.get("client"),
             "root_path": "", "path": "/v1.0" + unquote(path), "raw_path": ("/v1.0" + path).encode("latin-1"),
             "query_string": query.encode("latin-1"), "headers": headers, "graph_batch_item": True}
    sent = {"body": b""}

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await request.app(scope, receive, send)
    keep = ("location", "retry-after", "content-type", "x-ms-throttle-scope", "x-ms-throttle-information")
    result = {"id": item["id"], "status": sent["status"],
              "headers": {k.title() if k != "content-type" else "Content-Type": v for k, v in sent["headers"].items() if k in keep}}
    if sent["body"]:
        try:
            result["body"] = json.loads(sent["body"])
        except ValueError:
            result["body"] = sent["body"].decode("utf-8", "replace")
    return result


def build_app(sandbox):
    routes = list(auth.routes) + list(control.routes) + [Route("/v1.0/$batch", batch, methods=["POST"])]
    for module in (users, groups, licensing, invitations, directory, sponsors, service_principals, contacts):
        routes.extend(module.routes)
    app = Starlette(routes=routes, exception_handlers={GraphHTTPError: graph_exception,
                                                       HTTPException: routing_exception})
    app.router.redirect_slashes = False  # Graph ignores a trailing slash (GraphPaths); never a 307
    app.state.sandbox = sandbox
    app.add_middleware(GraphMiddleware, starlette_app=app)
    return app
