"""Signing in without a secret, through ansible-playbook against the sandbox (issue 15).

The connection comes only from the environment of ansible-playbook's process, as the platform sets it:
the AKS workload identity webhook's AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_FEDERATED_TOKEN_FILE, or
App Service's IDENTITY_ENDPOINT / IDENTITY_HEADER. The plays carry no connection options (beyond the
sandbox's host and CA, which a real tenant does not need); results are checked through Graph.
"""
import hashlib
import re
import uuid

import requests

# A JSON Web Token: two base64url JSON segments ("eyJ" is '{"') and a signature.
JWT = re.compile(r"eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]+")


def federated_token(sandbox, app_name="m365-cloud-identity", **overrides):
    body = dict(client_id=sandbox.app(app_name)["client_id"], **overrides)
    response = requests.post(sandbox.conn["federation"]["token_url"], json=body, verify=sandbox.conn["ca_path"], timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def sandbox_location(sandbox):
    """Where the sandbox is: in a real tenant the cloud's defaults make these unnecessary."""
    return {"AZURE_AUTHORITY_HOST": sandbox.conn["authority_host"], "M365_GRAPH_ENDPOINT": sandbox.conn["graph_endpoint"],
            "M365_CA_PATH": sandbox.conn["ca_path"]}


def workload_identity_env(sandbox, token_file):
    env = {"AZURE_CLIENT_ID": sandbox.app("m365-cloud-identity")["client_id"], "AZURE_TENANT_ID": sandbox.conn["tenant_id"],
           "AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
    env.update(sandbox_location(sandbox))
    return env


def assert_no_secret_in(output, *secrets):
    for secret in secrets:
        assert secret not in output
    assert not JWT.search(output), "a JWT appears in the output: %s" % JWT.search(output).group(0)[:20]


def info_task(**options):
    return {"name": "info", "m365.cloud_identity.aad_user_info": dict(user_principal_name="ada.admin@contoso.com", **options),
            "register": "info"}


def group_task(name, **options):
    return {"name": "group", "m365.cloud_identity.aad_group": dict(display_name=name, unique_name=name, **options),
            "register": "group"}


def one_group(graph, name):
    (group,) = graph.list("/groups", select="id,displayName", filter="displayName eq '%s'" % name)
    return group


def test_workload_identity_federation_with_a_rotated_token_file(sandbox, graph, run_play, tmp_path):
    first, second = federated_token(sandbox), federated_token(sandbox)
    token_file, rotated = tmp_path / "azure-identity-token", tmp_path / "rotated-token"
    token_file.write_text(first)
    rotated.write_text(second)
    name = "wif-%s" % uuid.uuid4().hex[:8]
    sandbox.reset_counters()
    play = run_play([
        info_task(),
        # The platform rotates the projected token between two tasks.
        {"name": "rotate", "ansible.builtin.copy": {"src": str(rotated), "dest": str(token_file), "mode": "0600"}},
        group_task(name),
    ], env=workload_identity_env(sandbox, token_file), connection=False, verbosity=4)
    assert play.task("info").status == "ok"
    assert [user["user_principal_name"] for user in play.task("info").result["users"]] == ["ada.admin@contoso.com"]
    assert play.task("group").status == "changed"
    assert one_group(graph, name)["displayName"] == name
    # Each task's module read the file anew: the sandbox accepted the first token, then the rotated one.
    assert sandbox.counters()["federated_assertions"] == [fingerprint(first), fingerprint(second)]
    assert_no_secret_in(play.output, first, second)


def test_managed_identity_through_the_app_service_endpoint(sandbox, graph, run_play):
    identity = sandbox.conn["managed_identity"]
    env = {"IDENTITY_ENDPOINT": identity["IDENTITY_ENDPOINT"], "IDENTITY_HEADER": identity["IDENTITY_HEADER"],
           "M365_AUTH": "managed_identity"}
    env.update(sandbox_location(sandbox))
    name = "mi-%s" % uuid.uuid4().hex[:8]
    reader = sandbox.app("m365-reader-identity")["client_id"]
    play = run_play([
        info_task(),
        group_task(name),
        # The user-assigned identity may only read: the same write as that identity is refused.
        dict(group_task(name + "-ro", managed_identity_client_id=reader), name="read-only", ignore_errors=True),
    ], env=env, connection=False, verbosity=4)
    assert [user["user_principal_name"] for user in play.task("info").result["users"]] == ["ada.admin@contoso.com"]
    assert play.task("group").status == "changed"
    assert one_group(graph, name)["displayName"] == name
    refused = play.task("read-only")
    assert refused.status == "failed" and refused.result["status"] == 403
    assert graph.list("/groups", select="id", filter="displayName eq '%s-ro'" % name) == []
    assert_no_secret_in(play.output, identity["IDENTITY_HEADER"])


def test_refused_federated_tokens_name_the_aadsts_code_and_the_fix(sandbox, run_play, tmp_path):
    tokens = {
        "wrong audience": federated_token(sandbox, audience="api://AzureADMyOrg"),
        "expired": federated_token(sandbox, expires_in=-3600),
        "another app": federated_token(sandbox, "m365-reader"),
    }
    tasks = []
    for label, token in tokens.items():
        path = tmp_path / label.replace(" ", "-")
        path.write_text(token)
        tasks.append(dict(info_task(federated_token_file=str(path)), name=label, ignore_errors=True))
    tasks.append(dict(info_task(client_secret="not-a-real-secret"), name="two credentials", ignore_errors=True))
    good = tmp_path / "good-token"
    good.write_text(federated_token(sandbox))
    play = run_play(tasks, env=workload_identity_env(sandbox, good), connection=False, verbosity=4)

    expected = {
        "wrong audience": ("AADSTS700212", "api://AzureADTokenExchange"),
        "expired": ("AADSTS700024", "has expired"),
        "another app": ("AADSTS700213", "issued for another workload or app"),
    }
    for label, (code, fix) in expected.items():
        task = play.task(label)
        assert task.status == "failed", label
        assert code in task.result["msg"] and fix in task.result["msg"], task.result["msg"]
    conflict = play.task("two credentials").result["msg"]
    assert conflict.startswith("More than one credential is configured")
    assert "client_secret" in conflict and "federated_token_file" in conflict and "M365_AUTH" in conflict
    assert_no_secret_in(play.output, *tokens.values())
    assert "not-a-real-secret" not in play.output
