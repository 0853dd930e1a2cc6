"""A server-sent-events parser (the WHATWG event-stream format) over an async line iterator."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

__all__ = ["Event", "parse_events"]


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None
    retry_ms: int | None = None


async def parse_events(lines: AsyncIterable[str]) -> AsyncIterator[Event]:
    """Yield each complete event; ``lines`` come without their line endings."""
    data: list[str] = []
    event, event_id, retry = "", None, None
    async for line in lines:
        if not line:
            if data or event_id is not None:
                yield Event("\n".join(data), event or "message", event_id, retry)
            data, event, event_id, retry = [], "", None, None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    if data:
        yield Event("\n".join(data), event or "message", event_id, retry)
