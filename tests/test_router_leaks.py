"""Planted secrets never leave the store through ``mcp-router run``: not on stdout or in the
debug log, not in any file under HOME (the OAuth2 token cache is in the encrypted store),
and not on the command line or in the environment of anything the router starts (except
the environment of a local backend, which is where such a secret is meant to go)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcpservers import router_command
from leakcheck import exec_leaks, exec_log_env, find_leaks, plant_secret, read_exec_log, scan_tree
from mcp_router.secure import open_store
from test_router_http import bearer_config, store_token
from test_router_oauth import CLIENT_ID, oauth_config, start_pair

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DEBUG_JSON = "logging:\n  level: debug\n  format: json\n"
LINES = [
    {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "leak", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
     "params": {"name": "whoami", "arguments": {}}},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
     "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
]


def run_session(config: Path, workdir: Path) -> tuple[bytes, bytes, Path]:
    """One client session through a real router, with every child it starts logged."""
    config.write_text(config.read_text() + DEBUG_JSON)
    extra_env, exec_log = exec_log_env(workdir)

    text = "".join(json.dumps(line) + "\n" for line in LINES) + "this is not json\n"
    result = subprocess.run(router_command(config), input=text.encode(), capture_output=True,
                            env={**os.environ, **extra_env}, timeout=60, check=True)
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["id"] for r in replies if "result" in r) == [0, 1, 2], replies
    return result.stdout, result.stderr, exec_log


def assert_no_leak(secret: str, stdout: bytes, stderr: bytes, exec_log: Path,
                   home: Path) -> None:
    assert find_leaks(secret, stdout) == []
    assert find_leaks(secret, stderr) == []
    assert scan_tree(secret, home) == {}
    assert exec_leaks(secret, read_exec_log(exec_log)) == []


def test_bearer_token_leaks_nowhere(tmp_path: Path, isolated_env: Path,
                                    start_gateway: Any) -> None:
    secret = plant_secret("bearer")
    gateway = start_gateway("bearer")
    gateway.accept(secret)
    store_token("gateway-token", secret)
    out, err, log = run_session(bearer_config(tmp_path, gateway.url), tmp_path / "exec")
    assert all(json.loads(line)["level"] for line in err.splitlines())  # debug, as JSON
    assert_no_leak(secret, out, err, log, isolated_env)


def test_oauth2_secret_and_access_token_leak_nowhere(
    tmp_path: Path, isolated_env: Path, start_token_server: Any, start_gateway: Any
) -> None:
    secret = plant_secret("client")
    server, gateway = start_pair(start_token_server, start_gateway, secret)
    store_token("oauth-secret", secret)
    config = oauth_config(tmp_path, gateway, server, "    cache_token: true")
    out, err, log = run_session(config, tmp_path / "exec")
    store = open_store(backend="file")
    [name] = [t.name for t in store.list() if t.name.startswith("oauth2-cache.")]
    access_token = json.loads(store.retrieve(name))["access_token"]
    store.close()
    assert CLIENT_ID.encode() in out  # whoami saw the OAuth2 client
    for value in (secret, access_token):
        assert_no_leak(value, out, err, log, isolated_env)
    assert sys.executable
