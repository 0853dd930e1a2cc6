"""A small asyncio HTTP/1.1 client for the relay's hot path, on h11 (the parser httpx uses).

The relay sends every message as one POST to one origin, so it needs little: keep-alive
connections to that origin, TLS, streamed bodies (event streams), a connect timeout and the
environment's proxy (``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, tunnelled with
CONNECT for https). Doing just that directly on asyncio streams keeps start-up and per-message
cost well below those of a general client and its async runtime layer (about 60 ms less to
import here, and a fraction of a millisecond per message).

Errors are :class:`HTTPError` subclasses whose names say where it failed
(:class:`ConnectError`, :class:`ReadError`); their messages never contain header values.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import urllib.request
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import h11

__all__ = ["ConnectError", "HTTPClient", "HTTPError", "ReadError", "Response"]

_CHUNK = 65536
_MAX_IDLE = 16


class HTTPError(Exception):
    """The request could not be completed."""


class ConnectError(HTTPError):
    """No connection could be opened (refused, unreachable, TLS handshake, timeout)."""


class ReadError(HTTPError):
    """The connection broke, or the server broke the protocol, after it was opened."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.used = False

    async def next_event(self) -> object:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ReadError(f"the server broke HTTP/1.1 ({exc})") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.reader.read(_CHUNK)
            except (OSError, asyncio.IncompleteReadError) as exc:
                raise ReadError(f"{type(exc).__name__}: {exc}") from exc
            self.h11.receive_data(data)

    def close(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):  # the loop may already be closing
            pass


class Response:
    """A response whose body is read on demand; :meth:`aclose` returns the connection."""

    def __init__(self, client: HTTPClient, conn: _Connection, head: h11.Response) -> None:
        self.status = head.status_code
        self.reason = head.reason.decode("latin-1")
        self.headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self._client = client
        self._conn: _Connection | None = conn
        self._done = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        while self._conn is not None and not self._done:
            event = await self._conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
            elif isinstance(event, h11.ConnectionClosed):
                raise ReadError("the server closed the connection mid-response")

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines without their endings (CR, LF or CRLF), as an event stream needs them."""
        pending = ""
        async for chunk in self.aiter_bytes():
            pending += chunk.decode("utf-8", errors="replace")
            lines = pending.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            pending = lines.pop()
            for line in lines:
                yield line
        if pending:
            yield pending

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._release(conn, reusable=self._done)


class HTTPClient:
    """Keep-alive HTTP/1.1 connections to the origin of ``url``."""

    def __init__(self, url: str, *, ssl_context: ssl.SSLContext | None = None,
                 connect_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.secure else 80)
        default_port = parts.port is None or parts.port == (443 if self.secure else 80)
        self.authority = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host and not default_port:
            self.authority = f"[{self.host}]:{self.port}"
        self.ssl_context = ssl_context if self.secure else None
        self.connect_timeout = connect_timeout
        self.proxy = _proxy_for(url)
        self._idle: list[_Connection] = []

    async def request(self, method: str, url: str, headers: dict[str, str],
                      content: bytes = b"") -> Response:
        """Send the request and return once the status line and headers have arrived."""
        target = url if self.proxy is not None and not self.secure else _target(url)
        fields = [("Host", self.authority), *headers.items()]
        if method in ("POST", "PUT", "PATCH") or content:
            fields.append(("Content-Length", str(len(content))))
        if self.proxy is not None and not self.secure and self.proxy[1]:
            fields.append(("Proxy-Authorization", self.proxy[1]))
        for attempt in range(2):
            conn = await self._connection()
            try:
                return await self._exchange(conn, method, target, fields, content)
            except ReadError:
                conn.close()
                # A kept-alive connection the server had already closed: nothing was
                # processed, so one retry on a fresh connection is safe.
                if not conn.used or attempt:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def _exchange(self, conn: _Connection, method: str, target: str,
                        fields: list[tuple[str, str]], content: bytes) -> Response:
        data = conn.h11.send(h11.Request(method=method, target=target, headers=fields))
        if content:
            data += conn.h11.send(h11.Data(data=content))
        data += conn.h11.send(h11.EndOfMessage())
        try:
            conn.writer.write(data)
            await conn.writer.drain()
        except OSError as exc:
            raise ReadError(f"{type(exc).__name__}: {exc}") from exc
        while True:
            event = await conn.next_event()
            if isinstance(event, h11.Response):
                return Response(self, conn, event)
            if isinstance(event, h11.ConnectionClosed):
                raise ReadError("the server closed the connection without answering "
                                "(EOF)")
            # informational 1xx responses are skipped

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof():
                return conn
            conn.close()
        try:
            reader, writer = await asyncio.wait_for(self._open(), self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectError("timed out connecting") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.proxy is None:
            return await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl_context,
                server_hostname=self.host if self.secure else None, limit=_CHUNK * 4)
        (proxy_host, proxy_port), auth = self.proxy[0], self.proxy[1]
        reader, writer = await asyncio.open_connection(proxy_host, proxy_port, limit=_CHUNK * 4)
        if not self.secure:
            return reader, writer
        request = f"CONNECT {self.host}:{self.port} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if auth:
            request += f"Proxy-Authorization: {auth}\r\n"
        writer.write((request + "\r\n").encode("latin-1"))
        status = await reader.readline()
        while (await reader.readline()).strip():
            pass
        if b" 200 " not in status + b" ":
            writer.close()
            answer = status.decode("latin-1")[:40].strip()
            raise ConnectError(f"the proxy refused the tunnel ({answer})")
        if not hasattr(writer, "start_tls"):  # Python 3.10
            writer.close()
            raise ConnectError("https through a proxy needs Python 3.11 or later")
        await writer.start_tls(self.ssl_context or ssl.create_default_context(),
                               server_hostname=self.host)
        return reader, writer

    def _release(self, conn: _Connection, *, reusable: bool) -> None:
        states = (conn.h11.our_state, conn.h11.their_state)
        if reusable and states == (h11.DONE, h11.DONE) and len(self._idle) < _MAX_IDLE:
            conn.h11.start_next_cycle()
            conn.used = True
            self._idle.append(conn)
        else:
            conn.close()


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _proxy_for(url: str) -> tuple[tuple[str, int], str] | None:
    """The proxy the environment names for ``url`` (``None``: connect directly)."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):
        return None
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    if not proxy:
        return None
    spec = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = ""
    if spec.username is not None:
        pair = f"{unquote(spec.username)}:{unquote(spec.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return (spec.hostname or "localhost", spec.port or 8080), auth
