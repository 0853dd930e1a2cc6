"""The token store, usable as a library on its own.

>>> from mcp_router.secure import open_store
>>> store = open_store(backend="file")          # doctest: +SKIP
>>> store.store("gateway-token", "s3cr3t")      # doctest: +SKIP

It knows nothing of config files, HTTP or the CLI.
"""

from mcp_router.secure.opener import SecureStore, open_store
from mcp_router.secure.registry import (
    BACKEND_NAMES,
    Selection,
    available_backends,
    register_backend,
)
from mcp_router.secure.store import (
    Backend,
    ProbeResult,
    StoreSettings,
    TokenInfo,
    TokenStore,
)
from mcp_router.secure.validation import (
    MAX_NAME_LENGTH,
    MAX_VALUE_BYTES,
    validate_name,
    validate_value,
)

__all__ = [
    "BACKEND_NAMES",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_BYTES",
    "Backend",
    "ProbeResult",
    "SecureStore",
    "Selection",
    "StoreSettings",
    "TokenInfo",
    "TokenStore",
    "available_backends",
    "open_store",
    "register_backend",
    "validate_name",
    "validate_value",
]
