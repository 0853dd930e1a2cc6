"""Start-up stays light (no MCP SDK in the relay), and every credential resolution is
recorded by the store's audit log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixtures.mcpservers import Gateway
from mcp_router.cli.main import main as cli_main
from test_router_http import bearer_config, store_token

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}
HEAVY = ("mcp", "mcp_types", "pydantic", "starlette", "uvicorn", "jwt", "httpx", "anyio")


def test_the_relay_imports_no_sdk(tmp_path: Path, bearer_gateway: Gateway,
                                  gateway_token: str) -> None:
    store_token("gateway-token", gateway_token)
    config = bearer_config(tmp_path, bearer_gateway.url)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mcp_router", "run", "--config", str(config)],
        input=(json.dumps(INIT) + "\n").encode(), capture_output=True, timeout=60, check=True)
    assert json.loads(result.stdout)["result"]["serverInfo"]["name"] == "test-gateway"
    imported = {line.split("|")[-1].strip() for line in result.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert "h11" in imported  # the measurement works
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_each_resolution_is_audited(tmp_path: Path, bearer_gateway: Gateway,
                                    gateway_token: str, capsys: object) -> None:
    store_token("gateway-token", gateway_token)
    config = bearer_config(tmp_path, bearer_gateway.url)
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "mcp_router", "run", "--config", str(config)],
                       input=(json.dumps(INIT) + "\n").encode(), capture_output=True,
                       timeout=60, check=True)
    try:
        cli_main(["token", "audit", "--name", "gateway-token", "--days", "1"])
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    retrievals = [line for line in out.splitlines() if "retrieve" in line and "ok" in line]
    assert len(retrievals) == 2
    assert gateway_token not in out
