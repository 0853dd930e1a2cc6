"""``mcp-router run`` against a real SDK Streamable HTTP gateway, driven by the SDK client.

The spec's bearer example (``gateway.auth.type: bearer``, ``token_secure_key``) with a
gateway URL added is the config; the token lives in the encrypted-file store.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcpservers import Gateway, run_router_client
from mcp_router.secure import open_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def bearer_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    config = tmp_path / "mcp-router.yaml"
    config.write_text(f"""\
version: 1
gateway:
  url: {url}
  auth:
    type: bearer
    token_secure_key: "gateway-token"  # References the stored token
{extra}
advanced:
  secure_storage:
    backend: file
""")
    return config


def store_token(name: str, value: str) -> None:
    store = open_store(backend="file")
    try:
        store.store(name, value)
    finally:
        store.close()


def client_error(run: Any) -> str:
    """Run ``run()`` expecting the SDK client to fail; the MCP error message it got."""
    from mcp.shared.exceptions import MCPError

    with pytest.raises(BaseException) as caught:
        run()
    error: BaseException = caught.value
    while getattr(error, "exceptions", None):  # an exception group from the task group
        error = error.exceptions[0]  # type: ignore[attr-defined]
    assert isinstance(error, MCPError), repr(error)
    return str(error)


def text_of(result: Any) -> str:
    return result.content[0].text


def test_bearer_example_drives_tool_calls(tmp_path: Path, bearer_gateway: Gateway,
                                          gateway_token: str) -> None:
    store_token("gateway-token", gateway_token)
    errlog = tmp_path / "router.log"

    async def body(client: Any) -> tuple[Any, Any, str]:
        added = await client.call_tool("add", {"a": 2, "b": 40})
        who = await client.call_tool("whoami", {})
        return added, who, client.protocol_version

    added, who, version = run_router_client(bearer_config(tmp_path, bearer_gateway.url), body,
                                            errlog=errlog)
    assert text_of(added) == "42"
    assert who.structured_content == {"client_id": "bearer-client",
                                      "token": fingerprint(gateway_token)}
    assert version == "2026-07-28"  # the SDK's auto mode settles on the newest protocol
    requests = bearer_gateway.requests()
    assert {r["auth"] for r in requests} == {fingerprint(gateway_token)}
    calls = [r for r in requests if r.get("mcp-method") == "tools/call"]
    assert [c["mcp-name"] for c in calls] == ["add", "whoami"]
    assert all(r["accept"] == "application/json, text/event-stream" for r in calls)
    assert all(r["mcp-protocol-version"] == "2026-07-28" for r in calls)
    assert gateway_token not in errlog.read_text()


def test_handshake_era_session_headers_get_stream_and_delete(
    tmp_path: Path, bearer_gateway: Gateway, gateway_token: str
) -> None:
    store_token("gateway-token", gateway_token)

    async def body(client: Any) -> tuple[Any, str]:
        return await client.call_tool("add", {"a": 1, "b": 2}), client.protocol_version

    added, version = run_router_client(bearer_config(tmp_path, bearer_gateway.url), body,
                                       mode="legacy")
    assert (text_of(added), version) == ("3", "2025-11-25")
    requests = bearer_gateway.requests()
    posts = [r for r in requests if r["method"] == "POST"]
    assert all(r["accept"] == "application/json, text/event-stream" for r in posts)
    assert "mcp-session-id" not in posts[0]  # initialize opens the session
    session = posts[-1]["mcp-session-id"]
    assert all(r["mcp-session-id"] == session for r in posts[1:])
    assert all(r["mcp-protocol-version"] == version for r in posts[1:])
    assert any(r["method"] == "GET" and r.get("mcp-session-id") == session for r in requests)
    assert requests[-1]["method"] == "DELETE" and requests[-1]["mcp-session-id"] == session


def test_json_responses_work_too(tmp_path: Path, start_gateway: Any, gateway_token: str) -> None:
    gateway = start_gateway("bearer", json_response=True)
    gateway.accept(gateway_token)
    store_token("gateway-token", gateway_token)

    async def body(client: Any) -> Any:
        return await client.call_tool("echo", {"text": "über json ✓"})

    assert text_of(run_router_client(bearer_config(tmp_path, gateway.url), body)) == "über json ✓"


def test_a_wrong_token_is_a_clear_error(tmp_path: Path, bearer_gateway: Gateway) -> None:
    store_token("gateway-token", "not-the-right-token")
    errlog = tmp_path / "router.log"

    async def body(client: Any) -> Any:
        return await client.call_tool("add", {"a": 1, "b": 1})

    message = client_error(lambda: run_router_client(
        bearer_config(tmp_path, bearer_gateway.url), body, errlog=errlog, mode="legacy"))
    assert "the gateway refused the bearer token 'gateway-token'" in message
    assert "mcp-router token update --name gateway-token" in message
    assert "refused the bearer token 'gateway-token'" in errlog.read_text()
    assert "not-the-right-token" not in errlog.read_text() + message


def test_a_missing_token_names_the_fix(tmp_path: Path, bearer_gateway: Gateway) -> None:
    async def body(client: Any) -> Any:
        return await client.call_tool("add", {"a": 1, "b": 1})

    message = client_error(lambda: run_router_client(
        bearer_config(tmp_path, bearer_gateway.url), body, mode="legacy"))
    assert "no token named 'gateway-token'" in message
    assert "mcp-router token set --name gateway-token" in message


def test_a_token_rotated_in_the_store_is_used_after_the_next_401(
    tmp_path: Path, bearer_gateway: Gateway, gateway_token: str
) -> None:
    store_token("gateway-token", gateway_token)
    rotated = gateway_token + "-rotated"

    async def body(client: Any) -> tuple[Any, Any]:
        before = await client.call_tool("whoami", {})
        bearer_gateway.accept(rotated)  # the gateway now wants the new token only
        store_token("gateway-token", rotated)
        after = await client.call_tool("whoami", {})
        return before, after

    before, after = run_router_client(bearer_config(tmp_path, bearer_gateway.url), body)
    assert before.structured_content["token"] == fingerprint(gateway_token)
    assert after.structured_content["token"] == fingerprint(rotated)


def test_server_initiated_messages_reach_the_client(
    tmp_path: Path, bearer_gateway: Gateway, gateway_token: str
) -> None:
    import anyio
    from mcp.types import CreateMessageResult, TextContent

    store_token("gateway-token", gateway_token)
    progress: list[tuple[float, float | None, str | None]] = []
    questions: list[str] = []
    notices: list[str] = []
    announced = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def sampling(context: Any, params: Any) -> CreateMessageResult:
        questions.append(params.messages[0].content.text)
        return CreateMessageResult(role="assistant", model="test-model",
                                   content=TextContent(type="text", text="forty-two"))

    async def on_message(message: Any) -> None:
        notices.append(type(message).__name__)
        if "ToolListChanged" in type(message).__name__:
            announced.set()

    async def body(client: Any) -> tuple[Any, Any]:
        stepped = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
        answer = await client.call_tool("ask_client", {"question": "meaning of life?"})
        await client.call_tool("announce", {})
        with anyio.fail_after(20):
            await announced.wait()
        return stepped, answer

    stepped, answer = run_router_client(
        bearer_config(tmp_path, bearer_gateway.url), body, mode="legacy",
        sampling_callback=sampling, message_handler=on_message)
    assert text_of(stepped) == "3 steps"
    assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert questions == ["meaning of life?"]
    assert text_of(answer) == "forty-two"
    assert any("ToolListChanged" in name for name in notices)
