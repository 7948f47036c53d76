# -*- coding: utf-8 -*-

# Copyright (c) m365.cloud_identity contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One engine under every resource: plans, the fixed run, and the one write path.

A resource (users, groups, licences, guests) supplies only its own parts: how
to validate an item, read the tenant, decide each plan, and which Graph
requests (:class:`Write`) a plan needs in each wave. This file supplies the
rest, the same for all of them:

* :class:`Plan`: one item's key, item, current object, action, before/after,
  error, the secret it generated, and whether anything was written for it;
* :func:`run`: validate every item, read, decide, then (unless check mode)
  apply the waves in order;
* :class:`Sender`: the one batch sender every write goes through (rules in
  docs/graph-rules.md, "What the client relies on"):

  - fully parallel ``$batch`` calls, a ``dependsOn`` chain only in a batch of
    its own (Graph refuses mixed batches);
  - items answered 429, 503, 504 or ``Directory_ConcurrencyViolation`` are
    re-sent, alone, with backoff;
  - a write that references an object this run created or restored and is
    answered 404 ``Request_ResourceNotFound`` or 400 "... objects being
    referenced do not exist" is re-sent for a bounded time (replication);
  - "already exists" on an add and "does not exist" on a removal count as done;
  - after a transport error whose outcome is unknown, each write is re-read
    by key (when its resource says how) or re-sent where that is safe,
    instead of failing the task.

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import time

from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import GraphError

# How long a write that references a new object keeps being re-sent while Graph
# has not replicated that object yet (Graph documents no bound; minutes are rare).
REPLICATION_RETRY_SECONDS = 15.0
# Rounds of re-sending throttled or busy items (each after a growing wait).
TRANSIENT_ROUNDS = 8
# Times a batch whose response was lost is re-read / re-sent before its items fail.
TRANSPORT_ROUNDS = 4
FIRST_WAIT = 0.5
WAIT_CAP = 8.0

TRANSIENT_STATUSES = (429, 503, 504)
CONCURRENCY_VIOLATION = "Directory_ConcurrencyViolation"
REFERENCED_MISSING = "objects being referenced do not exist"
ALREADY_EXISTS = "already exist"
ALREADY_REMOVED = "removed object references do not exist"


class Plan(object):
    """What one item will do, and what happened to it."""

    def __init__(self, index, item, key):
        self.index = index
        self.item = item
        self.key = key or "item %d" % (index + 1)
        self.current = None       # the live object, in Graph's shape
        self.action = None        # created, updated, restored, deleted, unchanged (failed: see error)
        self.before = {}
        self.after = {}
        self.error = None         # a message, a GraphError or a ValueError: the item failed
        self.secret = None        # a password the run set or generated (never in results)
        self.written = False      # at least one write for this item succeeded
        self.attempted = False    # at least one write for this item was sent
        self.not_attempted = False  # the run stopped before sending this item's writes

    @property
    def failed(self):
        return self.error is not None

    def fail(self, error):
        """Record the first failure (later ones are consequences of it)."""
        if self.error is None:
            self.error = error

    @property
    def result_action(self):
        if not self.failed:
            return self.action or "unchanged"
        return "failed"


class Write(object):
    """One Graph request a plan needs.

    ``on_success(body)`` runs when it succeeded (or was found already done);
    ``reread()`` returns the object when a create whose outcome is unknown did
    land, or None; ``on_conflict(error, lost_response)`` may turn a create's
    "already exists" into success by returning the existing object (made by
    this run's own unanswered create when ``lost_response``, else by a
    concurrent run); ``done_if(status, error, lost_response)`` names other
    answers that mean the write already took effect (a restore sent again
    after its first answer was lost finds nothing left to restore).
    """

    def __init__(self, plan, method, url, body=None, context=None, headers=None, on_success=None,
                 reread=None, on_conflict=None, done_if=None):
        self.plan = plan
        self.method = method.upper()
        self.url = url
        self.body = body
        self.headers = headers
        self.context = context or "%s %s" % (self.method, url)
        self.on_success = on_success
        self.reread = reread
        self.on_conflict = on_conflict
        self.done_if = done_if

    def request(self, request_id, depends_on=None):
        request = {"id": request_id, "method": self.method, "url": self.url}
        if self.body is not None:
            request["body"] = self.body
        if self.headers:
            request["headers"] = dict(self.headers)
        if depends_on:
            request["depends_on"] = [depends_on]
        return request

    def references(self, ids):
        """True when the request names one of these object ids (lower case)."""
        if not ids:
            return False
        text = (self.url + " " + (json.dumps(self.body) if self.body is not None else "")).lower()
        return any(object_id in text for object_id in ids)

    @property
    def safe_to_resend(self):
        """Re-sending cannot make a second object: anything but a POST that creates a user or group
        (an invitation names its guest by e-mail, and inviting again returns the same user)."""
        return not (self.method == "POST" and self.url.rstrip("/") in ("/users", "/groups"))


