"""RSA signing keys kept in the state directory, so tokens stay valid across restarts."""
import json
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class SigningKey:
    """An RS256 key read from (or created at) ``path``, with its public JWK and key id."""

    def __init__(self, path):
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            path.chmod(0o600)
        self.private_key = key
        self.public_key = key.public_key()
        self.jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key))
        self.kid = self.jwk["kid"] = uuid.uuid5(uuid.NAMESPACE_URL, self.jwk["n"]).hex
        self.jwk.update(use="sig", alg="RS256")

    def sign(self, claims):
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})
