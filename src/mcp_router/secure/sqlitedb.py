"""Opening the private SQLite databases (metadata index, audit log) safely.

Both are created 0600 before SQLite touches them, use WAL (readers never wait for the
writer) with ``synchronous=NORMAL``, and survive many processes opening a new database at
the same moment: switching a new file to WAL takes an exclusive lock that SQLite's busy
timeout does not wait for, so that step (and creating the schema) is retried until the
same deadline.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mcp_router.paths import ensure_private_dir

__all__ = ["BUSY_TIMEOUT", "open_private_db"]

BUSY_TIMEOUT = 30.0
_T = TypeVar("_T")


def open_private_db(path: Path, schema: str) -> sqlite3.Connection:
    """A connection (autocommit) to the 0600 database at ``path`` with ``schema`` applied.

    Raises :class:`sqlite3.Error` or :class:`OSError`; callers turn those into their own
    errors (a damaged index and a damaged audit log call for different fixes)."""
    ensure_private_dir(path.parent)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT
        _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall(), deadline)
        conn.execute("PRAGMA synchronous=NORMAL")
        _retry_busy(lambda: conn.executescript(schema), deadline)
    except BaseException:
        conn.close()
        raise
    return conn


def _retry_busy(step: Callable[[], _T], deadline: float) -> _T:
    delay = 0.001
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or (
                    time.monotonic() >= deadline):
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
