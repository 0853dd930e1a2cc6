"""TLS towards the gateway: ``tls.ca_file`` and a client certificate (mutual TLS), over
HTTPS and WSS, against the SDK gateway served by uvicorn with a throw-away CA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.certs import make_certs
from fixtures.mcpservers import run_router_client
from test_router_http import bearer_config, client_error, store_token, text_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def add(client: Any) -> str:
    return text_of(await client.call_tool("add", {"a": 5, "b": 6}))


def test_mutual_tls_over_https_and_wss(tmp_path: Path, start_gateway: Any,
                                       gateway_token: str) -> None:
    certs = make_certs(tmp_path)
    gateway = start_gateway("bearer", GATEWAY_TLS_CERT=str(certs.server_cert),
                            GATEWAY_TLS_KEY=str(certs.server_key),
                            GATEWAY_TLS_CLIENT_CA=str(certs.ca))
    gateway.accept(gateway_token)
    store_token("gateway-token", gateway_token)
    tls = (f"  tls:\n    ca_file: {certs.ca}\n    client_cert: {certs.client_cert}\n"
           f"    client_key: {certs.client_key}")
    for url in (gateway.url, gateway.ws_url):
        assert url.startswith(("https://", "wss://"))
        assert run_router_client(bearer_config(tmp_path, url, tls), add, mode="legacy") == "11"

    without_ca = bearer_config(tmp_path, gateway.url, "")
    message = client_error(lambda: run_router_client(without_ca, add, mode="legacy"))
    assert "TLS certificate could not be verified (set tls.ca_file" in message

    for url in (gateway.url, gateway.ws_url):
        without_cert = bearer_config(tmp_path, url, f"  tls:\n    ca_file: {certs.ca}")
        message = client_error(
            lambda config=without_cert: run_router_client(config, add, mode="legacy"))
        assert "set tls.client_cert and tls.client_key" in message
