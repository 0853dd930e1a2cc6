"""Reconnect delays from ``connection.reconnect``."""

from __future__ import annotations

from collections.abc import Iterator

from mcp_router.config.schema import ReconnectConfig

__all__ = ["delays"]


def delays(reconnect: ReconnectConfig) -> Iterator[float]:
    """The wait before each reconnect attempt: ``initial_delay``, times ``multiplier`` after
    each failure, capped at ``max_delay``; ``max_attempts`` of them (0: no end). Nothing
    when reconnecting is disabled."""
    if not reconnect.enabled:
        return
    delay, attempt = reconnect.initial_delay, 0
    while reconnect.max_attempts == 0 or attempt < reconnect.max_attempts:
        attempt += 1
        yield delay
        delay = min(delay * reconnect.multiplier, reconnect.max_delay)
