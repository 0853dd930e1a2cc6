"""Formatting for tables, times and masked previews."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime

from mcp_router.secure.store import TokenInfo

__all__ = ["format_time", "info_json", "mask", "table"]

PREVIEW_MIN_LENGTH = 16


def format_time(moment: datetime | None) -> str:
    """Local time as ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if moment is None:
        return "-"
    # time.localtime is about twice as fast as datetime.astimezone, and `token list`
    # formats two times per token.
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment.timestamp()))


def mask(value: str) -> str:
    """A preview that reveals at most the last 4 characters, and none of a short value."""
    if len(value) < PREVIEW_MIN_LENGTH:
        return f"({len(value)} characters, too short to preview)"
    return f"****{value[-4:]} ({len(value)} characters)"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart (one format string: `token list` may print
    tens of thousands of rows)."""
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    return "\n".join(line.format(*cells).rstrip() for cells in [headers, *rows])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def info_json(info: TokenInfo) -> dict[str, str | None]:
    return {
        "name": info.name,
        "backend": info.backend,
        "created": _iso(info.created),
        "last_used": _iso(info.last_used),
        "updated": _iso(info.updated),
        "rotated": _iso(info.rotated),
    }


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
