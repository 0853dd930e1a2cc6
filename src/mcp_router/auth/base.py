"""The credential-provider protocol shared by the transports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar, runtime_checkable

from mcp_router.secret import Secret

__all__ = ["CredentialProvider", "NoAuth", "SecretSource", "StoreWorker"]

T = TypeVar("T")

SecretSource = Callable[[], Secret]
"""Resolves one secret from the store (or another configured source) when called.

Called off the event loop: it may block on the store (a keyring over D-Bus, a PBKDF2 key
derivation, an external helper) and may raise :class:`~mcp_router.errors.MCPRouterError`.
"""


@runtime_checkable
class CredentialProvider(Protocol):
    """What a transport asks for credentials."""

    async def headers(self) -> dict[str, str]:
        """Headers to add to the next request (``Authorization``), fetching a token if needed."""

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """The gateway refused ``rejected`` (HTTP 401): renew the credential.

        Return ``True`` when a different credential is now available to retry with once,
        ``False`` when there is nothing new to try (the caller then reports the refusal).
        """

    def describe(self) -> str:
        """A short description for messages (``bearer token 'gateway-token'``), no secret."""

    def prefetch(self) -> None:
        """Start getting the credential in the background (called once, at start-up)."""

    @property
    def hint(self) -> str:
        """How to fix a refused credential (``mcp-router token update --name ...``)."""


class NoAuth:
    """For gateways that need no credential."""

    hint = "configure gateway.auth"

    async def headers(self) -> dict[str, str]:
        return {}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        return False

    def describe(self) -> str:
        return "no credential"

    def prefetch(self) -> None:
        pass


class StoreWorker:
    """Runs every store access of the router on one thread, off the event loop.

    Store calls block (a keyring over D-Bus, key derivation, a cross-process lock), and
    some of what a store opens (its SQLite metadata index) may only be used by the thread
    that opened it, so the store is opened, used and closed on this one thread.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")

    async def call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Start ``fn`` now, from any thread (before the event loop runs, for instance)."""
        return self._executor.submit(fn)

    def close(self, finalizer: Callable[[], object] | None = None) -> None:
        """Run ``finalizer`` (e.g. closing the store) on the worker thread, then stop it."""
        if finalizer is not None:
            self._executor.submit(finalizer).result()
        self._executor.shutdown(wait=True)
