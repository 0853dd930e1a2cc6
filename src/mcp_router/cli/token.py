"""``mcp-router token ...``: store, read, list and delete tokens."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mcp_router.cli.context import AppContext
from mcp_router.cli.inputs import check_single_source, confirm, input_options, read_value
from mcp_router.cli.lazy import LazyGroup
from mcp_router.cli.output import dumps, format_time, info_json, mask, table
from mcp_router.errors import InvalidTokenValueError, NotSupportedError, TokenExistsError
from mcp_router.secret import Secret
from mcp_router.secure.store import TokenInfo

__all__ = ["token"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)
name_option = click.option("--name", "-n", required=True, metavar="NAME",
                           help="Token name, e.g. gateway-token.")


@click.group(cls=LazyGroup, lazy_subcommands={
    "rotate": "mcp_router.cli.lifecycle:rotate",
    "rollback": "mcp_router.cli.lifecycle:rollback",
    "audit": "mcp_router.cli.lifecycle:audit",
    "backup": "mcp_router.cli.lifecycle:backup",
    "restore": "mcp_router.cli.lifecycle:restore",
    "repair": "mcp_router.cli.lifecycle:repair",
    "migrate-env": "mcp_router.cli.migrate:migrate_env",
    "doctor": "mcp_router.cli.doctor:doctor",
})
def token() -> None:
    """Store, read, list and delete tokens in secure storage."""


@token.command("set")
@name_option
@input_options
@click.option("--force", is_flag=True, help="Overwrite an existing token of that name.")
@click.option("--restrict-access", is_flag=True,
              help="macOS Keychain: only the program running mcp-router (its Python "
              "interpreter) may read the token without asking.")
@pass_app
def set_(app: AppContext, name: str, value: str | None, file: Path | None, stdin: bool,
         force: bool, restrict_access: bool) -> None:
    """Store a new token (prompts for the value unless --stdin, --file or --value)."""
    check_single_source(value, file, stdin)
    if restrict_access:
        _require_keychain_platform()
        app.options["restrict_access"] = True  # read by the keychain backend
    store = app.store()
    if restrict_access and store.backend_name != "keychain":
        raise NotSupportedError(
            f"--restrict-access needs the macOS Keychain; the {store.backend_name} store "
            "cannot restrict access", hint="drop --restrict-access, or use --backend keychain")
    store.backend.check_writable()  # a read-only store says so first (exit 12)
    if not force and store.exists(name):
        raise TokenExistsError(name)  # before prompting for a value that would be refused
    secret = read_value(value, file, stdin, prompt="Token value")
    store.create(name, secret.reveal(), overwrite=force)
    click.echo(f"stored '{name}' in the {store.backend_name} store", err=True)


def _require_keychain_platform() -> None:
    import sys

    if sys.platform != "darwin":
        raise NotSupportedError(
            "--restrict-access is not supported on this platform",
            hint="it restricts a macOS Keychain item to mcp-router; drop the flag",
        )


@token.command()
@name_option
@input_options
@pass_app
def update(app: AppContext, name: str, value: str | None, file: Path | None,
           stdin: bool) -> None:
    """Replace the value of an existing token."""
    check_single_source(value, file, stdin)
    store = app.store()
    store.backend.check_writable()
    # Fails before the new value is typed (twice). The backend decides, not the index:
    # the index keeps a row for a token another tool deleted.
    store.require(name)
    secret = read_value(value, file, stdin, prompt="New token value")
    store.update(name, secret.reveal())
    click.echo(f"updated '{name}' in the {store.backend_name} store", err=True)


@token.command()
@name_option
@click.option("--export", is_flag=True, help="Print the raw value (asks to confirm).")
@click.option("--yes", "-y", is_flag=True, help="Confirm without asking (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Metadata as JSON (never the value).")
@click.option("--previous", is_flag=True,
              help="The value kept by 'rotate --backup' instead of the current one.")
@pass_app
def get(app: AppContext, name: str, export: bool, yes: bool, as_json: bool,
        previous: bool) -> None:
    """Show a token's metadata and a masked preview; --export prints the value."""
    from mcp_router.secure import audit
    from mcp_router.secure.rotation import read_previous

    store = app.store()
    if export:
        store.info(name)  # not found is reported before asking
        which = "previous value" if previous else "secret value"
        confirm(f"Print the {which} of '{name}'?", yes=yes)
    # Metadata first: "last used" should say when the token was used before this look.
    info = None if export else store.info(name)
    with audit.action("export" if export else "get"):
        value = Secret(read_previous(store, name) if previous else store.retrieve(name))
    if info is None:
        # As UTF-8 bytes, the encoding --stdin and --file read back: a str would have
        # its ANSI escape sequences stripped by click when stdout is not a terminal, and
        # be encoded in the locale's code page on Windows.
        click.echo(value.reveal().encode("utf-8"))
        return
    if as_json:
        extra = {"previous": True} if previous else {}
        click.echo(dumps({**info_json(info), "preview": mask(value.reveal()), **extra}))
        return
    rows = [
        ("name", info.name),
        ("backend", info.backend),
        ("created", format_time(info.created)),
        ("last used", format_time(info.last_used)),
        ("updated", format_time(info.updated)),
        ("rotated", format_time(info.rotated)),
        ("previous" if previous else "value", mask(value.reveal())),
    ]
    for label, text in rows:
        click.echo(f"{label + ':':<11}{text}")


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--stale-days", type=click.IntRange(min=0), metavar="D",
              help="Flag tokens not rotated (or, if never rotated, created) in D days.")
