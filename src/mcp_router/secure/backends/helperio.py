"""Talking to a helper process over pipes with bounded reads and a deadline.

:meth:`subprocess.Popen.communicate` reads everything a process prints, so a broken or
hostile helper (``yes``, ``cat /dev/zero``) could fill memory. :func:`communicate` reads
at most ``out_limit`` bytes of stdout (one more tells that there was more) and keeps only
the first ``err_limit`` bytes of stderr (the rest is read and dropped, so the helper never
blocks on a full pipe). Threads do the reading and writing, the same on POSIX and Windows.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import IO

__all__ = ["OutputTooLargeError", "communicate"]

_CHUNK = 65536


class OutputTooLargeError(Exception):
    """The process printed more than the limit on stdout (it is still running)."""


class _Reader(threading.Thread):
    def __init__(self, stream: IO[bytes], limit: int, *, stop_at_limit: bool) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.limit = limit
        self.stop_at_limit = stop_at_limit
        self.data = bytearray()
        self.overflow = False

    def run(self) -> None:
        try:
            while chunk := self.stream.read1(_CHUNK):  # type: ignore[attr-defined]
                room = self.limit - len(self.data)
                self.data += chunk[:max(room, 0)]
                if len(chunk) > room:
                    self.overflow = True
                    if self.stop_at_limit:
                        return
        except (OSError, ValueError):  # the pipe broke: the process is gone
            return
        finally:
            self.stream.close()  # at the limit, this tells the process to stop (EPIPE)


def _write(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
        stream.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the process exited without reading all of it; its status will say why


def communicate(proc: subprocess.Popen[bytes], stdin: bytes | None, timeout: float,
                *, out_limit: int, err_limit: int) -> tuple[bytes, bytes]:
    """Send ``stdin``, wait for the process, and return (stdout, stderr).

    Raises :class:`OutputTooLargeError` as soon as stdout exceeds ``out_limit`` bytes and
    :class:`subprocess.TimeoutExpired` after ``timeout`` seconds; in both cases the
    process is still running and the caller stops it.
    """
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    out = _Reader(proc.stdout, out_limit, stop_at_limit=True)
    err = _Reader(proc.stderr, err_limit, stop_at_limit=False)
    threads: list[threading.Thread] = [out, err]
    if stdin is not None and proc.stdin is not None:
        threads.append(threading.Thread(target=_write, args=(proc.stdin, stdin), daemon=True))
    for thread in threads:
        thread.start()
    out.join(max(deadline - time.monotonic(), 0))  # returns early on too much output
    if out.overflow:
        raise OutputTooLargeError(out_limit)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    if any(thread.is_alive() for thread in threads):
        raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait(max(deadline - time.monotonic(), 1.0))  # its pipes are closed: it is ending
    return bytes(out.data), bytes(err.data)
