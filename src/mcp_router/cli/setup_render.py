"""The config file ``mcp-router setup`` writes, and writing it safely."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from mcp_router.errors import ConfigError
from mcp_router.paths import atomic_write

__all__ = ["Answers", "render_config", "write_private"]


@dataclass
class Answers:
    """What setup learned: everything but the secret itself."""

    gateway_url: str
    auth_type: str
    secret_name: str = "gateway-token"  # noqa: S105 - a token name
    client_id: str | None = None
    token_endpoint: str | None = None
    scopes: tuple[str, ...] = ()
    storage: dict[str, object] = field(default_factory=dict)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def render_config(answers: Answers) -> str:
    lines = [
        f"# mcp-router configuration, written by 'mcp-router setup' on {date.today()}.",
        "# No secret is stored in this file: *_secure_key values name tokens in secure",
        "# storage ('mcp-router token list'). Verify with: mcp-router config check",
        "version: 1",
        "",
        "gateway:",
        f"  url: {_q(answers.gateway_url)}",
        "  auth:",
    ]
    if answers.auth_type == "oauth2":
        assert answers.client_id is not None and answers.token_endpoint is not None
        lines += [
            "    type: oauth2",
            f"    client_id: {_q(answers.client_id)}",
            f"    client_secret_secure_key: {_q(answers.secret_name)}",
            f"    token_endpoint: {_q(answers.token_endpoint)}",
        ]
        if answers.scopes:
            lines.append("    scopes: [" + ", ".join(_q(s) for s in answers.scopes) + "]")
    else:
        lines += ["    type: bearer", f"    token_secure_key: {_q(answers.secret_name)}"]
    lines += ["", "# The store the token was saved in."]
    storage = yaml.safe_dump({"advanced": {"secure_storage": answers.storage}},
                             sort_keys=False, default_flow_style=False, allow_unicode=True)
    return "\n".join(lines) + "\n" + storage


def write_private(target: Path, text: str) -> Path | None:
    """Write ``text`` to ``target`` atomically, mode 0600. An existing file is first copied
    to ``<target>.bak`` (returned), so that the previous config stays at ``target`` until
    the new one replaces it."""
    backup: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if target.exists():
            backup = target.with_name(target.name + ".bak")
            atomic_write(backup, target.read_bytes())
        atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot write the config file {target}: {exc.strerror or exc}",
                          hint="choose another path with --config, or fix the directory's "
                          "permissions or free space") from exc
    return backup
