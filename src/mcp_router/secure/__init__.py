"""The token store, usable as a library on its own.

>>> from mcp_router.secure import open_store
>>> store = open_store(backend="file")          # doctest: +SKIP
>>> store.store("gateway-token", "s3cr3t")      # doctest: +SKIP

It knows nothing of config files, HTTP or the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_router._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BACKEND_NAMES": "mcp_router.secure.registry",
    "Backend": "mcp_router.secure.store",
    "MAX_NAME_LENGTH": "mcp_router.secure.validation",
    "MAX_VALUE_BYTES": "mcp_router.secure.validation",
    "ProbeResult": "mcp_router.secure.store",
    "SecureStore": "mcp_router.secure.opener",
    "Selection": "mcp_router.secure.registry",
    "StoreSettings": "mcp_router.secure.store",
    "TokenInfo": "mcp_router.secure.store",
    "TokenStore": "mcp_router.secure.store",
    "available_backends": "mcp_router.secure.registry",
    "open_store": "mcp_router.secure.opener",
    "register_backend": "mcp_router.secure.registry",
    "validate_name": "mcp_router.secure.validation",
    "validate_value": "mcp_router.secure.validation",
}
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from mcp_router.secure.opener import (
        SecureStore,
        open_store,
    )
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
