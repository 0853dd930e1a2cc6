"""Readers for the sections shared by the gateway and remote backends: auth, tls,
connection; and for credential references wherever they appear."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from yaml.nodes import ScalarNode

from mcp_router.config.nodes import Section
from mcp_router.config.schema import (
    AuthConfig,
    BearerAuth,
    ConnectionConfig,
    CredentialRef,
    CredentialSource,
    OAuth2Auth,
    ReconnectConfig,
    TLSConfig,
)
from mcp_router.errors import InvalidTokenNameError
from mcp_router.secret import Secret
from mcp_router.secure.validation import validate_name

__all__ = [
    "BEARER_KEYS",
    "OAUTH2_KEYS",
    "SECRET_LOOKING",
    "plain_http_warning",
    "read_auth",
    "read_connection",
    "read_tls",
    "resolve_path",
    "secure_key_ref",
    "url_value",
]

#: Bearer token sources, highest precedence first.
BEARER_SOURCES: tuple[tuple[str, CredentialSource], ...] = (
    ("token_secure_key", "secure_key"),
    ("token_env", "env"),
    ("token_file", "file"),
    ("token", "plain"),
)
BEARER_KEYS = ("type", *(key for key, _ in BEARER_SOURCES))
OAUTH2_KEYS = (
    "type", "client_id", "client_secret_secure_key", "token_endpoint", "scopes",
    "grant_type", "username", "password_secure_key", "token_endpoint_auth_method",
    "audience", "cache_token",
)
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
#: Names (of variables, of plugin options) that suggest the value is a secret.
SECRET_LOOKING = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL)",
                            re.IGNORECASE)
_ENV_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def resolve_path(section: Section, raw: str) -> Path:
    """``~`` expanded; a relative path is taken relative to the config file's directory."""
    path = Path(raw).expanduser()
    if not path.is_absolute() and not section.ctx.file.startswith("<"):
        path = Path(section.ctx.file).parent / path
    return path


def secure_key_ref(section: Section, name: str, *, store: str = "configured"
                   ) -> CredentialRef | None:
    """A ``*_secure_key`` value: a valid token name, as a reference into the store."""
    node = section.peek(name)
    token = section.string(name)
    if token is None or node is None:
        return None
    try:
        validate_name(token)
    except InvalidTokenNameError as exc:
        section.error(name, "expected a token name (as stored with 'mcp-router token set "
                      f"--name NAME'): {exc.hint or exc.message}", node)
        return None
    return CredentialRef("secure_key", token, section.ctx.origin(node, section.key(name)),
                         store=cast(Literal["configured", "default"], store))


