"""The router's YAML configuration: discovery, loading, validation, secret references.

>>> from mcp_router.config import find_config, load_config, SecretResolver
>>> config = load_config(find_config())                       # doctest: +SKIP
>>> with SecretResolver(store_settings_for(config)) as resolver:  # doctest: +SKIP
...     token = resolver.resolve(config.gateway.auth.token)   # a Secret
"""

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
