"""The relay's own stdin and stdout, as asyncio line streams.

stdout carries protocol messages only. :func:`claim_stdout` moves the protocol onto a
private duplicate of file descriptor 1 and points descriptor 1 at stderr, so that a stray
``print`` (ours or a library's) lands in the log instead of corrupting the stream.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from typing import BinaryIO

__all__ = ["LineReader", "LineWriter", "claim_stdout", "open_reader", "open_writer"]

#: The longest line accepted on stdin (a message with a large tool argument is fine).
MAX_LINE = 64 * 1024 * 1024


def claim_stdout() -> BinaryIO:
    """Return a binary file on the real stdout and redirect descriptor 1 to stderr."""
    sys.stdout.flush()
    private = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(private, "wb", buffering=0)


class LineReader:
    """``readline()`` over a pipe (asyncio) or, where that is impossible, a thread."""

    def __init__(self, stream: asyncio.StreamReader | None, queue: asyncio.Queue[bytes] | None):
        self._stream = stream
        self._queue = queue

    async def readline(self) -> bytes:
        """The next line including its newline; ``b""`` at end of input."""
        if self._stream is not None:
            try:
                return await self._stream.readline()
            except ValueError:  # a line longer than MAX_LINE: skip to its end
                await self._stream.readuntil(b"\n")
                return b"\0\n"
        assert self._queue is not None
        return await self._queue.get()


class LineWriter:
    """Writes whole lines; ``drain`` applies back-pressure when the client reads slowly."""

    def __init__(self, writer: asyncio.StreamWriter | None, file: BinaryIO) -> None:
        self._writer = writer
        self._file = file

    def write_line(self, line: bytes) -> None:
        if self._writer is not None:
            self._writer.write(line + b"\n")
        else:
            self._file.write(line + b"\n")
            self._file.flush()

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer.drain()

    def close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            else:
                self._file.close()
        except OSError:
            pass


async def open_reader(file: BinaryIO) -> LineReader:
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        stream = asyncio.StreamReader(limit=MAX_LINE)
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), file)
            return LineReader(stream, None)
        except (OSError, ValueError):
            pass  # a regular file or another object epoll cannot watch
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    buffered = io.BufferedReader(file) if isinstance(file, io.RawIOBase) else file

    def pump() -> None:
        for line in iter(buffered.readline, b""):
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, b"")

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return LineReader(None, queue)


async def open_writer(file: BinaryIO) -> LineWriter:
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        try:
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, file
            )
            writer = asyncio.StreamWriter(transport, protocol, None, loop)
            return LineWriter(writer, file)
        except (OSError, ValueError):
            pass
    return LineWriter(None, file)
