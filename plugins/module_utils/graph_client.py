# -*- coding: utf-8 -*-
# Copyright: contributors to the m365.cloud_identity collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Microsoft Graph v1.0 client: MSAL client credentials, one HTTP
session, retries, paging and JSON batching.

It knows nothing of Ansible, so the modules, the unit tests and the Graph
sandbox can all import it directly.
"""

import base64
import email.utils
import json as jsonlib
import os
import random
import re
import time
import uuid

try:
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    quote = urlsplit = None

IMPORT_ERROR = None
try:
    import msal
    import requests
except ImportError as import_error:  # reported by the module wrapper as a missing library
    msal = requests = None
    IMPORT_ERROR = import_error
HAS_DEPS = IMPORT_ERROR is None

COLLECTION_VERSION = "0.1.0"
DEFAULT_USER_AGENT = "m365.cloud_identity/" + COLLECTION_VERSION

# cloud -> (login host, Graph host)
CLOUDS = {
    "public": ("login.microsoftonline.com", "graph.microsoft.com"),
    "usgov": ("login.microsoftonline.us", "graph.microsoft.us"),
    "usgov_dod": ("login.microsoftonline.us", "dod-graph.microsoft.us"),
    "china": ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"),
}
# Microsoft's own login hosts: MSAL's instance discovery and region logic apply
# only to these; any other host (the sandbox, an emulator) must skip them.
MICROSOFT_LOGIN_HOSTS = frozenset(
    [login for login, graph in CLOUDS.values()]
    + ["login.microsoft.com", "login.windows.net", "login.partner.microsoftonline.cn"]
)

RETRYABLE_STATUSES = (429, 503, 504)
# Token endpoint answers worth another try: throttled or a server-side failure (a token
# request has no side effect, so it is always safe to re-send).
RETRYABLE_TOKEN_STATUSES = (429, 500, 502, 503, 504)
BATCH_LIMIT = 20
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# The ways to sign in (the `auth` option), and the setting that configures each one.
AUTH_METHODS = ("client_secret", "client_certificate", "federated_token", "managed_identity")
AUTH_SETTINGS = {
    "client_secret": "client_secret (or AZURE_CLIENT_SECRET)",
    "client_certificate": "client_certificate_path (or AZURE_CLIENT_CERTIFICATE_PATH)",
    "federated_token": "federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)",
    "managed_identity": "managed_identity_client_id (or M365_MANAGED_IDENTITY_CLIENT_ID)",
}
# AADSTS codes of a refused federated token, and what the user can do about each.
FEDERATED_TOKEN_FIXES = {
    70021: "No federated identity credential of the app matches the token: add one with the token's issuer,"
           " subject and audience, or use the token of the right workload.",
    700211: "The token's issuer is not the issuer of any federated identity credential of the app: use the"
            " token your platform issues for this app, or add a credential with that issuer.",
    700212: "The token's audience is wrong: have the platform issue it for api://AzureADTokenExchange (the"
            " audience of the app's federated identity credential).",
    700213: "The token's subject matches no federated identity credential of the app: it was issued for"
            " another workload or app; use the token of this workload, or fix client_id or the credential's"
            " subject.",
    700024: "The federated token has expired: the platform must keep rotating the file"
            " (federated_token_file); check that the projected token is being refreshed.",
    7000272: "The token was signed by a key its issuer does not publish: use the token the platform issued.",
    50013: "The token's signature is invalid: use the token the platform issued, unmodified.",
}


def resolve_auth(auth="auto", client_secret=None, client_certificate_path=None, federated_token_file=None,
                 managed_identity_client_id=None):
    """The sign-in method to use: `auth` itself, or with `auto` the only credential configured.

    Raises GraphError naming the settings when none, or more than one, is configured with `auto`,
    or when the chosen method lacks its setting.
    """
    configured = [method for method, value in (
        ("client_secret", client_secret), ("client_certificate", client_certificate_path),
        ("federated_token", federated_token_file), ("managed_identity", managed_identity_client_id)) if value]
    auth = auth or "auto"
    if auth == "auto":
        if len(configured) == 1:
            return configured[0]
        if not configured:
            raise GraphError(None, "InvalidConfiguration",
                             "No credential for the app registration: set client_secret (or the AZURE_CLIENT_SECRET"
                             " environment variable), client_certificate_path (or AZURE_CLIENT_CERTIFICATE_PATH),"
                             " federated_token_file (or AZURE_FEDERATED_TOKEN_FILE), or set auth (or M365_AUTH)"
                             " to managed_identity.")
        raise GraphError(None, "InvalidConfiguration",
                         "More than one credential is configured: %s. Set auth (or M365_AUTH) to the one to use"
                         " (%s), or unset the others." % (", ".join(AUTH_SETTINGS[m] for m in configured),
                                                          ", ".join(configured)))
    if auth not in AUTH_METHODS:
        raise GraphError(None, "InvalidConfiguration", "Unknown auth %r; expected auto or one of %s" % (
            auth, ", ".join(AUTH_METHODS)))
    if auth != "managed_identity" and auth not in configured:
        raise GraphError(None, "InvalidConfiguration", "auth is %s but %s is not set." % (auth, AUTH_SETTINGS[auth]))
    return auth


def read_federated_token(path):
    """The federated token in `path`, read anew at every token request (the platform rotates it)."""
    try:
        with open(path) as handle:
            token = handle.read().strip()
    except (IOError, OSError) as exc:
        raise GraphError(None, "InvalidConfiguration",
                         "Cannot read federated_token_file %s: %s" % (path, exc.strerror))
    if not token:
        raise GraphError(None, "InvalidConfiguration", "federated_token_file %s is empty" % path)
    return token


def quote_key(value):
    """Quote a key (a UPN, an id) for use as one URL path segment.

    Guest UPNs contain ``#EXT#``; an unquoted ``#`` would end the path.
    """
    return quote(str(value), safe="@")


class GraphError(Exception):
    """A failed Graph call (or token request).

    ``status`` is the HTTP status, None for transport or auth-library failures;
    ``code`` is Graph's error code (or the AADSTS ``error`` for tokens);
    ``context`` is set by callers ("create user alice@contoso.com").
    """

    def __init__(self, status=None, code=None, message="", request_id=None, details=None, context=None):
        super(GraphError, self).__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details or []
        self.context = context
        self.missing_permissions = None  # set when a 403 was explained by the permission table

    def __str__(self):
        parts = [self.message]
        extra = [str(part) for part in (self.status, self.code) if part]
        if self.request_id:
            extra.append("request-id " + self.request_id)
        if extra:
            parts.append("(" + ", ".join(extra) + ")")
        text = " ".join(parts)
        if self.context:
            text = "Failed to %s: %s" % (self.context, text)
        return text

    def __repr__(self):
        return "GraphError(status=%r, code=%r, message=%r, request_id=%r)" % (
            self.status, self.code, self.message, self.request_id)

    def to_dict(self):
        return {"status": self.status, "code": self.code, "message": self.message,
                "request_id": self.request_id, "details": self.details}


class BatchResult(object):
    """The outcome of one request of a ``$batch``."""

    def __init__(self, id, status, body=None, headers=None, depends_on=None):
        self.id = id
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.depends_on = depends_on or []
        self.forbidden = None  # (client, method, path) of a 403, to name the permission it needs

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300

    @property
    def error(self):
        if self.ok:
            return None
        error = error_from_body(self.status, self.body, _header(self.headers, "request-id"))
        if self.forbidden is not None:
            client, method, path = self.forbidden
            client.explain_forbidden(error, method, path)
        if self.status == 424:
            # Graph did not run this request because one it depends on failed.
            error.message = "Not executed: it depends on request %s, which failed (%s)" % (
                ", ".join(repr(dep) for dep in self.depends_on) or "?", error.message)
        return error

    def __repr__(self):
        return "BatchResult(id=%r, status=%r)" % (self.id, self.status)


def error_from_body(status, body, request_id=None):
    """Build a GraphError from Graph's error envelope (or whatever came back)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        message = "HTTP %s" % status
        if isinstance(body, str) and body.strip():
            message += ": " + body.strip().splitlines()[0][:200]
        return GraphError(status, None, message, request_id)
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = inner.get("request-id") or request_id
    return GraphError(status, error.get("code"), error.get("message") or "HTTP %s" % status,
                      request_id, error.get("details"))


