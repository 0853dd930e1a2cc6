"""The audit log itself: hash-chained records in a SQLite database, with retention.

See :mod:`mcp_router.secure.audit` for what is recorded and when; this module stores,
queries, verifies and trims. Storage is ``audit.db`` beside the metadata index (0600, WAL
mode). SQLite rather than a JSON-lines file because (1) ``token audit --days 7`` must stay
fast over hundreds of thousands of records, which needs an index on time, (2) appends
from concurrent processes must be serialised with the read of the chain head, which
``BEGIN IMMEDIATE`` gives without a separate lock, and (3) trimming old records and moving
the anchor must be one atomic step.

Hash chain: ``hash = SHA-256(prev_hash || canonical_body)`` where ``prev_hash`` is the 32
raw bytes of the previous record's hash (all zero for the first record) and the body is
the record's fields (including its sequence number) as JSON with sorted keys and no
spaces. :meth:`AuditLog.verify` walks the chain and reports the first record that was
edited, reordered or deleted. :class:`Retention` trims the oldest records; the hash of
the last trimmed record is kept as the anchor, and a ``trim`` record in the chain vouches
for it, so the log stays verifiable after trimming.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mcp_router.errors import ConfigError, CorruptStoreError, StorageUnavailableError
from mcp_router.secure.sqlitedb import open_private_db
from mcp_router.secure.store import StoreSettings

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditRecord",
    "Retention",
    "VerifyResult",
    "chain_hash",
    "open_log",
]

GENESIS = "0" * 64


@functools.lru_cache(maxsize=1)
def _os_user() -> str:
    """The account running this process, as the OS knows it: by uid from the user database
    on POSIX, from ``GetUserNameW`` on Windows. Never from ``LOGNAME``/``USER``/
    ``USERNAME`` (what :func:`getpass.getuser` reads first): the caller sets those."""
    if hasattr(os, "getuid"):
        import pwd

        try:
            return pwd.getpwuid(os.getuid()).pw_name
        except KeyError:  # a uid without a passwd entry (common in containers)
            return str(os.getuid())
    if sys.platform == "win32":
        import ctypes

        size = ctypes.c_ulong(257)  # UNLEN + 1
        buffer = ctypes.create_unicode_buffer(size.value)
        if ctypes.windll.advapi32.GetUserNameW(buffer, ctypes.byref(size)):
            return buffer.value
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log. ``hash`` covers ``prev`` and every other field."""

    seq: int
    time: str
    action: str
    name: str | None
    outcome: str
    user: str
    pid: int
    command: str | None
    backend: str | None
    detail: str | None
    prev: str
    hash: str

    def body(self) -> bytes:
        fields = asdict(self)
        del fields["prev"], fields["hash"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")

    def expected_hash(self) -> str:
        return chain_hash(self.prev, self.body())

    @property
    def moment(self) -> datetime:
        return datetime.fromisoformat(self.time)


def _utc_text(moment: datetime) -> str:
    """Record times are UTC ISO 8601 text, so that they sort (and index) as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def chain_hash(prev: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()


@dataclass(frozen=True)
class Retention:
    """Bounds on the log: at most ``max_records`` records and none older than ``max_days``.

    Trimming starts when the log holds 1% (at least 10) more than ``max_records``, so
    that it does not run on every append, and brings it back to ``max_records``.
    """

    max_records: int = 200_000
    max_days: int = 400

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> Retention:
        """From ``advanced.secure_storage.options``: ``audit_max_records``, ``audit_max_days``."""
        values = {}
        for key, default in (("audit_max_records", cls.max_records),
                             ("audit_max_days", cls.max_days)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"advanced.secure_storage.options.{key} must be a whole "
                                  f"number of at least 1, not {value!r}")
            values[key[len("audit_"):]] = value
        return cls(**values)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    first_seq: int | None
    head: str
    broken_seq: int | None = None
    reason: str | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq     INTEGER PRIMARY KEY,
    time    TEXT NOT NULL,
    action  TEXT NOT NULL,
    name    TEXT,
    outcome TEXT NOT NULL,
    user    TEXT NOT NULL,
    pid     INTEGER NOT NULL,
    command TEXT,
    backend TEXT,
    detail  TEXT,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_time ON records (time);
CREATE INDEX IF NOT EXISTS records_name ON records (name, time);
CREATE TABLE IF NOT EXISTS anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""
_COLUMNS = "seq, time, action, name, outcome, user, pid, command, backend, detail, prev, hash"
# Only the constant column list is formatted into SQL; every value is a bound parameter.
_SELECT = "SELECT " + _COLUMNS + " FROM records"  # noqa: S608
_INSERT = "INSERT INTO records (" + _COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608


def open_log(settings: StoreSettings) -> AuditLog:
    """The audit log of the store ``settings`` describe: ``audit.db`` in the config dir."""
    return AuditLog(settings.resolved_config_dir() / "audit.db",
                    Retention.from_options(settings.options))


class AuditLog:
    """The append-only, hash-chained log in ``path`` (SQLite)."""

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self.path = Path(path)
        self.retention = retention or Retention()
        #: The time source for new records (tests of retention set an earlier one).
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._conn: sqlite3.Connection | None = None

    # -- connection -------------------------------------------------------------------
    def open(self) -> sqlite3.Connection:
        """Open (creating 0600 if needed); raise if the log cannot be used."""
        if self._conn is not None:
            return self._conn
        try:
            conn = open_private_db(self.path, _SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailableError(
                f"cannot open the audit log {self.path}: {exc}; the operation was refused",
                hint="free disk space or fix its permissions; if it is damaged, move it "
                "aside for review (a new log then starts)",
            ) from exc
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing ----------------------------------------------------------------------
    def append(self, action: str, name: str | None, outcome: str, *,
               backend: str | None = None, detail: str | None = None,
               command: str | None = None) -> AuditRecord:
        """Append one record (a transaction of its own); raise if it cannot be written."""
        conn = self.open()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                record = self._insert(conn, action, name, outcome, backend, detail, command)
                self._trim(conn, command)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageUnavailableError(
                f"cannot write the audit log {self.path}: {exc}",
                hint="the command was refused; free disk space or fix the file, then retry",
            ) from exc
        return record

    def _head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            return int(row[0]), str(row[1])
        anchor = conn.execute("SELECT seq, hash FROM anchor WHERE id = 1").fetchone()
        return (int(anchor[0]), str(anchor[1])) if anchor else (0, GENESIS)

    def _insert(self, conn: sqlite3.Connection, action: str, name: str | None, outcome: str,
                backend: str | None, detail: str | None, command: str | None) -> AuditRecord:
        seq, prev = self._head(conn)
        draft = AuditRecord(
            seq=seq + 1, time=_utc_text(self.clock()),
            action=action, name=name, outcome=outcome, user=_os_user(), pid=os.getpid(),
            command=command, backend=backend, detail=detail, prev=prev, hash="",
        )
        record = AuditRecord(**{**asdict(draft), "hash": draft.expected_hash()})
        conn.execute(_INSERT, tuple(asdict(record).values()))
        return record

    def _trim(self, conn: sqlite3.Connection, command: str | None) -> None:
        """Drop records beyond the retention bounds; keep the chain verifiable."""
        first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM records").fetchone()
        if first is None:
            return
        limit = self.retention.max_records
        slack = max(limit // 100, 10)  # so that a trim (and its record) is occasional
        cut = last - limit if last - first + 1 > limit + slack else first - 1
        cutoff = _utc_text(self.clock() - timedelta(days=self.retention.max_days))
        old = conn.execute("SELECT MAX(seq) FROM records WHERE time < ?", (cutoff,)).fetchone()
        cut = max(cut, old[0] or 0)
        if cut < first:
            return
        anchor_hash = conn.execute("SELECT hash FROM records WHERE seq = ?", (cut,)).fetchone()[0]
        conn.execute("DELETE FROM records WHERE seq <= ?", (cut,))
        conn.execute("INSERT OR REPLACE INTO anchor (id, seq, hash) VALUES (1, ?, ?)",
                     (cut, anchor_hash))
        self._insert(conn, "trim", None, "ok", None,
                     f"removed records #{first}..#{cut}; anchor {anchor_hash}", command)

    # -- reading ----------------------------------------------------------------------
    def query(self, *, name: str | None = None, days: float | None = None,
              action: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Records matching every given filter, newest first (at most ``limit``)."""
        where, params = self._filters(name, days, action)
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time DESC, seq DESC"  # served by the time (or name, time) index
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AuditRecord(*row) for row in self._read(sql, params)]

    def count(self, *, name: str | None = None, days: float | None = None,
              action: str | None = None) -> int:
        """How many records match (the filters of :meth:`query`)."""
        where, params = self._filters(name, days, action)
        clause = " WHERE " + " AND ".join(where) if where else ""
        sql = "SELECT COUNT(*) FROM records" + clause  # noqa: S608 - fixed clauses, bound values
        return int(str(self._read(sql, params)[0][0]))

    @staticmethod
    def _filters(name: str | None, days: float | None, action: str | None
                 ) -> tuple[list[str], list[object]]:
        where: list[str] = []
        params: list[object] = []
        if days is not None:
            since = datetime.now(timezone.utc) - timedelta(days=days)
            where.append("time >= ?")
            params.append(_utc_text(since))
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        return where, params

    def _read(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        try:
            return self.open().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise CorruptStoreError(f"cannot read the audit log {self.path}: {exc}") from exc

    def verify(self) -> VerifyResult:
        """Walk the chain from the anchor; report the first edited/reordered/deleted record."""
        anchor = self._read("SELECT seq, hash FROM anchor WHERE id = 1", [])
        anchor_seq, anchor_hash = (0, GENESIS)
        if anchor:
            anchor_seq, anchor_hash = int(str(anchor[0][0])), str(anchor[0][1])
        vouch = f"#{anchor_seq}; anchor {anchor_hash}"
        prev, expected_seq, count, first = anchor_hash, anchor_seq + 1, 0, None
        vouched = not anchor
        for row in self._read(_SELECT + " ORDER BY seq", []):
            record = AuditRecord(*row)
            first = record.seq if first is None else first
            problem = _check(record, expected_seq, prev)
            if problem:
                return VerifyResult(False, count, first, prev, record.seq, problem)
            if record.action == "trim" and (record.detail or "").endswith(vouch):
                vouched = True
            prev, expected_seq, count = record.hash, record.seq + 1, count + 1
        if not vouched:
            return VerifyResult(False, count, first, prev, anchor_seq + 1,
                                "the records before it were removed without a trim record")
        return VerifyResult(True, count, first, prev)


def bench_fill(config_dir: Path, records: int, *, days: float = 100.0) -> None:
    """Append ``records`` well-formed, chained records spread evenly over the last ``days``
    (for ``make bench``: ``token audit --days 7`` over a large log).

    Not part of the API (not in ``__all__``): ``scripts/bench_env.py`` looks it up here. It
    stays in this module because it writes rows the way the log does (its private insert
    and chain head), which a script outside could only copy."""
    log = AuditLog(Path(config_dir) / "audit.db", Retention(max_records=max(records, 1)))
    conn = log.open()
    now = datetime.now(timezone.utc)
    step = timedelta(days=days) / max(records, 1)
    conn.execute("BEGIN IMMEDIATE")
    seq, prev = log._head(conn)
    user, pid = _os_user(), os.getpid()
    rows = []
    for i in range(records):
        draft = AuditRecord(seq + 1 + i, _utc_text(now - step * (records - i)), "get",
                            f"bench-{i % 50}", "ok", user, pid, "token get",
                            "file", None, prev, "")
        prev = draft.expected_hash()
        rows.append((*astuple(draft)[:-1], prev))
    conn.executemany(_INSERT, rows)
    conn.execute("COMMIT")
    log.close()


def _check(record: AuditRecord, expected_seq: int, prev: str) -> str | None:
    if record.seq != expected_seq:
        return f"expected record #{expected_seq} here: a record was deleted or reordered"
    if record.prev != prev:
        return "its link to the previous record is wrong: a record was deleted or reordered"
    if record.hash != record.expected_hash():
        return "its contents do not match its hash: the record was edited"
    return None
