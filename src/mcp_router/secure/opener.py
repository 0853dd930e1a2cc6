""":func:`open_store`: choose the backend and stack the layers around it."""

from __future__ import annotations

from mcp_router.errors import TokenExistsError, TokenNotFoundError
from mcp_router.paths import ensure_private_dir
from mcp_router.secure.audit import AuditLog, AuditStore, open_log
from mcp_router.secure.index import MetadataIndex
from mcp_router.secure.layers import LockingStore, MetadataStore
from mcp_router.secure.locking import FileLock
from mcp_router.secure.registry import Selection, select_backend
from mcp_router.secure.rotation import has_previous, is_companion, previous_name
from mcp_router.secure.store import Backend, StoreSettings, TokenInfo, TokenStore
from mcp_router.secure.validation import (
    ValidatingStore,
    validate_user_name,
    validate_value,
)

__all__ = ["SecureStore", "open_store"]


class SecureStore:
    """The layered store an application uses: validation, audit, locking, metadata, backend.

    It is a :class:`TokenStore`, plus the compound operations the CLI needs (create
    without overwriting, update an existing token) done atomically under the store lock.
    """

    def __init__(
        self,
        backend: Backend,
        selection: Selection,
        index: MetadataIndex,
        lock: FileLock,
        audit_log: AuditLog | None = None,
    ) -> None:
        self.backend = backend
        self.selection = selection
        self.index = index
        self.lock = lock
        self._metadata = MetadataStore(backend, index, backend.name)
        self.audit_log = audit_log or AuditLog(index.path.parent / "audit.db")
        # Audit sits inside validation, so an invalid name (perhaps a pasted secret) is
        # refused before it could be written to the log. ``audit`` is the chain without
        # validation: rotation uses it for the reserved companion names.
        self.audit = AuditStore(LockingStore(self._metadata, lock), self.audit_log,
                                backend.name)
        self._chain: TokenStore = ValidatingStore(self.audit)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    # -- TokenStore -------------------------------------------------------------------
    def store(self, name: str, token: str) -> None:
        self._chain.store(name, token)

    def retrieve(self, name: str) -> str:
        return self._chain.retrieve(name)

    def delete(self, name: str) -> None:
        validate_user_name(name)
        with self.lock, self.audit.operation("delete", name):
            self._chain.delete(name)
            if has_previous(self.backend, name):  # leave no orphaned old value
                self.audit.delete(previous_name(name))

    def list(self) -> list[TokenInfo]:
        return [info for info in self._chain.list() if not is_companion(info.name)]

    # -- compound operations ----------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.backend.contains(validate_user_name(name))

    def require(self, name: str) -> None:
        """Raise :class:`TokenNotFoundError` unless the backend holds ``name``.

        For commands that report a missing token before asking anything. The backend
        decides, not the index: a token deleted by another tool (or with its file) still
        has its metadata row until the next write or ``token repair``.
        """
        if not self.exists(name):
            self.audit.record("info", name, "not found")
            raise TokenNotFoundError(name, backend=self.backend_name)

    def create(self, name: str, token: str, *, overwrite: bool = False) -> None:
        """Store a new token; refuse an existing name unless ``overwrite``."""
        validate_user_name(name)
        validate_value(token)
        self.backend.check_writable()
        with self.lock:
            if not overwrite and self.backend.contains(name):
                raise TokenExistsError(name)
            self._chain.store(name, token)

    def update(self, name: str, token: str) -> None:
        """Replace the value of a token that must already exist."""
        validate_user_name(name)
        validate_value(token)
        self.backend.check_writable()
        with self.lock:
            if not self.backend.contains(name):
                raise TokenNotFoundError(name, backend=self.backend_name)
            self._chain.store(name, token)

    def info(self, name: str) -> TokenInfo:
        """Metadata of an existing token, without reading its value."""
        validate_user_name(name)
        known = self._metadata.info(name)
        if known is not None:
            return known
        if not self.backend.contains(name):
            self.audit.record("info", name, "not found")
            raise TokenNotFoundError(name, backend=self.backend_name)
        return TokenInfo(name=name, backend=self.backend_name)

    def close(self) -> None:
        self.index.close()
        self.audit_log.close()

    def __repr__(self) -> str:
        return f"<SecureStore backend={self.backend_name!r}>"


def open_store(settings: StoreSettings | None = None, **overrides: object) -> SecureStore:
    """Open the layered token store described by ``settings``.

    Keyword ``overrides`` replace fields of ``settings`` (e.g. ``backend="file"``)::

        store = open_store(backend="file")
        store.store("gateway-token", value)
    """
    from dataclasses import replace

    settings = settings or StoreSettings()
    if overrides:
        settings = replace(settings, **overrides)  # type: ignore[arg-type]
    backend, selection = select_backend(settings)
    state = ensure_private_dir(settings.resolved_config_dir())
    index = MetadataIndex(state / "metadata.db")
    lock = FileLock(state / "store.lock")
    audit_log = open_log(settings)
    return SecureStore(backend, selection, index, lock, audit_log)
