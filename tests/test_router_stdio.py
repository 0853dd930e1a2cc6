"""``run --backend NAME`` for a local stdio server: secrets from the store in its
environment, never on a command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcpservers import run_router_client
from test_router_http import fingerprint, store_token

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/<pid>/cmdline")]

SERVER = Path(__file__).parent / "fixtures" / "stdio_server.py"


def test_local_backend_gets_its_secret_in_the_environment(tmp_path: Path) -> None:
    secret = "svc-" + "k3y" * 8
    store_token("service-key", secret)
    config = tmp_path / "mcp-router.yaml"
    config.write_text(f"""\
version: 1
backends:
  - name: local-tools
    command: ["{sys.executable}", "{SERVER}"]
    env:
      PLAIN_SETTING: "hello"
    env_secure_keys:
      SERVICE_API_KEY: service-key
advanced:
  secure_storage:
    backend: file
""")
    errlog = tmp_path / "router.log"

    async def body(client: Any) -> dict[str, str]:
        return (await client.call_tool("environment", {})).structured_content

    seen = run_router_client(config, body, errlog=errlog, mode="legacy",
                             extra_args=("--backend", "local-tools"))
    assert seen["key"] == fingerprint(secret)
    assert seen["plain"] == "hello"
    assert str(SERVER) in seen["cmdline"] and secret not in seen["cmdline"]
    assert secret not in errlog.read_text()