def _header(headers, name):
    """Case-insensitive header lookup in a plain dict (batch items)."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds, possibly fractional,
    or an HTTP date); None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_delay(attempt, base, cap, rand):
    """Capped exponential backoff with "equal jitter": half fixed, half random,
    so concurrent clients spread out but never retry immediately."""
    ceiling = min(cap, base * (2 ** attempt))
    return ceiling / 2.0 + rand() * ceiling / 2.0


def _https_base(url_or_host):
    """'host' or 'https://host:port/' -> 'https://host:port' (no trailing slash)."""
    text = url_or_host.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    if not text.lower().startswith("https://"):
        raise GraphError(None, "InvalidConfiguration",
                         "Endpoint %s must be an https URL (TLS is always used)" % text)
    return text


def _origin(url):
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme.lower(), parts.netloc.lower())


PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def trust_setting(ca_path):
    """What every request passes as requests' ``verify``: never falsy.

    An empty or unset ca_path means the default trust store (``True``: requests
    then still honours REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, as corporate proxies
    need). A given path must exist and hold at least one PEM certificate (a
    file, or a directory of them as OpenSSL's CApath), checked here so a typo
    fails before any connection instead of in the TLS handshake.
    """
    if ca_path is None or not str(ca_path).strip():
        return True
    path = str(ca_path)
    fix = "set ca_path (or M365_CA_PATH) to a PEM file of the CA certificates to trust, or leave it empty for the system's"
    if not os.path.exists(path):
        raise GraphError(None, "InvalidConfiguration", "ca_path %s does not exist; %s" % (path, fix))
    candidates = [path]
    if os.path.isdir(path):
        candidates = [os.path.join(path, name) for name in sorted(os.listdir(path))]
    for candidate in candidates:
        try:
            with open(candidate, "rb") as handle:
                if PEM_CERTIFICATE in handle.read(1024 * 1024):
                    return path
        except (IOError, OSError):
            continue
    raise GraphError(None, "InvalidConfiguration", "ca_path %s holds no PEM certificate; %s" % (path, fix))


class _VerifyingHttpClient(object):
    """The HTTP client MSAL uses: the client's own requests.Session, with
    ``verify`` passed on every call (REQUESTS_CA_BUNDLE would otherwise
    override a session-level setting, and a caller's falsy ``verify`` can
    never switch verification off), token requests retried like Graph
    requests, and every token POST counted."""

    def __init__(self, owner):
        self._owner = owner

    def _send(self, method, url, **kwargs):
        kwargs["verify"] = self._owner.verify
        kwargs.setdefault("timeout", self._owner.timeout)
        return self._owner.send_token_request(method, url, **kwargs)

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        return self._send("POST", url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url, params=None, headers=None, **kwargs):
        return self._send("GET", url, params=params, headers=headers, **kwargs)

    def close(self):
        pass  # the session belongs to GraphClient


def read_certificate(path, password=None):
    """Read a PEM holding a private key and its certificate.

    Returns (unencrypted private key PEM, certificate PEM, SHA-1 thumbprint hex).
    The key is decrypted here so a wrong password gives a clear error.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise GraphError(None, "InvalidCertificate", "Cannot read client certificate %s: %s" % (path, exc.strerror))
    key_match = re.search(rb"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----.+?-----END (?:[A-Z ]+ )?PRIVATE KEY-----", data, re.S)
    cert_blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)
    if not key_match or not cert_blocks:
        raise GraphError(None, "InvalidCertificate",
                         "Client certificate %s must be a PEM file holding both the private key and the certificate" % path)
    try:
        key = serialization.load_pem_private_key(
            key_match.group(0), password=password.encode("utf-8") if password else None)
    except (TypeError, ValueError):
        # Raised for a wrong, missing or needless password; never echo the password.
        raise GraphError(None, "InvalidCertificate",
                         "Cannot load the private key of %s: wrong or missing client_certificate_password" % path)
    public_numbers = key.public_key().public_numbers()
    certs = [x509.load_pem_x509_certificate(block) for block in cert_blocks]
    # A chain may follow the leaf: pick the certificate of this key.
    matching = [cert for cert in certs if cert.public_key().public_numbers() == public_numbers]
    if not matching:
        raise GraphError(None, "InvalidCertificate",
                         "No certificate in %s matches its private key" % path)
    cert = matching[0]
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex().upper()


