"""``type: oauth2`` through ``mcp-router run``: a real token endpoint (npm oidc-provider) and
an SDK gateway that verifies the issued tokens (JWTs against the JWKS, opaque ones by
introspection)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcpservers import Gateway, router_command, run_router_client
from mcp_router.secure import open_store
from test_router_http import client_error, fingerprint, store_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RESOURCE = "urn:mcp-router:test-gateway"
CLIENT_ID = "your-client-id"
RS_CLIENT = ("gateway-rs", "rs-" + secrets.token_urlsafe(12))


@pytest.fixture
def client_secret() -> str:
    return "oauth-" + secrets.token_urlsafe(24)


def start_pair(start_token_server: Any, start_gateway: Any, secret: str, *, ttl: int = 600,
               token_format: str = "jwt") -> tuple[Any, Gateway]:  # noqa: S107
    server = start_token_server(
        [{"client_id": CLIENT_ID, "client_secret": secret},
         {"client_id": RS_CLIENT[0], "client_secret": RS_CLIENT[1]}],
        RESOURCE, ttl=ttl, token_format=token_format)
    gateway = start_gateway("oauth", GATEWAY_ISSUER=server.issuer, GATEWAY_RESOURCE=RESOURCE,
                            GATEWAY_INTROSPECT=":".join(RS_CLIENT))
    return server, gateway


def oauth_config(tmp_path: Path, gateway: Gateway, server: Any, extra: str = "") -> Path:
    """The spec's "OAuth2 with Secure Storage" example, with the test endpoints."""
    config = tmp_path / "mcp-router.yaml"
    config.write_text(f"""\
version: 1
gateway:
  url: {gateway.url}
  auth:
    type: oauth2
    client_id: "{CLIENT_ID}"
    client_secret_secure_key: "oauth-secret"
    token_endpoint: "{server.token_endpoint}"
{extra}
advanced:
  secure_storage:
    backend: file
""")
    return config


async def whoami(client: Any) -> dict[str, str]:
    result = await client.call_tool("whoami", {})
    return result.structured_content


def test_oauth2_example_drives_tool_calls(tmp_path: Path, start_token_server: Any,
                                          start_gateway: Any, client_secret: str) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret)
    store_token("oauth-secret", client_secret)
    errlog = tmp_path / "router.log"

    async def body(client: Any) -> tuple[Any, dict[str, str]]:
        added = await client.call_tool("add", {"a": 20, "b": 22})
        return added, await whoami(client)

    added, who = run_router_client(oauth_config(tmp_path, gateway, server), body, errlog=errlog)
    assert added.content[0].text == "42"
    assert who["client_id"] == CLIENT_ID
    assert server.issued() == 1  # one token, reused for every call
    assert client_secret not in errlog.read_text()


def test_client_secret_post_and_scopes(tmp_path: Path, start_token_server: Any,
                                       start_gateway: Any, client_secret: str) -> None:
    server = start_token_server(
        [{"client_id": CLIENT_ID, "client_secret": client_secret,
          "token_endpoint_auth_method": "client_secret_post"}], RESOURCE)
    gateway = start_gateway("oauth", GATEWAY_ISSUER=server.issuer, GATEWAY_RESOURCE=RESOURCE)
    store_token("oauth-secret", client_secret)
    extra = '    token_endpoint_auth_method: client_secret_post\n    scopes: ["mcp:tools"]'
    who = run_router_client(oauth_config(tmp_path, gateway, server, extra), whoami)
    assert who["client_id"] == CLIENT_ID


def test_a_wrong_client_secret_is_a_clear_error(tmp_path: Path, start_token_server: Any,
                                                start_gateway: Any, client_secret: str) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret)
    store_token("oauth-secret", "wrong-" + client_secret)
    errlog = tmp_path / "router.log"
    message = client_error(lambda: run_router_client(
        oauth_config(tmp_path, gateway, server), whoami, errlog=errlog, mode="legacy"))
    assert f"the token endpoint refused the client credentials of '{CLIENT_ID}'" in message
    assert "(invalid_client)" in message
    assert "mcp-router token update --name oauth-secret" in message
    log = errlog.read_text()
    assert "refused the client credentials" in log
    assert client_secret not in log + message
    assert "REFUSED invalid_client" in server.events


