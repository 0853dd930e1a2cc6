"""The ``advanced.secure_storage`` section: which backend, and its options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mcp_router.errors import ConfigError
from mcp_router.secure.store import StoreSettings

__all__ = ["storage_settings"]


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return doc


def storage_settings(path: Path | None) -> StoreSettings:
    """Store settings from the config file at ``path`` (``None``: built-in defaults)."""
    if path is None:
        return StoreSettings()
    doc = _load_yaml(path)
    section = (doc.get("advanced") or {}).get("secure_storage") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: advanced.secure_storage must be a mapping")
    options = dict(section)
    backend = str(options.pop("backend", "auto"))
    file_path = options.pop("file_path", None)
    allow_fallback = bool(options.pop("allow_fallback", True))
    return StoreSettings(
        backend=backend,
        file_path=Path(file_path).expanduser() if file_path else None,
        allow_fallback=allow_fallback,
        options=options,
    )
