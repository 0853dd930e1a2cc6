"""The metadata index: when each token was created, last used, updated and rotated.

Platform keychains do not record these, so they live here, in a SQLite database (WAL mode)
beside the config, keyed by (backend, name). It never holds a secret. Reading it needs no
unlock and no secret.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mcp_router.errors import CorruptStoreError, StorageUnavailableError
from mcp_router.secure.sqlitedb import open_private_db
from mcp_router.secure.store import TokenInfo

__all__ = ["MetadataIndex", "utcnow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    backend   TEXT NOT NULL,
    name      TEXT NOT NULL,
    created   TEXT,
    last_used TEXT,
    updated   TEXT,
    rotated   TEXT,
    PRIMARY KEY (backend, name)
) WITHOUT ROWID;
"""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class MetadataIndex:
    """SQLite-backed metadata, safe for concurrent processes (each change one transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            conn = open_private_db(self.path, _SCHEMA)
        except sqlite3.OperationalError as exc:
            raise StorageUnavailableError(
                f"cannot open the metadata index {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        self._conn = conn
        return conn

    def _damaged(self, exc: sqlite3.DatabaseError) -> CorruptStoreError:
        return CorruptStoreError(
            f"the metadata index {self.path} is unreadable: {exc}",
            hint="move it aside; 'mcp-router token repair --all' rebuilds it",
        )

    def _execute(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        """Run one statement and return its rows. SQLite's errors become ours: a busy,
        read-only or full database is unavailable storage; anything else (a damaged page,
        met while reading the rows too) a corrupt one."""
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StorageUnavailableError(
                f"cannot use the metadata index {self.path}: {exc}"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._execute(sql, params)

    def record_store(self, backend: str, name: str, *, rotated: bool = False) -> None:
        """A value was written: set ``created`` if new, else ``updated`` (and ``rotated``)."""
        now = _iso(utcnow())
        self._write(
            "INSERT INTO tokens (backend, name, created, updated, rotated) "
            "VALUES (?, ?, ?, NULL, ?) "
            "ON CONFLICT (backend, name) DO UPDATE SET updated = excluded.created, "
            "rotated = COALESCE(excluded.rotated, tokens.rotated)",
            (backend, name, now, now if rotated else None),
        )

    def record_use(self, backend: str, name: str) -> None:
        """A value was read. A token another tool created gets a row on first use."""
        now = _iso(utcnow())
        self._write(
            "INSERT INTO tokens (backend, name, last_used) VALUES (?, ?, ?) "
            "ON CONFLICT (backend, name) DO UPDATE SET last_used = excluded.last_used",
            (backend, name, now),
        )

    def ensure(self, backend: str, name: str) -> None:
        """Add a row (with unknown times) for a token found in the backend."""
        self._write(
            "INSERT OR IGNORE INTO tokens (backend, name) VALUES (?, ?)", (backend, name)
        )

    def restore_times(self, info: TokenInfo) -> None:
        """Set every time of ``info.name`` as given (a restore from backup); add the row."""
        times = tuple(_iso(t) if t else None
                      for t in (info.created, info.last_used, info.updated, info.rotated))
        self._write(
            "INSERT INTO tokens (backend, name, created, last_used, updated, rotated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (backend, name) DO UPDATE SET "
            "created = excluded.created, last_used = excluded.last_used, "
            "updated = excluded.updated, rotated = excluded.rotated",
            (info.backend, info.name, *times),
        )

    def forget(self, backend: str, name: str) -> None:
        self._write("DELETE FROM tokens WHERE backend = ? AND name = ?", (backend, name))

    def get(self, backend: str, name: str) -> TokenInfo | None:
        rows = self._execute(
            "SELECT name, created, last_used, updated, rotated FROM tokens "
            "WHERE backend = ? AND name = ?",
            (backend, name),
        )
        return self._info(backend, rows[0]) if rows else None

    def all(self, backend: str) -> dict[str, TokenInfo]:
        rows = self._execute(
            "SELECT name, created, last_used, updated, rotated FROM tokens "
            "WHERE backend = ? ORDER BY name",
            (backend,),
        )
        return {row[0]: self._info(backend, row) for row in rows}

    @staticmethod
    def _info(backend: str, row: tuple[str, str | None, str | None, str | None, str | None]
              ) -> TokenInfo:
        name, created, last_used, updated, rotated = row
        return TokenInfo(
            name=name,
            backend=backend,
            created=_parse(created),
            last_used=_parse(last_used),
            updated=_parse(updated),
            rotated=_parse(rotated),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
