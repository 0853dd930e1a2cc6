"""Backend registry, ``auto`` selection and :func:`open_store`.

Backends are found, in this order, among:

1. factories registered in code with :func:`register_backend`;
2. the built-in backends, listed in ``_BUILTINS`` by import path so that none is imported
   until it is chosen (they are declared in the ``mcp_router.backends`` entry-point group
   too, exactly like plugins; a test keeps the two lists equal);
3. installed plugins, through the ``mcp_router.backends`` entry-point group (scanned only
   when a name is not found above, because scanning costs start-up time).

A factory is a callable ``factory(settings: StoreSettings) -> Backend``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_router.errors import ConfigError, StorageUnavailableError
from mcp_router.secure.store import Backend, StoreSettings

__all__ = [
    "BACKEND_NAMES",
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "Selection",
    "available_backends",
    "create_backend",
    "platform_candidates",
    "register_backend",
    "select_backend",
]

BackendFactory = Callable[[StoreSettings], Backend]
ENTRY_POINT_GROUP = "mcp_router.backends"

_BUILTINS: dict[str, str] = {
    "file": "mcp_router.secure.backends.encfile:create",
    "secret-service": "mcp_router.secure.backends.secretservice:create",
    "keychain": "mcp_router.secure.backends.keychain:create",
    "wincred": "mcp_router.secure.backends.wincred:create",
    "custom": "mcp_router.secure.backends.command:create",
    "pkcs11": "mcp_router.secure.backends.pkcs11:create",
    "memory": "mcp_router.secure.backends.memory:create",
}

#: The names users write in config, ``--backend`` and docs (``memory`` is for tests).
BACKEND_NAMES: tuple[str, ...] = ("auto", *_BUILTINS)

_registered: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` available as backend ``name`` (overrides a built-in of that name)."""
    if not name or name == "auto":
        raise ValueError(f"invalid backend name {name!r}")
    _registered[name] = factory


def _load(target: str) -> BackendFactory:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    factory: BackendFactory = getattr(module, attr)
    return factory


def _factory(name: str) -> BackendFactory:
    if name in _registered:
        return _registered[name]
    if name in _BUILTINS:
        try:
            return _load(_BUILTINS[name])
        except ImportError as exc:
            raise StorageUnavailableError(
                f"the '{name}' backend cannot be loaded: {exc}",
                hint="install mcp-router with its optional dependencies for this backend",
            ) from exc
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                factory: BackendFactory = ep.load()
            except Exception as exc:  # a plugin's import may fail in any way
                raise StorageUnavailableError(
                    f"the '{name}' backend plugin ({ep.value}) cannot be loaded "
                    f"({type(exc).__name__})",
                    hint="reinstall the plugin (or its dependencies); --debug shows why",
                ) from exc
            _registered[name] = factory
            return factory
    raise ConfigError(
        f"unknown storage backend '{name}'",
        hint="choose one of: " + ", ".join(available_backends()),
    )


def available_backends() -> list[str]:
    """Every backend name known here: built-ins, registered and installed plugins."""
    from importlib.metadata import entry_points

    names = {"auto", *_BUILTINS, *_registered}
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def create_backend(name: str, settings: StoreSettings) -> Backend:
    """Build backend ``name`` (not ``auto``) from ``settings``."""
    return _factory(name)(settings)


def platform_candidates(platform: str | None = None) -> list[str]:
    """The platform stores ``auto`` tries, best first, before the encrypted file."""
    platform = platform or sys.platform
    if platform == "darwin":
        return ["keychain"]
    if platform == "win32":
        return ["wincred"]
    return ["secret-service"]


@dataclass
class Selection:
    """Which backend was chosen and why; shown by ``doctor`` and ``--verbose``."""

    backend: str
    reason: str
    requested: str
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def fell_back(self) -> bool:
        """True when ``auto`` wanted a platform store but had to use the encrypted file."""
        return self.requested == "auto" and self.backend == "file" and bool(self.rejected)


def select_backend(settings: StoreSettings) -> tuple[Backend, Selection]:
    """Build the backend ``settings`` asks for, resolving ``auto``."""
    requested = settings.backend or "auto"
    if requested != "auto":
        backend = create_backend(requested, settings)
        return backend, Selection(requested, "configured explicitly", requested)

    rejected: dict[str, str] = {}
    for candidate in platform_candidates():
        try:
            backend = create_backend(candidate, settings)
            probe = backend.probe()
        except StorageUnavailableError as exc:
            rejected[candidate] = exc.message
            continue
        if probe.ok:
            return backend, Selection(candidate, probe.reason, requested)
        rejected[candidate] = probe.reason

    if not settings.allow_fallback:
        detail = "; ".join(f"{k}: {v}" for k, v in rejected.items())
        raise StorageUnavailableError(
            f"no platform credential store is usable ({detail})",
            hint="fix the platform store (see 'mcp-router token doctor') or allow the "
            "encrypted-file fallback",
            reasons=rejected,
        )
    backend = create_backend("file", settings)
    reason = "no platform store is usable" if rejected else "the default store here"
    return backend, Selection("file", reason, requested, rejected)
