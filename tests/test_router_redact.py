"""A password written into a URL (``https://user:password@host``, accepted with a warning)
never reaches the log (text or JSON) nor a JSON-RPC error sent to the client."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mcp_router.router.jsonrpc import error_line
from mcp_router.router.logs import configure_logging
from mcp_router.router.redact import describe_exception, redact_url
from test_router_http import store_token

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}


def planted() -> str:
    return "pw" + uuid.uuid4().hex


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_run_never_shows_the_url_password(tmp_path: Path, fmt: str) -> None:
    password = planted()
    store_token("gateway-token", "token-" + uuid.uuid4().hex)
    config = tmp_path / "mcp-router.yaml"
    config.write_text(f"""\
version: 1
gateway:
  url: "https://alice:{password}@127.0.0.1:{closed_port()}/mcp"
  auth:
    type: bearer
    token_secure_key: "gateway-token"
  tls:
    verify: false
  connection:
    connect_timeout: 5
    reconnect: {{enabled: true, initial_delay: 0.1, max_delay: 0.1, max_attempts: 1}}
advanced:
  secure_storage:
    backend: file
logging:
  level: debug
  format: {fmt}
""")
    done = subprocess.run(
        [sys.executable, "-m", "mcp_router", "run", "--config", str(config)],
        input=(json.dumps(INIT) + "\n").encode(), capture_output=True, timeout=60,
        check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "TLS certificate checks are OFF for https://***@127.0.0.1" in err  # logged
    reply = json.loads(out.splitlines()[0])
    assert reply["id"] == 1 and "gateway" in reply["error"]["message"]
    assert password not in out and password not in err
    if fmt == "json":
        assert all(json.loads(line) for line in err.splitlines() if line.startswith("{"))


def test_redact_url_removes_every_userinfo() -> None:
    password = planted()
    assert redact_url(f"https://alice:{password}@host:8443/mcp?x=1") == \
        "https://***@host:8443/mcp?x=1"
    assert redact_url(f"wss://alice:p@ss{password}@host/ws") == "wss://***@host/ws"
    text = redact_url(f"one http://u:{password}@a/b and 'ws://{password}@c' end")
    assert text == "one http://***@a/b and 'ws://***@c' end"
    assert redact_url("https://host/mcp mail@example.com") == "https://host/mcp mail@example.com"


def test_foreign_exceptions_show_type_and_a_redacted_message() -> None:
    password = planted()
    foreign = OSError(f"cannot reach https://alice:{password}@host/mcp")
    assert describe_exception(foreign) == "OSError: cannot reach https://***@host/mcp"
    from mcp_router.errors import GatewayError

    ours = GatewayError(f"lost https://alice:{password}@host/mcp")
    assert describe_exception(ours) == "lost https://***@host/mcp"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_log_line_is_redacted(fmt: str) -> None:
    password = planted()
    stream = io.StringIO()
    configure_logging("debug", fmt, stream)
    try:
        log = logging.getLogger("mcp_router.test")
        url = f"https://alice:{password}@host/mcp"
        log.warning("connecting to %s", url)
        try:
            raise ValueError(f"bad {url}")
        except ValueError:
            log.exception("failed")
    finally:
        configure_logging("warning", "text", io.StringIO())
    text = stream.getvalue()
    assert "https://***@host/mcp" in text and password not in text


def test_json_rpc_errors_are_redacted() -> None:
    password = planted()
    line = error_line(7, -32000, f"gateway unreachable: https://u:{password}@h/mcp")
    assert password not in line.decode()
    assert json.loads(line)["error"]["message"] == "gateway unreachable: https://***@h/mcp"
