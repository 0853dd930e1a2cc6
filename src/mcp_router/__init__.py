"""mcp-router: keep the credentials MCP clients need in a secure store.

The public API is re-exported here; see ``docs/api.md``.
"""

from mcp_router.errors import (
    AccessDeniedError,
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

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
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
