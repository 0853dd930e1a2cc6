"""The token store's shared types: the protocol, token metadata and backend settings.

Every backend and every layer implements :class:`TokenStore`. Backends are raw secret I/O
against one storage system; layers (see :mod:`mcp_router.secure.layers`) wrap a store and
add one concern each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "ProbeResult",
    "SecretPrompt",
    "StoreSettings",
    "TokenInfo",
    "TokenStore",
]


@dataclass(frozen=True)
class TokenInfo:
    """What is known about a stored token, never its value.

    Times are timezone-aware UTC datetimes, or ``None`` when unknown (a token created by
    another tool has no ``created`` until mcp-router first sees it).
    """

    name: str
    backend: str
    created: datetime | None = None
    last_used: datetime | None = None
    updated: datetime | None = None
    rotated: datetime | None = None


@runtime_checkable
class TokenStore(Protocol):
    """What every backend and every layer implements."""

    def store(self, name: str, token: str) -> None:
        """Create or overwrite the token ``name``."""

    def retrieve(self, name: str) -> str:
        """Return the token's value; raise :class:`TokenNotFoundError` if absent."""

    def delete(self, name: str) -> None:
        """Remove the token; raise :class:`TokenNotFoundError` if absent."""

    def list(self) -> list[TokenInfo]:
        """Every token in the store, sorted by name."""


@dataclass(frozen=True)
class ProbeResult:
    """Whether a backend can be used here, and why (not)."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


class Backend:
    """Base class for backends: raw secret I/O against one storage system.

    Subclasses implement the four :class:`TokenStore` methods and may override
    :meth:`probe`. ``name`` is the registry name (``file``, ``secret-service`` ...).
    """

    name: str = "backend"

    def probe(self) -> ProbeResult:
        """Say whether this backend can be used on this machine now, without side effects."""
        return ProbeResult(True, "available")

    def describe(self) -> str:
        """A short human description of where tokens live (shown by ``doctor``)."""
        return self.name

    def check_writable(self) -> None:
        """Raise :class:`NotSupportedError` if this backend cannot store values (a
        read-only helper). Called before anything else, so that ``token set`` says so
        rather than failing on the existence check that comes first."""

    def names(self) -> list[str]:
        """Every token name, sorted. Backends that can list names more cheaply than
        :class:`TokenInfo` objects override this (``token list`` of 10,000 tokens)."""
        return sorted(info.name for info in self.list())

    def contains(self, name: str) -> bool:
        """Whether ``name`` exists. Backends with a cheaper test than a read override this."""
        from mcp_router.errors import TokenNotFoundError

        try:
            self.retrieve(name)
        except TokenNotFoundError:
            return False
        return True

    def repair(self, name: str) -> list[str]:
        """Mend platform attributes or labels of item ``name`` that differ from the spec,
        without reading or needing the secret. Return one line per fix made.

        Called by ``token repair``. The default has nothing to mend.
        """
        return []

    def store(self, name: str, token: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def retrieve(self, name: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, name: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def list(self) -> list[TokenInfo]:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


PassphraseSource = Callable[[bool], "str | None"]
"""Called with ``required``; returns a passphrase or ``None`` when none is configured."""

SecretPrompt = Callable[[str], "str | None"]
"""Asks the person at the terminal for a hidden value (the argument is the question, e.g.
``"User PIN for HSM token 'x'"``); returns ``None`` when nobody can answer."""


@dataclass(frozen=True)
class StoreSettings:
    """How to open a store: which backend and its options.

    ``options`` carries backend-specific keys from ``advanced.secure_storage`` (for example
    ``custom_command`` or ``pkcs11_module``); each backend reads the keys it knows.
    ``prompt`` is how a backend asks for a secret it needs to open the store (the HSM's
    PIN); ``None``, as in a library, means there is nobody to ask.
    """

    backend: str = "auto"
    config_dir: Path | None = None
    file_path: Path | None = None
    allow_fallback: bool = True
    passphrase: PassphraseSource | None = None
    prompt: SecretPrompt | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def platform_default(self) -> StoreSettings:
        """The platform's default store (``auto``, without this store's backend options):
        where a secret that unlocks this store is kept, such as the HSM's PIN, since it
        cannot be kept in the store it unlocks."""
        return replace(self, backend="auto", options={})

    def resolved_config_dir(self) -> Path:
        from mcp_router.paths import config_dir

        return self.config_dir if self.config_dir is not None else config_dir()

    def resolved_file_path(self) -> Path:
        if self.file_path is not None:
            return Path(self.file_path).expanduser()
        return self.resolved_config_dir() / "tokens.enc"
