"""A cross-process exclusive lock on a lock file (``flock`` on POSIX, ``msvcrt`` on Windows)."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from mcp_router.errors import LockTimeoutError, StorageUnavailableError

__all__ = ["FileLock"]

DEFAULT_TIMEOUT = 30.0
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: The errors a non-blocking lock attempt gives while another process holds the lock
#: (flock: EWOULDBLOCK = EAGAIN; msvcrt.locking: EACCES or EDEADLOCK).
_HELD_ELSEWHERE = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES,
                   getattr(errno, "EDEADLOCK", errno.EDEADLK)}


class FileLock:
    """Exclusive advisory lock held on ``path`` while inside ``with``.

    Re-entrant within one object (nested ``with`` blocks share the outer lock), so that a
    layer may take the lock around a compound operation that calls locked methods.
    """

    def __init__(self, path: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        # O_NOFOLLOW: a symlink planted at the lock path must not make us create or open
        # a file elsewhere (it fails with ELOOP instead).
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StorageUnavailableError(
                f"cannot open the lock file {self.path}: {exc.strerror}",
                hint="it must be a regular file owned by you; remove whatever is there",
            ) from exc
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                _try_lock(fd)
                break
            except OSError as exc:
                if exc.errno not in _HELD_ELSEWHERE:  # e.g. ENOLCK: no locks on this disk
                    os.close(fd)
                    raise StorageUnavailableError(
                        f"cannot lock {self.path}: {exc.strerror or exc}",
                        hint="the file system may not support locks (a network share?); "
                        "keep the config directory on a local disk",
                    ) from exc
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(
                        f"timed out after {self.timeout:g}s waiting for the lock {self.path}",
                        hint="another mcp-router process is using the store; retry, "
                        "or end the stuck process",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth:
            return
        fd, self._fd = self._fd, None
        assert fd is not None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised by the Windows CI job
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
