"""An in-memory backend for tests and for plugin authors' examples. Nothing persists."""

from __future__ import annotations

import threading

from mcp_router.errors import TokenNotFoundError
from mcp_router.secure.store import Backend, StoreSettings, TokenInfo

__all__ = ["MemoryBackend", "create"]


class MemoryBackend(Backend):
    """Tokens in a dict, guarded by a lock so threads may share one instance."""

    name = "memory"

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._guard = threading.Lock()

    def describe(self) -> str:
        return "process memory (nothing is persisted)"

    def store(self, name: str, token: str) -> None:
        with self._guard:
            self._tokens[name] = token

    def retrieve(self, name: str) -> str:
        with self._guard:
            try:
                return self._tokens[name]
            except KeyError:
                raise TokenNotFoundError(name, backend=self.name) from None

    def contains(self, name: str) -> bool:
        with self._guard:
            return name in self._tokens

    def delete(self, name: str) -> None:
        with self._guard:
            if self._tokens.pop(name, None) is None:
                raise TokenNotFoundError(name, backend=self.name)

    def list(self) -> list[TokenInfo]:
        with self._guard:
            return [TokenInfo(name=n, backend=self.name) for n in sorted(self._tokens)]


def create(settings: StoreSettings) -> MemoryBackend:
    return MemoryBackend()
