"""Where mcp-router keeps its files, and how it creates them safely."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "atomic_write", "config_dir", "ensure_private_dir", "fsync_dir"]

APP_DIR = "mcp-router"
#: :func:`atomic_write` writes ``.<name>.<pid>-<random>.tmp`` beside the file it replaces.
TEMP_SUFFIX = ".tmp"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/mcp-router``, else ``~/.config/mcp-router`` (``%APPDATA%`` on Windows)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / APP_DIR
    return Path.home() / ".config" / APP_DIR


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; the leaf is created 0700.

    An existing directory is left as it is: ``doctor`` reports loose permissions and
    ``token repair`` tightens them, rather than every command changing them silently.
    """
    if not path.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                if not path.is_dir():
                    raise
        except OSError as exc:
            raise _cannot_create(path, exc) from exc
    return path


def _cannot_create(path: Path, exc: OSError) -> Exception:
    from mcp_router.errors import AccessDeniedError, StorageUnavailableError

    hint = ("create it yourself (mode 0700), or point XDG_CONFIG_HOME or the config's "
            "paths elsewhere")
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"cannot create the directory {path}: permission denied",
                                 hint=hint)
    return StorageUnavailableError(
        f"cannot create the directory {path}: {exc.strerror or exc}", hint=hint)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a reader, or a crash, sees the old or the new
    file, never a mix or nothing: a temp file in the same directory, created 0600 by the
    open itself (never write-then-chmod; ``O_EXCL`` never reuses or follows an existing
    name), fsynced, renamed over ``path``, then the directory fsynced. On failure the temp
    file is removed and ``path`` is untouched.

    With ``overwrite=False`` an existing ``path`` (even a dangling symlink) raises
    :class:`FileExistsError`, decided at the moment the complete file takes the name (see
    :func:`_take_new_name`), so no other file is ever replaced and no partial file is ever
    seen under ``path``."""
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}{TEMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _take_new_name(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


#: ``link()`` errors meaning "this file system has no hard links", not "the name is taken".
_NO_HARD_LINKS = {getattr(errno, n) for n in ("EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS",
                                               "EMLINK", "EXDEV") if hasattr(errno, n)}


def _take_new_name(tmp: Path, path: Path) -> None:
    """Give the complete file ``tmp`` the name ``path`` unless that name exists, race-free.

    A check before the rename would leave a window in which another process creates
    ``path`` and the rename silently replaces it. So the name is claimed by an operation
    that fails if it exists:

    - Windows: ``rename`` (``MoveFileEx`` without ``REPLACE_EXISTING``) refuses an
      existing name by itself.
    - POSIX ``rename`` replaces, so a hard link is made instead: ``link()`` fails with
      ``EEXIST`` if the name exists (it never follows a symlink there), and the complete
      file appears under ``path`` in one step; the temp name is then dropped.
    - File systems without hard links (FAT, some network shares): the name is claimed with
      ``O_EXCL`` (an empty file that only this process created) and the complete file is
      renamed over that claim. A crash between the two leaves an empty file, never part of
      the data.
    """
    if os.name == "nt":
        os.rename(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, path)
        return
    tmp.unlink()
