"""The relay's contract, spoken line by line to a real ``mcp-router run`` process: protocol
versions pass unchanged, bad input and every upstream failure get a JSON-RPC answer, and
the router reconnects."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcpservers import Gateway, router_command, run_router_client
from test_router_http import bearer_config, client_error, store_token, text_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Router:
    """``mcp-router run`` on pipes, as a client launches it."""

    def __init__(self, config: Path, stderr: Path, *extra: str) -> None:
        self.stderr = stderr
        with stderr.open("ab") as err:
            self.proc = subprocess.Popen(router_command(config, *extra), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err)
        self._buffer = b""

    def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        line = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError("the router did not answer in time")
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("the router closed stdout")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def request(self, request_id: Any, method: str, params: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        while True:
            reply = self.read()
            if reply.get("id") == request_id and "method" not in reply:
                return reply

    def initialize(self, version: str = "2025-06-18") -> dict[str, Any]:
        reply = self.request(0, "initialize", {"protocolVersion": version, "capabilities": {},
                                               "clientInfo": {"name": "test", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def call(self, request_id: Any, tool: str, **arguments: Any) -> dict[str, Any]:
        return self.request(request_id, "tools/call", {"name": tool, "arguments": arguments})

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def close(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        return code


@pytest.fixture
def router(tmp_path: Path, bearer_gateway: Gateway, gateway_token: str) -> Any:
    store_token("gateway-token", gateway_token)
    started: list[Router] = []

    def start(extra: str = "", url: str | None = None) -> Router:
        config = bearer_config(tmp_path, url or bearer_gateway.url, extra)
        started.append(Router(config, tmp_path / "router.stderr"))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def test_2025_06_18_passes_unchanged(router: Any, bearer_gateway: Gateway) -> None:
    relay = router()
    assert relay.initialize("2025-06-18")["result"]["protocolVersion"] == "2025-06-18"
    reply = relay.call(1, "echo", text="hi")
    assert reply["result"]["content"][0]["text"] == "hi"
    assert relay.close() == 0
    posts = [r for r in bearer_gateway.requests() if r["method"] == "POST"]
    assert [r.get("mcp-protocol-version") for r in posts] == [None, "2025-06-18", "2025-06-18"]


def test_2025_11_25_and_2026_07_28_pass_unchanged(tmp_path: Path, bearer_gateway: Gateway,
                                                   gateway_token: str) -> None:
    store_token("gateway-token", gateway_token)
    config = bearer_config(tmp_path, bearer_gateway.url)

    async def body(client: Any) -> tuple[str, str]:
        result = await client.call_tool("locate", {"region": "eu-west"})
        return client.protocol_version, text_of(result)

    assert run_router_client(config, body, mode="legacy") == ("2025-11-25", "region eu-west")
    assert run_router_client(config, body, mode="2026-07-28") == ("2026-07-28", "region eu-west")
    modern = [r for r in bearer_gateway.requests() if r.get("mcp-method") == "tools/call"]
    assert modern[-1]["mcp-param-region"] == "eu-west"
    assert modern[-1]["mcp-name"] == "locate"


def test_sigterm_ends_the_session_cleanly(router: Any, bearer_gateway: Gateway) -> None:
    import signal

    relay = router()
    relay.initialize()
    relay.call(1, "echo", text="x")
    relay.proc.send_signal(signal.SIGTERM)
    assert relay.proc.wait(timeout=30) == 0
    assert bearer_gateway.requests()[-1]["method"] == "DELETE"


def test_malformed_input_gets_json_rpc_errors(router: Any) -> None:
    relay = router()
    relay.send("this is not json")
    assert relay.read()["error"]["code"] == -32700
    relay.send('{"jsonrpc": "2.0", "id": 7}')
    relay.send({"no": "jsonrpc"})
    replies = [relay.read(), relay.read()]
    assert [r["error"]["code"] for r in replies] == [-32600, -32600]
    assert relay.initialize()["result"]["serverInfo"]["name"] == "test-gateway"
    assert relay.close() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_gateway_answers_instead_of_hanging(router: Any) -> None:
    relay = router(url=f"http://127.0.0.1:{free_port()}/mcp")
    reply = relay.initialize()
    assert reply["error"]["code"] == -32000
    assert "gateway unreachable" in reply["error"]["message"]
    assert relay.close() == 0


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_giving_up_reconnecting_exits_15(router: Any, tmp_path: Path, scheme: str) -> None:
    retry = "  connection:\n    reconnect: {initial_delay: 0.1, max_attempts: 2}"
    relay = router(retry, url=f"{scheme}://127.0.0.1:{free_port()}/mcp")
    assert relay.initialize()["error"]["code"] == -32000
    assert relay.proc.wait(timeout=30) == 15
    log = relay.stderr.read_text()
    assert "gave up reconnecting to the gateway after 2 attempts" in log
    assert "connection.reconnect" in log


def test_a_dropped_gateway_fails_pending_calls_then_reconnects(
    router: Any, own_bearer_gateway: Gateway
) -> None:
    bearer_gateway = own_bearer_gateway
    relay = router("  connection:\n    reconnect: {initial_delay: 0.1, max_delay: 0.5}",
                   url=bearer_gateway.url)
    relay.initialize()
    assert relay.call(1, "add", a=1, b=1)["result"]["content"][0]["text"] == "2"
    relay.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 30}}})
    time.sleep(0.5)  # let the slow call reach the gateway
    bearer_gateway.stop()
    failed = relay.read()
    assert failed["id"] == 2 and failed["error"]["code"] == -32000
    bearer_gateway.start()  # same port, a fresh process: the old session is gone
    for attempt in range(100):
        reply = relay.call(100 + attempt, "add", a=2, b=2)
        if "result" in reply:
            break
        assert reply["error"]["code"] == -32000
        time.sleep(0.1)
    assert reply["result"]["content"][0]["text"] == "4"
    initializes = [r for r in bearer_gateway.requests()
                   if r["method"] == "POST" and "mcp-session-id" not in r]
    assert len(initializes) == 2  # the router replayed initialize for a new session
    assert relay.close() == 0


def test_a_request_that_takes_too_long_times_out(router: Any) -> None:
    relay = router("  connection:\n    timeout: 1")
    relay.initialize()
    reply = relay.call(1, "slow", seconds=20)
    assert reply["error"]["code"] == -32001
    assert "within 1s" in reply["error"]["message"]
    assert relay.call(2, "echo", text="still here")["result"]["content"][0]["text"] == "still here"
    assert relay.close() == 0


def test_progress_keeps_a_slow_request_alive(router: Any) -> None:
    relay = router("  connection:\n    timeout: 1")
    relay.initialize()
    relay.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "pulse", "arguments": {"seconds": 3, "interval": 0.4},
        "_meta": {"progressToken": "p1"}}})
    seen = [relay.read() for _ in range(8)]  # 7 progress notifications, then the answer
    assert [m.get("method") for m in seen[:-1]] == ["notifications/progress"] * 7
    assert seen[-1]["id"] == 1 and "result" in seen[-1]
    assert relay.close() == 0


def test_a_cancelled_request_is_not_answered(router: Any, bearer_gateway: Gateway) -> None:
    relay = router()
    relay.initialize()
    relay.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 30}}})
    time.sleep(0.3)
    relay.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 5, "reason": "user gave up"}})
    assert relay.call(6, "echo", text="next")["id"] == 6
    assert relay.close() == 0  # no answer for 5 was owed, so no wait at exit
    assert relay.proc.stdout is not None


def test_2026_07_28_cancellation_aborts_the_post(router: Any, bearer_gateway: Gateway) -> None:
    envelope = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
    relay = router()
    warm = relay.request(0, "tools/call", {"name": "echo", "arguments": {"text": "warm"},
                                           "_meta": envelope})
    assert "result" in warm
    relay.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "slow", "arguments": {"seconds": 30}, "_meta": envelope}})
    time.sleep(0.3)
    relay.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 1}})
    reply = relay.request(2, "tools/call", {"name": "echo", "arguments": {"text": "modern"},
                                            "_meta": envelope})
    assert reply["result"]["content"][0]["text"] == "modern"
    assert relay.close() == 0
    methods = [r.get("mcp-method") for r in bearer_gateway.requests()]
    assert methods == ["tools/call"] * 3  # the cancellation itself was never POSTed


def test_json_logs_on_stderr_and_nothing_else_on_stdout(
    tmp_path: Path, router: Any, gateway_token: str
) -> None:
    router().kill()  # writes the config
    config = tmp_path / "mcp-router.yaml"
    config.write_text(config.read_text() + "logging:\n  level: debug\n  format: json\n")
    relay = Router(config, tmp_path / "json.stderr")
    relay.initialize()
    relay.send("not json")
    assert relay.read()["error"]["code"] == -32700
    assert relay.close() == 0
    lines = (tmp_path / "json.stderr").read_text().splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert gateway_token not in "".join(lines)


def test_websocket_gateway(tmp_path: Path, bearer_gateway: Gateway, gateway_token: str) -> None:
    store_token("gateway-token", gateway_token)
    config = bearer_config(tmp_path, bearer_gateway.ws_url)

    async def body(client: Any) -> str:
        return text_of(await client.call_tool("add", {"a": 3, "b": 4}))

    assert run_router_client(config, body, mode="legacy") == "7"
    handshakes = [r for r in bearer_gateway.requests() if r["type"] == "websocket"]
    assert handshakes and handshakes[0]["auth"] != ""
    store_token("gateway-token", "wrong-token")
    message = client_error(lambda: run_router_client(config, body, mode="legacy"))
    assert "refused the bearer token 'gateway-token' (HTTP 403)" in message


def test_websocket_drop_fails_pending_and_reconnects(
    tmp_path: Path, own_bearer_gateway: Gateway, gateway_token: str
) -> None:
    store_token("gateway-token", gateway_token)
    extra = "  connection:\n    reconnect: {initial_delay: 0.1, max_delay: 0.5}"
    bearer_gateway = own_bearer_gateway
    relay = Router(bearer_config(tmp_path, bearer_gateway.ws_url, extra), tmp_path / "ws.err")
    relay.initialize()
    relay.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 30}}})
    time.sleep(0.5)
    bearer_gateway.stop()
    failed = relay.read()
    assert failed["id"] == 2 and "lost" in failed["error"]["message"]
    bearer_gateway.start()
    for attempt in range(100):
        reply = relay.request(100 + attempt, "ping")
        if "result" in reply:
            break
        time.sleep(0.1)
    assert reply == {"jsonrpc": "2.0", "id": reply["id"], "result": {}}
    assert relay.close() == 0
