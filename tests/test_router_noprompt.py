"""``mcp-router run`` never asks anyone anything: its stdin is the MCP protocol stream.

A store that needs a PIN (or a passphrase) must fail with an error naming the variable to
set, on stderr and as a JSON-RPC error to the client, even when stdin is a terminal.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from fixtures.softhsm import SoftHSM

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")
def test_run_never_prompts_for_the_hsm_pin(softhsm: SoftHSM, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    from clirun import PYTHON_CLI

    config = tmp_path / "mcp-router.yaml"
    config.write_text(f"""\
version: 1
gateway:
  url: http://127.0.0.1:9/mcp
  auth:
    type: bearer
    token_secure_key: "gateway-token"
advanced:
  secure_storage:
    backend: "pkcs11"
    pkcs11_module: "{softhsm.module}"
    pkcs11_slot: 0
""")
    env = {k: v for k, v in os.environ.items() if k != "MCP_ROUTER_PKCS11_PIN"}
    # stdin is a terminal, so a prompt would show and read the protocol stream.
    child = pexpect.spawn(PYTHON_CLI[0], [*PYTHON_CLI[1:], "run", "--config", str(config)],
                          env=env, encoding="utf-8", timeout=30)
    child.logfile_read = screen = io.StringIO()
    child.sendline(json.dumps(INIT))
    child.expect_exact('"error"')
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    text = screen.getvalue()
    assert "User PIN" not in text
    reply = json.loads(next(line for line in text.splitlines() if '"error"' in line))
    assert reply["id"] == 1
    assert "MCP_ROUTER_PKCS11_PIN" in reply["error"]["message"]
    logged = [line for line in text.splitlines() if "needs its user PIN" in line
              and '"error"' not in line]
    assert logged and "MCP_ROUTER_PKCS11_PIN" in logged[0]


def test_run_names_the_passphrase_variable(tmp_path: Path) -> None:
    import subprocess

    from mcp_router.secure import StoreSettings, open_store

    store = open_store(StoreSettings(backend="file", passphrase=lambda required: "pp-1234"))
    store.store("gateway-token", "token-value-1")
    store.close()
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\ngateway:\n  url: http://127.0.0.1:9/mcp\n  auth:\n"
                      "    type: bearer\n    token_secure_key: gateway-token\n"
                      "advanced:\n  secure_storage:\n    backend: file\n")
    env = {k: v for k, v in os.environ.items() if k != "MCP_ROUTER_PASSPHRASE"}
    done = subprocess.run([sys.executable, "-m", "mcp_router", "run", "--config", str(config)],
                          input=(json.dumps(INIT) + "\n").encode(), env=env,
                          capture_output=True, timeout=60, check=False)
    reply = json.loads(done.stdout.decode().splitlines()[0])
    message = reply["error"]["message"]
    assert "MCP_ROUTER_PASSPHRASE" in message and "cannot ask" in message
    assert "terminal" not in message  # there is none to run it in: a client started it
    assert "MCP_ROUTER_PASSPHRASE" in done.stderr.decode()
