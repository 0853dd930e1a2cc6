"""The environment's proxy (HTTP_PROXY / HTTPS_PROXY) is honoured, with a real tinyproxy:
absolute-form requests for http://, a CONNECT tunnel for https:// and for WebSockets."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.certs import make_certs
from fixtures.mcpservers import run_router_client, stop_process
from test_router_http import bearer_config, store_token, text_of

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.skipif(shutil.which("tinyproxy") is None,
                                 reason="tinyproxy is not installed (make system-deps)")]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tinyproxy on 127.0.0.1 whose log (one line per request) the test can read."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "tinyproxy.conf"
    config.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\n"
                      "MaxClients 20\nAllow 127.0.0.1\n")
    log = tmp_path / "tinyproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", log
    stop_process(proc)


async def add(client: Any) -> str:
    return text_of(await client.call_tool("add", {"a": 20, "b": 3}))


def test_http_and_https_through_the_environment_proxy(
    tmp_path: Path, proxy: tuple[str, Path], start_gateway: Any, gateway_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, log = proxy
    certs = make_certs(tmp_path)
    plain = start_gateway("bearer")
    secure = start_gateway("bearer", GATEWAY_TLS_CERT=str(certs.server_cert),
                           GATEWAY_TLS_KEY=str(certs.server_key))
    for gateway in (plain, secure):
        gateway.accept(gateway_token)
    store_token("gateway-token", gateway_token)
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.setenv("HTTPS_PROXY", address)

    assert run_router_client(bearer_config(tmp_path, plain.url), add, mode="legacy") == "23"
    tls = f"  tls:\n    ca_file: {certs.ca}"
    assert run_router_client(bearer_config(tmp_path, secure.url, tls), add,
                             mode="legacy") == "23"
    assert run_router_client(bearer_config(tmp_path, plain.ws_url), add, mode="legacy") == "23"
    seen = log.read_text()
    assert f"POST {plain.url}" in seen
    assert f"CONNECT 127.0.0.1:{secure.port}" in seen
    assert f"CONNECT 127.0.0.1:{plain.port}" in seen  # the WebSocket, tunnelled
    assert gateway_token not in seen
