"""The engine's one write path (engine.Sender) against a scripted fake of GraphClient.batch."""
import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import engine
from ansible_collections.m365.cloud_identity.plugins.module_utils.engine import Plan, Sender, Write
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult, GraphError

NEW_ID = "11111111-1111-1111-1111-111111111111"


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


class FakeBatch:
    """client.batch answering each request with answer(request, attempt) -> (status, body)."""

    base_url = "https://graph.microsoft.com/v1.0"

    def __init__(self, answer=lambda request, attempt: (204, None)):
        self.answer = answer
        self.batches = []
        self.attempts = {}

    def batch(self, requests):
        self.batches.append(requests)
        results = []
        for request in requests:
            key = (request["method"], request["url"])
            self.attempts[key] = self.attempts.get(key, 0) + 1
            outcome = self.answer(request, self.attempts[key])
            if isinstance(outcome, Exception):
                raise outcome
            status, body = outcome
            results.append(BatchResult(request["id"], status, body, {}, request.get("depends_on")))
        return results


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def sender_for(client):
    clock = Clock()
    return Sender(client, sleep=clock.sleep, clock=clock, rand=lambda: 0.5), clock


def plan(key="item"):
    return Plan(0, {}, key)


def test_a_chain_travels_alone_and_independent_writes_share_parallel_batches():
    client = FakeBatch()
    sender, _clock = sender_for(client)
    plans = [plan("p%d" % n) for n in range(25)]
    chain = [Write(plans[0], "POST", "/directory/deletedItems/u/restore"), Write(plans[0], "PATCH", "/users/u", {})]
    sender.send([chain] + [Write(p, "PATCH", "/users/%s" % p.key, {}) for p in plans[1:]])
    shapes = [[bool(r.get("depends_on")) for r in batch] for batch in client.batches]
    assert shapes[0] == [False, True]
    assert [len(b) for b in client.batches] == [2, 20, 4]
    assert all(not any(shape) for shape in shapes[1:])
    assert all(p.written and not p.failed for p in plans)


@pytest.mark.parametrize("status, body", [
    (503, error_body("serviceUnavailable", "busy")),
    (504, error_body("gatewayTimeout", "slow")),
    (429, error_body("TooManyRequests", "slow down")),
    (400, error_body("Directory_ConcurrencyViolation", "Another operation is in progress")),
])
def test_busy_items_are_re_sent_alone(status, body):
    client = FakeBatch(lambda request, attempt: (status, body) if request["url"] == "/users/a" and attempt < 3 else (204, None))
    sender, clock = sender_for(client)
    plans = [plan("a"), plan("b")]
    sender.send([Write(plans[0], "PATCH", "/users/a", {}), Write(plans[1], "PATCH", "/users/b", {})])
    assert [[r["url"] for r in batch] for batch in client.batches] == [["/users/a", "/users/b"], ["/users/a"], ["/users/a"]]
    assert not plans[0].failed and len(clock.sleeps) == 2


def test_a_write_naming_a_new_object_waits_for_replication_within_a_bound():
    missing = (400, error_body("Request_BadRequest", "The source resource object or one of the objects being "
                                                     "referenced do not exist."))
    client = FakeBatch(lambda request, attempt: missing if attempt < 4 else (204, None))
    sender, clock = sender_for(client)
    sender.created(NEW_ID)
    item = plan()
    sender.send([Write(item, "PUT", "/users/x/manager/$ref", {"@odata.id": "https://h/v1.0/directoryObjects/" + NEW_ID})])
    assert not item.failed and len(client.batches) == 4 and clock.now < engine.REPLICATION_RETRY_SECONDS

    never = FakeBatch(lambda request, attempt: (404, error_body("Request_ResourceNotFound", "gone")))
    sender, clock = sender_for(never)
    sender.created(NEW_ID)
    item = plan()
    sender.send([Write(item, "PATCH", "/groups/%s" % NEW_ID, {})])
    assert item.failed and item.error.status == 404 and "update" not in str(item.error)
    assert engine.REPLICATION_RETRY_SECONDS <= clock.now < engine.REPLICATION_RETRY_SECONDS + engine.WAIT_CAP


def test_a_404_on_an_object_this_run_did_not_create_fails_at_once():
    client = FakeBatch(lambda request, attempt: (404, error_body("Request_ResourceNotFound", "gone")))
    sender, clock = sender_for(client)
    item = plan()
    sender.send([Write(item, "PATCH", "/users/old", {}, "update user old")])
    assert len(client.batches) == 1 and clock.sleeps == []
    assert str(item.error).startswith("Failed to update user old: gone")


@pytest.mark.parametrize("method, url, status, message", [
    ("POST", "/groups/g/members/$ref", 400, "One or more added object references already exist for the following "
                                            "modified properties: 'members'."),
    ("DELETE", "/groups/g/members/u/$ref", 404, "Resource 'u' does not exist."),
    ("DELETE", "/groups/g/members/u/$ref", 400, "One or more removed object references do not exist for the "
                                                "following modified properties: 'members'."),
    ("DELETE", "/users/u", 404, "Resource 'u' does not exist."),
])
def test_already_there_and_already_gone_count_as_done(method, url, status, message):
    client = FakeBatch(lambda request, attempt: (status, error_body("Request_BadRequest", message)))
    sender, _clock = sender_for(client)
    item, done = plan(), []
    sender.send([Write(item, method, url, {} if method == "POST" else None, on_success=done.append)])
    assert not item.failed and done == [None] and len(client.batches) == 1


