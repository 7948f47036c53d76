"""What tests and benchmarks steer: request counters, throttling, replication lag, fault injection.

Exposed under /_sandbox/ (outside Graph's paths, no authentication) and settable at start.
"""
import copy
import random
import threading
import time
from collections import Counter

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_CONFIG = {
    # Identity throttling by resource units (FIDELITY.md 2.7): app + tenant pair, small tenant.
    "throttling": {"enabled": False, "ru_per_10s": 3500, "writes_per_150s": 3000},
    # Seconds during which a just-created or restored object is not yet readable nor referable by writes
    # (FIDELITY.md 2.8, 7.3): a number, or {"min": a, "max": b} for a lag drawn per object.
    "replication_lag_seconds": 0,
    # Injected failures on top-level Graph requests: random rates, and/or an explicit sequence
    # (each entry 429, 503, "drop" or "lost_response") consumed one per matching request. "drop" closes
    # the connection before the request is handled; "lost_response" after it was handled and committed.
    "faults": {"rate_429": 0.0, "rate_503": 0.0, "rate_drop": 0.0, "rate_lost_response": 0.0, "retry_after": 1,
               "path_prefix": None, "sequence": []},
    # Seconds before a group's licences reach its members (FIDELITY.md 7.6): licence states and
    # membersWithLicenseErrors appear only then.
    "group_license_delay_seconds": 1.0,
    # How removing a member or owner that is not there is answered (FIDELITY.md 7.4): 404, 400, or
    # "alternate" (404, 400, 404, ...), so a client can be tested against both documented answers.
    "missing_reference_removal": 404,
}

FAULT_KINDS = (429, 503, "drop", "lost_response")


def merge(base, changes):
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


COLLECTION_AGENT = "m365.cloud_identity/"


def module_of(user_agent):
    """The module a request came from: the collection's client sends `m365.cloud_identity/<version> <module>`.
    Its requests without a module name count as `m365.cloud_identity`, anyone else's as `other`."""
    words = (user_agent or "").split()
    for position, word in enumerate(words):
        if word.startswith(COLLECTION_AGENT):
            return words[position + 1] if position + 1 < len(words) else "m365.cloud_identity"
    return "other"


class Counters:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        self.http = Counter()
        self.http_methods = Counter()
        self.http_routes = Counter()
        self.http_status = Counter()
        self.http_modules = Counter()
        self.operations = Counter()
        self.operation_routes = Counter()
        self.tokens = 0
        self.federated_assertions = []

    def count_token(self):
        self.tokens += 1

    def count_federated_assertion(self, fingerprint):
        self.federated_assertions.append(fingerprint)

    def count_http(self, method, route, is_write, user_agent=None):
        self.http["total"] += 1
        self.http_modules[module_of(user_agent)] += 1
        self.http["write" if is_write else "read"] += 1
        self.http_methods[method] += 1
        self.http_routes["%s %s" % (method, route)] += 1

    def count_status(self, status):
        self.http_status[str(status)] += 1

    def count_operation(self, method, route):
        self.operations["total"] += 1
        self.operations["read" if method == "GET" else "write"] += 1
        self.operation_routes["%s %s" % (method, route)] += 1

    def snapshot(self):
        return {
            "http": {"total": self.http["total"], "read": self.http["read"], "write": self.http["write"],
                     "by_method": dict(self.http_methods), "by_route": dict(self.http_routes),
                     "by_status": dict(self.http_status), "by_module": dict(self.http_modules)},
            "operations": {"total": self.operations["total"], "read": self.operations["read"],
                           "write": self.operations["write"], "by_route": dict(self.operation_routes)},
            "tokens": self.tokens,
            # Fingerprints (federation.fingerprint) of the federated tokens accepted, in order.
            "federated_assertions": list(self.federated_assertions),
        }


class TokenBucket:
    def __init__(self, capacity, per_seconds):
        self.capacity = float(capacity)
        self.rate = capacity / float(per_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self):
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount):
        """Seconds until ``amount`` is available (0 when it is, and then it is taken)."""
        self._refill()
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return self.seconds_until(amount)

    def seconds_until(self, amount):
        return max(0.0, (amount - self.level) / self.rate)

    def spend(self, amount):
        """Take ``amount`` even when it is not there (a refused request that still counts); the level can go
        below zero, down to one whole budget in debt."""
        self._refill()
        self.level = max(self.level - amount, -self.capacity)

    @property
    def used_percentage(self):
        self._refill()
        return 100.0 * (1 - self.level / self.capacity)


# Base resource-unit costs of identity requests (FIDELITY.md 2.7); anything else costs 1.
_READ_COSTS = {"/v1.0/users": 2, "/v1.0/groups": 2, "/v1.0/subscribedSkus": 3, "/v1.0/groups/{id}/members": 3,
               "/v1.0/groups/{id}/transitiveMembers": 3, "/v1.0/groups/{id}/owners": 3}


def resource_units(method, route, query):
    if method != "GET":
        return 1
    cost = _READ_COSTS.get(route, 1)
    if "$select" in query:
        cost -= 1
    try:
        if int(query.get("$top", "100")) < 20:
            cost -= 1
    except ValueError:
        pass
    return max(cost, 1)


