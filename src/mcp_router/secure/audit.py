"""The tamper-evident audit log, and the layer that writes one record per token operation.

What a record holds: time (UTC), action, token name, outcome (``ok``, ``not found``,
``denied`` or ``error``), the OS user, the process id, the command (mcp-router's own
subcommand words such as ``token get``, never the raw argv, which may hold
``--value <secret>``), the backend and a short detail written by mcp-router itself. Never
the value, nor any hash of it.

Storage: a SQLite database ``audit.db`` beside the metadata index (0600, WAL mode). SQLite
rather than a JSON-lines file because (1) ``token audit --days 7`` must stay fast over
hundreds of thousands of records, which needs an index on time, (2) appends from
concurrent processes must be serialised with the read of the chain head, which
``BEGIN IMMEDIATE`` gives without a separate lock, and (3) trimming old records and moving
the anchor must be one atomic step.

Hash chain: ``hash = SHA-256(prev_hash || canonical_body)`` where ``prev_hash`` is the 32
raw bytes of the previous record's hash (all zero for the first record) and the body is
the record's fields (including its sequence number) as JSON with sorted keys and no
spaces. :meth:`AuditLog.verify` walks the chain and reports the first record that was
edited, reordered or deleted. Retention (:class:`Retention`) trims the oldest records;
the hash of the last trimmed record is kept as the anchor, and a ``trim`` record in the
chain vouches for it, so the log stays verifiable after trimming.

Fail closed: :class:`AuditStore` opens the log before it touches the store; if the log
cannot be opened the operation is refused. If the record cannot be appended afterwards,
the command fails with :class:`~mcp_router.errors.StorageUnavailableError`; a value that
was read is then never returned.

API for callers (CLI commands, ``config check``, the router)::

    from mcp_router.secure import audit

    audit.set_command("config check")      # once, at the start of a command
    with audit.action("resolve"):          # records inside use this action
        value = store.retrieve("gateway-token")

Without :func:`action`, a record's action is the last word of a ``token`` command
(``token set`` -> ``set``); in any other command a read is ``resolve`` and a write ``set``
(the CLI's root group names every command, so ``run`` and ``config check`` are covered
without further code); in library use without a command, it is the method (``store``,
``retrieve``, ``delete``, ``list``). :meth:`AuditStore.operation` records one record for a
compound operation (e.g. ``rotate``) instead of one per backend call.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from mcp_router.errors import (
    AccessDeniedError,
    ConfigError,
    CorruptStoreError,
    MCPRouterError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.paths import ensure_private_dir
from mcp_router.secure.rotation import token_of
from mcp_router.secure.store import StoreSettings, TokenInfo, TokenStore

__all__ = [
    "OUTCOMES",
    "AuditLog",
    "AuditRecord",
    "AuditStore",
    "Retention",
    "VerifyResult",
    "action",
    "current_action",
    "current_command",
    "open_log",
    "outcome_of",
    "set_command",
]

OUTCOMES = ("ok", "not found", "denied", "error")
GENESIS = "0" * 64
_T = TypeVar("_T")

_command: ContextVar[str | None] = ContextVar("mcp_router_audit_command", default=None)
_action: ContextVar[str | None] = ContextVar("mcp_router_audit_action", default=None)


def set_command(words: str | None) -> None:
    """Name the command running now, as mcp-router's own words (``"token get"``)."""
    _command.set(words)


def current_command() -> str | None:
    return _command.get()


@contextlib.contextmanager
def action(name: str) -> Iterator[None]:
    """Record the operations inside this block under action ``name`` (e.g. ``resolve``)."""
    reset = _action.set(name)
    try:
        yield
    finally:
        _action.reset(reset)


_OUTSIDE_TOKEN_GROUP = {"retrieve": "resolve", "store": "set"}


