"""``mcp-router token rotate | rollback | audit | backup | restore | repair``.

Registered lazily on the ``token`` group in :mod:`mcp_router.cli.token`.
The work is done in :mod:`mcp_router.secure.rotation`, :mod:`~mcp_router.secure.audit`,
:mod:`~mcp_router.secure.backup` and :mod:`~mcp_router.secure.repair`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcp_router.cli.context import AppContext
from mcp_router.cli.inputs import input_options, is_interactive, read_value, strip_one_newline
from mcp_router.cli.output import dumps, format_time, table
from mcp_router.errors import ConfirmationRequiredError, CorruptStoreError, ValidationError
from mcp_router.secret import Secret

if TYPE_CHECKING:
    from mcp_router.secure.audit import AuditLog
    from mcp_router.secure.backup import RestorePlan

__all__ = ["audit", "backup", "repair", "restore", "rollback", "rotate"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)
name_option = click.option("--name", "-n", required=True, metavar="NAME",
                           help="Token name, e.g. gateway-token.")
MIN_PASSPHRASE = 8


# -- rotation ---------------------------------------------------------------------------
@click.command()
@name_option
@input_options
@click.option("--generate", is_flag=True,
              help="Generate a random value: 32 bytes (256 bits), URL-safe base64.")
@click.option("--show", "--print", "show", is_flag=True,
              help="With --generate, print the new value once on stdout.")
@click.option("--backup", is_flag=True,
              help="Keep the previous value (read it with 'get --previous', restore it "
              "with 'rollback').")
@pass_app
def rotate(app: AppContext, name: str, value: str | None, file: Path | None, stdin: bool,
           generate: bool, show: bool, backup: bool) -> None:
    """Replace a token's value and record the rotation."""
    from mcp_router.secure.rotation import generate_token
    from mcp_router.secure.rotation import rotate as do_rotate

    if generate and (value is not None or file or stdin):
        raise click.UsageError("--generate cannot be combined with --value, --file or --stdin")
    if show and not generate:
        raise click.UsageError("--show only applies to --generate")
    store = app.store()
    store.require(name)  # not found (asking the backend, not the index) before prompting
    secret = Secret(generate_token()) if generate else read_value(
        value, file, stdin, prompt="New token value")
    do_rotate(store, name, secret.reveal(), backup=backup)
    kept = "; previous value kept" if backup else ""
    click.echo(f"rotated '{name}' in the {store.backend_name} store{kept}", err=True)
    if generate and show:
        click.echo(secret.reveal())
    elif generate:
        click.echo("the generated value is not shown (pass --show, or read it with "
                   f"'token get --name {name} --export')", err=True)


@click.command()
@name_option
@pass_app
def rollback(app: AppContext, name: str) -> None:
    """Swap a token's value with the one kept by 'rotate --backup'."""
    from mcp_router.secure.rotation import rollback as do_rollback

    store = app.store()
    do_rollback(store, name)
    click.echo(f"rolled back '{name}' to its previous value; the value it replaced is now "
               "the previous one (run rollback again to undo)", err=True)


# -- audit ------------------------------------------------------------------------------
@click.command()
@click.option("--name", "-n", metavar="NAME", help="Only records for this token.")
@click.option("--days", type=click.FloatRange(min=0), metavar="D",
              help="Only records of the last D days.")
@click.option("--action", "action_name", metavar="ACTION",
              help="Only this action (get, set, rotate, resolve, ...).")
