"""The router's YAML configuration: discovery, loading, validation, secret references.

>>> from mcp_router.config import find_config, load_config, SecretResolver
>>> config = load_config(find_config())                       # doctest: +SKIP
>>> with SecretResolver(store_settings_for(config)) as resolver:  # doctest: +SKIP
...     token = resolver.resolve(config.gateway.auth.token)   # a Secret
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_router._lazy import lazy_exports

# Names resolve on first use (PEP 562): importing this package must stay cheap, because
# `token` commands that need no config file import it too.
_EXPORTS: dict[str, str] = {
    "AdvancedConfig": "mcp_router.config.schema",
    "AuthConfig": "mcp_router.config.schema",
    "BackendConfig": "mcp_router.config.schema",
    "BearerAuth": "mcp_router.config.schema",
    "ConfigProblem": "mcp_router.config.nodes",
    "ConfigReport": "mcp_router.config.loader",
    "ConfigWarning": "mcp_router.config.schema",
    "ConnectionConfig": "mcp_router.config.schema",
    "CredentialRef": "mcp_router.config.schema",
    "CredentialSource": "mcp_router.config.schema",
    "DEFAULT_LOCATIONS": "mcp_router.config.discovery",
    "GatewayConfig": "mcp_router.config.schema",
    "LoggingConfig": "mcp_router.config.schema",
    "OAuth2Auth": "mcp_router.config.schema",
    "Origin": "mcp_router.config.schema",
    "ReconnectConfig": "mcp_router.config.schema",
    "RefStatus": "mcp_router.config.resolver",
    "RemoteBackend": "mcp_router.config.schema",
    "RouterConfig": "mcp_router.config.schema",
    "SecretResolver": "mcp_router.config.resolver",
    "SecureStorageConfig": "mcp_router.config.schema",
    "StdioBackend": "mcp_router.config.schema",
    "TLSConfig": "mcp_router.config.schema",
    "check_config": "mcp_router.config.loader",
    "check_references": "mcp_router.config.resolver",
    "find_config": "mcp_router.config.discovery",
    "load_config": "mcp_router.config.loader",
    "parse_config": "mcp_router.config.loader",
    "storage_settings": "mcp_router.config.storage",
    "store_settings_for": "mcp_router.config.storage",
}
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from mcp_router.config.discovery import DEFAULT_LOCATIONS, find_config
    from mcp_router.config.loader import ConfigReport, check_config, load_config, parse_config
    from mcp_router.config.nodes import ConfigProblem
    from mcp_router.config.resolver import RefStatus, SecretResolver, check_references
    from mcp_router.config.schema import (
        AdvancedConfig,
        AuthConfig,
        BackendConfig,
        BearerAuth,
        ConfigWarning,
        ConnectionConfig,
        CredentialRef,
        CredentialSource,
        GatewayConfig,
        LoggingConfig,
        OAuth2Auth,
        Origin,
        ReconnectConfig,
        RemoteBackend,
        RouterConfig,
        SecureStorageConfig,
        StdioBackend,
        TLSConfig,
    )
    from mcp_router.config.storage import storage_settings, store_settings_for


__all__ = [
    "DEFAULT_LOCATIONS",
    "AdvancedConfig",
    "AuthConfig",
    "BackendConfig",
    "BearerAuth",
    "ConfigProblem",
    "ConfigReport",
    "ConfigWarning",
    "ConnectionConfig",
    "CredentialRef",
    "CredentialSource",
    "GatewayConfig",
    "LoggingConfig",
    "OAuth2Auth",
    "Origin",
    "ReconnectConfig",
    "RefStatus",
    "RemoteBackend",
    "RouterConfig",
    "SecretResolver",
    "SecureStorageConfig",
    "StdioBackend",
    "TLSConfig",
    "check_config",
    "check_references",
    "find_config",
    "load_config",
    "parse_config",
    "storage_settings",
    "store_settings_for",
]
