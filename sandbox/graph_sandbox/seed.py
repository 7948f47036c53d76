"""Loading a seed file into an empty tenant: tenant facts, app registrations, subscriptions, users."""
import datetime
import secrets
import uuid
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .http import GraphHTTPError

DEFAULT_SEED = Path(__file__).parent / "data" / "default_seed.yaml"


class SeedError(ValueError):
    pass


def read_seed(path=None):
    path = Path(path) if path else DEFAULT_SEED
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SeedError("cannot read seed file %s: %s" % (path, exc.strerror))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        raise SeedError("seed file %s is not valid YAML%s: %s" % (path, where, getattr(exc, "problem", None) or exc))
    if not isinstance(data, dict) or not isinstance(data.get("tenant"), dict):
        raise SeedError("seed file %s must be a mapping with a 'tenant' section" % path)
    tenant = data["tenant"]
    for key in ("id", "default_domain", "verified_domains"):
        if not tenant.get(key):
            raise SeedError("seed file %s: tenant.%s is required" % (path, key))
    if tenant["default_domain"] not in tenant["verified_domains"]:
        raise SeedError("seed file %s: tenant.default_domain must be one of tenant.verified_domains" % path)
    apps = data.get("apps") or []
    if not apps:
        raise SeedError("seed file %s: at least one entry in 'apps' is required" % path)
    for app in apps:
        if not app.get("client_id") or not (app.get("client_secret") or app.get("certificate")
                                            or app.get("federated_identity_credentials") or app.get("managed_identity")):
            raise SeedError("seed file %s: every app needs client_id and a client_secret, certificate,"
                            " federated_identity_credentials or managed_identity" % path)
        if app.get("managed_identity") not in (None, "system_assigned", "user_assigned"):
            raise SeedError("seed file %s: app %s: managed_identity is system_assigned or user_assigned"
                            % (path, app["client_id"]))
        for fic in app.get("federated_identity_credentials") or []:
            if not (isinstance(fic, dict) and fic.get("issuer") and fic.get("subject")):
                raise SeedError("seed file %s: app %s: every federated identity credential needs issuer and subject"
                                % (path, app["client_id"]))
    return data


def generate_secret():
    # The shape of an Entra client secret value: 40 characters, with the "~" marker.
    return secrets.token_urlsafe(6)[:3] + "8Q~" + secrets.token_urlsafe(32)[:34]


def generate_certificate(common_name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def apply_seed(tenant, seed):
    """Fill an empty tenant from a seed (read_seed's result)."""
    from .resources import licensing, users

    info = seed["tenant"]
    tenant.save("meta", {"id": "tenant", "tenant_id": info["id"], "display_name": info.get("display_name", "Sandbox"),
                         "default_domain": info["default_domain"], "verified_domains": list(info["verified_domains"])})
    for app in seed.get("apps", []):
        doc = {"id": app["client_id"], "name": app.get("name", app["client_id"]), "roles": list(app.get("roles", [])),
               "directoryRoles": list(app.get("directory_roles", [])), "servicePrincipalId": str(uuid.uuid4())}
        secret = app.get("client_secret")
        if secret:
            doc["secret"] = generate_secret() if secret == "generate" else secret
        if app.get("certificate"):
            doc["key_pem"], doc["cert_pem"] = generate_certificate(doc["name"])
        if app.get("federated_identity_credentials"):
            # Graph's federatedIdentityCredential; issuer "sandbox" is the sandbox's own test issuer.
            doc["federatedIdentityCredentials"] = [
                {"name": fic.get("name", "credential%d" % number), "issuer": fic["issuer"], "subject": fic["subject"],
                 "audiences": list(fic.get("audiences") or ["api://AzureADTokenExchange"])}
                for number, fic in enumerate(app["federated_identity_credentials"])]
        if app.get("managed_identity"):
            doc["managedIdentity"] = app["managed_identity"]
        tenant.save("app", doc)
    licensing.seed_skus(tenant, seed.get("skus") or [])
    for spec in seed.get("users") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("userPrincipalName"), str):
            raise SeedError("seed users: every user needs a userPrincipalName (got %r)" % (spec,))
        body = dict(spec)
        licenses = body.pop("licenses", None) or []
        body.setdefault("mailNickname", body["userPrincipalName"].split("@")[0])
        body.setdefault("passwordProfile", {"password": generate_secret(), "forceChangePasswordNextSignIn": True})
        try:
            user = users.create_user(tenant, body)
        except GraphHTTPError as exc:  # Graph's own rules apply to seeded users too
            raise SeedError("seed users: %s: %s" % (spec["userPrincipalName"], exc.message))
        if licenses:
            licensing.seed_user_licenses(tenant, user, licenses)
    tenant.commit()
