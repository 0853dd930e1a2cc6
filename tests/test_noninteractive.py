"""Nothing prompts without a terminal: every command of the CLI, found by walking the click
command tree (so commands added later are covered too), is run as a real process with
``CI=true`` and, separately, with only a non-terminal stdin; its stdin is a pipe that
never ends, so a command that waited for input would hang until the timeout. A command
that needed an answer must fail with exit 13 and name the flag that gives it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from clirun import PYTHON_CLI
from mcp_router.cli import cli
from mcp_router.errors import ConfirmationRequiredError

#: Commands whose job is to serve a protocol on stdin/stdout (reading stdin is not waiting
#: for a person): they get a stdin that ends at once, and must then exit.
STDIO_COMMANDS = {("run",)}
TIMEOUT = 45  # seconds: ample for a start-up on a loaded 2-core machine; a hang never ends
PROMPT_MARKS = ("[y/N]", "[Y/n]", "Repeat for confirmation", "Token value:", "Passphrase")
NAME = "ci-token"
VALUE = "noninteractive-token-value"


def leaf_commands(group: click.Group = cli, path: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # a lazy group imports each command here
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(leaf_commands())


def _value_for(param: click.Parameter, files: Path, name: str) -> str:
    """A plausible value for a required parameter, so the command gets past its usage
    checks and reaches the point where it might ask something."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return "1"
    if isinstance(kind, (click.Path, click.File)):
        must_exist = getattr(kind, "exists", False) or "r" in getattr(kind, "mode", "w")
        if must_exist and not getattr(kind, "file_okay", True):
            return str(files)
        return str(files / "input.txt") if must_exist else str(files / f"out-{param.name}")
    metavar = (getattr(param, "metavar", None) or "").upper()
    if "=" in metavar:
        return f"TOKEN={NAME}-2"
    if param.name and "env" in param.name:
        return "TOKEN"
    return name


def arguments(command: click.Command, files: Path) -> list[str]:
    # A command that can --force makes something new (set, import): give it a new name so
    # it is not stopped by "already exists" before the point where it could ask.
    creates = any("--force" in getattr(p, "opts", []) for p in command.params)
    name = f"{NAME}-new" if creates else NAME
    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param, click.Option):
            args += [param.opts[0], _value_for(param, files, name)]
        else:
            args.append(_value_for(param, files, name))
    return args


@dataclass
class Outcome:
    argv: list[str]
    returncode: int | None  # None: still waiting when the timeout struck
    stdout: str
    stderr: str


