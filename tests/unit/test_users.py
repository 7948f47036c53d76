"""User logic: validation, plans, diffs and passwords, as a playbook author would notice them.

The engine runs against a small in-memory stand-in for Graph (FakeGraph) that
records every request, so a test can say "no write happened" or "this PATCH
carried only department".
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import string
import uuid
from urllib.parse import unquote

import pytest

from ansible_collections.m365.cloud_identity.plugins.module_utils import passwords, users
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_client import BatchResult, GraphError
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import attribute_diff

DOMAINS = ["contoso.onmicrosoft.com", "contoso.com"]


# ---- an in-memory Graph ------------------------------------------------------

class FakeGraph(object):
    """Just enough of Graph for the user engine; records (method, path) of every call."""

    base_url = "https://graph.microsoft.us/v1.0"  # bind URLs come from the client's own cloud

    def __init__(self):
        self.users = {}
        self.deleted = {}
        self.groups = {}
        self.members = {}      # group id -> set of user ids
        self.managers = {}     # user id -> manager id
        self.calls = []        # (method, path)
        self.bodies = []       # the body of every write
        self.http = 0
        self.password_of = {}
        self.lagging = set()   # user ids that filtered list reads do not return yet (replication lag)

    # setup helpers
    def add_user(self, upn, **props):
        user_id = str(uuid.uuid4())
        doc = {"id": user_id, "userPrincipalName": upn, "displayName": upn.split("@")[0],
               "mailNickname": upn.split("@")[0], "accountEnabled": True, "businessPhones": [], "otherMails": []}
        doc.update(props)
        self.users[user_id] = doc
        return doc

    def add_group(self, name, dynamic=False):
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {"id": group_id, "displayName": name, "uniqueName": None, "mailEnabled": False,
                                 "securityEnabled": True, "groupTypes": ["DynamicMembership"] if dynamic else []}
        self.members[group_id] = set()
        return self.groups[group_id]

    def soft_delete(self, user_id):
        doc = self.users.pop(user_id)
        doc = dict(doc, userPrincipalName=user_id.replace("-", "") + doc["userPrincipalName"],
                   deletedDateTime="2025-01-01T00:00:00Z")
        self.deleted[user_id] = doc

    @property
    def writes(self):
        return [call for call in self.calls if call[0] != "GET"]

    # the client interface
    def list(self, path, select=None, filter=None, params=None, headers=None, top=999):
        self.http += 1
        self.calls.append(("GET", path))
        if path == "/domains":
            return [{"id": d, "isVerified": True} for d in DOMAINS] + [{"id": "unverified.com", "isVerified": False}]
        if path == "/users":
            found = list(self.users.values())
        elif path == "/groups":
            found = list(self.groups.values())
        elif path == "/directory/deletedItems/microsoft.graph.user":
            found = list(self.deleted.values())
        elif path.endswith("/memberOf"):
            status, body = self._serve("GET", path, None)
            assert status == 200, body
            return body["value"]
        else:
            raise AssertionError("unexpected list " + path)
        if filter:
            assert "uniqueName" not in filter, "Graph cannot filter on uniqueName (FIDELITY 7.2)"
            prop, values = re.match(r"(\w+) in \((.*)\)$", filter).groups()
            wanted = set(v.strip().strip("'").lower() for v in values.split(","))
            found = [doc for doc in found if str(doc.get(prop) or "").lower() in wanted]
        if path == "/users" and (params or {}).get("$expand"):
            assert params["$expand"].startswith("manager("), params
            assert len(found) <= 100, "Graph pages $expand on directory objects at 100"
            return [dict(doc, **self._expanded_manager(doc)) for doc in found if doc["id"] not in self.lagging]
        return [dict(doc) for doc in found]

    def _expanded_manager(self, doc):
        manager = self.users.get(self.managers.get(doc["id"], ""))
        return {"manager": {"id": manager["id"], "userPrincipalName": manager["userPrincipalName"]}} if manager else {}

    def get(self, path, params=None, headers=None, retry_not_found=0):
        status, body = self._serve("GET", path, None)
        if status >= 400:
            raise GraphError(status, "Request_ResourceNotFound", "not found")
        return body

    def batch(self, requests):
        self.http += (len(requests) + 19) // 20
        results = []
        failed = set()
        for request in requests:
            if any(dep in failed for dep in request.get("depends_on") or []):
                failed.add(request["id"])
                results.append(BatchResult(request["id"], 424, {"error": {"code": "Failed", "message": "dep"}}))
                continue
            status, body = self._serve(request["method"], request["url"], request.get("body"))
            if status >= 400:
                failed.add(request["id"])
            results.append(BatchResult(request["id"], status, body))
        return results

    def _find_user(self, key):
        key = key.split("?")[0]
        for doc in self.users.values():
            if doc["id"] == key or doc["userPrincipalName"].lower() == key.lower():
                return doc
        return None

    def _serve(self, method, url, body):
        self.bodies.append(body)
        path = url.split("?")[0]
        self.calls.append((method, path))
        not_found = (404, {"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist"}})
        parts = path.strip("/").split("/")
        alternate_key = re.match(r"groups\(uniqueName='(.*)'\)$", unquote(parts[0]))
        if alternate_key and method == "GET":
            name = alternate_key.group(1).replace("''", "'").lower()
            found = [g for g in self.groups.values() if (g.get("uniqueName") or "").lower() == name]
            return (200, dict(found[0])) if found else not_found
        if parts[0] == "users" and len(parts) == 1 and method == "POST":
            problem = passwords.password_problem(body["passwordProfile"]["password"])
            if problem:
                return 400, {"error": {"code": "Request_BadRequest", "message": "password complexity"}}
            doc = dict(body, id=str(uuid.uuid4()))
            self.password_of[doc["id"]] = doc.pop("passwordProfile")["password"]
            self.users[doc["id"]] = doc
            return 201, dict(doc)
        if parts[0] == "users":
            user = self._find_user(parts[1])
            if user is None:
                return not_found
            if len(parts) == 2 and method == "GET":
                return 200, dict(user)
            if len(parts) == 2 and method == "PATCH":
                body = dict(body)
                profile = body.pop("passwordProfile", None)
                if profile:
                    self.password_of[user["id"]] = profile["password"]
                user.update(body)
                return 204, None
            if len(parts) == 2 and method == "DELETE":
                self.soft_delete(user["id"])
                return 204, None
            if parts[2] == "manager":
                if method == "GET":
                    manager = self.users.get(self.managers.get(user["id"]))
                    return (200, dict(manager)) if manager else not_found
                if method == "PUT":
                    self.managers[user["id"]] = body["@odata.id"].rsplit("/", 1)[-1]
                    return 204, None
                if method == "DELETE":
                    self.managers.pop(user["id"], None)
                    return 204, None
            if parts[2] == "memberOf":
                return 200, {"value": [dict(g) for gid, g in self.groups.items() if user["id"] in self.members[gid]]}
        if parts[:2] == ["directory", "deletedItems"]:
            if parts[2] not in self.deleted:
                return not_found
            if method == "DELETE":
                del self.deleted[parts[2]]
                return 204, None
            doc = self.deleted.pop(parts[2])
            doc["userPrincipalName"] = doc["userPrincipalName"][32:]
            self.users[doc["id"]] = doc
            return 200, dict(doc)
        if parts[0] == "groups":
            members = self.members[parts[1]]
            if method == "POST":
                member = body["@odata.id"].rsplit("/", 1)[-1]
                if member in members:
                    return 400, {"error": {"code": "Request_BadRequest", "message": "already exist"}}
                members.add(member)
                return 204, None
            members.discard(parts[3])
            return 204, None
        raise AssertionError("unexpected %s %s" % (method, url))


def run(graph, items, check_mode=False, password_file=None):
    if password_file is None:
        password_file = os.path.join(tempfile.mkdtemp(), "passwords.jsonl")
    engine = users.UserEngine(graph, check_mode=check_mode, password_file=password_file or None)
    plans = engine.run(items)
    return engine, plans


def item(upn="alice@contoso.com", **options):
    options.setdefault("state", "present")
    options.setdefault("update_password", "on_create")
    return dict(user_principal_name=upn, **options)


# ---- passwords ---------------------------------------------------------------

def test_generated_passwords_meet_entra_rule_and_differ():
    generated = [passwords.generate_password() for _attempt in range(200)]
    assert all(passwords.password_problem(p) is None for p in generated)
    assert all(len(p) == passwords.GENERATED_LENGTH for p in generated)
    assert len(set(generated)) == 200
    for p in generated:
        assert any(c in string.ascii_lowercase for c in p)
        assert any(c in string.ascii_uppercase for c in p)
        assert any(c in string.digits for c in p)
        assert any(c in passwords.GENERATED_SYMBOLS for c in p)


@pytest.mark.parametrize("password, reason", [
    ("Ab1!", "shorter than 8"),
    ("A" * 120 + "b1!" * 50, "longer than 256"),
    ("alllowercase1", "only 2 of the 4"),
    ("ALLUPPER!!!!", "only 2 of the 4"),
    ("Pässwörd123!", "does not allow"),
])
def test_weak_passwords_are_refused_with_reason(password, reason):
    problem = passwords.password_problem(password)
    assert reason in problem
    assert password not in problem


@pytest.mark.parametrize("password", ["Passw0rd", "password1!", "PASSWORD1!", "Pass word!", "aB3$" * 64])
def test_passwords_with_three_classes_are_accepted(password):
    assert passwords.password_problem(password) is None


# ---- validation without the tenant -------------------------------------------

@pytest.mark.parametrize("options, field, fix", [
    (dict(upn="al ice@contoso.com"), "user_principal_name", "A-Z a-z 0-9"),
    (dict(upn="alice@@contoso.com"), "user_principal_name", "alias@domain"),
    (dict(upn=".alice@contoso.com"), "user_principal_name", "period"),
    (dict(upn="alice@contoso.com", mail_nickname="a" * 65), "mail_nickname", "longer than 64"),
    (dict(upn="alice@contoso.com", mail_nickname="a:b"), "mail_nickname", "ASCII letters"),
    (dict(upn="a" * 65 + "@contoso.com"), "user_principal_name", "longer than 64"),
    (dict(upn="alice@contoso.com", usage_location="UK"), "usage_location", "GB"),
    (dict(upn="alice@contoso.com", password="password"), "password", "3 of"),
    (dict(upn="alice@contoso.com", password_policies=["NeverExpire"]), "password_policies", "DisablePasswordExpiration"),
    (dict(upn="alice@contoso.com", on_premises_extension_attributes={"extensionAttribute1": "x"}),
     "on_premises_extension_attributes", "extension_attribute1"),
    (dict(upn="alice@contoso.com", groups={"set": ["a"], "add": ["b"]}), "groups", "either set"),
])
def test_bad_input_names_the_field_and_the_fix(options, field, fix):
    upn = options.pop("upn")
    problems = users.validate_item(item(upn, **options))
    assert len(problems) == 1
    assert field in problems[0] and fix in problems[0]


def test_valid_item_has_no_problems():
    assert users.validate_item(item("o'neil.j_x!#^~-1@contoso.com", usage_location="us", password="Sup3r!secret")) == []


def test_usage_location_error_names_the_standard_and_suggests_a_code():
    problem = users.validate_item(item(usage_location="XX"))[0]
    assert problem == ("usage_location 'XX' is not an ISO 3166-1 alpha-2 country code (two letters, such as US, "
                       "GB or DE)")
    assert users.validate_item(item(usage_location="USA"))[0].endswith("; did you mean US?")
    assert users.validate_item(item(usage_location="UK"))[0].endswith("; did you mean GB?")
    assert users.validate_item(item(usage_location="gb")) == []


def test_weak_password_message_does_not_leak_the_password():
    problem = users.validate_item(item(password="onlylowercaseletters"))[0]
    assert "onlylowercaseletters" not in problem


# ---- pure plan pieces ----------------------------------------------------------

def test_attribute_changes_only_for_given_options():
    doc = {"id": "1", "userPrincipalName": "alice@contoso.com", "displayName": "Alice", "department": "Sales",
           "jobTitle": "Rep", "businessPhones": ["+1 555"]}
    changes, before, after = users.attribute_changes(item(department="Marketing", display_name="Alice"), doc)
    assert changes == {"department": "Marketing"}
    assert before == {"department": "Sales"} and after == {"department": "Marketing"}


def test_empty_values_clear_and_left_out_options_are_left_alone():
    doc = {"id": "1", "userPrincipalName": "alice@contoso.com", "jobTitle": "Rep", "businessPhones": ["+1 555"],
           "department": "Sales"}
    changes, before, after = users.attribute_changes(item(job_title="", business_phones=[]), doc)
    assert changes == {"jobTitle": None, "businessPhones": []}
    assert before == {"job_title": "Rep", "business_phones": ["+1 555"]}
    assert after == {"job_title": None, "business_phones": []}


def test_clearing_an_empty_attribute_changes_nothing():
    doc = {"id": "1", "userPrincipalName": "alice@contoso.com", "jobTitle": None, "businessPhones": []}
    assert users.attribute_changes(item(job_title="", business_phones=[]), doc)[0] == {}


def test_password_policies_compare_as_a_set():
    doc = {"passwordPolicies": "DisableStrongPassword, DisablePasswordExpiration"}
    same = item(password_policies=["DisablePasswordExpiration", "DisableStrongPassword"])
    assert users.attribute_changes(same, doc)[0] == {}
    changes = users.attribute_changes(item(password_policies=[]), doc)[0]
    assert changes == {"passwordPolicies": None}
    assert users.parse_password_policies("None") == []


def test_extension_attributes_keep_the_ones_not_given():
    doc = {"onPremisesExtensionAttributes": {"extensionAttribute1": "A", "extensionAttribute2": "B"}}
    changes, before, after = users.attribute_changes(
        item(on_premises_extension_attributes={"extension_attribute2": "C", "extension_attribute1": "A"}), doc)
    sent = changes["onPremisesExtensionAttributes"]
    assert sent["extensionAttribute1"] == "A" and sent["extensionAttribute2"] == "C"
    assert len(sent) == 15
    assert before == {"on_premises_extension_attributes": {"extension_attribute2": "B"}}
    assert after == {"on_premises_extension_attributes": {"extension_attribute2": "C"}}


def test_usage_location_is_compared_upper_case():
    assert users.attribute_changes(item(usage_location="us"), {"usageLocation": "US"})[0] == {}


def test_create_body_derives_mail_nickname_and_defaults():
    body = users.create_body(item("j.doe@contoso.com", display_name="J Doe", job_title=""), "Secr3t!pw")
    assert body["mailNickname"] == "j.doe"
    assert body["accountEnabled"] is True
    assert body["passwordProfile"] == {"password": "Secr3t!pw", "forceChangePasswordNextSignIn": True,
                                       "forceChangePasswordNextSignInWithMfa": False}
    assert "jobTitle" not in body


def test_original_upn_of_a_deleted_user_undoes_graphs_renaming():
    user_id = "0f3c2a4e-1111-2222-3333-444455556666"
    deleted = {"id": user_id, "userPrincipalName": user_id.replace("-", "").upper() + "alice@contoso.com"}
    assert users.original_upn(deleted) == "alice@contoso.com"
    assert users.original_upn({"id": user_id, "userPrincipalName": "bob@contoso.com"}) == "bob@contoso.com"


def test_membership_set_leaves_dynamic_groups_alone():
    current = {"g1": {"id": "g1", "groupTypes": []}, "g2": {"id": "g2", "groupTypes": ["DynamicMembership"]},
               "g3": {"id": "g3", "groupTypes": []}}
    resolved = {"One": {"id": "g1"}, "Four": {"id": "g4"}}
    add, remove = users.membership_changes({"set": ["One", "Four"]}, current, resolved)
    assert add == ["g4"] and remove == ["g3"]
    add, remove = users.membership_changes({"add": ["One", "Four"], "remove": ["Four"]}, current, resolved)
    assert add == ["g4"] and remove == []


def test_user_to_options_is_feedable():
    doc = {"id": "1", "userPrincipalName": "a@contoso.com", "state": "WA", "passwordPolicies": "DisablePasswordExpiration",
           "onPremisesExtensionAttributes": {"extensionAttribute3": "x", "extensionAttribute4": None}}
    options = users.user_to_options(doc)
    assert options["state_province"] == "WA"
    assert "state" not in options
    assert options["password_policies"] == ["DisablePasswordExpiration"]
    assert options["on_premises_extension_attributes"] == {"extension_attribute3": "x"}


# ---- the engine on FakeGraph ------------------------------------------------------

def test_create_generates_a_strong_password_and_writes_once():
    graph = FakeGraph()
    _engine, plans = run(graph, [item(display_name="Alice")])
    plan = plans[0]
    assert plan.action == "created" and not plan.failed
    assert plan.generated and passwords.password_problem(plan.password) is None
    assert graph.password_of[plan.new_id] == plan.password
    assert graph.writes == [("POST", "/users")]
    created = graph.users[plan.new_id]
    assert created["mailNickname"] == "alice"


def test_check_mode_writes_nothing_and_predicts_the_object():
    graph = FakeGraph()
    engine, plans = run(graph, [item(display_name="Alice", department="Sales")], check_mode=True)
    assert plans[0].action == "created"
    assert graph.writes == [] and graph.users == {}
    predicted = engine.predicted_object(plans[0])
    assert predicted["department"] == "Sales" and predicted["user_principal_name"] == "alice@contoso.com"


def test_rerun_is_unchanged_and_on_create_password_is_not_written():
    graph = FakeGraph()
    graph.add_user("alice@contoso.com", displayName="Alice", department="Sales")
    _engine, plans = run(graph, [item(display_name="Alice", department="Sales", password="N3w!passw0rd")])
    assert plans[0].action == "unchanged"
    assert graph.writes == []


def test_update_password_always_writes_and_diff_masks_it():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com", displayName="Alice")
    _engine, plans = run(graph, [item(password="N3w!passw0rd", update_password="always")])
    plan = plans[0]
    assert plan.action == "updated"
    assert graph.password_of[doc["id"]] == "N3w!passw0rd"
    diff = attribute_diff(plan.before, plan.after, secret_keys=("password",))
    assert diff == {"before": {"password": "<unchanged>"}, "after": {"password": "<changed>"}}


def test_update_patches_only_the_changed_attribute():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com", displayName="Alice", department="Sales", city="Oslo")
    _engine, plans = run(graph, [item(display_name="Alice", department="Marketing", city="Oslo")])
    assert plans[0].action == "updated"
    assert plans[0].changes == {"department": "Marketing"}
    assert graph.writes == [("PATCH", "/users/" + doc["id"])]
    assert graph.users[doc["id"]]["department"] == "Marketing"


def test_unverified_domain_fails_before_any_write():
    graph = FakeGraph()
    _engine, plans = run(graph, [item("bob@unverified.com", display_name="Bob")])
    assert "not a verified domain" in plans[0].error and "contoso.com" in plans[0].error
    assert graph.writes == []


def test_unknown_manager_fails_before_any_write():
    graph = FakeGraph()
    _engine, plans = run(graph, [item(display_name="Alice", manager="nobody@contoso.com")])
    assert plans[0].error.startswith("manager: No user found for 'nobody@contoso.com'")
    assert graph.writes == []


def test_manager_set_change_and_remove():
    graph = FakeGraph()
    boss = graph.add_user("boss@contoso.com")
    other = graph.add_user("other@contoso.com")
    _engine, plans = run(graph, [item(display_name="Alice", manager="boss@contoso.com")])
    alice_id = plans[0].new_id
    assert graph.managers[alice_id] == boss["id"]
    _engine, plans = run(graph, [item(manager="boss@contoso.com")])
    assert plans[0].action == "unchanged"
    _engine, plans = run(graph, [item(manager=other["id"])])
    assert plans[0].action == "updated" and graph.managers[alice_id] == other["id"]
    assert plans[0].before == {"manager": "boss@contoso.com"} and plans[0].after == {"manager": "other@contoso.com"}
    _engine, plans = run(graph, [item(manager="")])
    assert plans[0].action == "updated" and alice_id not in graph.managers


def test_a_user_the_manager_list_read_misses_is_not_taken_for_one_without_a_manager():
    graph = FakeGraph()
    graph.add_user("boss@contoso.com")
    _engine, plans = run(graph, [item(display_name="Alice", manager="boss@contoso.com")])
    graph.lagging.add(plans[0].new_id)
    _engine, plans = run(graph, [item(manager="")])
    # Read on its own, the manager is there: removing it is a change, not "unchanged".
    assert ("GET", "/users/%s/manager" % plans[0].current["id"]) in graph.calls
    assert plans[0].action == "updated" and plans[0].before == {"manager": "boss@contoso.com"}


def test_manager_created_in_the_same_run():
    graph = FakeGraph()
    _engine, plans = run(graph, [item("alice@contoso.com", display_name="Alice", manager="boss@contoso.com"),
                                 item("boss@contoso.com", display_name="Boss")])
    assert [p.action for p in plans] == ["created", "created"]
    assert graph.managers[plans[0].new_id] == plans[1].new_id
    # Resolved from the run's own create: read once as an item of the task, never looked up again
    # (nor waited for) as a manager before it exists.
    assert graph.calls.count(("GET", "/users/boss@contoso.com")) == 1


def test_dynamic_group_is_refused_before_any_write():
    graph = FakeGraph()
    graph.add_group("All staff", dynamic=True)
    _engine, plans = run(graph, [item(display_name="Alice", groups={"add": ["All staff"]})])
    assert "dynamic membership group" in plans[0].error and "groups.add" in plans[0].error
    assert graph.writes == []


def test_groups_add_remove_and_set():
    graph = FakeGraph()
    sales = graph.add_group("Sales")
    hr = graph.add_group("HR")
    _engine, plans = run(graph, [item(display_name="Alice", groups={"add": ["Sales", hr["id"]]})])
    alice = plans[0].new_id
    assert alice in graph.members[sales["id"]] and alice in graph.members[hr["id"]]
    _engine, plans = run(graph, [item(groups={"add": ["Sales"]})])
    assert plans[0].action == "unchanged"
    _engine, plans = run(graph, [item(groups={"set": ["HR"]})])
    assert plans[0].action == "updated"
    assert plans[0].before["groups"] == ["HR", "Sales"] and plans[0].after["groups"] == ["HR"]
    assert alice not in graph.members[sales["id"]] and alice in graph.members[hr["id"]]


def test_absent_soft_deletes_and_permanent_purges():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com")
    _engine, plans = run(graph, [item(state="absent")])
    assert plans[0].action == "deleted" and doc["id"] in graph.deleted
    _engine, plans = run(graph, [item(state="absent")])
    assert plans[0].action == "unchanged"
    _engine, plans = run(graph, [item(state="absent", permanent=True)])
    assert plans[0].action == "deleted" and graph.deleted == {}


def test_present_restores_a_deleted_user_then_updates_it():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com", displayName="Alice", department="Sales")
    graph.soft_delete(doc["id"])
    _engine, plans = run(graph, [item(display_name="Alice", department="Marketing")])
    assert plans[0].action == "restored"
    assert graph.writes == [("POST", "/directory/deletedItems/%s/restore" % doc["id"]), ("PATCH", "/users/" + doc["id"])]
    assert graph.users[doc["id"]]["userPrincipalName"] == "alice@contoso.com"
    assert graph.users[doc["id"]]["department"] == "Marketing"


def test_bulk_reads_once_and_one_failure_does_not_stop_the_rest():
    graph = FakeGraph()
    for n in range(30):
        graph.add_user("user%02d@contoso.com" % n, displayName="User %d" % n)
    items = [item("user%02d@contoso.com" % n, display_name="User %d" % n) for n in range(30)]
    items[3]["display_name"] = "Renamed"
    items.append(item("new@contoso.com", display_name="New", password="weak"))
    items.append(item("new2@contoso.com", display_name="New 2"))
    graph.calls = []
    _engine, plans = run(graph, items)
    reads = [c for c in graph.calls if c[0] == "GET"]
    assert reads == [("GET", "/domains"), ("GET", "/users"), ("GET", "/directory/deletedItems/microsoft.graph.user")]
    actions = [p.action for p in plans]
    assert actions.count("unchanged") == 29 and actions[3] == "updated"
    assert plans[30].failed and "password is too weak" in plans[30].error
    assert plans[31].action == "created"
    assert not any(u["userPrincipalName"] == "new@contoso.com" for u in graph.users.values())


def test_duplicate_keys_in_bulk_fail_the_repeat():
    graph = FakeGraph()
    _engine, plans = run(graph, [item(display_name="A"), item("ALICE@contoso.com", display_name="B")])
    assert not plans[0].failed and "more than once" in plans[1].error


def test_create_by_id_only_is_refused():
    graph = FakeGraph()
    plans = run(graph, [dict(id=str(uuid.uuid4()), state="present", display_name="X")])[1]
    assert "leave id out to create the user by user_principal_name" in plans[0].error
    assert graph.writes == []


def test_an_unknown_id_with_a_new_upn_fails_and_never_creates():
    graph = FakeGraph()
    plans = run(graph, [item("new@contoso.com", id=str(uuid.uuid4()), display_name="X")])[1]
    assert plans[0].failed and "no user has id" in plans[0].error
    assert graph.writes == []


def test_a_user_managing_itself_fails_before_any_write():
    graph = FakeGraph()
    graph.add_user("alice@contoso.com", displayName="Alice")
    plans = run(graph, [item(job_title="Boss", manager="ALICE@contoso.com")])[1]
    assert plans[0].failed and "cannot be their own manager" in plans[0].error
    assert graph.writes == []


def test_more_than_one_business_phone_fails_before_any_write():
    graph = FakeGraph()
    plans = run(graph, [item(display_name="A", business_phones=["+1 555 0100", "+1 555 0101"])])[1]
    assert plans[0].failed and "only one business phone" in plans[0].error
    assert graph.writes == []


def test_manager_and_group_links_name_objects_on_the_clients_own_graph_host():
    graph = FakeGraph()
    boss = graph.add_user("boss@contoso.com", displayName="Boss")
    sales = graph.add_group("Sales")
    run(graph, [item(display_name="Alice", manager="boss@contoso.com", groups={"add": ["Sales"]})])
    sent = [body["@odata.id"] for body in graph.bodies if body and "@odata.id" in body]
    assert len(sent) == 2 and sales["id"] in graph.members
    assert "https://graph.microsoft.us/v1.0/directoryObjects/" + boss["id"] in sent
    assert all(url.startswith("https://graph.microsoft.us/v1.0/directoryObjects/") for url in sent)


def test_rename_by_id():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com")
    _engine, plans = run(graph, [dict(id=doc["id"], user_principal_name="alice.smith@contoso.com", state="present")])
    assert plans[0].action == "updated"
    assert graph.users[doc["id"]]["userPrincipalName"] == "alice.smith@contoso.com"


def test_failed_write_is_reported_with_context():
    graph = FakeGraph()
    plans = run(graph, [item(display_name="Alice", password="Aa1!aaaa"), item("b@contoso.com", display_name="B")])[1]
    assert not plans[0].failed  # meets the rule
    graph2 = FakeGraph()
    graph2.add_group("Sales")
    plans = run(graph2, [item(display_name="Alice", groups={"add": ["Nope"]})])[1]
    assert "No group found for 'Nope'" in plans[0].error


def test_disable_strong_password_lifts_only_the_class_rule():
    relaxed = item(password="lowercaseonly", password_policies=["DisableStrongPassword"])
    assert users.validate_item(relaxed) == []
    too_short = item(password="short", password_policies=["DisableStrongPassword"])
    assert "shorter than 8" in users.validate_item(too_short)[0]


def test_check_mode_restore_is_predicted_without_writes():
    graph = FakeGraph()
    doc = graph.add_user("alice@contoso.com", displayName="Alice")
    graph.soft_delete(doc["id"])
    engine, plans = run(graph, [item(display_name="Alice", job_title="Boss")], check_mode=True)
    assert plans[0].action == "restored" and graph.writes == []
    predicted = engine.predicted_object(plans[0])
    assert predicted["user_principal_name"] == "alice@contoso.com" and predicted["job_title"] == "Boss"


def test_bulk_restore_finds_deleted_users_with_one_read():
    graph = FakeGraph()
    docs = [graph.add_user("user%02d@contoso.com" % n, displayName="User %d" % n) for n in range(25)]
    for doc in docs[:5]:
        graph.soft_delete(doc["id"])
    graph.calls = []
    _engine, plans = run(graph, [item("user%02d@contoso.com" % n, display_name="User %d" % n) for n in range(25)])
    assert [p.action for p in plans].count("restored") == 5
    assert [c for c in graph.calls if c[0] == "GET"].count(("GET", "/directory/deletedItems/microsoft.graph.user")) == 1
    assert len(graph.users) == 25 and graph.deleted == {}


def test_check_mode_predicts_a_creation_without_a_password_file():
    graph = FakeGraph()
    _engine, plans = run(graph, [item(display_name="Alice")], check_mode=True, password_file="")
    assert plans[0].action == "created" and not plans[0].failed and graph.writes == []


# ---- the password file ---------------------------------------------------------

def password_lines(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def test_generated_and_given_passwords_go_to_the_password_file_once_never_to_results(tmp_path):
    graph = FakeGraph()
    path = str(tmp_path / "pw.jsonl")
    bob = graph.add_user("bob@contoso.com")
    engine, plans = run(graph, [item(display_name="Alice"),
                                item("bob@contoso.com", password="N3w!passw0rd", update_password="always")],
                        password_file=path)
    lines = password_lines(path)
    assert [(r["user_principal_name"], r["action"]) for r in lines] == [
        ("alice@contoso.com", "created"), ("bob@contoso.com", "updated")]
    assert lines[0]["password"] == graph.password_of[plans[0].new_id] and lines[0]["id"] == plans[0].new_id
    assert lines[1]["password"] == "N3w!passw0rd" and lines[1]["id"] == bob["id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", lines[0]["time"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    run(graph, [item(display_name="Alice")], password_file=path)
    assert len(password_lines(path)) == 2  # nothing set on the second run, nothing appended


def test_a_generated_password_without_password_file_fails_before_any_write():
    graph = FakeGraph()
    _engine, plans = run(graph, [item(display_name="Alice")], password_file="")
    assert plans[0].failed and "set password_file" in plans[0].error
    assert graph.writes == []


def test_an_unsafe_or_unreachable_password_file_is_refused_before_any_write(tmp_path):
    graph = FakeGraph()
    shared = tmp_path / "shared.jsonl"
    shared.write_text("")
    shared.chmod(0o644)
    for path, words in ((str(shared), "mode 0644"), (str(tmp_path / "nope" / "pw.jsonl"), "does not exist")):
        with pytest.raises(passwords.PasswordFileError, match=words):
            run(graph, [item(display_name="Alice")], password_file=path)
    assert graph.writes == []