def test_an_expired_access_token_is_replaced(tmp_path: Path, start_token_server: Any,
                                             start_gateway: Any, client_secret: str) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret, ttl=2)
    store_token("oauth-secret", client_secret)

    async def body(client: Any) -> tuple[dict[str, str], dict[str, str]]:
        first = await whoami(client)
        time.sleep(2.5)  # let the 2-second token expire (waiting, not a timed assertion)
        return first, await whoami(client)

    first, second = run_router_client(oauth_config(tmp_path, gateway, server), body)
    assert first["token"] != second["token"]
    assert server.issued() == 2


def test_a_cached_token_the_gateway_refuses_is_discarded(
    tmp_path: Path, start_token_server: Any, start_gateway: Any, client_secret: str
) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret)
    store_token("oauth-secret", client_secret)
    config = oauth_config(tmp_path, gateway, server, "    cache_token: true")
    first = run_router_client(config, whoami)
    # Plant a refused token in the cache, still "valid" for an hour as far as the router knows.
    store = open_store(backend="file")
    [name] = [t.name for t in store.list() if t.name.startswith("oauth2-cache.")]
    store.store(name, json.dumps({"access_token": "bogus", "expires_at": time.time() + 3600,
                                  "issued_at": time.time()}))
    store.close()
    second = run_router_client(config, whoami)
    assert second["client_id"] == CLIENT_ID and second["token"] != first["token"]
    assert server.issued() == 2
    store = open_store(backend="file")
    assert "bogus" not in store.retrieve(name)  # replaced without anyone's help
    store.close()


def test_a_revoked_token_is_replaced(tmp_path: Path, start_token_server: Any,
                                     start_gateway: Any, client_secret: str) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret,
                                 token_format="opaque")
    store_token("oauth-secret", client_secret)
    config = oauth_config(tmp_path, gateway, server, "    cache_token: true")
    first = run_router_client(config, whoami)
    store = open_store(backend="file")
    [name] = [t.name for t in store.list() if t.name.startswith("oauth2-cache.")]
    token = json.loads(store.retrieve(name))["access_token"]
    store.close()
    assert fingerprint(token) == first["token"]
    server.revoke(token, (CLIENT_ID, client_secret))
    second = run_router_client(config, whoami)
    assert second["token"] != first["token"]
    assert server.issued() == 2


def test_parallel_routers_share_one_token(tmp_path: Path, start_token_server: Any,
                                          start_gateway: Any, client_secret: str) -> None:
    server, gateway = start_pair(start_token_server, start_gateway, client_secret)
    store_token("oauth-secret", client_secret)
    config = oauth_config(tmp_path, gateway, server, "    cache_token: true")
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    routers = [subprocess.Popen(router_command(config), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
               for _ in range(4)]
    outputs = [r.communicate((init + "\n").encode(), timeout=60)[0] for r in routers]
    for out in outputs:
        assert json.loads(out)["result"]["protocolVersion"] == "2025-06-18"
    assert server.issued() == 1, server.events
    assert sys.executable  # the routers ran under this interpreter


def test_password_grant(tmp_path: Path, start_token_server: Any, start_gateway: Any,
                        client_secret: str) -> None:
    password = "pw-" + secrets.token_urlsafe(16)
    server = start_token_server([{"client_id": CLIENT_ID, "client_secret": client_secret}],
                                RESOURCE, users={"alice": password})
    gateway = start_gateway("oauth", GATEWAY_ISSUER=server.issuer, GATEWAY_RESOURCE=RESOURCE)
    store_token("oauth-secret", client_secret)
    store_token("alice-password", password)
    extra = ("    grant_type: password\n    username: alice\n"
             "    password_secure_key: alice-password")
    config = oauth_config(tmp_path, gateway, server, extra)
    assert run_router_client(config, whoami)["client_id"] == CLIENT_ID
    store_token("alice-password", "not-" + password)
    errlog = tmp_path / "router.log"
    message = client_error(lambda: run_router_client(config, whoami, errlog=errlog,
                                                     mode="legacy"))
    assert "the token endpoint refused the password of user 'alice' (invalid_grant)" in message
    assert "mcp-router token update --name alice-password" in message
    assert password not in errlog.read_text() + message