def run_without_terminal(argv: list[str], env: dict[str, str], *, stdin_ends: bool) -> Outcome:
    """Run ``argv`` in a new session (no controlling terminal, /dev/tty unavailable) with a
    pipe as stdin that stays open, unless ``stdin_ends``, until the process exits."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(argv, stdin=read_end, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        os.close(read_end)
        if stdin_ends:
            os.close(write_end)
        try:
            out, errs = proc.communicate(timeout=TIMEOUT)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, errs = proc.communicate()
            code = None
    finally:
        if not stdin_ends:
            os.close(write_end)
    return Outcome(argv, code, out.decode("utf-8", "replace"), errs.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    """Every command, in both modes, each in its own HOME holding one stored token."""
    base = tmp_path_factory.mktemp("noninteractive")
    template = base / "template-home"
    template.mkdir()
    env = _env(template, ci=True)
    stored = subprocess.run([*PYTHON_CLI, "token", "set", "--name", NAME, "--stdin"],
                            input=VALUE.encode(), env=env, capture_output=True, check=False)
    assert stored.returncode == 0, stored.stderr
    jobs = []
    for mode in ("CI=true", "stdin-not-a-tty"):
        for path, command in COMMANDS.items():
            home = base / f"{mode}-{'-'.join(path)}"
            shutil.copytree(template, home, symlinks=True)
            files = home / "files"
            files.mkdir()
            (files / "input.txt").write_text("some-input-value\n")
            argv = [*PYTHON_CLI, *path, *arguments(command, files)]
            jobs.append(((mode, " ".join(path)), argv, _env(home, ci=mode == "CI=true"),
                         path in STDIO_COMMANDS))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(run_without_terminal, argv, env, stdin_ends=ends)
                   for key, argv, env, ends in jobs}
        return {key: future.result() for key, future in futures.items()}


def _env(home: Path, *, ci: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HOME", "XDG_CONFIG_HOME",
                                                           "XDG_DATA_HOME", "XDG_STATE_HOME")}
    env.update(HOME=str(home), MCP_ROUTER_BACKEND="file", TOKEN=VALUE)
    if ci:
        env["CI"] = "true"
    return env


MODES = ["CI=true", "stdin-not-a-tty"]
CASES = [(mode, " ".join(path)) for mode in MODES for path in COMMANDS]


def test_the_command_tree_was_found() -> None:
    assert {("token", "set"), ("token", "get"), ("token", "delete"),
            ("token", "import")} <= set(COMMANDS)


@pytest.mark.parametrize(("mode", "command"), CASES, ids=[f"{m}:{c}" for m, c in CASES])
def test_no_command_waits_for_input(outcomes: dict[tuple[str, str], Outcome], mode: str,
                                    command: str) -> None:
    outcome = outcomes[(mode, command)]
    assert outcome.returncode is not None, f"{outcome.argv} still waiting after {TIMEOUT}s"
    shown = outcome.stdout + outcome.stderr
    for mark in PROMPT_MARKS:
        assert mark not in shown, (outcome.argv, shown)
    assert "Traceback" not in outcome.stderr, (outcome.argv, outcome.stderr)
    assert outcome.returncode != 70, (outcome.argv, outcome.stderr)  # internal error


@pytest.mark.parametrize(("mode", "command"), CASES, ids=[f"{m}:{c}" for m, c in CASES])
def test_a_needed_answer_fails_with_exit_13_naming_the_flag(
        outcomes: dict[tuple[str, str], Outcome], mode: str, command: str) -> None:
    outcome = outcomes[(mode, command)]
    if outcome.returncode != ConfirmationRequiredError.exit_code:
        return
    message = outcome.stderr.strip().splitlines()[-1]
    assert re.search(r"\(.*--[a-z-]+.*\)$", message), message  # the hint names a flag
    has_yes = any("--yes" in getattr(p, "opts", []) for p in COMMANDS[tuple(command.split())]
                  .params)
    if "confirm" in message:
        assert has_yes and "--yes" in message, message


# -- the documented commands (docs/ci-cd.md, "Without a terminal") ------------------------------
DELETE = "mcp-router token delete --name ci-token"
DELETE_YES = "mcp-router token delete --name ci-token --yes"
EXPORT = "mcp-router token get --name ci-token --export"
EXPORT_YES = "mcp-router token get --name ci-token --export --yes"
SET_NO_VALUE = "mcp-router token set --name ci-token"


def documented(command: str, *, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CI": "true",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    return subprocess.run(["bash", "-c", command], input=stdin, env=env, capture_output=True,
                          timeout=TIMEOUT, start_new_session=True, check=False)


def _err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode()


def test_documented_commands_without_a_terminal() -> None:
    no_value = documented(SET_NO_VALUE)
    assert no_value.returncode == 13
    assert _err(no_value).strip().endswith("(pass the value with --stdin or --file)")
    stored = documented("mcp-router token set --name ci-token --stdin", stdin=VALUE.encode())
    assert stored.returncode == 0, _err(stored)

    export = documented(EXPORT)
    assert (export.returncode, export.stdout) == (13, b"")
    assert _err(export).strip().endswith("(pass --yes to confirm)")
    export = documented(EXPORT_YES)
    assert (export.returncode, export.stdout) == (0, VALUE.encode() + b"\n")

    delete = documented(DELETE)
    assert delete.returncode == 13
    assert _err(delete).strip().endswith("(pass --yes to confirm)")
    assert documented(EXPORT_YES).returncode == 0  # still there
    delete = documented(DELETE_YES)
    assert delete.returncode == 0, _err(delete)
    assert documented(EXPORT_YES).returncode == 3  # gone
