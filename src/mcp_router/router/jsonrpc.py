"""The little of JSON-RPC 2.0 the relay needs: framing, ids, and the errors it answers with.

The relay forwards each message as the bytes it received. It parses a message only to learn
what it must track (the ids of requests waiting for an answer, the method for HTTP headers);
it never rebuilds one, so fields and protocol versions it does not know pass unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp_router.router.redact import redact_url

__all__ = [
    "GATEWAY_ERROR",
    "INVALID_REQUEST",
    "PARSE_ERROR",
    "REQUEST_TIMEOUT",
    "Message",
    "ParseFailure",
    "error_line",
    "id_key",
    "parse_line",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
#: Implementation-defined server errors (-32000..-32099), as the MCP SDKs use them.
GATEWAY_ERROR = -32000  # unreachable, dropped, refused credential
REQUEST_TIMEOUT = -32001

IdKey = tuple[Any, Any]


def id_key(request_id: Any) -> IdKey:
    """A dict key for a JSON-RPC id that keeps ``1`` and ``"1"`` apart (and copes with the
    ids the specification forbids, such as objects, without failing)."""
    if isinstance(request_id, str | int | float) and not isinstance(request_id, bool):
        return (isinstance(request_id, str), request_id)
    return (None, json.dumps(request_id, sort_keys=True, default=str))


@dataclass(frozen=True, slots=True)
class Message:
    """One JSON-RPC message (or batch) as received, with what the relay reads from it."""

    raw: bytes
    body: Any

    @property
    def items(self) -> list[dict[str, Any]]:
        """The message objects: the body itself, or the members of a batch."""
        if isinstance(self.body, list):
            return [m for m in self.body if isinstance(m, dict)]
        return [self.body] if isinstance(self.body, dict) else []

    @property
    def method(self) -> str | None:
        method = self.body.get("method") if isinstance(self.body, dict) else None
        return method if isinstance(method, str) else None

    def request_ids(self) -> list[Any]:
        """Ids of the requests in this message (objects with both ``method`` and ``id``)."""
        return [m["id"] for m in self.items if "method" in m and m.get("id") is not None]

    def response_ids(self) -> list[Any]:
        """Ids of the responses in this message (objects with an ``id`` and no ``method``)."""
        return [m["id"] for m in self.items if "method" not in m and "id" in m]

    @property
    def is_request(self) -> bool:
        return bool(self.request_ids())

    def one_line(self) -> bytes:
        """The message as a single line: the raw bytes unless they contain a line break."""
        if b"\n" not in self.raw and b"\r" not in self.raw:
            return self.raw
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()


class ParseFailure(ValueError):
    """A line that is not a JSON-RPC message; ``reply`` is the error line to answer with."""

    def __init__(self, reply: bytes) -> None:
        super().__init__("not a JSON-RPC message")
        self.reply = reply


def parse_line(line: bytes) -> Message:
    """Parse one received line; raise :class:`ParseFailure` carrying the error reply."""
    raw = line.strip()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ParseFailure(error_line(None, PARSE_ERROR, "Parse error")) from None
    if isinstance(body, dict):
        if body.get("jsonrpc") != "2.0" or not _is_message(body):
            raise ParseFailure(error_line(body.get("id"), INVALID_REQUEST, "Invalid Request"))
        return Message(raw, body)
    if isinstance(body, list) and body and all(isinstance(m, dict) for m in body):
        return Message(raw, body)
    raise ParseFailure(error_line(None, INVALID_REQUEST, "Invalid Request"))


def _is_message(body: dict[str, Any]) -> bool:
    """A request or notification (``method``), or a response (``id`` and a result or error)."""
    if "method" in body:
        return isinstance(body["method"], str)
    return "id" in body and ("result" in body or "error" in body)


def error_line(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    """A JSON-RPC error response, serialised as one line (without the newline)."""
    # The one place every error to the client passes: no URL password gets out.
    error: dict[str, Any] = {"code": code, "message": redact_url(message)}
    if data is not None:
        error["data"] = data
    reply = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode()
