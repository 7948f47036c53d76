"""AWX credentials: a module runs with nothing but the environment an AWX credential injects.

AWX (and Ansible Automation Platform) hands a job its credentials as environment
variables and files. These tests render (a) the collection's credential type
(extensions/awx/credential_type/) and (b) AWX's built-in "Microsoft Azure Resource
Manager" credential for the sandbox's values, the way AWX does, then run a module
with exactly that environment: no connection option in the play, unless the
credential cannot carry it (the built-in one has no field for the sandbox's hosts).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = REPO_ROOT / "extensions" / "awx" / "credential_type"
COLLECTIONS_PATH = REPO_ROOT / ".build" / "collections"
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SEEDED_USER = "ada.admin@contoso.com"
KEY_PASSWORD = "pem-pass-phrase-never-shown"


class TowerNamespace(object):
    """AWX's `tower` template namespace: tower.filename.<label> is the path of a rendered file."""


def validate_inputs(inputs_schema, values):
    """What AWX checks when a credential is saved: required fields, known fields, choices."""
    fields = dict((field["id"], field) for field in inputs_schema["fields"])
    for name in inputs_schema.get("required", []):
        assert values.get(name), "AWX refuses the credential: %s is required" % name
    for name, value in values.items():
        assert name in fields, "AWX refuses the credential: no field %s" % name
        choices = fields[name].get("choices")
        if choices and value:
            assert value in choices, "AWX refuses the credential: %s must be one of %s" % (name, choices)