def _msal_version():
    numbers = re.findall(r"\d+", getattr(msal, "__version__", "0"))[:2]
    return tuple(int(n) for n in numbers)


class GraphClient(object):
    """Microsoft Graph v1.0 over one requests.Session with an app-only token.

    ``stats`` counts Graph HTTP requests (``requests``, ``by_method``), the
    ``retries`` and the seconds slept before them (``wait_seconds``), and the
    token endpoint calls (``token_requests``).
    """

    # Tunables (class attributes so tests and benchmarks can adjust them).
    max_retries = 10          # retries of one request, whatever the wait budget
    backoff_base = 1.0        # seconds; doubles per retry
    backoff_cap = 30.0        # seconds; one wait is never longer unless Retry-After says so
    not_found_poll = 0.5      # first wait when re-reading after a 404 (eventual consistency)
    pace_decay = 0.9          # after a throttle, each unthrottled answer shortens the gap between requests

    def __init__(self, tenant_id=None, client_id=None, client_secret=None, client_certificate_path=None,
                 client_certificate_password=None, cloud="public", authority_host=None,
                 graph_endpoint=None, ca_path=None, timeout=60, max_retry_wait=120, user_agent=None,
                 auth="auto", federated_token_file=None, managed_identity_client_id=None):
        if not HAS_DEPS:
            raise GraphError(None, "MissingLibrary", "GraphClient needs the msal and requests Python libraries: %s" % IMPORT_ERROR)
        if cloud not in CLOUDS:
            raise GraphError(None, "InvalidConfiguration",
                             "Unknown cloud %r; expected one of %s" % (cloud, ", ".join(sorted(CLOUDS))))
        self.auth = resolve_auth(auth, client_secret, client_certificate_path, federated_token_file,
                                 managed_identity_client_id)
        if self.auth != "managed_identity" and not (tenant_id and client_id):
            raise GraphError(None, "InvalidConfiguration", "tenant_id and client_id are required")
        login_host, graph_host = CLOUDS[cloud]
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.cloud = cloud
        self.authority_host = _https_base(authority_host or login_host)
        graph_base = _https_base(graph_endpoint or graph_host)
        if graph_base.endswith("/v1.0"):
            graph_base = graph_base[:-len("/v1.0")]
        self.base_url = graph_base + "/v1.0"
        self.scope = _origin(graph_base) + "/.default"
        self.ca_path = ca_path if ca_path and str(ca_path).strip() else None
        self.verify = trust_setting(ca_path)
        self.timeout = timeout
        self.max_retry_wait = max_retry_wait
        self.user_agent = DEFAULT_USER_AGENT + (" " + user_agent if user_agent else "")
        self.stats = {"requests": 0, "by_method": {}, "retries": 0, "token_requests": 0, "wait_seconds": 0.0}
        # Secrets stay in private attributes, out of repr and messages.
        self._client_secret = client_secret
        self._certificate_path = client_certificate_path
        self._certificate_password = client_certificate_password
        self._federated_token_file = federated_token_file
        self._federated_token = None  # the last one read, kept only to scrub it from messages
        self.managed_identity_client_id = managed_identity_client_id
        self._session = requests.Session()
        self._msal_app = None
        self._token = None
        # Hooks set by the caller (the Ansible module wrapper): write_check(method, path, body) runs before
        # every write and may raise; forbidden_hint(method, path) -> (text, permissions) explains a 403.
        self.write_check = None
        self.forbidden_hint = None
        self._sleep = time.sleep
        self._clock = time.monotonic
        self._random = random.random
        # Seconds kept between two requests once Graph has throttled this client (see _throttled).
        self._pace = 0.0
        self._last_sent = None

    def __repr__(self):
        return "GraphClient(tenant_id=%r, client_id=%r, base_url=%r, auth=%r)" % (
            self.tenant_id, self.client_id, self.base_url,
            self.auth)

    def close(self):
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ---- authentication -------------------------------------------------

    @property
    def _is_microsoft_authority(self):
        return urlsplit(self.authority_host).hostname in MICROSOFT_LOGIN_HOSTS

    def _scrub(self, text):
        """Remove any secret that a library might have echoed."""
        text = str(text)
        for secret in (self._client_secret, self._certificate_password, self._federated_token,
                       os.environ.get("IDENTITY_HEADER")):
            if secret:
                text = text.replace(secret, "********")
        return text

    def _federated_assertion(self):
        self._federated_token = read_federated_token(self._federated_token_file)
        return self._federated_token

    def _credential(self):
        if self.auth == "client_secret":
            return self._client_secret
        if self.auth == "federated_token":
            # A callable: MSAL calls it at each token request, so a rotated file is picked up.
            return {"client_assertion": self._federated_assertion}
        key_pem, cert_pem, sha1_thumbprint = read_certificate(self._certificate_path, self._certificate_password)
        credential = {"private_key": key_pem, "public_certificate": cert_pem}
        if _msal_version() < (1, 34):
            # Older MSAL needs the SHA-1 thumbprint; newer ones compute it.
            credential["thumbprint"] = sha1_thumbprint
        return credential

    def _build_msal_app(self):
        http_client = _VerifyingHttpClient(self)
        if self.auth == "managed_identity":
            if self.managed_identity_client_id:
                identity = msal.UserAssignedManagedIdentity(client_id=self.managed_identity_client_id)
            else:
                identity = msal.SystemAssignedManagedIdentity()
            # MSAL picks the protocol from the environment: App Service / Functions
            # (IDENTITY_ENDPOINT + IDENTITY_HEADER), Azure Arc, or IMDS on an Azure VM.
            return msal.ManagedIdentityClient(identity, http_client=http_client)
        options = {}
        if not self._is_microsoft_authority:
            # No instance discovery or regional endpoint on a non-Microsoft host
            # (they would call login.microsoftonline.com; FIDELITY 1.2).
            options.update(instance_discovery=False, azure_region=False)
        # MSAL fetches the OIDC configuration in its constructor.
        return msal.ConfidentialClientApplication(
            self.client_id, client_credential=self._credential(),
            authority="%s/%s" % (self.authority_host, self.tenant_id),
            http_client=http_client, **options)

    def _auth_call(self, action):
        """Run an MSAL call, turning library and transport failures into GraphError."""
        host = self._token_host()
        try:
            return action()
        except GraphError:
            raise
        except requests.exceptions.SSLError as exc:
            raise GraphError(None, "ConnectionError", "TLS verification failed for the login host %s (%s): %s" % (
                host, self._ca_description(), self._scrub(_short_reason(exc))))
        except requests.exceptions.RequestException as exc:
            raise GraphError(None, "ConnectionError", "Cannot reach the login host %s: %s" % (
                host, self._scrub(_short_reason(exc))))
        except (ValueError, KeyError) as exc:
            raise GraphError(None, "AuthenticationError", "Authentication against %s failed: %s" % (
                host, self._scrub(exc)))

    def _token_host(self):
        """The host tokens come from, for messages."""
        if self.auth == "managed_identity":
            return "managed identity endpoint " + urlsplit(
                os.environ.get("IDENTITY_ENDPOINT") or "http://169.254.169.254").netloc
        return urlsplit(self.authority_host).netloc

    def _acquire_token(self):
        if self.auth == "managed_identity":
            # The managed identity endpoints take a resource, not a scope: Graph's host in this cloud.
            return self._msal_app.acquire_token_for_client(resource=self.scope[:-len("/.default")])
        return self._msal_app.acquire_token_for_client(scopes=[self.scope])

    def _access_token(self):
        if self._msal_app is None:
            self._msal_app = self._auth_call(self._build_msal_app)
        result = self._auth_call(self._acquire_token)
        if "access_token" not in result:
            description = _first_line(result.get("error_description") or "no description")
            who = ("the managed identity" if self.auth == "managed_identity" else "client %s" % self.client_id)
            hint = ""
            if self.auth == "federated_token":
                hint = next((" " + fix for code, fix in FEDERATED_TOKEN_FIXES.items()
                             if code in (result.get("error_codes") or [])), "")
            raise GraphError(401, result.get("error") or "AuthenticationError",
                             "Token request for %s failed: %s%s" % (who, self._scrub(description), hint))
        # MSAL's cache returns the same token until it nears expiry.
        self._token = result["access_token"]
        return self._token

    def send_token_request(self, method, url, **kwargs):
        """One sign-in host request with the retries of a Graph request: connection errors, 429 and 5xx,
        Retry-After honoured, within max_retries and max_retry_wait. A TLS failure is never retried."""
        attempt, waited = 0, 0.0
        while True:
            if method == "POST":
                self.stats["token_requests"] += 1
            try:
                response = self._session.request(method, url, **kwargs)
            except requests.exceptions.SSLError:
                raise
            except requests.exceptions.RequestException as exc:
                delay = self._delay(attempt, None)
                if attempt >= self.max_retries or waited + delay > self.max_retry_wait:
                    raise
                self._wait(delay)
                attempt, waited = attempt + 1, waited + delay
                continue
            if response.status_code not in RETRYABLE_TOKEN_STATUSES:
                return response
            delay = self._delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
            if attempt >= self.max_retries or waited + delay > self.max_retry_wait:
                return response  # MSAL turns it into an error result
            self._wait(delay)
            attempt, waited = attempt + 1, waited + delay

    def token_roles(self):
        """The application permissions (``roles`` claim) of the current token, or None when unknown.

        The payload is decoded without checking the signature: the token is our own, fresh from the
        sign-in host, and is read only to explain or foresee a 403. Never logged."""
        if self._token is None:
            self._access_token()
        try:
            payload = self._token.split(".")[1]
            claims = jsonlib.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8"))
        except (IndexError, ValueError, TypeError, UnicodeDecodeError):
            return None
        roles = claims.get("roles") if isinstance(claims, dict) else None
        return list(roles) if isinstance(roles, list) else None

    # ---- single requests -------------------------------------------------

    def _url(self, path):
        if path.startswith("https://") or path.startswith("http://"):
            # An @odata.nextLink: only follow it to our own Graph host (it
            # gets our token).
            if _origin(path) != _origin(self.base_url):
                raise GraphError(None, "InvalidNextLink", "Refusing to follow a link to another host: %s" % _origin(path))
            return path
        return self.base_url + "/" + path.lstrip("/")

    def _send(self, method, url, params, json, headers):
        request_headers = {
            "Authorization": "Bearer " + self._access_token(),
            "client-request-id": str(uuid.uuid4()),
            "User-Agent": self.user_agent,
            "Accept": "application/json",
        }
        request_headers.update(headers or {})
        # verify per request: REQUESTS_CA_BUNDLE beats Session.verify; never falsy (trust_setting).
        kwargs = {"params": params, "json": json, "headers": request_headers, "timeout": self.timeout,
                  "verify": self.verify}
        self._keep_pace()
        self.stats["requests"] += 1
        self.stats["by_method"][method] = self.stats["by_method"].get(method, 0) + 1
        response = self._session.request(method, url, **kwargs)
        if response.status_code == 429:
            self._throttled(parse_retry_after(response.headers.get("Retry-After")))
        else:
            self._unthrottled()
        return response

    # ---- pacing after throttling ---------------------------------------------
    # Microsoft: throttled requests still count against the app's budget, so retrying at once only
    # prolongs the throttling (learn.microsoft.com/graph/throttling). Once Graph answers 429, to the
    # request or to an item of a $batch, every later request of this client waits Retry-After after the
    # one before; each answer that is not throttled shortens that gap by pace_decay.

    def _throttled(self, retry_after):
        # The latest Retry-After is Graph's freshest word on the budget.
        self._pace = min(retry_after if retry_after is not None else self.backoff_base, self.backoff_cap)

    def _unthrottled(self):
        self._pace = self._pace * self.pace_decay if self._pace * self.pace_decay >= 0.05 else 0.0

    def _keep_pace(self):
        now = self._clock()
        if self._pace and self._last_sent is not None and now < self._last_sent + self._pace:
            gap = self._last_sent + self._pace - now
            self.stats["wait_seconds"] += gap
            self._sleep(gap)
            now += gap
        self._last_sent = now

    def _wait(self, seconds):
        self.stats["retries"] += 1
        self.stats["wait_seconds"] += seconds
        if seconds > 0:
            self._sleep(seconds)

    def request(self, method, path, params=None, json=None, headers=None, idempotent=None, retry_not_found=0):
        """Send one Graph request, with retries; return the JSON body (None for 204).

        ``path`` is relative to /v1.0 ("/users/{id}") or an absolute nextLink.
        ``idempotent`` (default: every method but POST) says whether the
        request may be re-sent when the connection fails after it was sent.
        ``retry_not_found`` (seconds) re-tries a 404 for a while, for reads
        right after a write (replication lag).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        url = self._url(path)
        if method not in SAFE_METHODS and self.write_check is not None:
            self.write_check(method, _path_of(url), json)
        started = self._clock()
        attempt, waited = 0, 0.0
        while True:
            response, exc = None, None
            try:
                response = self._send(method, url, params, json, headers)
            except requests.exceptions.SSLError as error:
                raise GraphError(None, "ConnectionError", "TLS verification failed for %s (%s): %s" % (
                    _origin(url), self._ca_description(), self._scrub(_short_reason(error))))
            except requests.exceptions.RequestException as error:
                exc = error
            delay, failure = self._retry_decision(method, url, response, exc, idempotent, attempt, waited,
                                                  retry_not_found, self._clock() - started)
            if failure is not None:
                raise failure
            if delay is None:
                return self._json_body(response)
            self._wait(delay)
            attempt += 1
            waited += delay

    def _retry_decision(self, method, url, response, exc, idempotent, attempt, waited, retry_not_found, elapsed):
        """Return (delay, None) to retry, (None, None) for success, or (None, GraphError)."""
        if exc is not None:
            error = self._transport_error(method, url, exc, idempotent)
            if error is not None:
                return None, error
            return self._budgeted(attempt, waited, None, GraphError(None, "ConnectionError", "%s %s failed: %s" % (
                method, _path_of(url), self._scrub(_short_reason(exc)))))
        status = response.status_code
        if status < 400:
            return None, None
        error = error_from_body(status, _decode(response), response.headers.get("request-id"))
        if status == 403:
            self.explain_forbidden(error, method, _path_of(url))
        if status == 404 and retry_not_found:
            # Eventual consistency: the object may not have replicated yet.
            delay = min(self.backoff_cap, self.not_found_poll * (2 ** attempt))
            if elapsed + delay <= retry_not_found and attempt < self.max_retries:
                return delay, None
            return None, error
        if not self._retryable(status, error, idempotent):
            if status == 504 and not idempotent:
                error.message += " (the outcome of this %s is unknown: re-read before retrying)" % method
            return None, error
        return self._budgeted(attempt, waited, parse_retry_after(response.headers.get("Retry-After")), error)

    def _retryable(self, status, error, idempotent):
        if status == 429:
            return True  # throttled requests were not processed
        if status == 503:
            # With Graph's error envelope the request was rejected, not run.
            return idempotent or error.code is not None
        if status == 504:
            return idempotent  # a gateway timeout may hide a completed write
        # A concurrent write on the same object (FIDELITY 2.8): nothing was applied.
        return status == 400 and error.code == "Directory_ConcurrencyViolation"

    def _transport_error(self, method, url, exc, idempotent):
        """None if the failed attempt may be retried, else the GraphError to raise."""
        if idempotent or _not_sent(exc):
            return None
        return GraphError(None, "OutcomeUnknown", (
            "%s %s: the connection failed after the request was sent (%s); its outcome is unknown. "
            "Re-read the object before trying again.") % (method, _path_of(url), self._scrub(_short_reason(exc))))

    def _budgeted(self, attempt, waited, retry_after, error):
        """Retry after Retry-After (or backoff) while this request's retry count
        and total wait (max_retry_wait) allow."""
        delay = self._delay(attempt, retry_after)
        if attempt >= self.max_retries or waited + delay > self.max_retry_wait:
            error.message += " (gave up after %d retries, %.1f s of waiting)" % (attempt, waited)
            return None, error
        return delay, None

    def _delay(self, attempt, retry_after):
        if retry_after is not None:
            return retry_after
        return backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._random)

    def explain_forbidden(self, error, method, path):
        """Add to a 403 the application permission(s) the request needs (forbidden_hint)."""
        if self.forbidden_hint is None:
            return
        hint, permissions = self.forbidden_hint(method, path)
        if hint:
            error.message += " " + hint
            error.missing_permissions = permissions

    def _ca_description(self):
        return "ca_path " + self.ca_path if self.ca_path else "default CA bundle"

    @staticmethod
    def _json_body(response):
        if response.status_code == 204 or not response.content:
            return None
        body = _decode(response)
        if not isinstance(body, (dict, list)):
            raise GraphError(response.status_code, "InvalidResponse",
                             "Expected JSON from Graph, got %s" % response.headers.get("Content-Type"),
                             response.headers.get("request-id"))
        return body

    def get(self, path, params=None, headers=None, retry_not_found=0):
        return self.request("GET", path, params=params, headers=headers, retry_not_found=retry_not_found)

    def post(self, path, json=None, headers=None, idempotent=False):
        return self.request("POST", path, json=json, headers=headers, idempotent=idempotent)

    def patch(self, path, json=None, headers=None):
        return self.request("PATCH", path, json=json, headers=headers)

    def delete(self, path, headers=None):
        self.request("DELETE", path, headers=headers)

    # ---- collections -----------------------------------------------------

    def list(self, path, select=None, filter=None, params=None, headers=None, top=999):
        """Every item of a collection, following @odata.nextLink."""
        query = dict(params or {})
        if select:
            query["$select"] = select if isinstance(select, str) else ",".join(select)
        if filter:
            query["$filter"] = filter
        if top:
            query["$top"] = top
        items = []
        page = self.request("GET", path, params=query, headers=headers)
        while True:
            items.extend(page.get("value", []))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            # The link carries the query; headers (ConsistencyLevel) must be re-sent.
            page = self.request("GET", next_link, headers=headers)

    # ---- JSON batching ---------------------------------------------------

    def batch(self, requests):
        """Run requests through /$batch (20 per call); results in input order.

        Each request: {"id"?, "method", "url" (relative to /v1.0), "body"?,
        "headers"?, "depends_on"?: [ids]}. Throttled (429) items are re-sent,
        after the largest Retry-After, with the items that failed only
        because they depended on them.
        """
        items = _normalize_batch_items(requests)
        results = {}
        for chunk in _chunks(items):
            results.update(self._run_chunk(chunk))
        return [results[item["id"].lower()] for item in items]

    def _run_chunk(self, chunk):
        results = {}
        pending = chunk
        attempt, waited = 0, 0.0
        while pending:
            answered = {}
            for batch in _chunks(pending):
                answered.update(self._post_batch(batch))
            for item in pending:
                results[item["id"].lower()] = answered[item["id"].lower()]
            retry = _items_to_retry(pending, answered)
            if not retry:
                break
            if len(retry) < len(pending):
                # Some items got through, so the throttle is draining: only rounds that make no progress
                # count against max_retries (the total wait stays bounded by max_retry_wait).
                attempt = 0
            retry_afters = [parse_retry_after(_header(answered[i["id"].lower()].headers, "Retry-After")) for i in retry]
            known = [seconds for seconds in retry_afters if seconds is not None]
            delay = self._delay(attempt, max(known) if known else None)
            if attempt >= self.max_retries or waited + delay > self.max_retry_wait:
                break  # the 429 results stay as failures
            self._wait(delay)
            attempt += 1
            waited += delay
            retry_ids = set(i["id"].lower() for i in retry)
            # A dependency that already succeeded is no longer in the batch.
            pending = [dict(i, depends_on=[d for d in i["depends_on"] if d.lower() in retry_ids]) for i in retry]
        return results

    def _post_batch(self, items):
        wire = []
        for item in items:
            entry = {"id": item["id"], "method": item["method"], "url": item["url"]}
            headers = dict(item["headers"])
            if item["body"] is not None:
                entry["body"] = item["body"]
                if _header(headers, "Content-Type") is None:
                    headers["Content-Type"] = "application/json"
            if headers:
                entry["headers"] = headers
            if item["depends_on"]:
                entry["dependsOn"] = item["depends_on"]
            wire.append(entry)
        # Re-sending after a dropped connection is safe only without creates.
        idempotent = all(item["method"] != "POST" for item in items)
        body = self.request("POST", "/$batch", json={"requests": wire}, idempotent=idempotent) or {}
        answered = {}
        for response in body.get("responses", []):
            answered[str(response.get("id")).lower()] = response
        waits = [parse_retry_after(_header(r.get("headers"), "Retry-After")) for r in answered.values() if r.get("status") == 429]
        if waits:
            known = [seconds for seconds in waits if seconds is not None]
            self._throttled(max(known) if known else None)
        results = {}
        for item in items:
            response = answered.get(item["id"].lower())
            if response is None:
                results[item["id"].lower()] = BatchResult(item["id"], None, {"error": {
                    "code": "MissingBatchResponse", "message": "Graph returned no response for batch item %s" % item["id"]}})
                continue
            result = BatchResult(item["id"], response.get("status"), response.get("body"),
                                 response.get("headers"), item["depends_on"])
            if result.status == 403:
                result.forbidden = (self, item["method"], item["url"].split("?", 1)[0])
            results[item["id"].lower()] = result
        return results


def _items_to_retry(items, answered):
    """429 items, plus the 424 items that failed only because of one of them."""
    retry = set(i["id"].lower() for i in items if answered[i["id"].lower()].status == 429)
    if not retry:
        return []
    changed = True
    while changed:
        changed = False
        for item in items:
            key = item["id"].lower()
            if key not in retry and answered[key].status == 424 and any(d.lower() in retry for d in item["depends_on"]):
                retry.add(key)
                changed = True
    return [item for item in items if item["id"].lower() in retry]


def batch_items(client, result):
    """The items a collection read sent in a ``$batch`` answered, with its further pages (followed by
    ``@odata.nextLink``); raises the read's error."""
    if not result.ok:
        raise result.error
    body = result.body or {}
    items = list(body.get("value", []))
    if body.get("@odata.nextLink"):
        items.extend(client.list(body["@odata.nextLink"], top=None))
    return items


