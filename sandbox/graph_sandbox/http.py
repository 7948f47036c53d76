"""Helpers shared by every Graph handler: errors, permissions, JSON bodies and OData responses."""
import base64
import json
import re
from urllib.parse import urlencode, urlsplit
from datetime import datetime, timezone

from starlette.responses import JSONResponse, Response

GRAPH_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
METADATA = "https://graph.microsoft.com/v1.0/$metadata"


class GraphHTTPError(Exception):
    """Raise from a handler; the app renders Graph's error envelope."""

    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def utcnow():
    return datetime.now(timezone.utc)


def iso(dt=None):
    """Graph's DateTimeOffset form: 2025-02-13T10:17:05Z."""
    return (dt or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(request, code, message, details=None):
    inner = {
        "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request.state.request_id,
        "client-request-id": request.state.client_request_id,
    }
    error = {"code": code, "message": message, "innerError": inner}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(request, exc):
    headers = dict(exc.headers)
    return graph_json(error_body(request, exc.code, exc.message, exc.details), exc.status, headers)


def graph_json(data, status=200, headers=None):
    return JSONResponse(data, status_code=status, headers=headers, media_type=GRAPH_CONTENT_TYPE)


def no_content(headers=None):
    return Response(status_code=204, headers=headers)


def sandbox_of(request):
    return request.app.state.sandbox


def tenant_of(request):
    return request.app.state.sandbox.tenant


def require(request, *permissions):
    """403 unless the access token's roles claim grants one of the permissions."""
    roles = getattr(request.state, "roles", set())
    if not roles.intersection(permissions):
        raise GraphHTTPError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


async def read_json(request, type_name=None):
    """The JSON object in the request body; with ``type_name``, property names in their documented case."""
    raw = await request.body()
    if not raw:
        raise GraphHTTPError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise GraphHTTPError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
    if not isinstance(body, dict):
        raise GraphHTTPError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
    # The SDKs name the entity's type ("#microsoft.graph.user"); Graph accepts the annotation and stores nothing.
    body.pop("@odata.type", None)
    if type_name:
        from . import schema
        body = schema.canonical_body(type_name, body)
    return body


_BIND_COLLECTIONS = ("directoryobjects", "users", "groups")


def reference_id(request, value):
    """The object id an ``@odata.id`` / ``@odata.bind`` URL names (FIDELITY.md 7.8).

    The URL is absolute and on the Graph host the client is talking to (the sandbox's own, as
    graph.microsoft.us is US Government's): ``https://HOST/v1.0/directoryObjects/{id}`` (or ``users`` /
    ``groups``). Another host, such as graph.microsoft.com, is another cloud: refused.
    """
    url = urlsplit(value) if isinstance(value, str) else None
    parts = url.path.strip("/").split("/") if url else []
    host = request.headers.get("host", "").lower()
    if (url is None or url.scheme.lower() != "https" or url.netloc.lower() != host or len(parts) != 3
            or parts[0].lower() != "v1.0" or parts[1].lower() not in _BIND_COLLECTIONS or not parts[2]):
        raise GraphHTTPError(400, "Request_BadRequest", "Invalid object identifier '%s'." % (value,))
    return parts[2]


def not_found(object_id):
    return GraphHTTPError(404, "Request_ResourceNotFound",
                          "Resource '%s' does not exist or one of its queried reference-property objects are not present." % object_id)


def entity_response(request, type_name, doc, status=200, context=None, headers=None, odata_type=False):
    """One object, honouring $select (and the type's default properties without it)."""
    from . import schema
    select = schema.parse_select(type_name, request.query_params.get("$select"))
    body = {"@odata.context": "%s#%s" % (METADATA, context or ("%ss/$entity" % type_name))}
    if odata_type:
        body["@odata.type"] = "#microsoft.graph.%s" % type_name
    body.update(schema.project(type_name, doc, select, tenant_of(request)))
    return graph_json(body, status, headers)


def advanced_query(request):
    """Graph's advanced query capabilities need both the header and $count=true."""
    return (request.headers.get("consistencylevel", "").lower() == "eventual"
            and request.query_params.get("$count", "").lower() == "true")


def _encode_token(data):
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token):
    try:
        padded = token + "=" * (-len(token) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise GraphHTTPError(400, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")


def page_size(request, default=100):
    raw = request.query_params.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        top = 0
    if not 1 <= top <= 999:
        raise GraphHTTPError(400, "Request_BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % raw)
    return top


def filter_docs(request, type_name, docs):
    """Apply $filter and $search with Graph's rules about advanced queries."""
    from . import odata_filter, schema
    advanced = advanced_query(request)
    raw_filter = request.query_params.get("$filter")
    raw_search = request.query_params.get("$search")
    if raw_search is not None and request.headers.get("consistencylevel", "").lower() != "eventual":
        raise GraphHTTPError(400, "Request_UnsupportedQuery",
                             "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
    tenant = tenant_of(request)
    if raw_filter:
        try:
            expr = odata_filter.parse_filter(raw_filter)
            expr.check_supported(type_name, advanced)
        except odata_filter.UnsupportedFilter as exc:
            raise GraphHTTPError(400, "Request_UnsupportedQuery", str(exc))
        except odata_filter.FilterError as exc:
            raise GraphHTTPError(400, "BadRequest", str(exc))
        derived = {p: f for p, f in schema.derived_properties(type_name).items() if p in expr.properties()}
        if derived:
            docs = [d for d in docs if expr.evaluate(dict(d, **{p: f(tenant, d) for p, f in derived.items()}))]
        else:
            docs = expr.filter(docs)
    if raw_search:
        try:
            search = odata_filter.parse_search(raw_search)
        except odata_filter.FilterError as exc:
            raise GraphHTTPError(400, "Request_BadRequest", str(exc))
        docs = [d for d in docs if search.evaluate(d)]
    return docs


def paginate(request, items, top, by_id=True):
    """One page of ``items`` and the body's @odata.count (first page of an advanced query) and nextLink.

    ``by_id``: items are docs sorted by id and a page is keyed on the last id returned, so objects created
    between two page requests neither repeat nor shift the next page; otherwise pages are offsets into
    ``items`` in their own order.
    """
    params = request.query_params
    token = _decode_token(params["$skiptoken"]) if "$skiptoken" in params else {}
    paging = {}
    if advanced_query(request) and not token:
        paging["@odata.count"] = len(items)
    if by_id:
        after = token.get("after")
        rest = [d for d in items if d["id"] > after] if after else items
        page = rest[:top]
        next_token = {"after": page[-1]["id"]} if len(rest) > top else None
    else:
        start = token.get("offset", 0)
        page = items[start:start + top]
        next_token = {"offset": start + top} if start + top < len(items) else None
    if next_token:
        query = [(k, v) for k, v in params.multi_items() if k != "$skiptoken"]
        query.append(("$skiptoken", _encode_token(next_token)))
        paging["@odata.nextLink"] = "%s?%s" % (str(request.url.replace(query="")), urlencode(query))
    return page, paging


def collection_response(request, type_name, docs, entity_set, default_top=100, odata_type=False, filterable=True,
                        expansions=None):
    """A page of a collection: $filter, $search, $count, $orderby, $select, $expand, $top and $skiptoken paging.

    Pages are keyed on the last id returned (or an offset when ordered), so objects created between two
    page requests neither repeat nor shift what the next page holds. ``expansions``: {navigation property:
    (target type, function(tenant, doc) -> the related doc or None)} that ``$expand`` may name.
    """
    from . import schema
    params = request.query_params
    if "$skip" in params:
        raise GraphHTTPError(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    select = schema.parse_select(type_name, params.get("$select"))
    single_only = _single_user_only(select) if type_name == "user" else None
    if single_only:
        raise GraphHTTPError(501, "NotImplemented",
                             "This operation target is not yet supported. Selecting '%s' is only supported for GET on a single user." % single_only)
    expand = parse_expand(type_name, params.get("$expand"), expansions or {})
    top = page_size(request, default_top)
    if expand:
        top = min(top, EXPAND_PAGE_LIMIT)
    docs = filter_docs(request, type_name, docs) if filterable else list(docs)
    orderby = params.get("$orderby")
    if orderby:
        prop, _, direction = orderby.strip().partition(" ")
        docs = sorted(docs, key=lambda d: (str(d.get(prop) or "").lower(), d["id"]), reverse=direction.strip().lower() == "desc")
    else:
        docs = sorted(docs, key=lambda d: d["id"])
    page, paging = paginate(request, docs, top, by_id=not orderby)
    tenant = tenant_of(request)
    context = "%s#%s" % (METADATA, entity_set if not select else "%s(%s)" % (entity_set, ",".join(select)))
    body = {"@odata.context": context}
    body.update(paging)
    items = []
    for doc in page:
        item = {"@odata.type": "#microsoft.graph.%s" % doc.get("_kind", type_name)} if odata_type else {}
        item.update(schema.project(doc.get("_kind", type_name) if odata_type else type_name, doc, select, tenant))
        for name, (target_type, related, inner_select) in expand.items():
            other = related(tenant, doc)
            if other is not None:  # Graph leaves out an empty single-valued navigation property
                item[name] = dict({"@odata.type": "#microsoft.graph.%s" % target_type},
                                  **schema.project(target_type, other, inner_select, tenant))
        items.append(item)
    body["value"] = items
    return graph_json(body)


# A page of directory objects with $expand holds at most this many objects, whatever $top asks
# (docs/graph-rules.md "$expand on a directory list").
EXPAND_PAGE_LIMIT = 100

_EXPAND_ITEM = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$")


def parse_expand(type_name, raw, expansions):
    """{navigation property: (target type, function, inner $select)} for a $expand value.

    Only the navigation properties the route offers, each with an optional ``($select=...)``; anything
    else is refused as Graph refuses an unknown property.
    """
    from . import schema
    if raw is None:
        return {}
    found = {}
    for part in _split_top_level(raw):
        match = _EXPAND_ITEM.match(part)
        name = match.group(1) if match else part.strip()
        known = dict((k.lower(), k) for k in expansions)
        if not match or name.lower() not in known:
            raise GraphHTTPError(400, "Request_BadRequest",
                                 "Could not find a property named '%s' on type 'microsoft.graph.%s'." % (name, type_name))
        name = known[name.lower()]
        target_type, related = expansions[name]
        inner_select = None
        for option in (match.group(2) or "").split(";"):
            key, _, value = option.partition("=")
            if not key.strip():
                continue
            if key.strip().lower() != "$select":
                raise GraphHTTPError(400, "Request_BadRequest",
                                     "Query option '%s' is not supported inside $expand here." % key.strip())
            inner_select = schema.parse_select(target_type, value)
        found[name] = (target_type, related, inner_select)
    return found


def _split_top_level(text):
    """'a($select=x,y),b' -> ['a($select=x,y)', 'b']: commas inside parentheses stay."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _single_user_only(select):
    from .schema import SINGLE_USER_ONLY
    return next((prop for prop in select or () if prop in SINGLE_USER_ONLY), None)


def plain_count(request, count):
    """A /$count segment's answer: the number as plain text, only as an advanced query."""
    if request.headers.get("consistencylevel", "").lower() != "eventual":
        raise GraphHTTPError(400, "Request_BadRequest", "$count is not currently supported.")
    return Response(str(count), media_type="text/plain;charset=utf-8")


def count_response(request, type_name, docs):
    """GET /users/$count: plain text, only as an advanced query."""
    plain_count(request, 0)  # the header check comes before the filter's
    return plain_count(request, len(filter_docs(request, type_name, docs)))
