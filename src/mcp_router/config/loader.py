"""Load and validate a router config file into a :class:`RouterConfig`.

:func:`load_config` raises :class:`ConfigError` on the first problem (and says how many
more there are); :func:`check_config` returns every problem and warning, for
``mcp-router config check``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from mcp_router.config.nodes import ConfigProblem, Context, Section, describe
from mcp_router.config.schema import (
    AdvancedConfig,
    BackendConfig,
    ConfigWarning,
    CredentialRef,
    GatewayConfig,
    LoggingConfig,
    Origin,
    RemoteBackend,
    RouterConfig,
    SecureStorageConfig,
    StdioBackend,
)
from mcp_router.config.sections import (
    SECRET_LOOKING,
    plain_http_warning,
    read_auth,
    read_connection,
    read_tls,
    resolve_path,
    secure_key_ref,
    url_value,
)
from mcp_router.config.storage_section import read_secure_storage
from mcp_router.errors import ConfigError

__all__ = ["ConfigReport", "check_config", "load_config", "parse_config"]

TOP_KEYS = ("version", "gateway", "backends", "advanced", "logging")
GATEWAY_KEYS = ("url", "auth", "tls", "connection")
REMOTE_KEYS = ("name", "url", "auth", "tls", "connection")
STDIO_KEYS = ("name", "command", "env", "env_secure_keys", "cwd")
_BACKEND_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
WS_OR_HTTP = ("https", "http", "wss", "ws")
Level = Literal["debug", "info", "warning", "error"]
Format = Literal["text", "json"]


@dataclass(frozen=True)
class ConfigReport:
    """Everything :func:`check_config` found. ``config`` is ``None`` when any problem
    was found (a half-valid config is never handed out)."""

    source: str
    config: RouterConfig | None
    problems: tuple[ConfigProblem, ...]
    warnings: tuple[ConfigWarning, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def load_config(path: str | Path | None) -> RouterConfig:
    """The validated config at ``path``; ``None`` gives the built-in defaults.

    Raises :class:`ConfigError` naming the file, line and key of the first problem.
    """
    if path is None:
        return RouterConfig()
    return _raise_first(check_config(path))


def parse_config(text: str, source: str = "<string>") -> RouterConfig:
    """Like :func:`load_config`, from text. ``source`` names it in messages."""
    return _raise_first(check_text(text, source))


def check_config(path: str | Path) -> ConfigReport:
    """Validate the file at ``path`` and collect every problem and warning."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problem = ConfigProblem(_top(str(file)), "the file is not UTF-8 text")
        return ConfigReport(str(file), None, (problem,), ())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}",
                          hint="check the path given with --config") from exc
    return check_text(text, str(file))


def check_text(text: str, source: str) -> ConfigReport:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML forbids, e.g. a control code
        line = text[:exc.position].count("\n") + 1
        problem = ConfigProblem(Origin(source, line, "(syntax)"), "invalid YAML: character "
                                f"U+{exc.character:04X} is not allowed in YAML")
        return ConfigReport(source, None, (problem,), ())
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        # exc.problem only: str(exc) would quote a snippet of the file, maybe a secret.
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = ConfigProblem(Origin(source, line, "(syntax)"),
                                f"invalid YAML: {exc.problem or exc.context}")
        return ConfigReport(source, None, (problem,), ())
    except yaml.YAMLError:
        problem = ConfigProblem(_top(source), "invalid YAML")
        return ConfigReport(source, None, (problem,), ())
    finally:
        loader.dispose()
    ctx = Context(source, loader)
    config = _read_document(ctx, root)
    problems = tuple(sorted(ctx.problems, key=lambda p: p.origin.line))
    warnings = tuple(sorted(ctx.warnings, key=lambda w: w.origin.line))
    if problems:
        return ConfigReport(source, None, problems, warnings)
    assert config is not None
    config = replace(config, source=None if source.startswith("<") else Path(source),
                     warnings=warnings)
    return ConfigReport(source, config, (), warnings)


def _top(source: str) -> Origin:
    return Origin(source, 1, "(top level)")


def _raise_first(report: ConfigReport) -> RouterConfig:
    if report.config is not None:
        return report.config
    first = report.problems[0]
    more = len(report.problems) - 1
    extra = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
    raise ConfigError(f"{first}{extra}",
                      hint="fix the config file; 'mcp-router config check' lists every "
                      "problem")


def _read_document(ctx: Context, root: Node | None) -> RouterConfig | None:
    if root is None:
        ctx.problems.append(ConfigProblem(_top(ctx.file), "the file is empty; it needs at "
                                          "least 'version: 1'"))
        return None
    if not isinstance(root, MappingNode):
        ctx.error(root, "(top level)", f"expected a mapping of keys, got {describe(root)}")
        return None
    top = Section(ctx, root, "")
    version_node = top.peek("version")
    version = top.integer("version", None)
    if version_node is None:
        top.missing("version", "version: 1 as the first line")
    elif version is not None and version != 1:
        top.error("version", "expected 1 (the only version this mcp-router reads)",
                  version_node)
    gateway = _read_gateway(top)
    backends = _read_backends(top)
    storage = _read_advanced(top)
    logging = _read_logging(top)
    for key in top.keys():
        if key.startswith("x-"):  # extension keys, e.g. to hold YAML anchors
            top.take(key)
    top.finish(TOP_KEYS)
    return RouterConfig(version=1, gateway=gateway, backends=backends,
                        advanced=AdvancedConfig(storage), logging=logging)


