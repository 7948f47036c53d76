"""Secrets and trust, as a user would notice them: TLS that no setting turns off, and a full play at
-vvvv --diff that leaves no secret in its output, its log or any file it wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

DOMAIN = "contoso.com"
# An access token (a JWT): header and payload are base64url JSON, so both start with "eyJ".
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")


def test_tls_cannot_be_turned_off_and_no_token_request_leaves_unverified(run_play, sandbox, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    not_a_ca = tmp_path / "notes.txt"
    not_a_ca.write_text("not a certificate\n")
    cases = {
        "empty ca_path": "",                      # what an empty AWX field or default('') gives
        "missing ca_path": str(tmp_path / "missing-ca.pem"),
        "ca_path without a certificate": str(not_a_ca),
        "another CA": str(other_ca),
    }
    tasks = [{"name": name, "ignore_errors": True,
              "m365.cloud_identity.aad_user": {"user_principal_name": "tls.probe@" + DOMAIN, "display_name": "TLS",
                                               "password": "Tls!Probe123", "ca_path": value}}
             for name, value in cases.items()]
    sandbox.reset_counters()
    play = run_play(tasks)
    counters = sandbox.counters()
    assert counters["tokens"] == 0, counters
    assert counters["http"]["total"] == 0, counters["http"]
    messages = dict((name, play.task(name).result["msg"]) for name in cases)
    assert all(play.task(name).status == "failed" for name in cases)
    assert "TLS verification failed for the login host" in messages["empty ca_path"]
    assert "default CA bundle" in messages["empty ca_path"]
    assert messages["missing ca_path"].startswith("ca_path %s does not exist" % cases["missing ca_path"])
    assert "holds no PEM certificate" in messages["ca_path without a certificate"]
    assert "TLS verification failed" in messages["another CA"] and str(other_ca) in messages["another CA"]


def encrypted_certificate(sandbox, folder, password):
    """The certificate app's PEM with its private key encrypted under `password`."""
    app = sandbox.app("m365-cloud-identity-cert")
    pem = Path(app["certificate_path"]).read_bytes()
    key = serialization.load_pem_private_key(
        re.search(rb"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----", pem, re.S).group(0), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password.encode()))
    certificate = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S).group(0)
    path = folder / "app-encrypted.pem"
    path.write_bytes(encrypted + certificate + b"\n")
    return app["client_id"], path


def files_under(*roots):
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                yield path


