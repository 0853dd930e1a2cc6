"""The relay core: stdin lines to the upstream, upstream messages to stdout.

The relay keeps one piece of state per client request: that it is waiting for an answer.
Every request gets exactly one answer on stdout, whatever happens upstream: the gateway's
response, or a JSON-RPC error when the gateway is unreachable, the connection drops, the
credential is refused or the request times out. When the connection is lost the relay
reconnects with the configured backoff; requests that arrive meanwhile are answered at
once with an error rather than left waiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from mcp_router.config.schema import ConnectionConfig
from mcp_router.errors import GatewayError
from mcp_router.router.backoff import delays
from mcp_router.router.base import Transport, TransportError
from mcp_router.router.jsonrpc import (
    GATEWAY_ERROR,
    REQUEST_TIMEOUT,
    Message,
    ParseFailure,
    error_line,
    id_key,
    parse_line,
)
from mcp_router.router.redact import describe_exception, redact_url
from mcp_router.router.streams import LineReader, LineWriter

__all__ = ["Relay"]

log = logging.getLogger("mcp_router.relay")

#: How long to wait, after the client closes stdin, for answers still on their way.
DRAIN_TIMEOUT = 5.0


@dataclass
class _Pending:
    """A client request waiting for its answer."""

    request_id: Any
    timer: asyncio.TimerHandle | None
    progress_token: Any = None


class Relay:
    """Relays one client (``reader``/``writer``) to one upstream ``transport``."""

    def __init__(
        self,
        transport: Transport,
        reader: LineReader,
        writer: LineWriter,
        connection: ConnectionConfig | None = None,
    ) -> None:
        self.transport = transport
        self.connection = connection or ConnectionConfig()
        self._reader = reader
        self._writer = writer
        self._pending: dict[Any, _Pending] = {}
        self._progress: dict[Any, Any] = {}  # progress token -> pending key
        self._up = False
        self._reason = "not connected yet"
        self._reconnecting: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.exit_error: GatewayError | None = None

    # -- main loop ------------------------------------------------------------------------
    def stop(self) -> None:
        """End the relay as if the client had closed stdin (SIGTERM does this)."""
        self._stop.set()

    async def run(self) -> None:
        """Relay until the client closes stdin, :meth:`stop`, or reconnecting is given up."""
        await self._connect_first()
        reading = asyncio.create_task(self._read_loop())
        stopping = asyncio.create_task(self._stop.wait())
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reading, stopping):
            task.cancel()
        if self._pending and not self._stop.is_set():  # stdin closed: let answers arrive
            try:
                await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT)
            except asyncio.TimeoutError:
                pass
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        self._fail_all("the router is shutting down")
        await self.transport.aclose()
        await self._writer.drain()

    async def _connect_first(self) -> None:
        try:
            await self.transport.connect(self)
            self._up = True
        except (TransportError, GatewayError) as exc:
            self._reason = describe_exception(exc)
            log.error("cannot connect to the upstream: %s", self._reason)
            self._start_reconnect()

    async def _read_loop(self) -> None:
        while line := await self._reader.readline():
            if line.strip():
                await self._handle_line(line)

    async def _handle_line(self, line: bytes) -> None:
        try:
            message = parse_line(line)
        except ParseFailure as failure:
            log.warning("answered a malformed line from the client with a JSON-RPC error")
            self._writer.write_line(failure.reply)
            await self._writer.drain()
            return
        ids = message.request_ids()
        if not self._up:
            if ids:
                self._answer_now(
                    ids, f"the gateway is unavailable ({self._reason}); the router is reconnecting"
                )
                await self._writer.drain()
            else:
                log.warning("dropped a %s while the gateway is unavailable",
                            message.method or "response")
            return
        for item in message.items:
            if "method" in item and item.get("id") is not None:
                self._track(item["id"], _meta(item).get("progressToken"))
        try:
            await self.transport.send(message)
        except Exception as exc:  # a transport bug must still answer the client
            log.exception("sending to the upstream failed")
            self.fail(ids, f"internal error while forwarding ({type(exc).__name__})")
        if message.method == "notifications/cancelled":
            # The client gave up on that request: no answer is owed for it any more.
            self._settle(_params(message.body).get("requestId"))

    # -- Sink -----------------------------------------------------------------------------
    async def deliver(self, message: Message) -> None:
        if message.method == "notifications/progress":
            self._progressed(_params(message.body).get("progressToken"))
        for request_id in message.response_ids():
            if not self._settle(request_id):
                log.debug("dropped a late answer to a request already answered")
                return
        self._writer.write_line(message.one_line())
        await self._writer.drain()

    def fail(
        self, ids: list[Any], message: str, *, code: int = GATEWAY_ERROR, data: Any = None
    ) -> None:
        for request_id in ids:
            if self._settle(request_id):
                self._writer.write_line(error_line(request_id, code, message, data))

    def lost(self, reason: str, *, fail_pending: bool = True) -> None:
        reason = redact_url(reason)
        if fail_pending:
            self._fail_all(f"the connection to the gateway was lost: {reason}")
        self._reason = reason
        if self._up:
            log.warning("lost the gateway: %s; reconnecting", reason)
            self._up = False
            self._start_reconnect()

    # -- reconnecting ---------------------------------------------------------------------
    def _start_reconnect(self) -> None:
        self._up = False
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        for delay in delays(self.connection.reconnect):
            attempt += 1
            await asyncio.sleep(delay)
            try:
                await self.transport.connect(self)
            except (TransportError, GatewayError) as exc:
                self._reason = describe_exception(exc)
                log.warning("reconnect attempt %d failed: %s", attempt, self._reason)
                continue
            log.info("reconnected to the gateway (attempt %d)", attempt)
            self._up = True
            return
        self.exit_error = GatewayError(
            f"gave up reconnecting to the gateway after {attempt} attempts ({self._reason})"
            if attempt else f"lost the gateway ({self._reason}) and reconnecting is disabled",
            hint="check that the gateway is running, or review connection.reconnect",
        )
        log.error("%s", self.exit_error)
        self._fail_all(str(self.exit_error))
        self._stop.set()

    # -- pending requests -----------------------------------------------------------------
    def _track(self, request_id: Any, progress_token: Any = None) -> None:
        key = id_key(request_id)
        self._settle(request_id)  # a reused id replaces the old wait
        self._pending[key] = _Pending(request_id, self._timer(request_id), progress_token)
        if progress_token is not None:
            self._progress[id_key(progress_token)] = key
        self._idle.clear()

    def _timer(self, request_id: Any) -> asyncio.TimerHandle | None:
        timeout = self.connection.timeout
        if timeout <= 0:
            return None
        return asyncio.get_running_loop().call_later(timeout, self._expire, request_id)

    def _progressed(self, token: Any) -> None:
        """Progress restarts the request's timeout: a slow tool that reports is alive."""
        key = self._progress.get(id_key(token)) if token is not None else None
        entry = self._pending.get(key)
        if entry is not None and entry.timer is not None:
            entry.timer.cancel()
            entry.timer = self._timer(entry.request_id)

    def _settle(self, request_id: Any) -> bool:
        if request_id is None:
            return False
        entry = self._pending.pop(id_key(request_id), None)
        if entry is None:
            return False
        if entry.timer is not None:
            entry.timer.cancel()
        if entry.progress_token is not None:
            self._progress.pop(id_key(entry.progress_token), None)
        if not self._pending:
            self._idle.set()
        return True

    def _expire(self, request_id: Any) -> None:
        seconds = self.connection.timeout
        log.warning("a request got no answer within %gs", seconds)
        self.fail([request_id], f"no answer from the gateway within {seconds:g}s",
                  code=REQUEST_TIMEOUT, data={"reason": "timeout"})
        self.transport.cancel(request_id)

    def _answer_now(self, ids: list[Any], message: str) -> None:
        for request_id in ids:
            self._writer.write_line(
                error_line(request_id, GATEWAY_ERROR, message, {"reason": "unavailable"})
            )

    def _fail_all(self, message: str) -> None:
        ids = [entry.request_id for entry in self._pending.values()]
        self.fail(ids, message, data={"reason": "disconnected"})


def _params(body: Any) -> dict[str, Any]:
    params = body.get("params") if isinstance(body, dict) else None
    return params if isinstance(params, dict) else {}


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    meta = _params(item).get("_meta")
    return meta if isinstance(meta, dict) else {}

