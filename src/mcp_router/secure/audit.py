"""The tamper-evident audit log, and the layer that writes one record per token operation.

What a record holds: time (UTC), action, token name, outcome (``ok``, ``not found``,
``denied`` or ``error``), the OS user, the process id, the command (mcp-router's own
subcommand words such as ``token get``, never the raw argv, which may hold
``--value <secret>``), the backend and a short detail written by mcp-router itself. Never
the value, nor any hash of it.

The log itself (a hash-chained SQLite database beside the metadata index, 0600, with a
retention bound) is :mod:`mcp_router.secure.auditlog`; its names are re-exported here.

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
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from mcp_router.errors import (
    AccessDeniedError,
    MCPRouterError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure.auditlog import (
    AuditLog,
    AuditRecord,
    Retention,
    VerifyResult,
    open_log,
)
from mcp_router.secure.rotation import token_of
from mcp_router.secure.store import TokenInfo, TokenStore

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


class AuditStore:
    """Layer: append one audit record per operation, and refuse to work without the log."""

    def __init__(self, inner: TokenStore, log: AuditLog, backend_name: str) -> None:
        self.inner = inner
        self.log = log
        self.backend_name = backend_name
        # Per thread: while one thread is inside a compound operation, another thread's
        # reads through the same store must still be recorded.
        self._local = threading.local()

    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

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
        if self._depth():
            return
        self.log.append(current_action(default_action), _public(name), outcome,
                        backend=self.backend_name, detail=detail, command=current_command())

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
        self._local.depth = self._depth() + inner
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._local.depth = self._depth() - inner
            self._finish(action_name, name, error, detail)

    def _audited(self, default_action: str, name: str | None, call: Callable[[], _T]) -> _T:
        if self._depth():
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
                            detail=detail, command=current_command())
        except StorageUnavailableError as audit_error:
            if error is None:
                raise
            raise audit_error from error


def _public(name: str | None) -> str | None:
    """Companion items (the previous value kept by rotation) are logged under their token."""
    return token_of(name) if name else name
