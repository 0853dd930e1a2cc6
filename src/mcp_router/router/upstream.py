"""Build the upstream for ``run`` from the config: a transport and its credential provider."""

from __future__ import annotations

from mcp_router.auth.base import CredentialProvider, NoAuth, SecretSource, StoreWorker
from mcp_router.config.resolver import SecretResolver
from mcp_router.config.schema import (
    AuthConfig,
    BearerAuth,
    ConnectionConfig,
    CredentialRef,
    OAuth2Auth,
    RemoteBackend,
    RouterConfig,
    TLSConfig,
)
from mcp_router.errors import ConfigError
from mcp_router.router.base import Transport
from mcp_router.secret import Secret

__all__ = ["credentials_for", "remote_target", "transport_for"]


def remote_target(config: RouterConfig, backend: str | None) -> RemoteBackend:
    """The gateway, or the named remote ``backends`` entry, as one shape."""
    if backend is not None:
        entry = config.backend(backend)
        if not isinstance(entry, RemoteBackend):
            raise ConfigError(f"backend '{backend}' is a local command, not a remote server")
        if entry.url is None:
            raise ConfigError(
                f"backend '{backend}' has no url",
                hint="add url: to the entry, or run a backend that has one",
            )
        return entry
    gateway = config.gateway
    if gateway is None or gateway.url is None:
        raise ConfigError(
            f"no gateway url in {config.source or 'the config'}",
            hint="set gateway.url, or pick a backend with --backend NAME",
        )
    return RemoteBackend(name="gateway", url=gateway.url, auth=gateway.auth, tls=gateway.tls,
                         connection=gateway.connection)


def credentials_for(
    auth: AuthConfig | None,
    resolver: SecretResolver,
    worker: StoreWorker,
    *,
    tls: TLSConfig | None = None,
) -> CredentialProvider:
    if auth is None:
        return NoAuth()
    if isinstance(auth, BearerAuth):
        from mcp_router.auth.bearer import BearerProvider

        return BearerProvider(
            _source(resolver, auth.token), f"bearer {auth.token.describe()}", worker,
            hint=_update_hint(auth.token),
        )
    if isinstance(auth, OAuth2Auth):
        from mcp_router.auth.oauth2 import OAuth2Provider

        return OAuth2Provider.from_config(auth, resolver, worker, tls=tls)
    raise ConfigError(f"unsupported auth type {type(auth).__name__}")  # pragma: no cover


def transport_for(
    url: str,
    credentials: CredentialProvider,
    connection: ConnectionConfig,
    tls: TLSConfig,
) -> Transport:
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        from mcp_router.router.http import StreamableHTTPTransport

        return StreamableHTTPTransport(url, credentials, connection, tls)
    if scheme in ("ws", "wss"):
        from mcp_router.router.websocket import WebSocketTransport

        return WebSocketTransport(url, credentials, connection, tls)
    raise ConfigError(
        f"unsupported gateway url scheme '{scheme}'",
        hint="use http://, https://, ws:// or wss://",
    )


def _update_hint(ref: CredentialRef) -> str:
    if ref.source == "secure_key":
        return f"store the right token with: mcp-router token update --name {ref.name}"
    return f"check the {ref.describe()}"


def _source(resolver: SecretResolver, ref: CredentialRef) -> SecretSource:
    def resolve() -> Secret:
        return resolver.resolve(ref)

    return resolve
