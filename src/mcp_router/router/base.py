"""What the relay core and its transports say to each other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from mcp_router.router.jsonrpc import Message

if TYPE_CHECKING:
    from mcp_router.auth.base import CredentialProvider
    from mcp_router.config.schema import ConnectionConfig, TLSConfig

__all__ = ["RemoteTransport", "Sink", "Transport", "TransportError"]


class TransportError(Exception):
    """The upstream could not be reached or the connection broke.

    The message is shown to the MCP client and in the log, so it never carries a secret.
    """


class Sink(Protocol):
    """The relay, as a transport sees it."""

    async def deliver(self, message: Message) -> None:
        """A message from upstream, to be written to the client."""

    def fail(self, ids: list[Any], message: str, *, code: int = ..., data: Any = None) -> None:
        """Answer the client's requests ``ids`` with a JSON-RPC error (once each)."""

    def lost(self, reason: str, *, fail_pending: bool = True) -> None:
        """The connection is gone: reconnect, answering everything pending first unless
        ``fail_pending`` is false (HTTP, where each request fails on its own)."""


class Transport(Protocol):
    """One upstream connection: Streamable HTTP, WebSocket or a local stdio server."""

    name: str

    async def connect(self, sink: Sink) -> None:
        """Open (or re-open) the connection; raise :class:`TransportError` on failure."""

    async def send(self, message: Message) -> None:
        """Send one client message; failures are reported through the sink."""

    def cancel(self, request_id: Any) -> None:
        """Stop waiting for the answer to ``request_id`` (it timed out)."""

    async def aclose(self) -> None:
        """Close the connection and end any session."""


class RemoteTransport:
    """What the network transports (Streamable HTTP, WebSocket) share: where to connect,
    with which credential, and the connection and TLS settings."""

    name = "remote"

    def __init__(
        self,
        url: str,
        credentials: CredentialProvider,
        connection: ConnectionConfig | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        from mcp_router.config.schema import ConnectionConfig, TLSConfig

        self.url = url
        self.credentials = credentials
        self.connection = connection or ConnectionConfig()
        self.tls = tls or TLSConfig()
        self._init_state()

    def _init_state(self) -> None:
        """Set up the transport's own connection state (subclasses)."""
