"""mcp-router: keep the credentials MCP clients need in a secure store.

The public API is re-exported here; see ``docs/api.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_router._lazy import lazy_exports
from mcp_router.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    ConfigError,
    ConfirmationRequiredError,
    CorruptStoreError,
    DecryptionError,
    HelperError,
    InvalidTokenNameError,
    InvalidTokenValueError,
    LockTimeoutError,
    MCPRouterError,
    NotSupportedError,
    StorageUnavailableError,
    StoreLockedError,
    TokenExistsError,
    TokenNotFoundError,
    ValidationError,
)
from mcp_router.secret import Secret

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Backend": "mcp_router.secure",
    "ProbeResult": "mcp_router.secure",
    "SecureStore": "mcp_router.secure",
    "StoreSettings": "mcp_router.secure",
    "TokenInfo": "mcp_router.secure",
    "TokenStore": "mcp_router.secure",
    "open_store": "mcp_router.secure",
    "register_backend": "mcp_router.secure",
}
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from mcp_router.secure import (
        Backend,
        ProbeResult,
        SecureStore,
        StoreSettings,
        TokenInfo,
        TokenStore,
        open_store,
        register_backend,
    )

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "Backend",
    "ConfigError",
    "ConfirmationRequiredError",
    "CorruptStoreError",
    "DecryptionError",
    "HelperError",
    "InvalidTokenNameError",
    "InvalidTokenValueError",
    "LockTimeoutError",
    "MCPRouterError",
    "NotSupportedError",
    "ProbeResult",
    "Secret",
    "SecureStore",
    "StorageUnavailableError",
    "StoreLockedError",
    "StoreSettings",
    "TokenExistsError",
    "TokenInfo",
    "TokenNotFoundError",
    "TokenStore",
    "ValidationError",
    "__version__",
    "open_store",
    "register_backend",
]