def _read_gateway(top: Section) -> GatewayConfig | None:
    section = top.section("gateway")
    if section is None:
        return None
    url = url_value(section, "url", WS_OR_HTTP)
    auth = read_auth(section)
    gateway = GatewayConfig(url=url, auth=auth, tls=read_tls(section),
                            connection=read_connection(section))
    section.finish(GATEWAY_KEYS)
    if auth is not None:
        plain_http_warning(section, "url", url)
    if url is None and not section.has("url"):
        section.ctx.warn(section.anchor, section.key("url"),
                         "no gateway url: 'mcp-router run' needs one to connect")
    return gateway


def _read_backends(top: Section) -> tuple[BackendConfig, ...]:
    node = top.take("backends")
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        top.error("backends", f"expected a list of backends, got {describe(node)}", node)
        return ()
    entries: list[BackendConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(node.value):
        path = f"backends[{index}]"
        if not isinstance(item, MappingNode):
            top.ctx.error(item, path, f"expected a mapping with name and url or command, "
                          f"got {describe(item)}")
            continue
        entry = _read_backend(Section(top.ctx, item, path))
        if entry is None:
            continue
        line = item.start_mark.line + 1
        if entry.name in seen:
            top.ctx.error(item, f"{path}.name",
                          f"duplicate backend name (first used on line {seen[entry.name]})")
            continue
        seen[entry.name] = line
        entries.append(entry)
    return tuple(entries)


def _read_backend(section: Section) -> BackendConfig | None:
    name = section.string("name")
    if name is None and not section.has("name"):
        section.missing("name", 'name: "service-a"')
    elif name is not None and not _BACKEND_NAME.match(name):
        section.error("name", "expected letters, digits, '.', '_' or '-'")
        name = None
    if section.has("command"):
        if section.has("url"):
            section.error("url", "a backend has either url (remote) or command (local), "
                          "not both")
            section.take("url")
        return _read_stdio(section, name)
    return _read_remote(section, name)


def _read_remote(section: Section, name: str | None) -> RemoteBackend | None:
    url = url_value(section, "url", WS_OR_HTTP)
    auth = read_auth(section)
    tls, connection = read_tls(section), read_connection(section)
    local_only = {k: "it belongs to a local backend with command" for k in STDIO_KEYS
                  if k != "name"}
    section.finish(REMOTE_KEYS, elsewhere=local_only)
    if auth is not None:
        plain_http_warning(section, "url", url)
    if name is None:
        return None
    if url is None and not section.has("url"):
        section.ctx.warn(section.anchor, section.key("url"), f"backend '{name}' has neither "
                         "url nor command: its credentials resolve, but 'mcp-router run "
                         f"--backend {name}' cannot start it")
    return RemoteBackend(name=name, url=url, auth=auth, tls=tls, connection=connection)


def _read_stdio(section: Section, name: str | None) -> StdioBackend | None:
    command = section.string_list("command", allow_empty=False)
    env = _read_env(section)
    secure = _read_env_secure_keys(section)
    cwd_raw = section.string("cwd")
    remote_only = {k: "it belongs to a remote backend with url; a local server gets "
                   "credentials through env_secure_keys" for k in REMOTE_KEYS if k != "name"}
    section.finish(STDIO_KEYS, elsewhere=remote_only)
    for var in set(env) & set(secure):
        section.error("env_secure_keys", f"{var} is set in both env and env_secure_keys")
    if name is None or not command:
        return None
    cwd = resolve_path(section, cwd_raw) if cwd_raw else None
    return StdioBackend(name=name, command=command, env=env, env_secure_keys=secure, cwd=cwd)


def _read_env(parent: Section) -> dict[str, str]:
    section = parent.section("env")
    if section is None:
        return {}
    env: dict[str, str] = {}
    for var in section.keys():
        if not _ENV_NAME.match(var):
            section.error(var, "expected an environment variable name")
            section.take(var)
            continue
        value = section.string(var)
        if value is None:
            continue
        env[var] = value
        if SECRET_LOOKING.search(var):
            section.ctx.warn(section.key_node(var), section.key(var),
                             "looks like a secret in plain text; store it with 'mcp-router "
                             "token set' and map it under env_secure_keys")
    return env


def _read_env_secure_keys(parent: Section) -> dict[str, CredentialRef]:
    section = parent.section("env_secure_keys")
    if section is None:
        return {}
    refs: dict[str, CredentialRef] = {}
    for var in section.keys():
        if not _ENV_NAME.match(var):
            section.error(var, "expected an environment variable name")
            section.take(var)
            continue
        ref = secure_key_ref(section, var)
        section.take(var)
        if ref is not None:
            refs[var] = ref
    return refs


def _read_advanced(top: Section) -> SecureStorageConfig:
    section = top.section("advanced")
    if section is None:
        return SecureStorageConfig()
    storage = read_secure_storage(section)
    section.finish(("secure_storage",))
    return storage


def _read_logging(top: Section) -> LoggingConfig:
    section = top.section("logging")
    if section is None:
        return LoggingConfig()
    level = section.choice("level", ("debug", "info", "warning", "error"), "info")
    fmt = section.choice("format", ("text", "json"), "text")
    section.finish(("level", "format"))
    return LoggingConfig(level=cast(Level, level), format=cast(Format, fmt))