def current_action(default: str) -> str:
    """The action for a record: :func:`action` if set; in a ``token`` command its last
    word; in another command (``run``, ``config check``) a read is a ``resolve``; with no
    command (library use), ``default``."""
    explicit = _action.get()
    if explicit:
        return explicit
    words = (_command.get() or "").split()
    if not words:
        return default
    if words[0] == "token" and len(words) > 1:
        return words[-1]
    return _OUTSIDE_TOKEN_GROUP.get(default, default)


def outcome_of(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, TokenNotFoundError):
        return "not found"
    if isinstance(exc, AccessDeniedError | StoreLockedError):
        return "denied"
    return "error"


@functools.lru_cache(maxsize=1)
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


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

    Trimming starts when the log holds 1% more than ``max_records`` (so that it does not
    run on every append) and brings it back to ``max_records``.
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
            ensure_private_dir(self.path.parent)
            if not self.path.exists():
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
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
                record = self._insert(conn, action, name, outcome, backend, detail,
                                      command if command is not None else current_command())
                self._trim(conn)
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

    def _trim(self, conn: sqlite3.Connection) -> None:
        """Drop records beyond the retention bounds; keep the chain verifiable."""
        first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM records").fetchone()
        if first is None:
            return
        limit = self.retention.max_records
        cut = last - limit if last - first + 1 > limit + limit // 100 else first - 1
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
                     f"removed records #{first}..#{cut}; anchor {anchor_hash}", current_command())

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
    (for ``make bench``: ``token audit --days 7`` over a large log)."""
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


class AuditStore:
    """Layer: append one audit record per operation, and refuse to work without the log."""

    def __init__(self, inner: TokenStore, log: AuditLog, backend_name: str) -> None:
        self.inner = inner
        self.log = log
        self.backend_name = backend_name
        self._depth = 0

    def store(self, name: str, token: str) -> None:
        self._audited("store", name, lambda: self.inner.store(name, token))

    def retrieve(self, name: str) -> str:
        return self._audited("retrieve", name, lambda: self.inner.retrieve(name))

    def delete(self, name: str) -> None:
        self._audited("delete", name, lambda: self.inner.delete(name))

    def list(self) -> list[TokenInfo]:
        return self._audited("list", None, self.inner.list)

    def record(self, default_action: str, name: str | None, outcome: str,
               detail: str | None = None) -> None:
        """Append a record for something that happened outside the four methods."""
        if self._depth:
            return
        self.log.append(current_action(default_action), _public(name), outcome,
                        backend=self.backend_name, detail=detail)

    @contextlib.contextmanager
    def operation(self, action_name: str, name: str | None, detail: str | None = None,
                  *, each: bool = False) -> Iterator[None]:
        """One record for a compound operation; the calls inside are not recorded apart,
        unless ``each`` (backup and restore record every token they read or write too).

        The action is :func:`current_action` with ``action_name`` as the default.
        """
        action_name = current_action(action_name)
        self.log.open()
        inner = 0 if each else 1
        self._depth += inner
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._depth -= inner
            self._finish(action_name, name, error, detail)

    def _audited(self, default_action: str, name: str | None, call: Callable[[], _T]) -> _T:
        if self._depth:
            return call()
        self.log.open()  # fail closed: no log, no operation
        try:
            result = call()
        except BaseException as exc:
            self._finish(current_action(default_action), name, exc)
            raise
        self._finish(current_action(default_action), name, None)
        return result

    def _finish(self, action_name: str, name: str | None, error: BaseException | None,
                detail: str | None = None) -> None:
        outcome = outcome_of(error)
        if detail is None and isinstance(error, MCPRouterError) and outcome == "error":
            detail = type(error).__name__
        try:
            self.log.append(action_name, _public(name), outcome, backend=self.backend_name,
                            detail=detail)
        except StorageUnavailableError as audit_error:
            if error is None:
                raise
            raise audit_error from error


def _public(name: str | None) -> str | None:
    """Companion items (the previous value kept by rotation) are logged under their token."""
    return token_of(name) if name else name
