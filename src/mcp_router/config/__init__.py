"""The router's YAML configuration: discovery, loading, validation, secret references."""

from mcp_router.config.discovery import DEFAULT_LOCATIONS, find_config
from mcp_router.config.storage import storage_settings

__all__ = ["DEFAULT_LOCATIONS", "find_config", "storage_settings"]
