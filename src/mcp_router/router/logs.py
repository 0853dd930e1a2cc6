"""Logging for ``run``: stderr only (stdout carries protocol messages), as text or JSON lines.

Both formats pass each line through :func:`~mcp_router.router.redact.redact_url`, so a
password written into a URL never reaches the log, whoever logged it."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

from mcp_router.router.redact import redact_url

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "configure_logging"]

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

#: Libraries whose debug output would include request headers (and so credentials):
#: they stay at WARNING whatever level the router logs at.
_QUIET = ("httpx", "httpcore", "websockets", "asyncio")


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_url(super().format(record))


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_url(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = type(record.exc_info[1]).__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "info", fmt: str = "text", stream: TextIO | None = None
) -> None:
    """Send the ``mcp_router`` loggers to ``stream`` (stderr) at ``level`` in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(_TextFormatter("mcp-router: %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
