"""Where a token value comes from (prompt, --value, --file, --stdin, an environment
variable) and whether we may ask the user anything.

The newline rule, one for every non-interactive source: a single trailing line ending
(``\\n`` or ``\\r\\n``) is removed, because ``echo``, editors and ``base64 -d`` of a
secret created with one add it; anything else, including further newlines and spaces, is
kept exactly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import click

from mcp_router.errors import ConfirmationRequiredError, InvalidTokenValueError
from mcp_router.secret import Secret
from mcp_router.secure.store import StoreSettings
from mcp_router.secure.validation import MAX_VALUE_BYTES, strip_one_newline

__all__ = [
    "check_single_source",
    "confirm",
    "input_options",
    "is_interactive",
    "passphrase_source",
    "read_value",
    "secret_prompt",
    "strip_one_newline",
]


def is_interactive() -> bool:
    """True when a person can answer prompts: stdin is a terminal and ``CI`` is not set."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return False
    return _stdin_is_terminal()


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _decode(data: bytes, source: str) -> str:
    try:
        return strip_one_newline(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidTokenValueError(f"the value from {source} is not UTF-8 text") from None


#: The most a value source is read: the value limit, a CRLF, and one byte more to tell.
_READ_LIMIT = MAX_VALUE_BYTES + 3


def _read_bounded(stream: BinaryIO, source: str) -> bytes:
    """Read to the end, but never more than a value can be: ``--file /dev/zero`` or an
    endless pipe is refused instead of filling memory."""
    data = stream.read(_READ_LIMIT)
    if len(data) >= _READ_LIMIT:
        raise InvalidTokenValueError(
            f"the value from {source} is larger than the limit of {MAX_VALUE_BYTES} bytes")
    return data


def input_options(func: Callable[..., object]) -> Callable[..., object]:
    """Add the value-source options shared by set, update and rotate."""
    options = [
        click.option("--value", "value", metavar="TEXT",
                     help="The value on the command line (visible in shell history and "
                     "process lists; prefer the prompt, --stdin or --file)."),
        click.option("--file", "file", metavar="PATH",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Read the value from a file."),
        click.option("--stdin", "stdin", is_flag=True, help="Read the value from stdin."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_single_source(value: str | None, file: Path | None, stdin: bool) -> None:
    """Refuse more than one of --value, --file and --stdin (a usage error, exit 2).

    Commands call it first, so that a bad command line is reported before the store is
    opened."""
    chosen = [flag for flag, on in (("--value", value is not None), ("--file", file),
                                    ("--stdin", stdin)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one of {', '.join(chosen)}")


def read_value(value: str | None, file: Path | None, stdin: bool, *, prompt: str) -> Secret:
    """The value from exactly one source; prompt (hidden, confirmed) when none is given."""
    check_single_source(value, file, stdin)
    if value is not None:
        click.echo(
            "warning: --value is visible in shell history and process lists; "
            "prefer the prompt, --stdin or --file",
            err=True,
        )
        return Secret(value)
    if file is not None:
        try:
            with file.open("rb") as fh:
                return Secret(_decode(_read_bounded(fh, str(file)), str(file)))
        except OSError as exc:
            raise click.BadParameter(f"cannot read {file}: {exc.strerror}") from None
    if stdin:
        if _stdin_is_terminal():  # someone typing: say how to finish, and that it shows
            click.echo("reading the value until Ctrl-D; it is shown as you type (without "
                       "--stdin the prompt hides it)", err=True)
        return Secret(_decode(_read_bounded(sys.stdin.buffer, "stdin"), "stdin"))
    if not is_interactive():
        raise ConfirmationRequiredError(
            "no value given and no terminal to prompt on",
            hint="pass the value with --stdin or --file",
        )
    return Secret(click.prompt(prompt, hide_input=True, confirmation_prompt=True,
                               err=True))


def confirm(question: str, *, yes: bool) -> None:
    """Ask ``question``; ``--yes`` answers it. Without a terminal, require ``--yes``."""
    if yes:
        return
    if not is_interactive():
        raise ConfirmationRequiredError(
            "confirmation needed but there is no terminal to ask on",
            hint="pass --yes to confirm",
        )
    click.confirm(question, abort=True, err=True)


def secret_prompt(question: str) -> str | None:
    """A hidden prompt when a person can answer, else ``None``: the CLI's
    :attr:`StoreSettings.prompt` (a backend asks it, e.g., for the HSM's PIN)."""
    if not is_interactive():
        return None
    return str(click.prompt(question, hide_input=True, err=True))


def passphrase_source(settings: StoreSettings) -> Callable[[bool], str | None]:
    """``MCP_ROUTER_PASSPHRASE``, else a hidden prompt when one is required (or when the
    config sets ``file_passphrase: true`` for a new file) and a terminal is there."""
    from mcp_router.secure.backends.encfile import PASSPHRASE_ENV

    wanted = bool(settings.options.get("file_passphrase", False))

    def source(required: bool) -> str | None:
        env = os.environ.get(PASSPHRASE_ENV)
        if env:
            return env
        if (required or wanted) and is_interactive():
            return str(click.prompt("Passphrase for the token file", hide_input=True,
                                    confirmation_prompt=not required, err=True))
        if wanted and not required:
            # Creating the file without the passphrase the config asks for would be silent
            # and permanent; refuse instead.
            raise ConfirmationRequiredError(
                "the config asks for a passphrase on the new token file, but there is no "
                "terminal to ask on",
                hint=f"set {PASSPHRASE_ENV} or run the command in a terminal",
            )
        return None

    return source
