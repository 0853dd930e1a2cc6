"""Backup and restore: every token (value, previous value, metadata) in one file
encrypted under a passphrase, readable by any backend.

The byte format and the cryptography are in
:mod:`mcp_router.secure.encfile.backup_format`. This module collects the tokens, plans a
restore and applies it all or nothing: if any write fails or the user interrupts, the
tokens written so far are put back as they were, and the caller is told exactly what
happened. (Only a hard kill can stop the rollback; the audit log then lists each token
that was restored, one ``restore`` record per write.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_router.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    MCPRouterError,
    StorageUnavailableError,
    ValidationError,
)
from mcp_router.secure import audit
from mcp_router.secure.rotation import has_previous, is_companion, previous_name
from mcp_router.secure.store import TokenInfo
from mcp_router.secure.validation import validate_user_name, validate_value

if TYPE_CHECKING:
    from mcp_router.secure.opener import SecureStore

__all__ = ["RestorePlan", "apply_restore", "check_output", "collect", "plan_restore",
           "read_backup", "write_backup"]

_TIMES = ("created", "updated", "rotated", "last_used")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def collect(store: SecureStore) -> dict[str, Any]:
    """The backup document: every token's value, previous value and times."""
    items = {info.name for info in store.audit.list()}
    tokens = []
    for name in sorted(n for n in items if not is_companion(n)):
        info = store.info(name)
        entry: dict[str, Any] = {"name": name, "value": store.retrieve(name)}
        if previous_name(name) in items:
            entry["previous"] = store.audit.retrieve(previous_name(name))
        entry.update({key: _iso(getattr(info, key)) for key in _TIMES})
        tokens.append(entry)
    return {
        "version": 1,
        "created": _iso(datetime.now(timezone.utc)),
        "source_backend": store.backend_name,
        "tokens": tokens,
    }


def check_output(path: Path, *, force: bool) -> None:
    """Refuse an existing backup file unless ``force`` (the write re-checks atomically),
    and a directory that does not exist."""
    path = Path(path)
    if path.exists() and not force:
        raise _exists(path)
    if not path.parent.is_dir():
        raise ValidationError(f"cannot write {path}: the directory {path.parent} does not "
                              "exist", hint="create it, or choose another --output")


def write_backup(store: SecureStore, path: Path, passphrase: str, *,
                 force: bool = False) -> int:
    """Write every token to ``path`` (0600); refuse an existing file unless ``force``."""
    from mcp_router.secure.encfile.backup_format import encrypt_backup

    path = Path(path)
    check_output(path, force=force)  # before reading any value
    with store.audit.operation("backup", None, detail=f"to {path.name}", each=True):
        doc = collect(store)
        data = encrypt_backup(doc, passphrase)
        _write_private(path, data, force=force)
    return len(doc["tokens"])


