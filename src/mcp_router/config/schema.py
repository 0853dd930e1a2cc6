"""The typed router configuration (``version: 1``), as the loader returns it.

Every class here is a frozen dataclass built by :func:`mcp_router.config.load_config`
from a validated YAML file; nothing in this module reads files or touches a store. A
credential is never held as a plain ``str``: it is a :class:`CredentialRef` that says
*where* the secret comes from, and :class:`mcp_router.config.SecretResolver` turns it into
a :class:`~mcp_router.secret.Secret` at the moment it is needed.

The shape, with defaults::

    RouterConfig
    ├── version: 1
    ├── gateway: GatewayConfig | None
    │   ├── url, auth: BearerAuth | OAuth2Auth | None
    │   ├── tls: TLSConfig
    │   └── connection: ConnectionConfig ── reconnect: ReconnectConfig
    ├── backends: tuple[RemoteBackend | StdioBackend, ...]
    ├── advanced: AdvancedConfig ── secure_storage: SecureStorageConfig
    └── logging: LoggingConfig
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_router.secret import Secret

__all__ = [
    "AdvancedConfig",
    "AuthConfig",
    "BackendConfig",
    "BearerAuth",
    "ConfigWarning",
    "ConnectionConfig",
    "CredentialRef",
    "CredentialSource",
    "GatewayConfig",
    "LoggingConfig",
    "OAuth2Auth",
    "Origin",
    "ReconnectConfig",
    "RemoteBackend",
    "RouterConfig",
    "SecureStorageConfig",
    "StdioBackend",
    "TLSConfig",
]

CredentialSource = Literal["secure_key", "env", "file", "plain"]
"""Where a secret comes from: the token store, an environment variable, a file, or the
config file itself (plain text, accepted for compatibility and always warned about)."""


@dataclass(frozen=True)
class Origin:
    """Where a value was written: file, 1-based line and dotted key path."""

    file: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}"


@dataclass(frozen=True)
class ConfigWarning:
    """Something legal but unwise in the file (a plain-text secret, an ignored key)."""

    origin: Origin
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass(frozen=True)
class CredentialRef:
    """A reference to one secret, resolved by :class:`~mcp_router.config.SecretResolver`.

    ``name`` is the token name (``secure_key``), the variable name (``env``) or the path
    (``file``); for ``plain`` it is empty and the value sits in ``plain``, wrapped in a
    :class:`Secret` so that no repr shows it. ``store`` says which store a ``secure_key``
    is looked up in: ``"configured"`` (``advanced.secure_storage``) or ``"default"`` (the
    platform default store, used for the PKCS#11 PIN, which cannot live in the HSM it
    unlocks).
    """

    source: CredentialSource
    name: str
    origin: Origin = field(compare=False)
    plain: Secret | None = field(default=None, repr=False, compare=False)
    store: Literal["configured", "default"] = "configured"

    def describe(self) -> str:
        """How a person would name this source in a message (never the value)."""
        if self.source == "secure_key":
            return f"token '{self.name}'"
        if self.source == "env":
            return f"environment variable {self.name}"
        if self.source == "file":
            return f"file {self.name}"
        return f"plain-text value of {self.origin.key}"


@dataclass(frozen=True)
class BearerAuth:
    """``type: bearer``: send ``Authorization: Bearer <token>``.

    Exactly one source is used, by precedence ``token_secure_key`` > ``token_env`` >
    ``token_file`` > ``token``; the loader warns about any lower one that is also set.
    """

    token: CredentialRef
    type: Literal["bearer"] = "bearer"


@dataclass(frozen=True)
class OAuth2Auth:
    """``type: oauth2``: exchange client credentials (or a password) for access tokens.

    ``client_secret`` comes from ``client_secret_secure_key`` and may be ``None`` for a
    public client. ``password`` (from ``password_secure_key``) and ``username`` are set
    exactly when ``grant_type`` is ``password``. ``token_endpoint_auth_method`` says how
    the client authenticates at the endpoint (HTTP Basic by default). ``cache_token``
    asks the router to keep the access token in the secure store between runs.
    """

    client_id: str
    token_endpoint: str
    client_secret: CredentialRef | None = None
    scopes: tuple[str, ...] = ()
    grant_type: Literal["client_credentials", "password"] = "client_credentials"
    username: str | None = None
    password: CredentialRef | None = None
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = (
        "client_secret_basic"  # noqa: S105 - a method name, not a secret
    )
    audience: str | None = None
    cache_token: bool = False
    type: Literal["oauth2"] = "oauth2"


AuthConfig = BearerAuth | OAuth2Auth


@dataclass(frozen=True)
class TLSConfig:
    """TLS towards a remote server. Paths are expanded (``~``) and relative to the file."""

    verify: bool = True
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True)
class ReconnectConfig:
    """Back-off after a lost connection: ``initial_delay`` seconds, times ``multiplier``
    after each failure, at most ``max_delay``; ``max_attempts`` 0 means no limit."""

    enabled: bool = True
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_attempts: int = 0


@dataclass(frozen=True)
class ConnectionConfig:
    """Time limits in seconds: per request (``timeout``) and per connect."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway ``mcp-router run`` relays to by default.

    ``url`` is ``http(s)://`` (Streamable HTTP) or ``ws(s)://`` (WebSocket); it may be
    ``None`` in a file that only declares credentials (``config check`` warns).
    """

    url: str | None = None
    auth: AuthConfig | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    connection: ConnectionConfig = field(default_factory=ConnectionConfig)


@dataclass(frozen=True)
class RemoteBackend:
    """A named remote MCP server (``backends`` entry with ``url``, or with neither ``url``
    nor ``command``: a credential-only entry, as in the spec's "Multiple Tokens")."""

    name: str
    url: str | None = None
    auth: AuthConfig | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    connection: ConnectionConfig = field(default_factory=ConnectionConfig)
    kind: Literal["remote"] = "remote"


@dataclass(frozen=True)
class StdioBackend:
    """A named local MCP server started as a child process (``backends`` entry with
    ``command``). ``env`` holds plain variables; ``env_secure_keys`` maps a variable to
    the stored token that becomes its value (always a ``secure_key`` reference)."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    env_secure_keys: Mapping[str, CredentialRef] = field(default_factory=dict)
    cwd: Path | None = None
    kind: Literal["stdio"] = "stdio"


BackendConfig = RemoteBackend | StdioBackend


@dataclass(frozen=True)
class SecureStorageConfig:
    """``advanced.secure_storage``: which store holds the tokens, and its options.

    ``backend`` is ``auto``, a built-in name or an installed plugin's name. The
    ``custom_*`` keys configure the external-command backend, the ``pkcs11_*`` keys the
    HSM backend, the ``secret_service_*`` keys the D-Bus time limits; ``options`` is a
    free-form mapping handed to plugin backends.
    """

    backend: str = "auto"
    file_path: Path | None = None
    allow_fallback: bool = True
    file_passphrase: bool = False
    custom_command: str | None = None
    custom_args: tuple[str, ...] = ()
    custom_store_args: tuple[str, ...] | None = None
    custom_delete_args: tuple[str, ...] | None = None
    custom_list_args: tuple[str, ...] | None = None
    custom_timeout: float = 10.0
    custom_not_found_exit_code: int | None = None
    pkcs11_module: str | None = None
    pkcs11_slot: int | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: CredentialRef | None = None
    secret_service_timeout: float | None = None
    secret_service_unlock_timeout: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def backend_options(self) -> dict[str, Any]:
        """The keys a backend reads from :attr:`StoreSettings.options`, as YAML names."""
        opts: dict[str, Any] = dict(self.options)
        opts["file_passphrase"] = self.file_passphrase
        opts["custom_timeout"] = self.custom_timeout
        for key in ("custom_command", "custom_not_found_exit_code", "pkcs11_module",
                    "pkcs11_slot", "pkcs11_token_label", "secret_service_timeout",
                    "secret_service_unlock_timeout"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        if self.custom_command is not None:
            opts["custom_args"] = list(self.custom_args)
        for key in ("custom_store_args", "custom_delete_args", "custom_list_args"):
            value = getattr(self, key)
            if value is not None:
                opts[key] = list(value)
        if self.pkcs11_pin is not None:
            opts["pkcs11_pin_secure_key"] = self.pkcs11_pin.name
        return opts


@dataclass(frozen=True)
class AdvancedConfig:
    secure_storage: SecureStorageConfig = field(default_factory=SecureStorageConfig)


@dataclass(frozen=True)
class LoggingConfig:
    """Router logs go to stderr (stdout carries the protocol)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


@dataclass(frozen=True)
class RouterConfig:
    """A whole validated config file. ``source`` is the file it came from (``None`` for
    built-in defaults); ``warnings`` lists legal but unwise settings."""

    version: int = 1
    gateway: GatewayConfig | None = None
    backends: tuple[BackendConfig, ...] = ()
    advanced: AdvancedConfig = field(default_factory=AdvancedConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path | None = field(default=None, compare=False)
    warnings: tuple[ConfigWarning, ...] = field(default=(), compare=False)

    @property
    def secure_storage(self) -> SecureStorageConfig:
        return self.advanced.secure_storage

    def backend(self, name: str) -> BackendConfig:
        """The ``backends`` entry called ``name``; :class:`ConfigError` if there is none."""
        for entry in self.backends:
            if entry.name == name:
                return entry
        from mcp_router.errors import ConfigError

        known = ", ".join(b.name for b in self.backends) or "none"
        raise ConfigError(
            f"no backend named '{name}' in {self.source or 'the config'}",
            hint=f"configured backends: {known}",
        )

    def credential_refs(self) -> list[CredentialRef]:
        """Every credential reference in the file, in file order."""
        refs: list[CredentialRef] = []
        if self.gateway is not None:
            refs.extend(_auth_refs(self.gateway.auth))
        for entry in self.backends:
            if isinstance(entry, StdioBackend):
                refs.extend(entry.env_secure_keys.values())
            else:
                refs.extend(_auth_refs(entry.auth))
        if self.secure_storage.pkcs11_pin is not None:
            refs.append(self.secure_storage.pkcs11_pin)
        return sorted(refs, key=lambda r: r.origin.line)


def _auth_refs(auth: AuthConfig | None) -> list[CredentialRef]:
    if isinstance(auth, BearerAuth):
        return [auth.token]
    if isinstance(auth, OAuth2Auth):
        return [r for r in (auth.client_secret, auth.password) if r is not None]
    return []
