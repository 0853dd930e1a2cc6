"""``type: bearer``: a static token from the store, sent as ``Authorization: Bearer``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Future

from mcp_router.auth.base import SecretSource, StoreWorker
from mcp_router.secret import Secret

__all__ = ["BearerProvider"]

log = logging.getLogger(__name__)


class BearerProvider:
    """Resolves the token on first use and again after a 401.

    A token rotated in the store while the router runs is therefore picked up the first
    time the gateway refuses the old one; an unchanged token is not retried.
    """

    def __init__(
        self, source: SecretSource, description: str, worker: StoreWorker, *, hint: str = ""
    ) -> None:
        self.hint = hint
        self._source = source
        self._worker = worker
        self._description = description
        self._token: Secret | None = None
        self._early: Future[Secret] | None = None
        self._lock = asyncio.Lock()

    def prefetch(self) -> None:
        """Read the token on the store thread while the rest of the router starts."""
        self._early = self._worker.submit(self._source)

    async def headers(self) -> dict[str, str]:
        if self._token is None:
            async with self._lock:
                early, self._early = self._early, None
                if self._token is None and early is not None:
                    try:
                        self._token = await asyncio.wrap_future(early)
                    except Exception:  # reported by the regular read just below
                        log.debug("reading the token at start-up failed")
                if self._token is None:
                    self._token = await self._worker.call(self._source)
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        async with self._lock:
            current = await self._worker.call(self._source)
            if _header(current) != rejected.get("Authorization"):
                log.info("the %s changed in the store; retrying with it", self._description)
                self._token = current
                return True
            self._token = current
            return False

    def describe(self) -> str:
        return self._description


def _header(token: Secret) -> str:
    return f"Bearer {token.reveal()}"