def test_a_lost_answer_is_re_read_by_key_and_never_creates_twice():
    lost = GraphError(None, "OutcomeUnknown", "the connection failed after the request was sent")
    client = FakeBatch(lambda request, attempt: lost if attempt == 1 else (201, {"id": "new"}))
    sender, _clock = sender_for(client)
    landed, fresh = plan("landed"), plan("fresh")
    created = []
    rereads = {"landed": {"id": "landed-id"}, "fresh": None}
    writes = [Write(p, "POST", "/users", {"userPrincipalName": p.key}, on_success=created.append,
                    reread=lambda p=p: rereads[p.key]) for p in (landed, fresh)]
    sender.send(writes)
    assert created == [{"id": "landed-id"}, {"id": "new"}]
    assert [len(b) for b in client.batches] == [2, 1]  # only the create that had not landed is sent again
    assert landed.written and fresh.written and not landed.failed and not fresh.failed


def test_a_lost_answer_fails_a_create_that_cannot_be_re_read_but_re_sends_idempotent_writes():
    lost = GraphError(None, "OutcomeUnknown", "outcome unknown")
    client = FakeBatch(lambda request, attempt: lost if attempt == 1 else (204, None))
    sender, _clock = sender_for(client)
    create, patch = plan("create"), plan("patch")
    sender.send([Write(create, "POST", "/groups", {}), Write(patch, "PATCH", "/users/u", {})])
    assert create.failed and "outcome unknown" in str(create.error)
    assert patch.written and not patch.failed


def test_a_create_that_conflicts_converges_to_the_existing_object():
    conflict = (400, error_body("Request_BadRequest",
                                "Another object with the same value for property userPrincipalName already exists."))
    client = FakeBatch(lambda request, attempt: conflict)
    sender, _clock = sender_for(client)
    item, seen = plan(), []

    def on_conflict(error, lost_response):
        seen.append(lost_response)
        return {"id": "existing"}

    adopted = []
    sender.send([Write(item, "POST", "/users", {}, on_success=adopted.append, on_conflict=on_conflict)])
    assert adopted == [{"id": "existing"}] and seen == [False] and not item.failed


def test_a_failure_fails_its_plan_only_and_skips_the_rest_of_its_chain():
    def answer(request, attempt):
        if request["method"] == "DELETE" and "deletedItems" not in request["url"]:
            return 403, error_body("Authorization_RequestDenied", "no")
        return 204, None

    client = FakeBatch(answer)
    sender, _clock = sender_for(client)
    doomed, fine = plan("doomed"), plan("fine")
    sender.send([[Write(doomed, "DELETE", "/users/a"), Write(doomed, "DELETE", "/directory/deletedItems/a")],
                 Write(fine, "PATCH", "/users/b", {})])
    assert doomed.failed and not doomed.written and fine.written
    assert len(client.batches) == 2


# ---- the fixed run --------------------------------------------------------------------------------

class TwoWaves:
    """A resource whose second wave cannot even be built (a read it needs fails)."""

    def __init__(self, client):
        self.sender, self.clock = sender_for(client)
        self.order = []

    def plan(self, index, item):
        plan = Plan(index, item, item["key"])
        if item.get("bad"):
            plan.fail("bad: %s" % item["key"])
        return plan

    def validate(self, plans):
        self.order.append("validate")

    def read(self, plans):
        self.order.append(("read", [p.key for p in plans]))

    def decide(self, plan):
        plan.action = "created"

    def waves(self):
        return [self.first, self.second]

    def first(self, plans):
        return [Write(p, "POST", "/groups/g/members/$ref", {}) for p in plans if p.key == "a"]

    def second(self, plans):
        raise GraphError(None, "ConnectionError", "the network went away")


def test_the_run_validates_reads_decides_then_writes_and_names_what_it_could_not_do():
    client = FakeBatch()
    resource = TwoWaves(client)
    plans = engine.run(resource, [{"key": "a"}, {"key": "b"}, {"key": "c", "bad": True}], check_mode=False)
    assert resource.order == ["validate", ("read", ["a", "b"])]
    a, b, c = plans
    assert a.written and a.failed and not a.not_attempted   # written, then the run stopped
    assert b.not_attempted and "network went away" in str(b.error) and not b.written
    assert c.failed and not c.attempted and c.error == "bad: c"


def test_check_mode_runs_no_wave():
    client = FakeBatch()
    resource = TwoWaves(client)
    plans = engine.run(resource, [{"key": "a"}], check_mode=True)
    assert client.batches == [] and plans[0].action == "created" and not plans[0].failed


def test_a_failure_after_a_successful_write_fails_its_item_and_nothing_else():
    client = FakeBatch(lambda request, attempt: (201, {"id": request["url"]}))
    sender, _clock = sender_for(client)
    broken, fine = plan("broken"), plan("fine")

    def read_back(_body):
        raise GraphError(404, "Request_ResourceNotFound", "not readable yet")

    sender.send([Write(broken, "POST", "/groups/a/owners/$ref", {}, "add owner", on_success=read_back),
                 Write(fine, "POST", "/groups/b/owners/$ref", {})])
    assert broken.written and broken.failed and "finish: add owner" in str(broken.error)
    assert fine.written and not fine.failed