def _write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``path`` 0600 through a temp file, so a crash never leaves a partial backup:
    atomically replacing it when ``force``, else refusing an existing file at the moment
    the complete file takes the name (no window for another file to appear and be lost)."""
    from mcp_router.paths import atomic_write

    try:
        atomic_write(path, data, overwrite=force)
    except FileExistsError:
        raise _exists(path) from None
    except PermissionError as exc:
        raise AccessDeniedError(f"cannot create {path}: permission denied") from exc
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: OSError) -> MCPRouterError:
    return StorageUnavailableError(f"cannot write {path}: {exc.strerror or exc}",
                                   hint="check the directory and free disk space; no "
                                   "backup file was left behind")


def _exists(path: Path) -> AlreadyExistsError:
    return AlreadyExistsError(f"{path} already exists",
                              hint="choose another --output, or pass --force to replace it")


def read_backup(path: Path, passphrase: str) -> dict[str, Any]:
    """Decrypt and check a backup file; nothing is written."""
    from mcp_router.secure.encfile.backup_format import decrypt_backup

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MCPRouterError(f"backup file {path} does not exist") from None
    except PermissionError as exc:
        raise AccessDeniedError(f"cannot read {path}: permission denied") from exc
    doc = decrypt_backup(data, passphrase)
    for entry in doc["tokens"]:
        validate_user_name(entry["name"])
        validate_value(entry["value"])
        if entry.get("previous") is not None:
            validate_value(entry["previous"])
    return doc


@dataclass
class RestorePlan:
    """What a restore would do, per token name."""

    add: list[str] = field(default_factory=list)
    overwrite: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)  # exists with another value, no --force
    unchanged: list[str] = field(default_factory=list)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def writes(self) -> list[str]:
        return sorted(self.add + self.overwrite)


def plan_restore(store: SecureStore, doc: dict[str, Any], *, force: bool) -> RestorePlan:
    plan = RestorePlan(entries={entry["name"]: entry for entry in doc["tokens"]})
    for name, entry in sorted(plan.entries.items()):
        if not store.backend.contains(name):
            plan.add.append(name)
        elif _same(store, name, entry):
            plan.unchanged.append(name)
        else:
            (plan.overwrite if force else plan.skip).append(name)
    return plan


def _same(store: SecureStore, name: str, entry: dict[str, Any]) -> bool:
    return store.retrieve(name) == entry["value"]


@dataclass
class _Undo:
    name: str
    before: str | None  # None: the token did not exist
    previous_before: str | None
    info: TokenInfo | None


def apply_restore(store: SecureStore, plan: RestorePlan,
                  report: Callable[[str], None]) -> list[str]:
    """Write the planned tokens all or nothing; return the names restored."""
    done: list[_Undo] = []
    current = ""
    with store.lock:
        try:
            for current in plan.writes:
                done.append(_snapshot(store, current))
                _write_entry(store, plan.entries[current])
        except BaseException as exc:
            with audit.action("restore-rollback"):
                failed = _rollback(store, done)
            why = f"restore stopped at '{current}' ({_describe(exc)})"
            if failed:
                report(f"{why}; rolled back {len(done) - len(failed)} token(s), but these "
                       f"still hold the value from the backup: {', '.join(failed)}")
            else:
                report(f"{why}; rolled back the {len(done)} token(s) it had written: "
                       "the store is as it was before")
            raise
    return plan.writes


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) if isinstance(exc, MCPRouterError) else type(exc).__name__


def _snapshot(store: SecureStore, name: str) -> _Undo:
    before = store.retrieve(name) if store.backend.contains(name) else None
    prev = previous_name(name)
    prev_before = store.audit.retrieve(prev) if has_previous(store.backend, name) else None
    return _Undo(name, before, prev_before, store.index.get(store.backend_name, name))


def _write_entry(store: SecureStore, entry: dict[str, Any]) -> None:
    from mcp_router.secure.encfile.backup_format import parse_time

    name = entry["name"]
    store.create(name, entry["value"], overwrite=True)
    if entry.get("previous") is not None:
        store.audit.store(previous_name(name), entry["previous"])
    elif has_previous(store.backend, name):  # the token is now as it was in the backup
        store.audit.delete(previous_name(name))
    times = {key: parse_time(entry[key]) if entry.get(key) else None for key in _TIMES}
    store.index.restore_times(TokenInfo(name=name, backend=store.backend_name, **times))


def _rollback(store: SecureStore, done: list[_Undo]) -> list[str]:
    """Undo in reverse order; return the names that could not be put back."""
    failed = []
    for undo in reversed(done):
        try:
            _put_back(store, undo.name, undo.before)
            if undo.previous_before is not None or has_previous(store.backend, undo.name):
                _put_back(store, previous_name(undo.name), undo.previous_before)
            if undo.before is not None and undo.info is not None:
                store.index.restore_times(undo.info)
        except Exception:
            failed.append(undo.name)
    return failed


def _put_back(store: SecureStore, item: str, value: str | None) -> None:
    if value is not None:
        store.audit.store(item, value)
    elif store.backend.contains(item):
        store.audit.delete(item)
