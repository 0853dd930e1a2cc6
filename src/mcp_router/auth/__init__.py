"""Credential providers for ``run``: what the router presents to a gateway, and when to renew it.

A provider gives the HTTP headers for the next request (:meth:`CredentialProvider.headers`)
and, after the gateway answers 401, finds a different credential to retry with
(:meth:`CredentialProvider.refresh`). Secrets are resolved from the secure store when
needed, never earlier, and never logged.
"""

from mcp_router.auth.base import CredentialProvider, NoAuth, SecretSource, StoreWorker
from mcp_router.auth.bearer import BearerProvider

__all__ = ["BearerProvider", "CredentialProvider", "NoAuth", "SecretSource", "StoreWorker"]