def test_full_play_at_vvvv_with_diff_leaks_no_secret(run_play, sandbox, tmp_path):
    private = tmp_path / "private"
    home, local_tmp, remote_tmp = private / "home", private / "local-tmp", private / "remote-tmp"
    for folder in (home, local_tmp, remote_tmp):
        folder.mkdir(parents=True)
    log = private / "ansible.log"
    password_file = private / "passwords.jsonl"
    cert_password = "Cert-Pass-%s" % tmp_path.name[-6:]
    cert_client_id, cert_path = encrypted_certificate(sandbox, private, cert_password)
    given_password, reset_password = "Given!Passw0rd-77", "Reset!Passw0rd-88"

    tasks = [
        {"name": "generated", "m365.cloud_identity.aad_user": {
            "users": [{"user_principal_name": "leak.gen%d@%s" % (n, DOMAIN), "display_name": "Leak Gen %d" % n}
                      for n in range(3)]}},
        {"name": "given", "m365.cloud_identity.aad_user": {
            "user_principal_name": "leak.given@" + DOMAIN, "display_name": "Leak Given",
            "password": "{{ leak_given_password }}",
            "usage_location": "US"}},
        {"name": "reset", "m365.cloud_identity.aad_user": {
            "user_principal_name": "leak.given@" + DOMAIN, "password": "{{ leak_reset_password }}",
            "update_password": "always"}},
        {"name": "failing", "ignore_errors": True, "m365.cloud_identity.aad_user": {
            "user_principal_name": "leak.bad@" + DOMAIN, "display_name": "Bad", "usage_location": "XX",
            "password": "{{ leak_given_password }}"}},
        {"name": "group", "m365.cloud_identity.aad_group": {
            "display_name": "Leak Team", "group_type": "security", "members": {"add": ["leak.given@" + DOMAIN]}}},
        {"name": "licence", "m365.cloud_identity.aad_license": {
            "user": "leak.given@" + DOMAIN, "licenses": {"add": [{"sku": "POWER_BI_STANDARD"}]}}},
        {"name": "guest", "m365.cloud_identity.aad_guest": {
            "email": "leak.guest@fabrikam.com", "send_invitation_message": False}},
        {"name": "certificate", "m365.cloud_identity.aad_user_info": {
            "user_principal_name": "leak.given@" + DOMAIN, "client_secret": "", "client_id": cert_client_id,
            "client_certificate_path": str(cert_path), "client_certificate_password": "{{ leak_cert_password }}"}},
    ]
    env = {"HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(local_tmp), "ANSIBLE_REMOTE_TEMP": str(remote_tmp),
           "ANSIBLE_LOG_PATH": str(log)}
    # Secrets come in as variables (as from a vault), the way a playbook holds them: Ansible shows the
    # source lines of a failed task, so a literal password in the playbook would be printed by Ansible itself.
    secret_vars = {"leak_given_password": given_password, "leak_reset_password": reset_password,
                   "leak_cert_password": cert_password, "m365_password_file": str(password_file)}
    play = run_play(tasks, diff=True, verbosity=4, env=env, extra_vars=secret_vars)
    assert [play.task(name).status for name in ("generated", "given", "reset", "group", "licence", "guest")] == \
        ["changed"] * 6
    assert play.task("failing").status == "failed" and "usage_location 'XX'" in play.task("failing").result["msg"]
    assert play.task("certificate").status == "ok"
    # Not censored: results and diffs are readable.
    assert play.task("reset").result["diff"] == {"before": {"password": "<unchanged>"},
                                                 "after": {"password": "<changed>"}}

    records = play.passwords()
    generated = [r["password"] for r in records if r["action"] == "created" and r["user_principal_name"].startswith("leak.gen")]
    assert len(generated) == 3
    secrets = {"client secret": sandbox.conn["client_secret"], "certificate password": cert_password,
               "given password": given_password, "reset password": reset_password,
               "a token of the same app": sandbox.token()}
    secrets.update(("generated password %d" % n, password) for n, password in enumerate(generated))

    # run_play's folders (the playbook, recorded results, ANSIBLE_LOCAL_TEMP of the harness) and the private ones.
    work_dirs = sorted(tmp_path.glob("run-*"))
    written = {"stdout": play.stdout, "stderr": play.stderr, "log": log.read_text()}
    for path in files_under(home, local_tmp, remote_tmp, *work_dirs):
        if path.name == "extra-vars.json":
            continue  # the test harness's input (it holds the connection and secret vars), not written by the play
        written[str(path)] = path.read_text(errors="replace")
    assert len(written["log"]) > 10000  # -vvvv really logged
    for where, text in written.items():
        for what, secret in secrets.items():
            assert secret not in text, "%s found in %s" % (what, where)
        assert not JWT.search(text), "an access token in %s" % where

    # The generated passwords are only where the user asked for them.
    text = password_file.read_text()
    assert all(password in text for password in generated)
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("module, options, option", [
    ("aad_user", {"user_principal_name": "x@" + DOMAIN, "password_file": "/nonexistent/dir/p.jsonl"}, "password_file"),
])
def test_password_file_folder_must_exist(run_play, sandbox, module, options, option):
    sandbox.reset_counters()
    play = run_play([{"name": "t", "ignore_errors": True, "m365.cloud_identity.%s" % module: options}])
    assert option in play.task("t").result["msg"]
    assert sandbox.counters()["http"]["total"] == 0
