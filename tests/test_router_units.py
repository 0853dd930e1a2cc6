"""The relay's pure parts: JSON-RPC framing, MCP HTTP headers (checked against the SDK's own
implementation), the event-stream parser and the reconnect schedule."""

from __future__ import annotations

import json
from itertools import islice

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_router.config.schema import ReconnectConfig
from mcp_router.router.backoff import delays
from mcp_router.router.headers import HeaderState, encode_header_value
from mcp_router.router.jsonrpc import ParseFailure, parse_line
from mcp_router.router.sse import parse_events


def reply_of(line: bytes) -> dict:
    try:
        parse_line(line)
    except ParseFailure as failure:
        return json.loads(failure.reply)
    raise AssertionError("accepted")


def test_parse_line_accepts_messages_and_rejects_the_rest() -> None:
    request = parse_line(b'{"jsonrpc":"2.0","id":"1","method":"tools/list"}\n')
    assert request.request_ids() == ["1"] and request.method == "tools/list"
    response = parse_line(b'{"jsonrpc":"2.0","id":3,"result":{}}')
    assert response.response_ids() == [3] and not response.is_request
    assert parse_line(b'[{"jsonrpc":"2.0","id":1,"method":"a"}]').request_ids() == [1]
    assert reply_of(b"{nope")["error"]["code"] == -32700
    assert reply_of(b'{"jsonrpc":"2.0","id":9}') == {
        "jsonrpc": "2.0", "id": 9, "error": {"code": -32600, "message": "Invalid Request"}}
    assert reply_of(b'"a string"')["error"]["code"] == -32600
    assert reply_of(b"[]")["error"]["code"] == -32600


def test_ids_of_any_shape_can_be_tracked() -> None:
    from mcp_router.router.jsonrpc import id_key

    assert id_key(1) != id_key("1")
    assert len({id_key(i) for i in (1, "1", True, None, {"a": 1}, [1])}) == 6


def test_a_message_is_forwarded_as_received_unless_it_spans_lines() -> None:
    raw = b'{"jsonrpc":"2.0", "id":1,  "result":{"x":"\\u00e9"}}'
    assert parse_line(raw).one_line() == raw
    multi = parse_line(b'{"jsonrpc":"2.0",\n"id":1,"result":{}}')
    assert multi.one_line() == b'{"jsonrpc":"2.0","id":1,"result":{}}'


@settings(deadline=None)  # the first example pays for importing the SDK
@given(st.text())
def test_header_values_are_encoded_as_the_sdk_does(value: str) -> None:
    from mcp.shared.inbound import encode_header_value as sdk_encode

    assert encode_header_value(value) == sdk_encode(value)


SCHEMA = {"type": "object", "properties": {
    "region": {"type": "string", "x-mcp-header": "Region"},
    "limits": {"type": "object", "properties": {
        "max": {"type": "integer", "x-mcp-header": "Max"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"}}},
    "note": {"type": "string"}}}


def test_param_headers_match_the_sdk() -> None:
    from mcp.shared.inbound import mcp_param_headers, x_mcp_header_map

    state = HeaderState()
    state.learn_tools({"tools": [{"name": "deploy", "inputSchema": SCHEMA}]})
    arguments = {"region": "zürich", "limits": {"max": 3, "dry": True}, "note": "n"}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "deploy", "arguments": arguments, "_meta": meta}}
    headers = state.for_message(body)
    expected = mcp_param_headers(x_mcp_header_map(SCHEMA), arguments)
    assert {k: v for k, v in headers.items() if k.startswith("Mcp-Param-")} == expected
    assert headers["MCP-Protocol-Version"] == "2026-07-28"
    assert headers["Mcp-Method"] == "tools/call" and headers["Mcp-Name"] == "deploy"


def test_an_invalid_annotation_means_no_param_headers() -> None:
    state = HeaderState()
    bad = {"type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}}
    state.learn_tools({"tools": [{"name": "t", "inputSchema": bad}]})
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "t", "arguments": {"n": 1.5},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}
    assert not any(k.startswith("Mcp-Param-") for k in state.for_message(body))


def test_handshake_era_headers() -> None:
    state = HeaderState()
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}
    assert state.for_message(init) == {}
    state.learn_initialize({"protocolVersion": "2025-06-18"})
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}
    assert state.for_message(call) == {"MCP-Protocol-Version": "2025-06-18"}
    read = {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {
        "uri": "file:///tmp/ä", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}
    assert state.for_message(read)["Mcp-Name"] == encode_header_value("file:///tmp/ä")


def test_event_stream_parsing() -> None:
    text = ": comment\nid: 1\nevent: message\ndata: {\"a\":\ndata: 1}\n\nretry: 500\nid: 2\n\n" \
           "data: last"

    async def collect() -> list:
        async def lines():  # type: ignore[no-untyped-def]
            for line in text.split("\n"):
                yield line

        return [event async for event in parse_events(lines())]

    events = anyio.run(collect)
    assert [(e.data, e.id, e.retry_ms) for e in events] == [
        ('{"a":\n1}', "1", None), ("", "2", 500), ("last", None, None)]


def test_reconnect_schedule() -> None:
    assert list(islice(delays(ReconnectConfig(initial_delay=1, multiplier=2, max_delay=5)), 6)) \
        == [1, 2, 4, 5, 5, 5]
    assert list(delays(ReconnectConfig(initial_delay=0.5, max_attempts=3))) == [0.5, 1.0, 2.0]
    assert list(delays(ReconnectConfig(enabled=False))) == []