def list_each(client, paths, select=None, top=999):
    """Every item of several collections with few requests: first pages 20 to a ``$batch``, then each
    collection's ``@odata.nextLink`` in the next round's batches, until none is left.

    ``paths``: collection paths, or (path, query parameters) pairs (a ``$filter`` each, say). Returns one
    entry per path, in order: its items, or the GraphError its read got. A function over the client's
    ``list`` and ``batch``, so that any client with those two can serve it.
    """
    reads = [(p, {}) if isinstance(p, str) else (p[0], dict(p[1])) for p in paths]
    if len(reads) == 1:  # one GET is one request either way; no batch envelope
        path, params = reads[0]
        try:
            return [client.list(path, select=select, filter=params.pop("$filter", None), params=params or None,
                                top=top)]
        except GraphError as error:
            if error.status is None:
                raise  # transport or token failure: nothing path-specific about it
            return [error]
    common = {}
    if select:
        common["$select"] = select if isinstance(select, str) else ",".join(select)
    if top:
        common["$top"] = top
    outcome = [[] for _read in reads]
    pending = dict((index, query_url(path, dict(common, **params))) for index, (path, params) in enumerate(reads))
    base = client.base_url.rstrip("/")
    while pending:
        order = sorted(pending)
        answers = client.batch([{"id": str(index), "method": "GET", "url": pending[index]} for index in order])
        pending = {}
        for index, answer in zip(order, answers):
            if not answer.ok:
                outcome[index] = answer.error
                continue
            outcome[index].extend((answer.body or {}).get("value", []))
            next_link = (answer.body or {}).get("@odata.nextLink")
            if next_link and next_link.startswith(base + "/"):
                pending[index] = next_link[len(base):]
            elif next_link:
                outcome[index].extend(client.list(next_link, top=None))
    return outcome