class Throttle:
    """Token buckets per app + tenant for resource units and for writes."""

    def __init__(self):
        self.buckets = {}

    def charge(self, settings, app_id, method, route, query):
        """None when allowed, else (retry_after_seconds, reason).

        Graph "continues to log resource usage while a client is being throttled"
        (learn.microsoft.com/graph/throttling): a refused request still costs its resource units, so a
        client that retries at once stays throttled longer. A refused write spends no write.
        """
        key = (app_id, settings["ru_per_10s"], settings["writes_per_150s"])
        if key not in self.buckets:
            self.buckets[key] = (TokenBucket(settings["ru_per_10s"], 10), TokenBucket(settings["writes_per_150s"], 150))
        units, writes = self.buckets[key]
        cost = resource_units(method, route, query)
        if method != "GET":
            wait = writes.wait_for(1)
            if wait:
                units.spend(cost)
                return wait, "WriteLimitExceeded"
        wait = units.wait_for(cost)
        if wait:
            if method != "GET":
                writes.level += 1
            units.spend(cost)
            return units.seconds_until(cost), "ResourceUnitLimitExceeded"
        return None

    def usage(self, app_id, settings):
        bucket = self.buckets.get((app_id, settings["ru_per_10s"], settings["writes_per_150s"]))
        return bucket[0].used_percentage if bucket else 0.0


class Control:
    def __init__(self, config=None, rng=None):
        self.initial = merge(copy.deepcopy(DEFAULT_CONFIG), config or {})
        self.config = copy.deepcopy(self.initial)
        self.counters = Counters()
        self.throttle = Throttle()
        self.rng = rng or random.Random()
        self._removals = 0

    def reset(self):
        self.config = copy.deepcopy(self.initial)
        self.counters.reset()
        self.throttle = Throttle()
        self._removals = 0

    @property
    def replication_lag(self):
        """The lag of one newly written object: the fixed setting, or a draw from its range."""
        lag = self.config.get("replication_lag_seconds") or 0
        if isinstance(lag, dict):
            low, high = float(lag.get("min") or 0), float(lag.get("max") or 0)
            return self.rng.uniform(low, max(low, high))
        return float(lag)

    @property
    def group_license_delay(self):
        return float(self.config.get("group_license_delay_seconds") or 0)

    def missing_reference_status(self):
        """404 or 400 for the removal of a reference that is not there, per the setting."""
        setting = str(self.config.get("missing_reference_removal", 404))
        if setting == "alternate":
            self._removals += 1
            return 404 if self._removals % 2 else 400
        return 400 if setting == "400" else 404

    def next_fault(self, path, rng):
        """The fault to inject for this top-level request: None, 429, 503, "drop" or "lost_response"."""
        faults = self.config["faults"]
        prefix = faults.get("path_prefix")
        if prefix and not path.startswith(prefix):
            return None
        if faults.get("sequence"):
            return faults["sequence"].pop(0)
        roll = rng.random()
        for kind, key in ((429, "rate_429"), (503, "rate_503"), ("drop", "rate_drop"),
                          ("lost_response", "rate_lost_response")):
            rate = float(faults.get(key) or 0)
            if roll < rate:
                return kind
            roll -= rate
        return None


def invalid_setting(changes):
    """Why a config change cannot be applied, or None."""
    lag = changes.get("replication_lag_seconds", 0)
    if isinstance(lag, dict):
        if set(lag) - {"min", "max"} or not all(isinstance(v, (int, float)) and v >= 0 for v in lag.values()):
            return "replication_lag_seconds: a number of seconds, or {\"min\": seconds, \"max\": seconds}"
    elif not isinstance(lag, (int, float)) or lag < 0:
        return "replication_lag_seconds: a number of seconds, or {\"min\": seconds, \"max\": seconds}"
    sequence = (changes.get("faults") or {}).get("sequence") or []
    if any(entry not in FAULT_KINDS for entry in sequence):
        return "faults.sequence: each entry one of %s" % ", ".join(str(k) for k in FAULT_KINDS)
    if str(changes.get("missing_reference_removal", 404)) not in ("404", "400", "alternate"):
        return "missing_reference_removal: 404, 400 or \"alternate\""
    delay = changes.get("group_license_delay_seconds", 0)
    if not isinstance(delay, (int, float)) or delay < 0:
        return "group_license_delay_seconds: a number of seconds, 0 or more"
    return None


def _control(request):
    return request.app.state.sandbox.control


async def get_counters(request):
    return JSONResponse(_control(request).counters.snapshot())


async def reset_counters(request):
    _control(request).counters.reset()
    return JSONResponse(_control(request).counters.snapshot())


async def config(request: Request):
    control = _control(request)
    if request.method == "PATCH":
        try:
            changes = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        if not isinstance(changes, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        unknown = sorted(set(changes) - set(DEFAULT_CONFIG))
        if unknown:
            return JSONResponse({"error": "unknown settings: %s (known: %s)" % (", ".join(unknown), ", ".join(DEFAULT_CONFIG))},
                                status_code=400)
        problem = invalid_setting(changes)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        merge(control.config, changes)
        control.throttle = Throttle()
    return JSONResponse(control.config)


async def reset(request):
    sandbox = request.app.state.sandbox
    sandbox.reset()
    return JSONResponse({"reset": True})


routes = [
    Route("/_sandbox/counters", get_counters, methods=["GET"]),
    Route("/_sandbox/counters/reset", reset_counters, methods=["POST"]),
    Route("/_sandbox/config", config, methods=["GET", "PATCH"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
]
