"""The module wrapper: results, diffs, summaries and failures as a playbook sees them."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.m365.cloud_identity.plugins.module_utils import graph_module
from ansible_collections.m365.cloud_identity.plugins.module_utils.graph_module import GraphModule
from ansible_collections.m365.cloud_identity.plugins.module_utils.results import (
    PERMISSION_HINT,
    attribute_diff,
    failed_item,
    item_result,
    items_outcome,
    summarize,
)

CONNECTION = {"tenant_id": "tenant-1", "client_id": "client-1"}
SECRET = "s3cr3t-value-never-shown"


def graph_error(message, status=None, code=None, request_id=None, context=None):
    return graph_module.GraphError(status=status, code=code, message=message, request_id=request_id,
                                   context=context)


def run_module(args, main, capsys, argument_spec=None):
    """Run GraphModule(...).run(main) and return (exit code, JSON result)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            GraphModule(argument_spec or {}).run(main)
    return exited.value.code, json.loads(capsys.readouterr().out)


# --- attribute_diff --------------------------------------------------------


def test_diff_lists_only_the_attributes_that_change():
    before = {"displayName": "Alice", "department": "Sales", "jobTitle": "Rep"}
    after = {"displayName": "Alice", "department": "Finance", "jobTitle": "Rep"}
    assert attribute_diff(before, after) == {
        "before": {"department": "Sales"},
        "after": {"department": "Finance"},
    }


def test_diff_of_a_new_object_has_an_empty_before():
    diff = attribute_diff({}, {"displayName": "Alice", "usageLocation": "US"})
    assert diff == {"before": {}, "after": {"displayName": "Alice", "usageLocation": "US"}}


def test_diff_of_identical_objects_is_empty():
    assert attribute_diff({"a": [1, 2]}, {"a": [1, 2]}) == {"before": {}, "after": {}}


def test_diff_masks_a_secret_that_will_be_set():
    diff = attribute_diff({"displayName": "Alice"}, {"displayName": "Alice", "password": SECRET},
                          secret_keys=("password",))
    assert diff == {"before": {}, "after": {"password": "<changed>"}}
    assert SECRET not in json.dumps(diff)


def test_diff_never_shows_an_old_secret_value():
    diff = attribute_diff({"password": "old-" + SECRET}, {"password": SECRET}, secret_keys=("password",))
    assert diff == {"before": {"password": "<unchanged>"}, "after": {"password": "<changed>"}}
    assert SECRET not in json.dumps(diff)


def test_diff_leaves_out_a_secret_that_is_not_set():
    diff = attribute_diff({"password": "x"}, {"password": None}, secret_keys=("password",))
    assert diff == {"before": {}, "after": {}}


# --- item_result and summarize ---------------------------------------------


@pytest.mark.parametrize("action, changed", [
    ("created", True), ("updated", True), ("restored", True), ("deleted", True),
    ("invited", True), ("unchanged", False), ("failed", False),
])
def test_item_changed_follows_its_action(action, changed):
    assert item_result("alice@contoso.com", action)["changed"] is changed


def test_item_carries_object_diff_error_and_extras():
    item = item_result("alice", "created", obj={"id": "1"}, diff={"before": {}, "after": {"a": 1}},
                       generated_password="pw")
    assert item == {"key": "alice", "action": "created", "changed": True, "object": {"id": "1"},
                    "diff": {"before": {}, "after": {"a": 1}}, "error": None, "generated_password": "pw"}


def test_summary_counts_every_action_including_zeroes():
    results = [item_result("a", "created"), item_result("b", "created"), item_result("c", "unchanged"),
               item_result("d", "failed", error="boom"), item_result("e", "invited")]
    assert summarize(results) == {"created": 2, "updated": 0, "restored": 0, "unchanged": 1,
                                  "deleted": 0, "failed": 1, "invited": 1, "not_attempted": 0}


def test_failed_item_from_graph_error_keeps_status_code_and_request_id():
    error = graph_error("Insufficient privileges to complete the operation.", status=403,
                        code="Authorization_RequestDenied", request_id="req-1",
                        context="create user bob@contoso.com")
    item = failed_item("bob@contoso.com", error)
    assert item["action"] == "failed" and item["changed"] is False
    assert item["error"] == ("Failed to create user bob@contoso.com: "
                             "Insufficient privileges to complete the operation." + PERMISSION_HINT)
    assert (item["status"], item["code"], item["request_id"]) == (403, "Authorization_RequestDenied", "req-1")


def test_only_a_403_carries_the_permission_hint():
    error = graph_error("Resource 'x' does not exist.", status=404, code="Request_ResourceNotFound",
                        context="update user x@contoso.com")
    assert failed_item("x@contoso.com", error)["error"] == "Failed to update user x@contoso.com: Resource 'x' does not exist."