def query_url(path, params):
    """``path?$select=a,b&$top=999``: a URL relative to /v1.0 for a $batch item, its values quoted."""
    if not params:
        return path
    return path + "?" + "&".join("%s=%s" % (name, quote(str(value), safe="$,()'=@:;"))
                                 for name, value in params.items())


def _normalize_batch_items(requests_):
    used = set(str(r["id"]).lower() for r in requests_ if r.get("id") is not None)
    if len(used) != len([r for r in requests_ if r.get("id") is not None]):
        raise ValueError("batch request ids must be unique (case-insensitive)")
    items = []
    counter = 0
    for request in requests_:
        request_id = request.get("id")
        if request_id is None:
            counter += 1
            while str(counter) in used:
                counter += 1
            request_id = str(counter)
            used.add(request_id)
        url = request["url"]
        if url.startswith("https://") or url.startswith("http://"):
            url = url.split("/v1.0", 1)[-1]  # $batch urls are relative to the version
        depends_on = request.get("depends_on") or request.get("dependsOn") or []
        items.append({"id": str(request_id), "method": request["method"].upper(), "url": url,
                      "body": request.get("body"), "headers": dict(request.get("headers") or {}),
                      "depends_on": [str(d) for d in depends_on]})
    known = set(item["id"].lower() for item in items)
    for item in items:
        missing = [d for d in item["depends_on"] if d.lower() not in known]
        if missing:
            raise ValueError("batch request %s depends on unknown ids: %s" % (item["id"], ", ".join(missing)))
    return items


