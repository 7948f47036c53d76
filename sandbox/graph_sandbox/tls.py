"""A private CA and a server certificate in the state directory (MSAL only speaks https)."""
from pathlib import Path

import trustme


def ensure_certificates(state_dir, hosts):
    """Create (or reuse) DIR/ca.pem, DIR/ca-key.pem and DIR/server.pem; returns (ca_path, server_pem)."""
    state_dir = Path(state_dir)
    ca_path, ca_key, server = state_dir / "ca.pem", state_dir / "ca-key.pem", state_dir / "server.pem"
    if ca_path.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="m365.cloud_identity Graph sandbox")
        ca.cert_pem.write_to_path(str(ca_path))
        ca.private_key_pem.write_to_path(str(ca_key))
        ca_key.chmod(0o600)
    names = sorted({"127.0.0.1", "localhost", "::1", *hosts})
    ca.issue_cert(*names).private_key_and_cert_chain_pem.write_to_path(str(server))
    server.chmod(0o600)
    return ca_path, server
