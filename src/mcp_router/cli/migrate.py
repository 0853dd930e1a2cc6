"""``mcp-router token migrate-env``: move secrets out of environment variables.

Each ``--env VAR=name`` is handled on its own: the value is stored, read back and
compared before the entry counts as migrated; a missing or empty variable, an invalid
name or a refused write fails that entry only. Exit 0 when every entry was migrated, else
the exit code of the first failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import click

from mcp_router.cli.context import AppContext
from mcp_router.errors import (
    CorruptStoreError,
    InvalidTokenValueError,
    MCPRouterError,
    TokenExistsError,
    ValidationError,
)
from mcp_router.secret import Secret
from mcp_router.secure.opener import SecureStore
from mcp_router.secure.validation import validate_name

__all__ = ["migrate_env"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)


@dataclass(frozen=True)
class Entry:
    variable: str
    name: str


@click.command("migrate-env")
@click.option("--env", "pairs", multiple=True, required=True, metavar="VAR=NAME",
              help="Move variable VAR into the store as token NAME (repeatable).")
@click.option("--force", is_flag=True, help="Replace tokens that exist with another value.")
@pass_app
@click.pass_context
def migrate_env(ctx: click.Context, app: AppContext, pairs: tuple[str, ...], force: bool
                ) -> None:
    """Move tokens from environment variables into secure storage, verifying each."""
    entries, failures = _parse(pairs)
    # Take the values out of our own environment first: a helper process the store
    # starts (custom backend) must not inherit them.
    values = {e.variable: os.environ.pop(e.variable, None) for e in entries}
    store = app.store() if entries else None
    migrated: list[Entry] = []
    for entry in entries:
        assert store is not None
        try:
            outcome = _migrate(store, entry, values[entry.variable], force)
        except MCPRouterError as exc:
            failures.append(exc)
            click.echo(f"failed    ${entry.variable}: {exc}", err=True)
            continue
        migrated.append(entry)
        click.echo(f"{outcome:<9} ${entry.variable} -> '{entry.name}' in the "
                   f"{store.backend_name} store (read back and verified)", err=True)
    if migrated:
        _print_cleanup(migrated)
    if failures:
        total = len(failures) + len(migrated)
        click.echo(f"error: {len(failures)} of {total} entries were not migrated", err=True)
        ctx.exit(failures[0].exit_code)


def _parse(pairs: tuple[str, ...]) -> tuple[list[Entry], list[MCPRouterError]]:
    entries: list[Entry] = []
    failures: list[MCPRouterError] = []
    seen: set[str] = set()
    for pair in pairs:
        variable, sep, name = pair.partition("=")
        try:
            if not sep or not variable or not name:
                raise ValidationError(f"'{pair}' is not VAR=NAME",
                                      hint="e.g. --env MCP_AUTH_TOKEN=gateway-token")
            validate_name(name)
            if variable in seen:
                raise ValidationError(f"${variable} is given twice")
        except ValidationError as exc:
            failures.append(exc)
            click.echo(f"failed    {pair.partition('=')[0] or pair}: {exc}", err=True)
            continue
        seen.add(variable)
        entries.append(Entry(variable, name))
    return entries, failures


def _migrate(store: SecureStore, entry: Entry, raw: str | None, force: bool) -> str:
    if raw is None:
        raise InvalidTokenValueError(f"environment variable {entry.variable} is not set",
                                     hint="export it in this shell, then run again")
    value = Secret(raw)
    if not value:
        raise InvalidTokenValueError(f"environment variable {entry.variable} is empty")
    outcome = "migrated"
    if store.exists(entry.name):
        if Secret(store.retrieve(entry.name)) == value:
            return "unchanged"  # an earlier run already moved it
        if not force:
            raise TokenExistsError(entry.name)
        outcome = "replaced"
    store.create(entry.name, value.reveal(), overwrite=force)
    if Secret(store.retrieve(entry.name)) != value:
        raise CorruptStoreError(
            f"'{entry.name}' reads back different from ${entry.variable}",
            hint="keep the variable; check the store with 'mcp-router token doctor'")
    return outcome


def _print_cleanup(migrated: list[Entry]) -> None:
    names = " ".join(e.variable for e in migrated)
    click.echo("\nThe values are now in secure storage. Remove the variables:", err=True)
    click.echo(f"  unset {names}", err=True)
    click.echo("and delete them wherever they are set (shell profile, .env files, CI "
               "settings). Refer to the tokens from the config, e.g.:", err=True)
    click.echo(f'  token_secure_key: "{migrated[0].name}"', err=True)
