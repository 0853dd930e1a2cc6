"""``token repair``: mend what can be mended without the user's secret.

1. Permissions: the config directory (and the token file's directory) 0700; the token
   file, its lock, the metadata index, the audit log and their SQLite side files 0600.
   A file owned by another user is reported, not changed.
2. The metadata index: a row is added for each item the backend holds but the index does
   not know, and rows for items the backend no longer holds are removed.
3. The backend's own items: :meth:`Backend.repair` (a no-op by default) restores labels
   and attributes that differ from the spec, e.g. for the Secret Service.

Each fix is returned as one line of text. No value is read.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_router.errors import NotSupportedError, TokenNotFoundError
from mcp_router.secure.rotation import is_companion, previous_name, token_of
from mcp_router.secure.validation import MAX_NAME_LENGTH

if TYPE_CHECKING:
    from mcp_router.secure.opener import SecureStore
    from mcp_router.secure.store import StoreSettings

__all__ = ["repair"]

_STATE_FILES = ("metadata.db", "audit.db", "store.lock")
_SQLITE_SIDE = ("-wal", "-shm")


def repair(store: SecureStore, settings: StoreSettings, name: str | None = None) -> list[str]:
    """Repair token ``name`` (and the shared files), or everything when ``name`` is None."""
    fixes: list[str] = []
    with store.lock, store.audit.operation("repair", name):
        fixes += _fix_permissions(_private_paths(store, settings))
        present = _present(store, fixes)
        scope = {name, previous_name(name)} if name else None
        if scope and len(previous_name(name or "")) > MAX_NAME_LENGTH:
            scope = {name}
        if name and present is not None and not (
                scope & (present | set(store.index.all(store.backend_name)))):
            raise TokenNotFoundError(name, backend=store.backend_name)
        if present is not None:
            fixes += _fix_index(store, present, scope)
        if scope is None:
            items = sorted(present or ())
        else:
            items = sorted(scope if present is None else scope & present)
        for item in items:
            if present is not None or store.backend.contains(item):
                fixes += store.backend.repair(item)
    return fixes


def _private_paths(store: SecureStore, settings: StoreSettings) -> list[tuple[Path, int]]:
    state = store.index.path.parent
    paths: list[tuple[Path, int]] = [(state, 0o700)]
    for base in _STATE_FILES:
        paths += [(state / (base + side), 0o600) for side in ("", *_SQLITE_SIDE)]
    if store.backend_name == "file":
        token_file = settings.resolved_file_path()
        if token_file.parent != state:
            paths.append((token_file.parent, 0o700))
        paths += [(token_file, 0o600), (token_file.with_name(token_file.name + ".lock"), 0o600)]
    return paths


def _fix_permissions(paths: list[tuple[Path, int]]) -> list[str]:
    if sys.platform == "win32":  # pragma: no cover - ACLs, not mode bits, on Windows
        return []
    fixes = []
    for path, wanted in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            # chmod would follow the link and change a file outside the config directory.
            fixes.append(f"not changing {path}: it is a symbolic link; replace it with the "
                         "file itself")
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode == wanted:
            continue
        if info.st_uid != os.getuid():
            fixes.append(f"cannot fix {path}: owned by uid {info.st_uid}, not by you")
            continue
        os.chmod(path, wanted)
        fixes.append(f"permissions of {path}: {mode:04o} -> {wanted:04o}")
    return fixes


def _present(store: SecureStore, fixes: list[str]) -> set[str] | None:
    try:
        return {info.name for info in store.backend.list()}
    except NotSupportedError:
        fixes.append(f"the {store.backend_name} store cannot list its items: "
                     "metadata entries were not checked")
        return None


def _fix_index(store: SecureStore, present: set[str], scope: set[str] | None) -> list[str]:
    known = set(store.index.all(store.backend_name))
    fixes = []
    for item in sorted(present - known):
        if scope is None or item in scope:
            store.index.ensure(store.backend_name, item)
            fixes.append(f"added the missing metadata entry for {_label(item)}")
    for item in sorted(known - present):
        if scope is None or item in scope:
            store.index.forget(store.backend_name, item)
            fixes.append(f"removed the metadata entry for {_label(item)}: it is not in "
                         f"the {store.backend_name} store")
    return fixes


def _label(item: str) -> str:
    if is_companion(item):
        return f"the previous value of '{token_of(item)}'"
    return f"'{item}'"
