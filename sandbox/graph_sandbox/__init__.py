"""A local, stateful emulator of the Microsoft Graph v1.0 endpoints that m365.cloud_identity uses.

It serves the token endpoint (client credentials, secret or certificate), OIDC discovery and the Graph
resources over TLS, keeps the tenant in a SQLite file, and offers a control API under ``/_sandbox/``.
The behaviour it reproduces is written down in docs/sandbox.md with the public source of each fact.
"""

__version__ = "0.1.0"