@click.option("--limit", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Show at most this many (the newest) records; 0 shows all.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--verify", is_flag=True, help="Check the hash chain of the whole log.")
@pass_app
def audit(app: AppContext, name: str | None, days: float | None, action_name: str | None,
          limit: int, as_json: bool, verify: bool) -> None:
    """Show the audit log, newest first, or verify that it was not tampered with."""
    from mcp_router.secure.audit import open_log

    log = open_log(app.settings())
    if verify:
        _verify(log)
        return
    records = log.query(name=name, days=days, action=action_name, limit=limit or None)
    if limit and len(records) == limit:
        total = log.count(name=name, days=days, action=action_name)
        if total > limit:
            click.echo(f"showing the newest {limit} of {total} matching records "
                       "(--limit 0 shows all)", err=True)
    if as_json:
        click.echo(dumps([asdict(r) for r in records]))
        return
    if not records:
        click.echo("no audit records match", err=True)
        return
    rows = [(format_time(r.moment), r.action, r.name or "-", r.outcome, r.user, str(r.pid),
             r.command or "-") for r in records]
    click.echo(table(("TIME", "ACTION", "NAME", "OUTCOME", "USER", "PID", "COMMAND"), rows))


def _verify(log: AuditLog) -> None:
    result = log.verify()
    if not result.ok:
        raise CorruptStoreError(
            f"the audit log is broken at record #{result.broken_seq}: {result.reason}",
            hint="the records before it are intact; keep a copy of audit.db for review",
        )
    span = f" (#{result.first_seq}..#{result.first_seq + result.records - 1})" \
        if result.records else ""
    click.echo(f"audit log intact: {result.records} records{span}; head {result.head}")


# -- backup and restore -----------------------------------------------------------------
passphrase_option = click.option(
    "--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PATH", help="Read the backup passphrase from a file (else a hidden prompt).")


def _passphrase(file: Path | None, *, new: bool) -> Secret:
    if file is not None:
        try:
            phrase = strip_one_newline(file.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise click.BadParameter(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValidationError(f"the passphrase in {file} is not UTF-8 text") from None
    elif is_interactive():
        phrase = click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=new,
                              err=True)
    else:
        raise ConfirmationRequiredError("a backup passphrase is needed and there is no "
                                        "terminal to ask on", hint="pass --passphrase-file")
    if new and len(unicodedata.normalize("NFC", phrase)) < MIN_PASSPHRASE:
        raise ValidationError(f"the backup passphrase is shorter than {MIN_PASSPHRASE} "
                              "characters", hint="choose a longer one")
    if not phrase:
        raise ValidationError("the backup passphrase is empty")
    return Secret(phrase)


@click.command()
@click.option("--output", "-o", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path), help="The backup file.")
@passphrase_option
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_app
def backup(app: AppContext, output: Path, passphrase_file: Path | None, force: bool) -> None:
    """Write every token, encrypted under a passphrase, into one file."""
    from mcp_router.secure.backup import check_output, write_backup

    check_output(output, force=force)  # before asking for a passphrase
    store = app.store()
    phrase = _passphrase(passphrase_file, new=True)
    count = write_backup(store, output, phrase.reveal(), force=force)
    click.echo(f"backed up {count} token(s) from the {store.backend_name} store to {output}",
               err=True)


@click.command()
@click.option("--input", "-i", "input_", required=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The backup file.")
@passphrase_option
@click.option("--force", is_flag=True, help="Overwrite existing tokens with other values.")
@click.option("--dry-run", is_flag=True, help="Only list what would change.")
@pass_app
def restore(app: AppContext, input_: Path, passphrase_file: Path | None, force: bool,
            dry_run: bool) -> None:
    """Restore tokens from a backup file, all or nothing."""
    from mcp_router.secure.backup import apply_restore, plan_restore, read_backup

    phrase = _passphrase(passphrase_file, new=False)
    doc = read_backup(input_, phrase.reveal())
    store = app.store()
    # Under the lock from plan to writes: a token another process added in between would
    # otherwise be overwritten as an "add", without --force.
    with store.lock, store.audit.operation("restore", None, detail=f"from {input_.name}",
                                           each=True):
        plan = plan_restore(store, doc, force=force)
        if dry_run:
            _show_plan(plan, "would ")
            return
        apply_restore(store, plan, lambda line: click.echo(f"error: {line}", err=True))
    _show_plan(plan, "")


def _show_plan(plan: RestorePlan, prefix: str) -> None:
    lines = [("add", plan.add), ("overwrite", plan.overwrite)]
    for verb, names in lines:
        if names:
            click.echo(f"{prefix}{verb}: {', '.join(names)}")
    if plan.skip:
        click.echo(f"{prefix}skip (exists with another value; --force replaces it): "
                   f"{', '.join(plan.skip)}")
    if plan.unchanged:
        click.echo(f"unchanged: {', '.join(plan.unchanged)}")
    if not any(names for _, names in lines):
        click.echo(f"{prefix}restore nothing", err=True)


# -- repair -----------------------------------------------------------------------------
@click.command()
@click.option("--name", "-n", metavar="NAME", help="Repair this token (and shared files).")
@click.option("--all", "all_", is_flag=True, help="Repair every token.")
@pass_app
def repair(app: AppContext, name: str | None, all_: bool) -> None:
    """Fix permissions, metadata entries and item attributes, without the secret."""
    from mcp_router.secure.repair import repair as do_repair
    from mcp_router.secure.validation import validate_user_name

    if bool(name) == all_:
        raise click.UsageError("give exactly one of --name NAME or --all")
    if name:
        validate_user_name(name)
    settings = app.settings()
    store = app.store()
    fixes = do_repair(store, settings, name)
    for line in fixes:
        click.echo(f"fixed: {line}")
    if not fixes:
        click.echo("nothing to repair", err=True)