def already_done(write, status, error):
    """Graph's answers that mean the wanted state is already there (FIDELITY 7.4)."""
    message = (error.message if error is not None else "") or ""
    if write.method == "DELETE":
        return status == 404 or (status == 400 and ALREADY_REMOVED in message)
    if write.method == "POST" and write.url.endswith("/$ref"):
        return status == 400 and ALREADY_EXISTS in message
    return False


def is_transient(status, error):
    return status in TRANSIENT_STATUSES or (
        status == 400 and error is not None and error.code == CONCURRENCY_VIOLATION)


def is_replication_miss(status, error):
    """A write refused because an object it names has not replicated yet (FIDELITY 7.3)."""
    if status == 404:
        return True
    message = (error.message if error is not None else "") or ""
    return status == 400 and REFERENCED_MISSING in message and ALREADY_REMOVED not in message


def is_conflict(status, error):
    message = ((error.message if error is not None else "") or "").lower()
    return status == 400 and (getattr(error, "code", None) == "ObjectConflict" or "already exist" in message)


class _Unit(object):
    """A single write, or a chain (restore then PATCH, delete then purge) sent as one sequential batch."""

    def __init__(self, writes):
        self.writes = list(writes)
        self.rounds = 0
        self.transport_rounds = 0
        self.replication_deadline = None
        self.lost_response = False   # a create of this unit may have landed without an answer

    @property
    def plan(self):
        return self.writes[0].plan