def test_failed_item_from_a_validation_error():
    item = failed_item("Sales", ValueError("group 'Sales' is ambiguous: ids 1, 2"))
    assert item["error"] == "group 'Sales' is ambiguous: ids 1, 2"


# --- items_outcome: single and list forms ----------------------------------


def test_single_form_returns_the_object_action_diff_and_extras():
    diff = {"before": {}, "after": {"displayName": "Alice"}}
    item = item_result("alice", "created", obj={"id": "1"}, diff=diff, generated_password="pw")
    result, failure = items_outcome([item], "user", single=True)
    assert failure is None
    assert result == {"changed": True, "action": "created", "user": {"id": "1"}, "diff": diff,
                      "generated_password": "pw"}


def test_single_form_unchanged_is_not_changed():
    result, failure = items_outcome([item_result("alice", "unchanged", obj={"id": "1"})], "user", single=True)
    assert failure is None
    assert result["changed"] is False and result["action"] == "unchanged"


def test_single_form_failure_uses_the_item_error():
    item = failed_item("bob", graph_error("nope", status=400, code="Request_BadRequest",
                                          request_id="r", context="create user bob"))
    result, failure = items_outcome([item], "user", single=True)
    assert failure == "Failed to create user bob: nope"
    assert (result["status"], result["code"], result["request_id"]) == (400, "Request_BadRequest", "r")


def test_list_form_returns_changed_items_and_a_summary_of_all_with_objects_named():
    items = [item_result("a", "created", obj={"id": "1"}), item_result("b", "unchanged", obj={"id": "2"})]
    result, failure = items_outcome(items, "group", single=False)
    assert failure is None
    assert result["changed"] is True
    assert [r["group"] for r in result["results"]] == [{"id": "1"}]
    everything = items_outcome(items, "group", single=False, return_unchanged=True)[0]
    assert [r["group"] for r in everything["results"]] == [{"id": "1"}, {"id": "2"}]
    assert all("object" not in r for r in result["results"])
    assert result["summary"]["created"] == 1 and result["summary"]["unchanged"] == 1


def test_list_form_failure_lists_every_failed_key_and_keeps_all_results():
    items = [item_result("a", "created"), item_result("b", "failed", error="quota exceeded"),
             item_result("c", "failed", error="bad name")]
    result, failure = items_outcome(items, "user", single=False)
    assert failure == "2 of 3 users failed: b: quota exceeded; c: bad name; 1 changed (see results)"
    assert [r["key"] for r in result["results"]] == ["a", "b", "c"]
    assert result["changed"] is True


def test_list_form_shows_item_diffs_only_in_diff_mode():
    diff = {"before": {"a": 1}, "after": {"a": 2}}
    items = [item_result("x", "updated", diff=diff), item_result("y", "unchanged", diff=None)]
    assert items_outcome(items, "user", single=False, with_diff=True)[0]["diff"] == [
        dict(diff, before_header="x (before)", after_header="x (after)")]
    assert "diff" not in items_outcome(items, "user", single=False)[0]


# --- GraphModule as a task sees it -----------------------------------------


def test_missing_credential_names_both_options_and_their_env_vars(capsys, monkeypatch):
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(name, raising=False)
    code, result = run_module(dict(CONNECTION), lambda graph: {"changed": False}, capsys)
    assert code == 1 and result["failed"] is True
    for word in ("client_secret", "AZURE_CLIENT_SECRET", "client_certificate_path",
                 "AZURE_CLIENT_CERTIFICATE_PATH"):
        assert word in result["msg"]