def _chunks(items):
    """Split into batches Graph accepts (FIDELITY 7.1): fully parallel batches of
    at most 20 independent requests, and every group of requests linked by
    dependsOn in a batch of its own. Graph refuses a batch that mixes the two."""
    group_of = {}
    for item in items:
        group_of[item["id"].lower()] = item["id"].lower()

    def root(key):
        while group_of[key] != key:
            key = group_of[key]
        return key

    for item in items:
        for dep in item["depends_on"]:
            group_of[root(dep.lower())] = root(item["id"].lower())
    groups = {}
    order = []
    for item in items:
        key = root(item["id"].lower())
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(item)
    chunks, parallel = [], []
    for key in order:
        group = groups[key]
        if len(group) > BATCH_LIMIT:
            raise ValueError("%d batch requests are linked by dependsOn; a batch holds at most %d" % (len(group), BATCH_LIMIT))
        if len(group) > 1:
            chunks.append(group)  # a chain, alone in its batch, in input order
            continue
        parallel.extend(group)
        if len(parallel) == BATCH_LIMIT:
            chunks.append(parallel)
            parallel = []
    if parallel:
        chunks.append(parallel)
    return chunks


def _first_line(description):
    """Entra's error_description without its trace, correlation id and timestamp lines."""
    text = description.strip().splitlines()[0]
    return text.split(" Trace ID:", 1)[0].strip()


def _decode(response):
    try:
        return response.json()
    except ValueError:
        return response.text


def _path_of(url):
    return urlsplit(url).path


def _short_reason(exc):
    """The innermost reason of a requests exception, without the noisy repr chain."""
    reason = exc
    seen = set()
    while True:
        inner = getattr(reason, "reason", None) or (reason.args[0] if getattr(reason, "args", None) else None)
        if not isinstance(inner, Exception) or id(inner) in seen:
            break
        seen.add(id(inner))
        reason = inner
    return "%s: %s" % (type(reason).__name__, reason) if str(reason) else type(reason).__name__


def _not_sent(exc):
    """True when a connection failed before the request was sent (safe to re-send)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError -> its reason
    name = type(reason).__name__
    return name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")
