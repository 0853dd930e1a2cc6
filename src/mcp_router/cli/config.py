"""``mcp-router config check``: validate the config file and resolve every reference.

The report goes to stdout; it names each reference and whether it resolves, never a
value. The exit status is 0 when the file is valid and every reference resolves; else the
exit code of the first failure (11 for an invalid file, 3 for a missing token, ...).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import click

from mcp_router.cli.context import AppContext
from mcp_router.config.discovery import DEFAULT_LOCATIONS
from mcp_router.config.loader import ConfigReport, check_config
from mcp_router.config.resolver import RefStatus, SecretResolver, check_references
from mcp_router.config.schema import RouterConfig, StdioBackend
from mcp_router.errors import ConfigError, MCPRouterError

__all__ = ["config", "run_check"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)


@click.group()
def config() -> None:
    """Check the router's YAML config file."""


@config.command()
@click.option("--config", "config_path", metavar="PATH",
              help="The file to check (default: the one mcp-router would use).")
@pass_app
@click.pass_context
def check(ctx: click.Context, app: AppContext, config_path: str | None) -> None:
    """Validate the config and resolve every secret reference (values are never shown)."""
    if config_path:
        app = replace(app, config_path=config_path)
    path = app.config_file
    if path is None:
        raise ConfigError(
            "no config file found (looked in: " + ", ".join(DEFAULT_LOCATIONS) + ")",
            hint="create one with 'mcp-router setup', or pass --config PATH")
    code = run_check(app, path)
    if code:
        ctx.exit(code)


def run_check(app: AppContext, path: Path) -> int:
    """Print the report for ``path``; return the exit status (0 when all is well)."""
    report = check_config(path)
    _print_validation(report)
    if report.config is None:
        _fail(f"{len(report.problems)} problem(s) in {path}")
        return ConfigError.exit_code
    statuses = _resolve_all(app, report.config)
    failures = [s for s in statuses if not s.ok]
    if failures:
        count = len(failures)
        _fail(f"{count} of {len(statuses)} reference{'s' if len(statuses) != 1 else ''} "
              f"do{'es' if count == 1 else ''} not resolve")
        error = failures[0].error
        assert error is not None
        return error.exit_code
    click.echo(f"ok: {path} is valid and every reference resolves")
    return 0


def _print_validation(report: ConfigReport) -> None:
    click.echo(f"config: {report.source}")
    for problem in report.problems:
        click.echo(f"  error: {problem}")
    warnings = [str(w) for w in report.warnings]
    if report.config is not None:
        warnings += _permission_warnings(report.config, Path(report.source))
        warnings += _command_warnings(report.config)
    for warning in warnings:
        click.echo(f"  warning: {warning}")
    if report.config is not None:
        click.echo("  valid (version 1)")


def _permission_warnings(config: RouterConfig, path: Path) -> list[str]:
    """Plain-text secrets in files others can read."""
    found: list[str] = []
    plain = [r for r in config.credential_refs() if r.source == "plain"]
    if plain and _readable_by_others(path):
        found.append(f"{path} holds a plain-text secret and other users can read it "
                     f"(chmod 600 {path})")
    for ref in config.credential_refs():
        if ref.source == "file" and _readable_by_others(Path(ref.name)):
            found.append(f"{ref.origin}: the token file {ref.name} can be read by other "
                         f"users (chmod 600 {ref.name})")
    return found


def _command_warnings(config: RouterConfig) -> list[str]:
    """Local backends whose program cannot be found (``run --backend`` would fail)."""
    found: list[str] = []
    for entry in config.backends:
        if isinstance(entry, StdioBackend) and shutil.which(entry.command[0]) is None:
            found.append(f"backend '{entry.name}': the command '{entry.command[0]}' is not "
                         "found (not on PATH, or not executable)")
    return found


def _readable_by_others(path: Path) -> bool:
    if os.name == "nt":
        return False
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def _resolve_all(app: AppContext, config: RouterConfig) -> list[RefStatus]:
    refs = config.credential_refs()
    resolver = SecretResolver(app.settings())
    try:
        _print_store(resolver, needed=any(r.source == "secure_key" for r in refs))
        click.echo("references:" if refs else "references: none")
        statuses = check_references(config, resolver)
    finally:
        resolver.close()
    for status in statuses:
        _print_status(status)
    return statuses


def _print_store(resolver: SecretResolver, *, needed: bool) -> None:
    """The configured store and whether it can be used; a failure is only a warning
    when no reference needs the store (each reference reports it otherwise)."""
    try:
        store = resolver.store()
        probe = store.backend.probe()
    except MCPRouterError as exc:
        click.echo(f"store: {resolver.settings.backend}: cannot be opened: {exc.message}")
        if not needed:
            click.echo(f"  warning: the store cannot be used: {exc}")
        return
    click.echo(f"store: {store.selection.backend} ({store.selection.reason})")
    if not probe.ok:
        click.echo(f"  warning: the {store.selection.backend} store is not usable here: "
                   f"{probe.reason}")


def _print_status(status: RefStatus) -> None:
    ref = status.ref
    where = f"{ref.origin.key} (line {ref.origin.line})"
    if status.ok:
        click.echo(f"  ok       {where}: {ref.describe()}")
        return
    error = status.error
    assert error is not None
    click.echo(f"  MISSING  {where}: {ref.describe()}")
    click.echo(f"           {_short(error)}")
    if error.hint:
        click.echo(f"           fix: {error.hint}")


def _short(error: MCPRouterError) -> str:
    # The resolver's messages end with where the reference is; the line above says it.
    return error.message.split(", referenced by ")[0]


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
