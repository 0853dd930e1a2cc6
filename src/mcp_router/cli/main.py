"""The root command group, global options, and the mapping of errors to exit codes."""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence

import click

from mcp_router.cli.context import AppContext
from mcp_router.cli.lazy import LazyGroup
from mcp_router.errors import MCPRouterError

__all__ = ["EXIT_DECLINED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_USAGE", "cli", "main"]

EXIT_DECLINED = 1  # the user answered "no" to a confirmation (or closed the prompt)
EXIT_USAGE = 2  # click's code for a bad command line
EXIT_INTERNAL = 70  # an unexpected exception: a bug (EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class RootGroup(LazyGroup):
    """The root group. It turns errors into one-line messages and exit codes here, in
    :meth:`invoke`, so that the console script, ``python -m mcp_router`` and click's
    ``CliRunner`` in tests behave exactly alike."""

    def invoke(self, ctx: click.Context) -> object:
        _audit_command(self, ctx)  # the audit log's "command": our words, never argv
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except MCPRouterError as exc:
            _report(exc, _debug(ctx))
            ctx.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            # click turns Ctrl-C and Ctrl-D at a prompt into Abort; the cause tells which.
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                _interrupted(ctx)
            click.echo("aborted; nothing was changed", err=True)
            ctx.exit(EXIT_DECLINED)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # a closed pipe (``| head``): click handles it quietly
            _internal(exc, _debug(ctx))
            ctx.exit(EXIT_INTERNAL)
        return None  # pragma: no cover - every branch above exits


def _audit_command(root: click.Group, ctx: click.Context) -> None:
    """Tell the audit log which command runs (``config check``, ``token get``, ``run``).

    Only words that name registered commands are taken, walking down from the root group,
    so an option value (``--value <secret>``) can never become part of it.
    """
    from mcp_router.secure import audit as audit_log

    state = vars(ctx)  # click >= 8.2 keeps the subcommand in _protected_args
    remaining = [*state.get("_protected_args", state.get("protected_args", [])), *ctx.args]
    words: list[str] = []
    command: click.Command | None = root
    for arg in remaining:
        sub = command.get_command(ctx, arg) if isinstance(command, click.Group) else None
        if sub is None:
            break
        words.append(arg)
        command = sub
    audit_log.set_command(" ".join(words) or None)
    ctx.call_on_close(lambda: audit_log.set_command(None))


def _debug(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, AppContext) and ctx.obj.debug


def _interrupted(ctx: click.Context) -> None:
    click.echo("interrupted", err=True)
    ctx.exit(EXIT_INTERRUPTED)


def _internal(exc: Exception, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    # Only the type: a foreign library's message might quote a value.
    click.echo(
        f"error: internal error ({type(exc).__name__}); rerun with --debug for details",
        err=True,
    )


@click.group(
    cls=RootGroup, name="mcp-router", context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands={  # imported only when used: keeps `token get` fast
        "token": "mcp_router.cli.token:token",
        "run": "mcp_router.cli.run:run",
        "config": "mcp_router.cli.config:config",
        "setup": "mcp_router.cli.setup:setup",
    },
)
@click.option(
    "--config", "config_path", metavar="PATH", envvar="MCP_ROUTER_CONFIG",
    help="Config file (default: the first of the standard locations that exists).",
)
@click.option(
    "--backend", metavar="NAME", envvar="MCP_ROUTER_BACKEND",
    help="Storage backend: auto, file, secret-service, keychain, wincred, custom, pkcs11 "
    "or a plugin name. Overrides the config.",
)
@click.option("--no-fallback", is_flag=True,
              help="With 'auto', fail instead of falling back to the encrypted file.")
@click.option("-v", "--verbose", is_flag=True, help="Say which backend is used and why.")
@click.option("--debug", is_flag=True, help="Show full error chains and tracebacks.")
@click.version_option(package_name="mcp-router", prog_name="mcp-router")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    backend: str | None,
    no_fallback: bool,
    verbose: bool,
    debug: bool,
) -> None:
    """Keep the credentials MCP clients need in a secure store."""
    ctx.obj = AppContext(
        config_path=config_path,
        backend=backend,
        no_fallback=no_fallback,
        verbose=verbose or debug,
        debug=debug,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (errors become exit codes in :class:`RootGroup`)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mcp-router")
    except KeyboardInterrupt:  # before a command started (imports, argument parsing)
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _report(exc: MCPRouterError, debug: bool) -> None:
    if debug:  # the whole chain first, so that the one-line summary stays the last line
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    click.echo(f"error: {exc}", err=True)
