"""``mcp-router run``: be the stdio MCP server a client launches, relaying to the gateway."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from mcp_router.cli.context import AppContext

if TYPE_CHECKING:
    from mcp_router.auth.base import StoreWorker
    from mcp_router.config.resolver import SecretResolver
    from mcp_router.config.schema import RouterConfig, StdioBackend
    from mcp_router.secure.store import StoreSettings

__all__ = ["run"]


@click.command("run")
@click.option("--config", "config_path", metavar="PATH",
              help="Config file (overrides the global --config).")
@click.option("--backend", "backend_name", metavar="NAME",
              help="Relay to this entry of 'backends' instead of the gateway.")
@click.pass_obj
def run(app: AppContext, config_path: str | None, backend_name: str | None) -> None:
    """Relay MCP messages between stdin/stdout and the configured gateway or backend.

    Started by an MCP client (Claude Desktop, Claude Code, an IDE) as a stdio server.
    Credentials are read from secure storage when the router connects. stdout carries
    protocol messages only; logs go to stderr.
    """
    from mcp_router.auth.base import StoreWorker
    from mcp_router.config.loader import load_config
    from mcp_router.config.resolver import SecretResolver
    from mcp_router.config.schema import StdioBackend
    from mcp_router.router.logs import configure_logging

    if config_path is not None:
        app.config_path = config_path
        app.__dict__.pop("config_file", None)  # drop the cached discovery
    config = load_config(app.config_file)
    configure_logging("debug" if app.debug else config.logging.level, config.logging.format)
    resolver = SecretResolver(_store_settings(app))
    entry = config.backend(backend_name) if backend_name is not None else None
    if isinstance(entry, StdioBackend):
        _run_stdio(entry, resolver)
        return
    worker = StoreWorker()
    try:
        _run_remote(config, backend_name, resolver, worker)
    finally:
        worker.close(resolver.close)


def _run_stdio(entry: StdioBackend, resolver: SecretResolver) -> None:
    from mcp_router.router.stdio import exec_backend

    try:
        secrets = resolver.resolve_env(entry)
    finally:
        resolver.close()
    sys.exit(exec_backend(entry, secrets))


def _run_remote(
    config: RouterConfig, backend_name: str | None, resolver: SecretResolver, worker: StoreWorker
) -> None:
    import asyncio

    from mcp_router.router.upstream import credentials_for, remote_target, transport_for

    target = remote_target(config, backend_name)
    assert target.url is not None
    credentials = credentials_for(target.auth, resolver, worker, tls=target.tls)
    credentials.prefetch()  # the store works on its thread while the HTTP stack loads
    transport = transport_for(target.url, credentials, target.connection, target.tls)

    from mcp_router.router.relay import Relay
    from mcp_router.router.streams import claim_stdout, open_reader, open_writer

    protocol_out = claim_stdout()

    async def main() -> Relay:
        reader = await open_reader(os.fdopen(os.dup(0), "rb", buffering=0))
        writer = await open_writer(protocol_out)
        relay = Relay(transport, reader, writer, target.connection)
        if sys.platform != "win32":
            import signal

            # Clients stop their servers with SIGTERM: end the session cleanly first.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, relay.stop)
        await relay.run()
        return relay

    relay = asyncio.run(main())
    if relay.exit_error is not None:
        raise relay.exit_error


def _store_settings(app: AppContext) -> StoreSettings:
    """The configured store, never asking anyone: stdin is the protocol stream.

    The file passphrase comes from ``MCP_ROUTER_PASSPHRASE`` only and there is no prompt
    (``prompt=None``), so a store that needs a passphrase or an HSM PIN fails with an error
    naming the variable to set (``MCP_ROUTER_PASSPHRASE``, ``MCP_ROUTER_PKCS11_PIN``); the
    relay logs it on stderr and answers the client's request with a JSON-RPC error.
    """
    from mcp_router.errors import StoreLockedError
    from mcp_router.secure.backends.encfile import PASSPHRASE_ENV, env_passphrase

    def passphrase(required: bool) -> str | None:
        value = env_passphrase(required)
        if value is None and required:
            raise StoreLockedError(
                "the token file is protected by a passphrase, and 'mcp-router run' cannot "
                "ask for it (stdin carries the MCP protocol)",
                hint=f"set {PASSPHRASE_ENV} in the environment the MCP client starts "
                "mcp-router with")
        return value

    return replace(app.settings(), passphrase=passphrase, prompt=None)
