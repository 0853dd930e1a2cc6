"""Formatting for tables, times and masked previews."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from mcp_router.secure.store import TokenInfo

__all__ = ["format_time", "info_json", "mask", "table"]

PREVIEW_MIN_LENGTH = 16


def format_time(moment: datetime | None) -> str:
    """Local time as ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def mask(value: str) -> str:
    """A preview that reveals at most the last 4 characters, and none of a short value."""
    if len(value) < PREVIEW_MIN_LENGTH:
        return f"({len(value)} characters, too short to preview)"
    return f"****{value[-4:]} ({len(value)} characters)"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
             for line in [headers, *rows]]
    return "\n".join(lines)


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