class Sender(object):
    """The one path every write takes to Graph."""

    def __init__(self, client, sleep=time.sleep, clock=time.monotonic, rand=random.random):
        self.client = client
        self.new_ids = set()      # objects created or restored by this run (lower case)
        self._sleep = sleep
        self._clock = clock
        self._random = rand

    def created(self, object_id):
        """Note an object this run created or restored: writes naming it wait for replication."""
        if object_id:
            self.new_ids.add(str(object_id).lower())

    def send(self, items):
        """Send writes; each item is a Write or a list of Writes forming a chain.

        A failure fails the write's plan only (its later writes are skipped).
        """
        units = [_Unit(item if isinstance(item, (list, tuple)) else [item]) for item in items]
        pending = [unit for unit in units if unit.writes and not unit.plan.failed]
        round_number = 0
        while pending:
            retry, retry_after = [], []
            parallel = [unit for unit in pending if len(unit.writes) == 1]
            batches = [[unit] for unit in pending if len(unit.writes) > 1]
            batches += [parallel[start:start + 20] for start in range(0, len(parallel), 20)]
            for batch in batches:
                batch_retry, waits = self._send_batch(batch)
                retry.extend(batch_retry)
                retry_after.extend(waits)
            pending = [unit for unit in retry if not unit.plan.failed]
            if pending:
                self._sleep(self._delay(round_number, retry_after))
                round_number += 1

    def _delay(self, round_number, retry_after):
        if retry_after:
            return min(max(retry_after), 60.0)
        ceiling = min(WAIT_CAP, FIRST_WAIT * (2 ** round_number))
        return ceiling / 2.0 + self._random() * ceiling / 2.0

    def _send_batch(self, units):
        """Send one batch; returns (units to re-send, Retry-After seconds seen)."""
        requests, owners = [], []
        for unit in units:
            previous = None
            for number, write in enumerate(unit.writes):
                request_id = "%d" % len(requests)
                requests.append(write.request(request_id, depends_on=previous if len(unit.writes) > 1 else None))
                owners.append((unit, number))
                previous = request_id
                write.plan.attempted = True
        try:
            results = self.client.batch(requests)
        except GraphError as error:
            if error.status is not None or error.code not in ("OutcomeUnknown", "ConnectionError"):
                for unit in units:
                    unit.plan.fail(_with_context(error, unit.writes[0].context))
                return [], []
            return self._after_lost_response(units, error), []
        retry, waits = [], []
        skip = set()
        for (unit, number), result in zip(owners, results):
            if id(unit) in skip:
                continue
            outcome = self._outcome(unit, unit.writes[number], result)
            if outcome == "done":
                continue
            skip.add(id(unit))
            if outcome == "retry":
                unit.writes = unit.writes[number:]
                retry.append(unit)
                seconds = _retry_after(result)
                if seconds is not None:
                    waits.append(seconds)
        return retry, waits

    def _outcome(self, unit, write, result):
        """'done', 'retry' or 'failed' for one answered write."""
        status, error = result.status, result.error
        if result.ok or already_done(write, status, error) or (
                write.done_if is not None and write.done_if(status, error, unit.lost_response)):
            self._succeeded(write, result.body if result.ok else None)
            return "done"
        if status == 424:
            return "retry"  # an earlier write of its chain asked to be re-sent
        if is_transient(status, error) and unit.rounds < TRANSIENT_ROUNDS:
            unit.rounds += 1
            return "retry"
        if is_replication_miss(status, error) and write.references(self.new_ids):
            now = self._clock()
            if unit.replication_deadline is None:
                unit.replication_deadline = now + REPLICATION_RETRY_SECONDS
            if now < unit.replication_deadline:
                return "retry"
        if write.on_conflict is not None and is_conflict(status, error):
            existing = write.on_conflict(error, unit.lost_response)
            if existing is not None:
                self._succeeded(write, existing)
                return "done"
        write.plan.fail(_with_context(error, write.context))
        return "failed"

    def _succeeded(self, write, body):
        write.plan.written = True
        if write.on_success is None:
            return
        try:
            write.on_success(body)
        except (GraphError, EnvironmentError) as error:
            # Written, but what follows it (a read-back, recording a password) failed: say so on the item.
            if isinstance(error, GraphError):
                error = _with_context(error, "finish: " + write.context)
            else:
                error = "%s succeeded, then: %s" % (write.context, error)
            write.plan.fail(error)

    def _after_lost_response(self, units, error):
        """The batch may or may not have run: re-read what can be re-read, re-send what is safe."""
        retry = []
        for unit in units:
            unit.transport_rounds += 1
            if unit.transport_rounds > TRANSPORT_ROUNDS:
                unit.plan.fail(_with_context(error, unit.writes[0].context))
                continue
            first = unit.writes[0]
            if first.reread is not None:
                try:
                    existing = first.reread()
                except GraphError as read_error:
                    unit.plan.fail(_with_context(read_error, "re-read after a lost response to: " + first.context))
                    continue
                if existing is not None:
                    self._succeeded(first, existing)
                    unit.writes = unit.writes[1:]
                    if unit.writes:
                        retry.append(unit)
                    continue
                unit.lost_response = True
                retry.append(unit)
            elif first.safe_to_resend:
                unit.lost_response = True
                retry.append(unit)
            else:
                unit.plan.fail(_with_context(error, first.context))
        return retry


def restored_if_gone(status, error, lost_response):
    """For a restore: after a lost answer, "not in deleted items" means the first attempt restored it."""
    return lost_response and status in (400, 404)


def _retry_after(result):
    for key, value in (getattr(result, "headers", None) or {}).items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _with_context(error, context):
    if isinstance(error, GraphError) and context and not error.context:
        error.context = context
    return error


def run(resource, items, check_mode):
    """The fixed run every resource goes through; returns the plans in item order.

    ``resource`` provides: ``plan(index, item)`` -> Plan (validated alone),
    ``validate(plans)`` (checks across items and against the tenant's
    settings), ``read(plans)``, ``decide(plan)`` and ``waves()`` -> a list of
    callables, each taking the live plans and returning the writes of one wave
    (run in order, each after the previous wave has been answered); in check
    mode, instead of the waves, ``preview(plans)`` when the resource has one.
    """
    plans = [resource.plan(index, item) for index, item in enumerate(items)]
    resource.validate(plans)
    resource.read([plan for plan in plans if not plan.failed])
    for plan in plans:
        if not plan.failed:
            try:
                resource.decide(plan)
            except ValueError as error:
                plan.fail(error)
    if check_mode:
        preview = getattr(resource, "preview", None)
        if preview is not None:
            preview([plan for plan in plans if not plan.failed])
    else:
        for wave in resource.waves():
            live = [plan for plan in plans if not plan.failed and plan.action not in (None, "unchanged")]
            try:
                writes = wave(live)
                if writes:
                    resource.sender.send(writes)
            except GraphError as error:
                # Nothing written goes unreported: every item still gets its result, and what was not
                # sent is named as not attempted; the next run finishes the job.
                for plan in live:
                    if not plan.failed:
                        plan.not_attempted = not plan.attempted
                        plan.fail(error)
                break
    return plans
