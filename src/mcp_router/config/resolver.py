"""One resolver for every credential reference in the config.

A :class:`CredentialRef` says where a secret lives; :meth:`SecretResolver.resolve` fetches
it, every time it is called (so a token rotated in the store is picked up by the next
resolution), and returns it wrapped in a :class:`Secret`. Sources:

``secure_key``  the token store from ``advanced.secure_storage`` (opened on first use);
                the PKCS#11 PIN is looked up in the platform default store instead
``env``         an environment variable of this process
``file``        a file; one trailing newline is removed (the rule of ``token set --file``)
``plain``       the value written in the config file (warned about when loading)

Failures are :class:`MCPRouterError` subclasses whose message names the reference's file,
line and key, and the command that fixes it. No message contains a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mcp_router.config.schema import CredentialRef, RouterConfig, StdioBackend
from mcp_router.errors import (
    ConfigError,
    InvalidTokenValueError,
    MCPRouterError,
    TokenNotFoundError,
)
from mcp_router.secret import Secret
from mcp_router.secure.opener import SecureStore, open_store
from mcp_router.secure.store import StoreSettings
from mcp_router.secure.validation import MAX_VALUE_BYTES, strip_one_newline

__all__ = ["RefStatus", "SecretResolver", "check_references"]

#: The most of a ``token_file`` that is read: the value limit, a CRLF, and one byte more
#: to tell that the file is larger (the rule of ``token set --file``).
_FILE_READ_LIMIT = MAX_VALUE_BYTES + 3


def _where(ref: CredentialRef) -> str:
    return f"{ref.origin.key} at {ref.origin.file}:{ref.origin.line}"


class SecretResolver:
    """Resolve :class:`CredentialRef` values into :class:`Secret` objects.

    ``settings`` opens the configured store (e.g. ``AppContext.settings()`` or
    :func:`mcp_router.config.store_settings_for`); pass ``store`` to use an already open
    one. ``environ`` defaults to ``os.environ``. Stores are opened lazily, so a config that
    only uses ``token_env`` never touches one. Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(
        self,
        settings: StoreSettings | None = None,
        *,
        store: SecureStore | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or StoreSettings()
        self._stores: dict[str, SecureStore] = {}
        self._owned: list[SecureStore] = []
        if store is not None:
            self._stores["configured"] = store
        self._environ = environ

    # -- public ---------------------------------------------------------------------
    def resolve(self, ref: CredentialRef) -> Secret:
        """The secret ``ref`` points to. Raises :class:`TokenNotFoundError` (exit 3) for a
        missing stored token, :class:`ConfigError` for a missing variable or file."""
        if ref.source == "secure_key":
            return self._from_store(ref)
        if ref.source == "env":
            return self._from_env(ref)
        if ref.source == "file":
            return self._from_file(ref)
        if ref.plain is None or not ref.plain:
            raise ConfigError(f"{_where(ref)}: the plain-text token is empty")
        return ref.plain

    def resolve_env(self, backend: StdioBackend) -> dict[str, Secret]:
        """The ``env_secure_keys`` of a local backend, variable -> secret."""
        return {var: self.resolve(ref) for var, ref in backend.env_secure_keys.items()}

    def store(self, which: str = "configured") -> SecureStore:
        """The open store for ``"configured"`` or ``"default"`` references."""
        if which not in self._stores:
            settings = self.settings
            if which == "default":
                settings = settings.platform_default()
            opened = open_store(settings)
            self._stores[which] = opened
            self._owned.append(opened)
        return self._stores[which]

    def close(self) -> None:
        for store in self._owned:
            store.close()
        self._owned.clear()
        self._stores.clear()

    def __enter__(self) -> SecretResolver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- sources --------------------------------------------------------------------
    def _from_store(self, ref: CredentialRef) -> Secret:
        store = self.store(ref.store)
        try:
            return Secret(store.retrieve(ref.name))
        except TokenNotFoundError as exc:
            missing = TokenNotFoundError(ref.name, backend=store.backend_name)
            missing.message = f"{missing.message}, referenced by {_where(ref)}"
            missing.args = (missing.message,)
            raise missing from exc

    def _from_env(self, ref: CredentialRef) -> Secret:
        environ = self._environ if self._environ is not None else os.environ
        value = environ.get(ref.name)
        if not value:
            state = "is not set" if value is None else "is empty"
            raise ConfigError(
                f"environment variable {ref.name} ({_where(ref)}) {state}",
                hint=f"set it, or move the token into secure storage: mcp-router token "
                f"migrate-env --env {ref.name}=NAME and use token_secure_key",
            )
        return Secret(value)

    def _from_file(self, ref: CredentialRef) -> Secret:
        try:
            with Path(ref.name).open("rb") as fh:
                data = fh.read(_FILE_READ_LIMIT)  # never all of /dev/zero or a huge file
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token file {ref.name} ({_where(ref)}): {exc.strerror}",
                hint="fix the path, or store the token with 'mcp-router token set --name "
                "NAME --file PATH' and use token_secure_key",
            ) from None
        if len(data) >= _FILE_READ_LIMIT:
            raise InvalidTokenValueError(
                f"the token file {ref.name} ({_where(ref)}) is larger than the limit of "
                f"{MAX_VALUE_BYTES} bytes for a token",
                hint="point token_file at a file holding only the token")
        try:
            value = strip_one_newline(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"the token file {ref.name} ({_where(ref)}) is not UTF-8 "
                              "text") from None
        if not value:
            raise ConfigError(f"the token file {ref.name} ({_where(ref)}) is empty")
        return Secret(value)


@dataclass(frozen=True)
class RefStatus:
    """Whether one reference resolved; ``error`` is set when it did not. No value."""

    ref: CredentialRef
    error: MCPRouterError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_references(config: RouterConfig, resolver: SecretResolver) -> list[RefStatus]:
    """Try every reference in ``config``; the values are dropped at once."""
    results: list[RefStatus] = []
    for ref in config.credential_refs():
        try:
            resolver.resolve(ref)
        except MCPRouterError as exc:
            results.append(RefStatus(ref, exc))
        else:
            results.append(RefStatus(ref))
    return results