def url_value(section: Section, name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL with one of ``schemes`` and a host. Warns about credentials inside it."""
    raw = section.string(name)
    if raw is None:
        return None
    node = section.peek(name) or section.node
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in schemes or not host:
        section.error(name, "expected a URL starting with " + " or ".join(
            f"{s}://" for s in schemes) + " and naming a host", node)
        return None
    if parts.password:
        section.ctx.warn(node, section.key(name), "the URL contains a password in plain "
                         "text; store it with 'mcp-router token set' and use *_secure_key")
    return raw


def plain_http_warning(section: Section, name: str, url: str | None) -> None:
    if url and urlsplit(url).scheme in {"http", "ws"} and urlsplit(url).hostname not in (
            _LOCAL_HOSTS):
        section.ctx.warn(section.key_node(name), section.key(name),
                         "credentials would be sent unencrypted over plain http/ws")


def read_auth(parent: Section, name: str = "auth") -> AuthConfig | None:
    section = parent.section(name)
    if section is None:
        return None
    kind = section.choice("type", ("bearer", "oauth2"), "bearer")
    if kind == "oauth2":
        return _read_oauth2(section)
    return _read_bearer(section)


def _read_bearer(section: Section) -> BearerAuth | None:
    refs: list[tuple[str, CredentialRef]] = []
    for key, source in BEARER_SOURCES:
        ref = _bearer_source(section, key, source)
        if ref is not None:
            refs.append((key, ref))
    only_oauth2 = {k: "it belongs to type: oauth2" for k in OAUTH2_KEYS if k != "type"}
    before = len(section.ctx.problems)
    section.finish(BEARER_KEYS, elsewhere=only_oauth2)
    if not refs:
        written = any(section.has(key) for key, _source in BEARER_SOURCES)
        if not written and len(section.ctx.problems) == before:  # else: reported already
            section.missing("token_secure_key", 'token_secure_key: "gateway-token"')
        return None
    chosen_key, chosen = refs[0]
    for key, _ignored in refs[1:]:
        section.ctx.warn(section.key_node(key), section.key(key),
                         f"ignored: {chosen_key} takes precedence")
    return BearerAuth(token=chosen)


def _bearer_source(section: Section, key: str, source: CredentialSource
                   ) -> CredentialRef | None:
    if source == "secure_key":
        return secure_key_ref(section, key)
    node = section.peek(key)
    value = section.string(key)
    if value is None or node is None:
        return None
    origin = section.ctx.origin(node, section.key(key))
    if source == "env":
        if not set(value) <= _ENV_NAME_CHARS or value[0].isdigit():
            section.error(key, "expected an environment variable name such as "
                          "MCP_AUTH_TOKEN", node)
            return None
        return CredentialRef("env", value, origin)
    if source == "file":
        return CredentialRef("file", str(resolve_path(section, value)), origin)
    section.ctx.warn(node, section.key(key), "the token is stored in plain text in this "
                     "file; move it to secure storage ('mcp-router token set --name NAME') "
                     "and refer to it with token_secure_key")
    return CredentialRef("plain", "", origin, plain=Secret(value))


def _read_oauth2(section: Section) -> OAuth2Auth | None:
    client_id = section.string("client_id")
    endpoint = url_value(section, "token_endpoint", ("https", "http"))
    secret = secure_key_ref(section, "client_secret_secure_key")
    scopes = _scopes(section)
    grant = section.choice("grant_type", ("client_credentials", "password"),
                           "client_credentials")
    username = section.string("username")
    password = secure_key_ref(section, "password_secure_key")
    method = section.choice("token_endpoint_auth_method",
                            ("client_secret_basic", "client_secret_post"),
                            "client_secret_basic")
    audience = section.string("audience")
    cache = section.boolean("cache_token", False)
    bearer_only = {k: "it belongs to type: bearer" for k in BEARER_KEYS if k != "type"}
    section.finish(OAUTH2_KEYS, elsewhere=bearer_only)
    if client_id is None and not section.has("client_id"):
        section.missing("client_id", 'client_id: "your-client-id"')
    if endpoint is None and not section.has("token_endpoint"):
        section.missing("token_endpoint", 'token_endpoint: "https://auth.example.com/token"')
    if grant == "password":
        if username is None and not section.has("username"):
            section.missing("username", "username: alice (needed by grant_type: password)")
        if password is None and not section.has("password_secure_key"):
            section.missing("password_secure_key", 'password_secure_key: "oauth-password" '
                            "(needed by grant_type: password)")
    else:
        for key in ("username", "password_secure_key"):
            if section.has(key):
                section.error(key, "only used with grant_type: password")
    plain_http_warning(section, "token_endpoint", endpoint)
    if client_id is None or endpoint is None:
        return None
    return OAuth2Auth(
        client_id=client_id, token_endpoint=endpoint, client_secret=secret,
        scopes=scopes, grant_type=cast(Literal["client_credentials", "password"], grant),
        username=username, password=password,
        token_endpoint_auth_method=cast(
            Literal["client_secret_basic", "client_secret_post"], method),
        audience=audience, cache_token=cache,
    )


def _scopes(section: Section) -> tuple[str, ...]:
    """``scopes`` as a list, or as one space-separated string (the OAuth2 wire form)."""
    node = section.peek("scopes")
    if node is None:
        section.take("scopes")
        return ()
    if isinstance(node, ScalarNode):
        text = section.string("scopes") or ""
        return tuple(text.split())
    return section.string_list("scopes") or ()


def read_tls(parent: Section) -> TLSConfig:
    section = parent.section("tls")
    if section is None:
        return TLSConfig()
    verify = section.boolean("verify", True)
    paths: dict[str, Path | None] = {}
    for key in ("ca_file", "client_cert", "client_key"):
        raw = section.string(key)
        paths[key] = resolve_path(section, raw) if raw else None
    section.finish(("verify", "ca_file", "client_cert", "client_key"))
    if paths["client_key"] and not paths["client_cert"]:
        section.error("client_key", "client_key needs client_cert")
    if not verify:
        section.ctx.warn(section.key_node("verify"), section.key("verify"),
                         "certificate verification is off; anyone on the path can read "
                         "the credentials")
    return TLSConfig(verify=verify, ca_file=paths["ca_file"],
                     client_cert=paths["client_cert"], client_key=paths["client_key"])


def read_connection(parent: Section) -> ConnectionConfig:
    section = parent.section("connection")
    if section is None:
        return ConnectionConfig()
    timeout = section.number("timeout", 30.0)
    connect_timeout = section.number("connect_timeout", 10.0)
    reconnect = ReconnectConfig()
    sub = section.section("reconnect")
    if sub is not None:
        reconnect = ReconnectConfig(
            enabled=sub.boolean("enabled", True),
            initial_delay=sub.number("initial_delay", 1.0),
            max_delay=sub.number("max_delay", 30.0),
            multiplier=sub.number("multiplier", 2.0),
            max_attempts=sub.integer("max_attempts", 0) or 0,
        )
        sub.finish(("enabled", "initial_delay", "max_delay", "multiplier", "max_attempts"))
        if reconnect.multiplier < 1:
            sub.error("multiplier", "expected a number of at least 1")
    section.finish(("timeout", "connect_timeout", "reconnect"))
    return ConnectionConfig(timeout=timeout, connect_timeout=connect_timeout,
                            reconnect=reconnect)
