"""The root command group, global options, and the mapping of errors to exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from mcp_router.cli.context import AppContext
from mcp_router.errors import MCPRouterError

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "cli", "main"]

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _register_commands() -> None:
    from mcp_router.cli.token import token

    cli.add_command(token)


_register_commands()


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn errors into exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except MCPRouterError as exc:
        _report(exc, debug)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if debug:
            raise
        # Only the type: a foreign library's message might quote a value.
        click.echo(
            f"error: internal error ({type(exc).__name__}); rerun with --debug for details",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)


def _report(exc: MCPRouterError, debug: bool) -> None:
    click.echo(f"error: {exc}", err=True)
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
