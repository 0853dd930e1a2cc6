"""The ``advanced.secure_storage`` section as :class:`StoreSettings` for ``open_store``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mcp_router.secure.store import StoreSettings

if TYPE_CHECKING:
    from mcp_router.config.schema import RouterConfig

__all__ = ["storage_settings", "store_settings_for"]


def store_settings_for(config: RouterConfig) -> StoreSettings:
    """The settings that open the store ``config`` describes."""
    section = config.secure_storage
    return StoreSettings(
        backend=section.backend,
        file_path=section.file_path,
        allow_fallback=section.allow_fallback,
        options=section.backend_options(),
    )


def storage_settings(path: Path | None) -> StoreSettings:
    """Store settings from the config file at ``path`` (``None``: built-in defaults).

    The whole file is validated: a broken config is reported (file, line, key) rather
    than half-used. Without a file, nothing of the loader (nor PyYAML) is imported: most
    `token` commands run without a config and should not pay for it.
    """
    if path is None:
        return StoreSettings()
    from mcp_router.config.loader import load_config

    return store_settings_for(load_config(path))