def render_custom_credential(inputs_schema, injectors, values, private_data_dir):
    """The environment AWX injects for a credential of a custom type (CredentialType.inject_credential).

    Every field with a non-empty value (and every boolean) is a template variable; each
    file template is rendered to a private file whose path becomes tower.filename.<label>;
    then each env template is rendered. A field that is not set renders as "".
    """
    validate_inputs(inputs_schema, values)
    tower = TowerNamespace()
    namespace = {"tower": tower}
    for name, value in values.items():
        if isinstance(value, bool) or len(value):
            namespace[name] = value
    for field in inputs_schema["fields"]:
        if field["type"] == "boolean" and field["id"] not in values:
            namespace[field["id"]] = False

    jinja = ImmutableSandboxedEnvironment()
    env_dir = Path(private_data_dir) / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for label, template in injectors.get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=str(env_dir))
        with os.fdopen(handle, "w") as stream:
            stream.write(jinja.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = TowerNamespace()
            setattr(tower.filename, label.split(".")[1], path)
    return dict((name, jinja.from_string(template).render(**namespace))
                for name, template in injectors.get("env", {}).items())


def render_azure_rm_credential(values):
    """The environment AWX's built-in Azure Resource Manager credential injects (awx_plugins azure_rm)."""
    env = {"AZURE_SUBSCRIPTION_ID": values.get("subscription", "")}
    if values.get("client") and values.get("tenant"):
        env["AZURE_CLIENT_ID"] = values["client"]
        env["AZURE_TENANT"] = values["tenant"]
        env["AZURE_SECRET"] = values.get("secret", "")
    else:
        env["AZURE_AD_USER"] = values.get("username", "")
        env["AZURE_PASSWORD"] = values.get("password", "")
    if "cloud_environment" in values:
        env["AZURE_CLOUD_ENVIRONMENT"] = values["cloud_environment"]
    return env


def credential_type():
    inputs = yaml.safe_load((CREDENTIAL_TYPE / "inputs.yml").read_text())
    injectors = yaml.safe_load((CREDENTIAL_TYPE / "injectors.yml").read_text())
    return inputs, injectors


def run_module_with_environment(credential_env, work_dir, module_args=None):
    """Run aad_user_info for the seeded user with `credential_env` as the only credential source.

    The environment holds what ansible-playbook itself needs (PATH, HOME, where the
    collection is) and the credential's variables; nothing else of the caller's.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    results = work_dir / "results.json"
    task = {"name": "Read a user", "m365.cloud_identity.aad_user_info": dict(module_args or {},
                                                                            user_principal_name=SEEDED_USER)}
    play = [{"name": "AWX credential", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [task]}]
    playbook = work_dir / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work_dir),
        "LANG": "C.UTF-8",
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": "record_results",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "M365_TEST_RESULTS": str(results),
    }
    env.update(credential_env)
    completed = subprocess.run([str(ANSIBLE_PLAYBOOK), str(playbook)], env=env, cwd=str(work_dir),
                               capture_output=True, text=True, timeout=300, check=False)
    records = json.loads(results.read_text()) if results.exists() else []
    return completed, records


def assert_user_read(completed, records, secrets=()):
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert [record["status"] for record in records] == ["ok"], output
    users = records[0]["result"]["users"]
    assert [user["user_principal_name"] for user in users] == [SEEDED_USER]
    for secret in secrets:
        assert secret not in output and secret not in json.dumps(records)


# --- the rendering itself ----------------------------------------------------


def test_credential_type_fields_and_injectors_match_the_module_options():
    inputs, injectors = credential_type()
    field_ids = [field["id"] for field in inputs["fields"]]
    assert field_ids == ["tenant_id", "client_id", "client_secret", "client_certificate",
                         "client_certificate_password", "cloud", "ca_certificate", "authority_host",
                         "graph_endpoint"]
    secret_fields = sorted(field["id"] for field in inputs["fields"] if field.get("secret"))
    assert secret_fields == ["client_certificate", "client_certificate_password", "client_secret"]
    assert sorted(injectors["env"]) == sorted([
        "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLOUD", "M365_CA_PATH", "AZURE_AUTHORITY_HOST",
        "M365_GRAPH_ENDPOINT"])


def test_empty_fields_render_as_empty_variables_and_no_file_paths(tmp_path):
    inputs, injectors = credential_type()
    env = render_custom_credential(inputs, injectors, {"tenant_id": "t", "client_id": "c", "client_secret": "s"},
                                   tmp_path)
    assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == "" and env["M365_CA_PATH"] == ""
    assert env["AZURE_CLOUD"] == "" and env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""
    assert (env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]) == ("t", "c", "s")


def test_a_cloud_outside_the_choices_is_refused_as_awx_does(tmp_path):
    inputs, injectors = credential_type()
    with pytest.raises(AssertionError, match="cloud must be one of"):
        render_custom_credential(inputs, injectors, {"tenant_id": "t", "client_id": "c", "cloud": "AzureCloud"},
                                 tmp_path)


# --- modules run with exactly the injected environment -------------------------


def test_collection_credential_type_with_a_secret_and_the_ca(sandbox, tmp_path):
    conn = sandbox.conn
    inputs, injectors = credential_type()
    # cloud left empty: AWX injects AZURE_CLOUD="" and the modules use the default.
    env = render_custom_credential(inputs, injectors, {
        "tenant_id": conn["tenant_id"], "client_id": conn["client_id"], "client_secret": conn["client_secret"],
        "ca_certificate": Path(conn["ca_path"]).read_text(), "authority_host": conn["authority_host"],
        "graph_endpoint": conn["graph_endpoint"]}, tmp_path / "private")
    assert env["AZURE_CLOUD"] == "" and env["M365_CA_PATH"] != ""
    completed, records = run_module_with_environment(env, tmp_path / "run")
    assert_user_read(completed, records, secrets=[conn["client_secret"]])


def test_collection_credential_type_with_an_encrypted_certificate(sandbox, tmp_path):
    conn = sandbox.conn
    app = sandbox.app("m365-cloud-identity-cert")
    pem = Path(app["certificate_path"]).read_text()
    key_pem = pem[:pem.index("-----BEGIN CERTIFICATE-----")]
    certificate_pem = pem[len(key_pem):]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    encrypted_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(KEY_PASSWORD.encode())).decode()
    inputs, injectors = credential_type()
    env = render_custom_credential(inputs, injectors, {
        "tenant_id": conn["tenant_id"], "client_id": app["client_id"],
        "client_certificate": encrypted_key + certificate_pem, "client_certificate_password": KEY_PASSWORD,
        "cloud": "public", "ca_certificate": Path(conn["ca_path"]).read_text(),
        "authority_host": conn["authority_host"], "graph_endpoint": conn["graph_endpoint"]}, tmp_path / "private")
    assert env["AZURE_CLIENT_SECRET"] == "" and env["AZURE_CLIENT_CERTIFICATE_PATH"] != ""
    completed, records = run_module_with_environment(env, tmp_path / "run")
    assert_user_read(completed, records, secrets=[KEY_PASSWORD])


@pytest.mark.parametrize("cloud_environment", ["AzureCloud", ""])
def test_awx_builtin_azure_resource_manager_credential(sandbox, tmp_path, cloud_environment):
    conn = sandbox.conn
    env = render_azure_rm_credential({"subscription": "", "tenant": conn["tenant_id"], "client": conn["client_id"],
                                      "secret": conn["client_secret"], "cloud_environment": cloud_environment})
    assert "AZURE_TENANT_ID" not in env and "AZURE_CLIENT_SECRET" not in env
    # The built-in credential has no field for the sandbox's hosts and CA (a real tenant
    # needs none): the task names them, as a job template's module_defaults would.
    completed, records = run_module_with_environment(env, tmp_path / "run", module_args={
        "authority_host": conn["authority_host"], "graph_endpoint": conn["graph_endpoint"],
        "ca_path": conn["ca_path"]})
    assert_user_read(completed, records, secrets=[conn["client_secret"]])

