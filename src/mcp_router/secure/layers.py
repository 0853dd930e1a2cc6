"""Layers that wrap a :class:`TokenStore` and add one concern each.

:class:`ValidatingStore` lives in :mod:`mcp_router.secure.validation`; the metadata and
locking layers are here. :func:`mcp_router.secure.open_store` stacks them.
"""

from __future__ import annotations

from mcp_router.errors import NotSupportedError, TokenNotFoundError
from mcp_router.secure.index import MetadataIndex
from mcp_router.secure.locking import FileLock
from mcp_router.secure.store import Backend, TokenInfo, TokenStore

__all__ = ["LockingStore", "MetadataStore"]


class MetadataStore:
    """Layer: keep created / last-used / updated times in the :class:`MetadataIndex`.

    The backend is written first; the index follows. A crash between the two leaves a token
    without metadata, which ``list`` shows with unknown times and ``token repair`` fills in.
    """

    def __init__(self, inner: TokenStore, index: MetadataIndex, backend_name: str) -> None:
        self.inner = inner
        self.index = index
        self.backend_name = backend_name

    def store(self, name: str, token: str) -> None:
        self.inner.store(name, token)
        self.index.record_store(self.backend_name, name)

    def retrieve(self, name: str) -> str:
        value = self.inner.retrieve(name)
        self.index.record_use(self.backend_name, name)
        return value

    def delete(self, name: str) -> None:
        try:
            self.inner.delete(name)
        except TokenNotFoundError:
            self.index.forget(self.backend_name, name)
            raise
        self.index.forget(self.backend_name, name)

    def list(self) -> list[TokenInfo]:
        known = self.index.all(self.backend_name)
        try:
            present = self.inner.names() if isinstance(self.inner, Backend) else sorted(
                info.name for info in self.inner.list())
        except NotSupportedError:
            # A backend that cannot enumerate (e.g. a read-only helper): trust the index.
            return list(known.values())
        return [
            known.get(name) or TokenInfo(name=name, backend=self.backend_name)
            for name in present
        ]

    def info(self, name: str) -> TokenInfo | None:
        """Metadata for ``name`` from the index alone (no secret, no unlock)."""
        return self.index.get(self.backend_name, name)


class LockingStore:
    """Layer: serialise writers across processes with a lock file.

    Reads are not locked. ``lock`` is re-entrant, so a compound operation (check, then
    write) may hold it around calls to :meth:`store` and :meth:`delete`.
    """

    def __init__(self, inner: TokenStore, lock: FileLock) -> None:
        self.inner = inner
        self.lock = lock

    def store(self, name: str, token: str) -> None:
        with self.lock:
            self.inner.store(name, token)

    def retrieve(self, name: str) -> str:
        return self.inner.retrieve(name)

    def delete(self, name: str) -> None:
        with self.lock:
            self.inner.delete(name)

    def list(self) -> list[TokenInfo]:
        return self.inner.list()
