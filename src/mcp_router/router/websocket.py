"""WebSocket gateways (``ws://``, ``wss://``): one JSON-RPC message per text frame.

The credential goes in the opening handshake (``Authorization`` header), with the ``mcp``
subprotocol. A refused handshake (401/403) is retried once with a renewed credential. When
the connection closes, the relay answers every pending request and reconnects with the
configured backoff.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mcp_router.router.base import RemoteTransport, Sink, TransportError
from mcp_router.router.jsonrpc import Message, parse_line
from mcp_router.router.streams import MAX_LINE
from mcp_router.router.tls import describe_tls_failure, ssl_context

__all__ = ["WebSocketTransport"]

log = logging.getLogger(__name__)


class WebSocketTransport(RemoteTransport):
    name = "websocket"

    def _init_state(self) -> None:
        self._ws: Any = None
        self._sink: Sink | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self, sink: Sink) -> None:
        self._sink = sink
        headers = await self.credentials.headers()
        try:
            self._ws = await self._open(headers)
        except _Refused as exc:
            if not await self.credentials.refresh(headers):
                raise TransportError(self._refusal(exc.status)) from None
            try:
                self._ws = await self._open(await self.credentials.headers())
            except _Refused as again:
                raise TransportError(self._refusal(again.status)) from None
        self._reader = asyncio.create_task(self._read(self._ws))

    async def send(self, message: Message) -> None:
        from websockets.exceptions import ConnectionClosed

        assert self._sink is not None
        try:
            await self._ws.send(message.raw.decode("utf-8"))
        except ConnectionClosed:
            self._sink.lost("the WebSocket connection closed")

    def cancel(self, request_id: Any) -> None:
        """A WebSocket has no per-request stream to close; a late answer is dropped."""

    async def aclose(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _open(self, headers: dict[str, str]) -> Any:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        secure = self.url.lower().startswith("wss:")
        try:
            return await connect(
                self.url,
                additional_headers=headers,
                subprotocols=["mcp"],  # type: ignore[list-item]
                ssl=ssl_context(self.tls) if secure else None,
                open_timeout=self.connection.connect_timeout,
                max_size=MAX_LINE,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise _Refused(status) from None
            raise TransportError(f"the gateway refused the WebSocket (HTTP {status})") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            tls = describe_tls_failure(exc, self.tls if secure else None)
            raise TransportError(tls or f"cannot connect to the gateway ({type(exc).__name__})"
                                 ) from None

    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        assert self._sink is not None
        try:
            async for frame in ws:
                data = frame.encode("utf-8") if isinstance(frame, str) else frame
                try:
                    message = parse_line(data.replace(b"\n", b" "))
                except ValueError:
                    log.warning("skipped a frame from the gateway that is not JSON-RPC")
                    continue
                await self._sink.deliver(message)
        except ConnectionClosed:
            pass
        if not self._closing:
            self._sink.lost("the WebSocket connection closed")

    def _refusal(self, status: int) -> str:
        text = f"the gateway refused the {self.credentials.describe()} (HTTP {status})"
        return f"{text} ({self.credentials.hint})" if self.credentials.hint else text


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