@pass_app
def list_(app: AppContext, as_json: bool, stale_days: int | None) -> None:
    """List stored tokens with their created, last-used and rotated times."""
    store = app.store()
    infos = store.list()
    stale = {i.name: _is_stale(i, stale_days) for i in infos} if stale_days is not None else {}
    if as_json:
        click.echo(dumps([{**info_json(i), **({"stale": stale[i.name]} if stale else {})}
                          for i in infos]))
        return
    if not infos:
        click.echo(f"no tokens in the {store.backend_name} store", err=True)
        return
    # The spec's three columns; ROTATED once any token was rotated (or with --stale-days).
    rotated = stale_days is not None or any(i.rotated for i in infos)
    headers = ("NAME", "CREATED", "LAST_USED") + (("ROTATED",) if rotated else ()) + (
        ("STALE",) if stale else ())
    rows = [(i.name, format_time(i.created), format_time(i.last_used))
            + ((format_time(i.rotated),) if rotated else ())
            + (("yes" if stale[i.name] else "",) if stale else ()) for i in infos]
    click.echo(table(headers, rows))


def _is_stale(info: TokenInfo, days: int | None) -> bool:
    """Not rotated (or created) within ``days``; a token of unknown age counts as stale."""
    from datetime import datetime, timedelta, timezone

    since = info.rotated or info.created
    return since is None or since < datetime.now(timezone.utc) - timedelta(days=days or 0)


@token.command()
@name_option
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
@pass_app
def delete(app: AppContext, name: str, yes: bool) -> None:
    """Delete a token."""
    store = app.store()
    store.info(name)  # not found is reported before asking
    confirm(f"Delete token '{name}' from the {store.backend_name} store?", yes=yes)
    store.delete(name)
    click.echo(f"deleted '{name}'", err=True)


@token.command("import")
@name_option
@click.option("--env", "env_var", required=True, metavar="VAR",
              help="Environment variable holding the value.")
@click.option("--force", is_flag=True, help="Overwrite an existing token of that name.")
@pass_app
def import_(app: AppContext, name: str, env_var: str, force: bool) -> None:
    """Store a token from an environment variable."""
    if env_var not in os.environ:
        raise InvalidTokenValueError(f"environment variable {env_var} is not set")
    # Take it out of our environment, so that no helper process we start inherits it.
    secret = Secret(os.environ.pop(env_var))
    if not secret:
        raise InvalidTokenValueError(f"environment variable {env_var} is empty")
    store = app.store()
    store.create(name, secret.reveal(), overwrite=force)
    click.echo(
        f"stored '{name}' from ${env_var} in the {store.backend_name} store; "
        f"you can now unset {env_var}",
        err=True,
    )
