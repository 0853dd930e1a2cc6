"""Streamable HTTP, the MCP specification's HTTP transport, as seen from the client side.

Each client message is POSTed to the endpoint with ``Accept: application/json,
text/event-stream``. A notification or response is acknowledged with 202; a request is
answered with one JSON body or with an event stream that may carry the server's own
notifications and requests before the response. The session id the server assigns at
``initialize`` (``Mcp-Session-Id``) and the negotiated ``MCP-Protocol-Version`` go on every
later request. A GET opens the stream on which the server sends messages of its own, and
a DELETE ends the session when the router exits.

When the gateway loses the session (404, for example after a restart) the router replays
the client's ``initialize`` to open a new one and sends the request again, so the client
never has to notice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mcp_router.config.schema import TLSConfig
from mcp_router.router.backoff import delays
from mcp_router.router.base import RemoteTransport, Sink, TransportError
from mcp_router.router.headers import HeaderState
from mcp_router.router.httpclient import ConnectError, HTTPClient, HTTPError, Response
from mcp_router.router.jsonrpc import GATEWAY_ERROR, Message, id_key, parse_line
from mcp_router.router.redact import describe_exception, redact_url
from mcp_router.router.sse import Event, parse_events
from mcp_router.router.tls import describe_tls_failure, ssl_context

__all__ = ["StreamableHTTPTransport"]

log = logging.getLogger(__name__)

_ACCEPT = "application/json, text/event-stream"
_INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
_RESUME_ATTEMPTS = 3


class _Refused(Exception):
    """The gateway refused the credential even after a refresh."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StreamableHTTPTransport(RemoteTransport):
    name = "streamable-http"

    def _init_state(self) -> None:
        self.session_id: str | None = None
        self.headers = HeaderState()
        self._client: HTTPClient | None = None
        self._sink: Sink | None = None
        self._initialize: Message | None = None
        self._posts: dict[Any, asyncio.Task[None]] = {}
        self._modern: set[Any] = set()  # requests sent with the per-request envelope
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._session_lock = asyncio.Lock()

    # -- Transport ------------------------------------------------------------------------
    async def connect(self, sink: Sink) -> None:
        self._sink = sink
        if self._client is None:
            self._client = self._new_client()
            return
        if self._initialize is not None and self.session_id is not None:
            await self._reinitialize(self.session_id)
        else:
            await self._probe()

    async def send(self, message: Message) -> None:
        if message.method == "initialize":
            # Later messages need the session id this answer carries: wait for it.
            self._initialize = message
            await self._post(message)
            return
        if self._abort_modern(message):
            return
        task = asyncio.create_task(self._post(message))
        self._track(task)
        keys = [id_key(request_id) for request_id in message.request_ids()]
        for key in keys:
            self._posts[key] = task
        if keys and "Mcp-Method" in self.headers.for_message(message.body):
            self._modern.update(keys)
        if keys:
            task.add_done_callback(lambda _t: self._forget(keys))

    def _forget(self, keys: list[Any]) -> None:
        for key in keys:
            self._posts.pop(key, None)
            self._modern.discard(key)

    def _abort_modern(self, message: Message) -> bool:
        """A cancellation of a per-request-envelope (2026-07-28) request.

        That protocol has no client-to-server notifications over HTTP: closing the request's
        response stream is the cancellation. So the POST is aborted and nothing is sent.
        """
        if message.method != "notifications/cancelled" or not isinstance(message.body, dict):
            return False
        params = message.body.get("params")
        request_id = params.get("requestId") if isinstance(params, dict) else None
        if not isinstance(request_id, str | int) or id_key(request_id) not in self._modern:
            return False
        self.cancel(request_id)
        return True

    def cancel(self, request_id: Any) -> None:
        task = self._posts.pop(id_key(request_id), None)
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        for task in [*self._tasks, *([self._listener] if self._listener else [])]:
            task.cancel()
        if self._client is None:
            return
        if self.session_id is not None:
            try:
                headers = {**await self._auth(), **self._session_headers({})}
                response = await asyncio.wait_for(
                    self._client.request("DELETE", self.url, headers), 2.0)
                await response.aclose()
            except Exception as exc:  # ending the session is a courtesy; never fail exit on it
                log.debug("ending the session failed: %s", type(exc).__name__)
        await self._client.aclose()

    # -- POST -----------------------------------------------------------------------------
    async def _post(self, message: Message) -> None:
        assert self._sink is not None
        ids = message.request_ids()
        try:
            await self._exchange(message)
        except _Refused as exc:
            text = f"the gateway refused the {self.credentials.describe()}: {exc.detail}"
            if self.credentials.hint:
                text += f" ({self.credentials.hint})"
            log.error("%s", text)
            self._sink.fail(ids, text, data={"reason": "unauthorized"})
        except TransportError as exc:
            reason = describe_exception(exc)
            self._sink.fail(ids, f"gateway unreachable: {reason}", data={"reason": "unreachable"})
            self._sink.lost(reason, fail_pending=False)
        except Exception as exc:  # a credential that could not be resolved, and the like
            reason = describe_exception(exc)
            log.error("%s", reason)
            self._sink.fail(ids, reason, data={"reason": "credential"})

    async def _exchange(self, message: Message, *, retried: bool = False) -> None:
        assert self._client is not None
        request_headers = {
            "Accept": _ACCEPT,
            "Content-Type": "application/json",
            **self._session_headers(self.headers.for_message(message.body)),
            **await self._auth(),
        }
        session_used = self.session_id
        try:
            response = await self._client.request("POST", self.url, request_headers, message.raw)
        except HTTPError as exc:
            raise TransportError(_describe(exc, self._tls_settings())) from None
        try:
            retry = await self._handle(message, response, request_headers, session_used, retried)
        except HTTPError as exc:
            raise TransportError(f"connection dropped: {_describe(exc)}") from None
        finally:
            await response.aclose()
        if retry:
            await self._exchange(message, retried=True)

    async def _handle(
        self,
        message: Message,
        response: Response,
        sent: dict[str, str],
        session_used: str | None,
        retried: bool,
    ) -> bool:
        """Process one POST's answer; return ``True`` to send the message once more."""
        status = response.status
        if status == 401:
            if not retried and await self.credentials.refresh(sent):
                return True
            raise _Refused(_auth_detail(response))
        if status == 404 and session_used is not None and message.method != "initialize":
            if not retried and self._initialize is not None:
                await self._reinitialize(session_used)
                return True
        if status == 202:
            if message.is_request:
                self._fail(message, "the gateway accepted a request without answering it")
            return False
        if status >= 400:
            await self._error_status(message, response)
            return False
        if message.method == "initialize":
            self._adopt_session(response)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "text/event-stream":
            await self._read_stream(message, response)
        elif kind == "application/json":
            body = await response.aread()
            await self._inbound(message, body)
        elif message.is_request:
            self._fail(message, f"the gateway answered with unexpected content type {kind!r}")
        if message.method == "initialize" and self.session_id and self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        return False

    async def _error_status(self, message: Message, response: Response) -> None:
        body = await response.aread()
        if message.is_request and body:
            try:
                reply = parse_line(body.replace(b"\n", b" "))
            except ValueError:
                reply = None
            ours = {id_key(i) for i in message.request_ids()}
            if reply is not None and ours & {id_key(i) for i in reply.response_ids()}:
                await self._deliver(message, reply)
                return
        reason = response.reason or "error"
        if message.is_request:
            self._fail(message, f"the gateway answered HTTP {response.status} {reason}")
        else:
            log.warning("the gateway answered HTTP %s to a notification", response.status)

    async def _inbound(self, message: Message, body: bytes) -> None:
        try:
            reply = parse_line(body.replace(b"\n", b" "))
        except ValueError:
            self._fail(message, "the gateway sent a body that is not JSON-RPC")
            return
        await self._deliver(message, reply)

    async def _read_stream(self, message: Message, response: Response) -> None:
        waiting = {id_key(i) for i in message.request_ids()}
        last_id = await self._consume(message, parse_events(response.aiter_lines()), waiting)
        for _ in range(_RESUME_ATTEMPTS):
            if not waiting or last_id is None:
                break
            log.info("the response stream ended early; resuming after event %s", last_id)
            last_id = await self._resume(message, last_id, waiting) or last_id
        if waiting:
            self._fail(message, "the gateway closed the response stream before answering")

    async def _consume(self, message: Message, events: Any, waiting: set[Any]) -> str | None:
        last_id = None
        async for event in events:
            last_id = event.id or last_id
            reply = _event_message(event)
            if reply is None:
                continue
            await self._deliver(message, reply)
            waiting.difference_update(id_key(i) for i in reply.response_ids())
            if not waiting:
                break
        return last_id

    async def _resume(self, message: Message, last_id: str, waiting: set[Any]) -> str | None:
        assert self._client is not None
        headers = {"Accept": "text/event-stream", "Last-Event-ID": last_id}
        headers = {**self._session_headers(headers), **await self._auth()}
        response = await self._client.request("GET", self.url, headers)
        try:
            if response.status != 200:
                return None
            return await self._consume(message, parse_events(response.aiter_lines()), waiting)
        finally:
            await response.aclose()

    # -- the GET stream for server-initiated messages ------------------------------------------
    async def _listen(self) -> None:
        assert self._client is not None
        schedule = delays(self.connection.reconnect)
        last_id: str | None = None
        while self.session_id is not None:
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                headers = {**self._session_headers(headers), **await self._auth()}
                response = await self._client.request("GET", self.url, headers)
                try:
                    if response.status in (404, 405):
                        log.debug("the gateway offers no stream of its own (HTTP %s)",
                                  response.status)
                        return
                    if response.status == 200:
                        schedule = delays(self.connection.reconnect)
                        async for event in parse_events(response.aiter_lines()):
                            last_id = event.id or last_id
                            if (reply := _event_message(event)) is not None:
                                await self._deliver(None, reply)
                finally:
                    await response.aclose()
            except HTTPError as exc:
                log.debug("the server stream broke: %s", _describe(exc))
            except Exception as exc:
                log.warning("the server stream stopped: %s", describe_exception(exc))
                return
            delay = next(schedule, None)
            if delay is None:
                log.warning("gave up re-opening the gateway's server stream")
                return
            await asyncio.sleep(delay)

    # -- sessions -------------------------------------------------------------------------
    def _adopt_session(self, response: Response) -> None:
        session = response.headers.get("mcp-session-id")
        if session:
            self.session_id = session

    async def _reinitialize(self, stale: str) -> None:
        """Open a new session by replaying the client's ``initialize`` (once per loss)."""
        async with self._session_lock:
            if self.session_id != stale:
                return  # another request already did it
            assert self._client is not None and self._initialize is not None
            log.info("the gateway lost the session; opening a new one")
            if self._listener is not None:
                self._listener.cancel()
                self._listener = None
            headers = {"Accept": _ACCEPT, "Content-Type": "application/json",
                       **await self._auth()}
            try:
                response = await self._client.request("POST", self.url, headers,
                                                      self._initialize.raw)
                await response.aread()
                await response.aclose()
                if response.status >= 400:
                    raise TransportError(
                        f"the gateway refused to open a session (HTTP {response.status})"
                    )
                self.session_id = response.headers.get("mcp-session-id")
                ack = await self._client.request("POST", self.url,
                                                 self._session_headers(dict(headers)),
                                                 _INITIALIZED)
                await ack.aclose()
            except HTTPError as exc:
                raise TransportError(_describe(exc)) from None
            if self.session_id is not None:
                self._listener = asyncio.create_task(self._listen())

    async def _probe(self) -> None:
        """Reachability check before a session exists: any HTTP answer will do."""
        assert self._client is not None
        try:
            response = await self._client.request(
                "GET", self.url, {"Accept": "text/event-stream", **await self._auth()})
            await response.aclose()
        except HTTPError as exc:
            raise TransportError(_describe(exc)) from None

    # -- helpers --------------------------------------------------------------------------
    def _session_headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
            if "MCP-Protocol-Version" not in headers and self.headers.negotiated_version:
                headers["MCP-Protocol-Version"] = self.headers.negotiated_version
        return headers

    async def _auth(self) -> dict[str, str]:
        return await self.credentials.headers()

    async def _deliver(self, sent: Message | None, reply: Message) -> None:
        if sent is not None and isinstance(reply.body, dict) and "result" in reply.body:
            if sent.method == "initialize":
                self.headers.learn_initialize(reply.body["result"])
            elif sent.method == "tools/list":
                self.headers.learn_tools(reply.body["result"])
        assert self._sink is not None
        await self._sink.deliver(reply)

    def _fail(self, message: Message, text: str) -> None:
        assert self._sink is not None
        self._sink.fail(message.request_ids(), text, code=GATEWAY_ERROR)

    def _tls_settings(self) -> TLSConfig | None:
        return self.tls if self.url.lower().startswith("https:") else None

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_client(self) -> HTTPClient:
        context = None
        if self.url.lower().startswith("https:"):
            context = ssl_context(self.tls)
            if not self.tls.verify:
                log.warning("TLS certificate checks are OFF for %s (tls.verify: false)",
                            redact_url(self.url))
        return HTTPClient(self.url, ssl_context=context,
                          connect_timeout=self.connection.connect_timeout)


def _event_message(event: Event) -> Message | None:
    if event.event != "message" or not event.data:
        return None
    try:
        return parse_line(event.data.replace("\n", " ").encode("utf-8"))
    except ValueError:
        log.warning("skipped an event that is not JSON-RPC")
        return None


def _auth_detail(response: Response) -> str:
    challenge = response.headers.get("www-authenticate", "")
    detail = "HTTP 401"
    for part in challenge.replace(",", " ").split():
        key, _, value = part.partition("=")
        if key == "error" and value:
            detail += f" ({value.strip(chr(34))})"
    return detail


def _describe(exc: HTTPError, tls_settings: TLSConfig | None = None) -> str:
    tls = describe_tls_failure(exc, tls_settings)
    if tls is not None:
        return tls
    if isinstance(exc, ConnectError):
        return f"cannot connect to the gateway ({redact_url(str(exc))})"
    return f"the connection to the gateway broke ({redact_url(str(exc))})"