def test_secret_and_certificate_together_are_refused(capsys, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    code, result = run_module(dict(CONNECTION, client_certificate_path="/tmp/app.pem"),
                              lambda graph: {"changed": False}, capsys)
    assert code == 1
    assert "client_secret" in result["msg"] and "client_certificate_path" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_a_federated_token_file_and_a_secret_together_need_auth(capsys, monkeypatch):
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token")
    code, result = run_module(dict(CONNECTION, client_secret=SECRET), lambda graph: {"changed": False}, capsys)
    assert code == 1
    assert result["msg"].startswith("More than one credential is configured")
    assert "AZURE_FEDERATED_TOKEN_FILE" in result["msg"] and "M365_AUTH" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_auth_chooses_among_configured_credentials(capsys, monkeypatch):
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
    monkeypatch.setenv("M365_AUTH", "client_secret")
    code, result = run_module(dict(CONNECTION, client_secret=SECRET),
                              lambda graph: {"changed": False, "auth": graph.client.auth}, capsys)
    assert code == 0 and result["auth"] == "client_secret"


def test_managed_identity_needs_no_tenant_or_client_id(capsys, monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    code, result = run_module({"auth": "managed_identity"},
                              lambda graph: {"changed": False, "auth": graph.client.auth}, capsys)
    assert code == 0 and result["auth"] == "managed_identity"


def test_a_federated_token_without_tenant_id_names_it(capsys, monkeypatch):
    monkeypatch.delenv("AZURE_TENANT_ID", raising=False)
    code, result = run_module({"client_id": "client-1", "federated_token_file": "/var/run/token"},
                              lambda graph: {"changed": False}, capsys)
    assert code == 1
    assert result["msg"] == "tenant_id is required to sign in with federated_token: set tenant_id (or AZURE_TENANT_ID)."


def test_connection_options_fall_back_to_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", "env-tenant")
    monkeypatch.setenv("AZURE_CLIENT_ID", "env-client")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("M365_GRAPH_ENDPOINT", "https://127.0.0.1:9")

    def main(graph):
        params = graph.connection_params()
        return {"changed": False, "seen": [params["tenant_id"], params["client_id"],
                                           params["graph_endpoint"], params["cloud"], params["timeout"]],
                "has_secret": params["client_secret"] == SECRET}

    code, result = run_module({}, main, capsys)
    assert code == 0
    assert result["seen"] == ["env-tenant", "env-client", "https://127.0.0.1:9", "public", 60]
    assert result["has_secret"] is True


def test_graph_error_fails_once_with_context_status_code_and_request_id(capsys):
    def main(graph):
        raise graph_error("Another object with the same value for property userPrincipalName "
                          "already exists.", status=400, code="Request_BadRequest",
                          request_id="abc-123", context="create user alice@contoso.com")

    code, result = run_module(dict(CONNECTION, client_secret=SECRET), main, capsys)
    assert code == 1
    assert result["msg"] == ("Failed to create user alice@contoso.com: Another object with the same "
                             "value for property userPrincipalName already exists.")
    assert (result["status"], result["code"], result["request_id"]) == (400, "Request_BadRequest", "abc-123")
    assert "Traceback" not in json.dumps(result)


def test_secret_is_masked_in_results(capsys):
    code, result = run_module(dict(CONNECTION, client_secret=SECRET),
                              lambda graph: {"changed": False, "echo": "secret is " + SECRET}, capsys)
    assert code == 0
    assert SECRET not in json.dumps(result)


def test_missing_client_library_gives_install_hint(capsys, monkeypatch):
    monkeypatch.setattr(graph_module, "GRAPH_CLIENT_IMPORT_ERROR", ModuleNotFoundError("No module named 'msal'",
                                                                                       name="msal"))
    monkeypatch.setattr(graph_module, "GRAPH_CLIENT_IMPORT_TRACEBACK", "Traceback: no msal")
    code, result = run_module(dict(CONNECTION, client_secret=SECRET), lambda graph: graph.client, capsys)
    assert code == 1
    assert "msal" in result["msg"] and "Failed to import" in result["msg"]


def test_list_failure_fails_the_task_and_still_returns_results(capsys):
    def main(graph):
        items = [item_result("a", "created", obj={"id": "1"}), item_result("b", "failed", error="bad")]
        return graph.finish(items, "user", single=False)

    code, result = run_module(dict(CONNECTION, client_secret=SECRET), main, capsys)
    assert code == 1
    assert result["msg"] == "1 of 2 users failed: b: bad; 1 changed (see results)"
    assert [r["action"] for r in result["results"]] == ["created", "failed"]
    assert result["changed"] is True


# --- environment fallbacks (AWX credentials) --------------------------------

CONNECTION_ENV = ("AZURE_TENANT_ID", "AZURE_TENANT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SECRET",
                  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLOUD",
                  "AZURE_CLOUD_ENVIRONMENT", "AZURE_AUTHORITY_HOST", "M365_GRAPH_ENDPOINT", "M365_CA_PATH",
                  "M365_AUTH", "AZURE_FEDERATED_TOKEN_FILE", "M365_MANAGED_IDENTITY_CLIENT_ID")


def connection_seen(capsys, monkeypatch, environment, args=None):
    """Run a module with only `environment` among the connection variables; return its params or result."""
    for name in CONNECTION_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    def main(graph):
        params = graph.connection_params()
        public = dict((key, value) for key, value in params.items()
                      if key not in ("client_secret", "client_certificate_password"))
        secret_is = "the secret" if params["client_secret"] == SECRET else params["client_secret"]
        return {"changed": False, "params": public, "secret_is": secret_is}

    return run_module(args or {}, main, capsys)


def test_awx_azure_resource_manager_credential_variables_are_accepted(capsys, monkeypatch):
    code, result = connection_seen(capsys, monkeypatch, {
        "AZURE_TENANT": "arm-tenant", "AZURE_CLIENT_ID": "arm-client", "AZURE_SECRET": SECRET,
        "AZURE_SUBSCRIPTION_ID": "", "AZURE_CLOUD_ENVIRONMENT": "AzureUSGovernment"})
    assert code == 0, result
    assert result["params"]["tenant_id"] == "arm-tenant"
    assert result["params"]["client_id"] == "arm-client"
    assert result["params"]["cloud"] == "usgov"
    assert result["secret_is"] == "the secret"
    assert SECRET not in json.dumps(result)


@pytest.mark.parametrize("azure_name, cloud", [("AzureCloud", "public"), ("AzureChinaCloud", "china"),
                                               ("AzureUSGovernment", "usgov")])
def test_azure_cloud_environment_names_map_to_clouds(capsys, monkeypatch, azure_name, cloud):
    code, result = connection_seen(capsys, monkeypatch, {"AZURE_CLOUD_ENVIRONMENT": azure_name},
                                   args=dict(CONNECTION, client_secret=SECRET))
    assert code == 0, result
    assert result["params"]["cloud"] == cloud


def test_azure_cloud_wins_over_azure_cloud_environment(capsys, monkeypatch):
    code, result = connection_seen(capsys, monkeypatch, {"AZURE_CLOUD": "usgov_dod",
                                                         "AZURE_CLOUD_ENVIRONMENT": "AzureUSGovernment"},
                                   args=dict(CONNECTION, client_secret=SECRET))
    assert code == 0, result
    assert result["params"]["cloud"] == "usgov_dod"


def test_an_unknown_azure_cloud_name_is_refused_by_name(capsys, monkeypatch):
    code, result = connection_seen(capsys, monkeypatch, {"AZURE_CLOUD_ENVIRONMENT": "AzureGermanCloud"},
                                   args=dict(CONNECTION, client_secret=SECRET))
    assert code == 1
    assert "cloud" in result["msg"] and "AzureGermanCloud" in result["msg"]


def test_the_collection_names_win_over_the_azure_resource_manager_names(capsys, monkeypatch):
    code, result = connection_seen(capsys, monkeypatch, {
        "AZURE_TENANT_ID": "own-tenant", "AZURE_TENANT": "arm-tenant", "AZURE_CLIENT_ID": "client",
        "AZURE_CLIENT_SECRET": SECRET, "AZURE_SECRET": "other-secret"})
    assert code == 0, result
    assert result["params"]["tenant_id"] == "own-tenant"
    assert result["secret_is"] == "the secret"


def test_empty_environment_values_count_as_unset(capsys, monkeypatch):
    # What an AWX credential with empty fields injects.
    code, result = connection_seen(capsys, monkeypatch, {
        "AZURE_TENANT_ID": "", "AZURE_TENANT": "arm-tenant", "AZURE_CLIENT_ID": "client",
        "AZURE_CLIENT_SECRET": "", "AZURE_SECRET": SECRET, "AZURE_CLIENT_CERTIFICATE_PATH": "",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": "", "AZURE_CLOUD": "", "AZURE_CLOUD_ENVIRONMENT": "",
        "AZURE_AUTHORITY_HOST": "", "M365_GRAPH_ENDPOINT": "", "M365_CA_PATH": ""})
    assert code == 0, result
    params = result["params"]
    assert params["tenant_id"] == "arm-tenant"
    assert params["cloud"] == "public"
    assert result["secret_is"] == "the secret"
    for name in ("client_certificate_path", "authority_host", "graph_endpoint", "ca_path"):
        assert params[name] is None, name


def test_an_empty_tenant_in_the_environment_is_reported_missing(capsys, monkeypatch):
    code, result = connection_seen(capsys, monkeypatch, {"AZURE_TENANT_ID": "", "AZURE_CLIENT_ID": "client",
                                                         "AZURE_CLIENT_SECRET": SECRET})
    assert code == 1
    assert "tenant_id" in result["msg"]


def test_a_failed_item_that_was_partly_written_counts_as_changed():
    item = failed_item("alice", ValueError("manager: not found"), written=True)
    result, failure = items_outcome([item, item_result("bob", "unchanged")], "user", single=False)
    assert result["changed"] is True and [r["key"] for r in result["results"]] == ["alice"]
    assert failure.startswith("1 of 2 users failed: alice: manager: not found")


def test_items_the_task_never_sent_are_named_not_attempted():
    items = [failed_item("a", ValueError("network gone"), written=True),
             failed_item("b", ValueError("network gone"), not_attempted=True)]
    result, failure = items_outcome(items, "user", single=False)
    assert [r["action"] for r in result["results"]] == ["failed", "not_attempted"]
    assert result["summary"]["not_attempted"] == 1 and result["changed"] is True
    assert "b: not attempted: network gone" in failure
