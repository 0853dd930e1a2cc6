"""Behaviour of the foundation ``token`` commands through the real CLI.

CliRunner for most (stdin is then not a terminal); real subprocesses where pipes, ``python
-m`` or the local time zone matter. Interactive prompts are in ``test_cli_prompts.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest

import mcp_router
from clirun import PYTHON_CLI, invoke, run, stored_value
from mcp_router.cli import cli
from mcp_router.secure import Backend, register_backend
from mcp_router.secure.registry import _registered

TIME_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
LONG_VALUE = "abcdefghijklmnopqrstuvwxyz"


def set_stdin(name: str, data: bytes | str, *extra: str) -> None:
    result = invoke("token", "set", "--name", name, "--stdin", *extra, input=data)
    assert result.exit_code == 0, result.stderr


def assert_one_line_error(result: object, code: int, *needles: str) -> str:
    """Exit ``code``, nothing on stdout, and exactly one ``error: ...`` line on stderr."""
    assert result.exit_code == code, (result.exit_code, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# -- input modes and the newline rule ------------------------------------------------------

NEWLINE_CASES = [
    (b"s3cr3t", "s3cr3t"),
    (b"s3cr3t\n", "s3cr3t"),
    (b"s3cr3t\r\n", "s3cr3t"),
    (b"s3cr3t\n\n", "s3cr3t\n"),
    (b"s3cr3t\r\n\r\n", "s3cr3t\r\n"),
    (b"s3cr3t\r", "s3cr3t\r"),
    (b"s3cr3t\n\r", "s3cr3t\n\r"),
    (b" s3cr3t \t\n", " s3cr3t \t"),
    (b"line one\nline two\n", "line one\nline two"),
    ("pässwörd-🔑\n".encode(), "pässwörd-🔑"),
]


@pytest.mark.parametrize(("data", "expected"), NEWLINE_CASES)
def test_stdin_removes_exactly_one_trailing_newline(data: bytes, expected: str) -> None:
    set_stdin("t1", data)
    assert stored_value("t1") == expected


@pytest.mark.parametrize(("data", "expected"), NEWLINE_CASES)
def test_file_removes_exactly_one_trailing_newline(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    source = tmp_path / "token.txt"
    source.write_bytes(data)
    result = invoke("token", "set", "--name", "t1", "--file", str(source))
    assert result.exit_code == 0, result.stderr
    assert stored_value("t1") == expected


def _kubectl_like_output(secret: bytes) -> str:
    """What ``kubectl get secret mcp-tokens -o json`` prints for a secret holding ``secret``."""
    import base64

    return json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mcp-tokens"},
         "type": "Opaque", "data": {"gateway-token": base64.b64encode(secret).decode()}},
        indent=4,
    )


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (b"k8s-token-value", "k8s-token-value"),  # kubectl create secret --from-literal
        (b"k8s-token-value\n", "k8s-token-value"),  # --from-file of a file echo wrote
        (b"k8s-token-value\r\n", "k8s-token-value"),  # a file written on Windows
    ],
)
def test_kubernetes_pipeline_bytes(tmp_path: Path, secret: bytes, expected: str) -> None:
    """The spec's ``kubectl ... | jq -r ... | base64 -d | token set --stdin`` pipeline,
    with the real ``base64 -d`` (and ``jq`` when installed) in a real shell pipe."""
    doc = tmp_path / "secret.json"
    doc.write_text(_kubectl_like_output(secret))
    extract = (
        "jq -r '.data[\"gateway-token\"]' \"$DOC\"" if shutil.which("jq") else
        f"{sys.executable} -c 'import json,sys; print(json.load(open(sys.argv[1]))"
        "[\"data\"][\"gateway-token\"])' \"$DOC\""
    )
    cli_cmd = " ".join(PYTHON_CLI)
    script = (f"{extract} | base64 -d | {cli_cmd} --backend file token set "
              "--name gateway-token --stdin")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script],
                          env={**os.environ, "DOC": str(doc)}, capture_output=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stored_value("gateway-token") == expected


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "binary.bin"
    source.write_bytes(b"\xff\xfe token \x80\n")
    result = invoke("token", "set", "--name", "t1", "--file", str(source))
    assert_one_line_error(result, 4, "not UTF-8", str(source))
    assert invoke("token", "list", "--json").stdout.strip() == "[]"


def test_non_utf8_stdin_is_refused() -> None:
    result = invoke("token", "set", "--name", "t1", "--stdin", input=b"\xc3\x28")
    assert_one_line_error(result, 4, "not UTF-8", "stdin")


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n"])
def test_empty_stdin_is_refused(data: bytes) -> None:
    result = invoke("token", "set", "--name", "t1", "--stdin", input=data)
    assert_one_line_error(result, 4, "empty")


def test_oversized_value_is_refused() -> None:
    result = invoke("token", "set", "--name", "t1", "--stdin", input=b"x" * 65_537)
    assert_one_line_error(result, 4, "65537 bytes", "65536")
    set_stdin("t1", b"x" * 65_536)  # exactly at the limit is fine
    assert len(stored_value("t1")) == 65_536


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("mode", ["--stdin", "--file"])
def test_endless_input_is_refused_not_read_forever(mode: str) -> None:
    """An endless source (a wrong device, ``yes |``) stops at the size limit (exit 4)."""
    args = ["--stdin"] if mode == "--stdin" else ["--file", "/dev/zero"]
    with open("/dev/zero", "rb") as zeros:
        result = subprocess.run([*PYTHON_CLI, "--backend", "file", "token", "set", "--name",
                                 "t1", *args], stdin=zeros, capture_output=True, timeout=120,
                                check=False)
    assert result.returncode == 4, result.stderr
    assert b"larger than the limit of 65536 bytes" in result.stderr


@pytest.mark.parametrize("path_kind", ["missing", "directory"])
def test_file_must_be_a_readable_file(tmp_path: Path, path_kind: str) -> None:
    target = tmp_path / "nope" if path_kind == "missing" else tmp_path
    result = invoke("token", "set", "--name", "t1", "--file", str(target))
    assert result.exit_code == 2
    assert "--file" in result.stderr and "Traceback" not in result.stderr


def test_value_option_warns_on_stderr() -> None:
    result = invoke("token", "set", "--name", "t1", "--value", "from-the-command-line")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "warning: --value is visible in shell history and process lists" in result.stderr
    assert "from-the-command-line" not in result.stderr
    assert stored_value("t1") == "from-the-command-line"


def test_value_option_keeps_newlines() -> None:
    """--value is taken exactly: the newline rule is for streams (--stdin, --file)."""
    result = invoke("token", "set", "--name", "t1", "--value", "v\n")
    assert result.exit_code == 0
    assert stored_value("t1") == "v\n"


@pytest.mark.parametrize("command", ["set", "update"])
@pytest.mark.parametrize(
    "modes",
    [("--value",), ("--file",), ("--stdin",)],
    ids=["value", "file", "stdin"],
)
def test_every_input_mode_for_set_and_update(tmp_path: Path, command: str,
                                             modes: tuple[str]) -> None:
    if command == "update":
        set_stdin("t1", b"old-value")
    source = tmp_path / "v.txt"
    source.write_text("from-a-mode\n")
    args = {"--value": ["--value", "from-a-mode"], "--file": ["--file", str(source)],
            "--stdin": ["--stdin"]}[modes[0]]
    result = invoke("token", command, "--name", "t1", *args, input="from-a-mode\n")
    assert result.exit_code == 0, result.stderr
    assert stored_value("t1") == "from-a-mode"
    verb = "stored" if command == "set" else "updated"
    assert f"{verb} 't1' in the file store" in result.stderr


@pytest.mark.parametrize("command", ["set", "update"])
@pytest.mark.parametrize(
    "combo",
    [("--value", "--file"), ("--value", "--stdin"), ("--file", "--stdin"),
     ("--value", "--file", "--stdin")],
)
def test_input_modes_are_mutually_exclusive(tmp_path: Path, command: str,
                                            combo: tuple[str, ...]) -> None:
    set_stdin("t1", b"original")
    source = tmp_path / "v.txt"
    source.write_text("other")
    args: list[str] = []
    for mode in combo:
        args += {"--value": ["--value", "other"], "--file": ["--file", str(source)],
                 "--stdin": ["--stdin"]}[mode]
    result = invoke("token", command, "--name", "t1", *args, input="other")
    assert result.exit_code == 2, result.stderr
    assert "choose one of " + ", ".join(combo) in result.stderr
    assert stored_value("t1") == "original"


@pytest.mark.parametrize("command", ["set", "update"])
def test_no_source_and_no_terminal_is_refused(command: str) -> None:
    if command == "update":
        set_stdin("t1", b"old")
    result = invoke("token", command, "--name", "t1")
    assert_one_line_error(result, 13, "--stdin", "--file")


# -- set / update ----------------------------------------------------------------------------

def test_set_refuses_an_existing_name_without_force() -> None:
    set_stdin("t1", b"first")
    result = invoke("token", "set", "--name", "t1", "--stdin", input="second")
    assert_one_line_error(result, 5, "'t1' already exists", "--force", "token update")
    assert stored_value("t1") == "first"
    set_stdin("t1", b"second", "--force")
    assert stored_value("t1") == "second"


def test_update_of_a_missing_name() -> None:
    result = invoke("token", "update", "--name", "ghost", "--stdin", input="v")
    assert_one_line_error(result, 3, "no token named 'ghost'", "token set --name ghost")
    assert invoke("token", "list", "--json").stdout.strip() == "[]"


def test_update_records_the_update_time() -> None:
    set_stdin("t1", b"v1")
    assert json.loads(invoke("token", "get", "--name", "t1", "--json").stdout)["updated"] is None
    result = invoke("token", "update", "--name", "t1", "--stdin", input="v2")
    assert result.exit_code == 0
    info = json.loads(invoke("token", "get", "--name", "t1", "--json").stdout)
    assert info["updated"] is not None
    assert stored_value("t1") == "v2"


@pytest.mark.parametrize(
    "bad", ["UPPER", "a b", "a/b", "..", "-lead", "trail-", "x" * 129, "tab\tx", "é"]
)
def test_bad_names_are_refused_everywhere(bad: str) -> None:
    for args in (["set", "--name", bad, "--stdin"], ["get", "--name", bad],
                 ["delete", "--name", bad, "--yes"], ["update", "--name", bad, "--stdin"]):
        result = invoke("token", *args, input="value")
        assert_one_line_error(result, 4, "token name")


def test_spec_example_names_are_valid() -> None:
    for name in ("prod-gateway-bearer-2024", "gateway-token", "oauth-secret", "ci-token",
                 "service-a-token", "a", "x" * 128, "v1.2_beta"):
        set_stdin(name, b"value")
    assert len(json.loads(invoke("token", "list", "--json").stdout)) == 8


# -- get ---------------------------------------------------------------------------------------

def _get_fields(stdout: str) -> dict[str, str]:
    fields = {}
    for line in stdout.splitlines():
        label, _, text = line.partition(":")
        fields[label.strip()] = text.strip()
    return fields


def test_get_shows_metadata_and_a_masked_preview() -> None:
    set_stdin("t1", LONG_VALUE)
    result = invoke("token", "get", "--name", "t1")
    assert result.exit_code == 0, result.stderr
    fields = _get_fields(result.stdout)
    assert fields["name"] == "t1"
    assert fields["backend"] == "file"
    assert re.fullmatch(TIME_RE, fields["created"])
    assert fields["last used"] == "-"  # the look itself is shown next time, not now
    again = _get_fields(invoke("token", "get", "--name", "t1").stdout)
    assert re.fullmatch(TIME_RE, again["last used"])
    assert fields["value"] == f"****wxyz ({len(LONG_VALUE)} characters)"
    assert LONG_VALUE[:-4] not in result.output
    assert LONG_VALUE[-5:] not in result.output


@pytest.mark.parametrize("length", [1, 4, 8, 15])
def test_get_shows_no_characters_of_a_short_value(length: int) -> None:
    value = "QZXJKV#$%&@!?+=~"[:length]
    set_stdin("t1", value)
    result = invoke("token", "get", "--name", "t1")
    assert result.exit_code == 0
    line = _get_fields(result.stdout)["value"]
    assert line == f"({length} characters, too short to preview)"
    assert not any(ch in result.stdout for ch in value)


def test_get_preview_is_at_most_the_last_four_characters() -> None:
    value = "QZXJKV#$%&@!?+=~"  # 16 characters: the shortest value with a preview
    set_stdin("t1", value)
    result = invoke("token", "get", "--name", "t1")
    assert _get_fields(result.stdout)["value"] == "****?+=~ (16 characters)"
    assert not any(ch in result.stdout for ch in value[:-4])


def test_get_json_has_metadata_and_preview_never_the_value() -> None:
    set_stdin("t1", LONG_VALUE)
    result = invoke("token", "get", "--name", "t1", "--json")
    data = json.loads(result.stdout)
    assert set(data) == {"name", "backend", "created", "last_used", "updated", "rotated",
                         "preview"}
    assert data["preview"] == "****wxyz (26 characters)"
    assert datetime.fromisoformat(data["created"]).tzinfo is not None
    assert LONG_VALUE not in result.stdout


def test_get_missing_token() -> None:
    result = invoke("token", "get", "--name", "ghost")
    assert_one_line_error(result, 3, "no token named 'ghost' in the file store")


def test_export_needs_yes_without_a_terminal() -> None:
    set_stdin("t1", LONG_VALUE)
    result = invoke("token", "get", "--name", "t1", "--export")
    assert_one_line_error(result, 13, "--yes")
    assert LONG_VALUE not in result.output


def test_export_with_yes_prints_exactly_the_value() -> None:
    set_stdin("t1", "  spaced\tvalue \n\n")
    for flag in ("--yes", "-y"):
        result = invoke("token", "get", "--name", "t1", "--export", flag)
        assert result.exit_code == 0
        assert result.stdout_bytes == b"  spaced\tvalue \n\n"  # the value + echo's newline
        assert result.stderr == ""


def test_export_keeps_escape_sequences_and_non_ascii_through_a_pipe() -> None:
    """Any text is a value: click must not strip ANSI sequences from it on a pipe."""
    value = "ab\x1b[31mcd\x1b[0m-\u00e9-\U0001f511"
    set_stdin("t1", value.encode())
    done = run(["token", "get", "--name", "t1", "--export", "--yes"],
               env={"PYTHONIOENCODING": "latin-1"})  # not the encoding of the value
    assert done.returncode == 0, done.stderr
    assert done.stdout == value.encode() + b"\n"


def test_export_of_a_missing_token_fails_before_asking() -> None:
    result = invoke("token", "get", "--name", "ghost", "--export")
    assert_one_line_error(result, 3, "ghost")


def test_export_round_trips_through_a_file(tmp_path: Path) -> None:
    """``get --export --yes > f`` then ``set --file f`` stores the same value, because the
    newline echo adds is the one the newline rule removes."""
    for value in ("plain", "ends-with-newline\n", "crlf\r\n"):
        set_stdin("src", value.encode() + b"\n", "--force")
        exported = tmp_path / "exported"
        exported.write_bytes(invoke("token", "get", "--name", "src", "--export",
                                    "--yes").stdout_bytes)
        result = invoke("token", "set", "--name", "dst", "--file", str(exported), "--force")
        assert result.exit_code == 0
        assert stored_value("dst") == value


# -- delete -------------------------------------------------------------------------------------

def test_delete_needs_confirmation_without_a_terminal() -> None:
    set_stdin("t1", b"value")
    result = invoke("token", "delete", "--name", "t1")
    assert_one_line_error(result, 13, "--yes")
    assert stored_value("t1") == "value"


@pytest.mark.parametrize("flag", ["--yes", "-y"])
def test_delete_with_yes(flag: str) -> None:
    set_stdin("t1", b"value")
    set_stdin("t2", b"value")
    result = invoke("token", "delete", "--name", "t1", flag)
    assert result.exit_code == 0
    assert "deleted 't1'" in result.stderr
    assert [i["name"] for i in json.loads(invoke("token", "list", "--json").stdout)] == ["t2"]
    assert_one_line_error(invoke("token", "get", "--name", "t1"), 3)


def test_delete_missing_is_reported_before_asking() -> None:
    result = invoke("token", "delete", "--name", "ghost")
    assert_one_line_error(result, 3, "ghost")


def test_update_of_a_token_removed_behind_our_back_fails_before_asking(config_dir: Path
                                                                     ) -> None:
    """The metadata index still has a row for a token that another tool (or a removed
    token file) took away; update still says 'not found' before asking for a value."""
    from mcp_router.secure.backends.encfile import FileBackend

    set_stdin("ghost", b"value")
    FileBackend(config_dir / "tokens.enc").delete("ghost")  # the bare backend: no index
    result = invoke("token", "update", "--name", "ghost")  # asking would be exit 13
    assert_one_line_error(result, 3, "ghost")


# -- list -----------------------------------------------------------------------------------------

def test_list_table() -> None:
    set_stdin("oauth-secret", b"v")
    set_stdin("gateway-token", b"v")
    invoke("token", "get", "--name", "gateway-token", "--export", "--yes")
    result = invoke("token", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"NAME +CREATED +LAST_USED", lines[0])
    assert [line.split()[0] for line in lines[1:]] == ["gateway-token", "oauth-secret"]
    created_at = lines[0].index("CREATED")
    last_used_at = lines[0].index("LAST_USED")
    for line in lines[1:]:  # columns line up under their headers
        assert re.fullmatch(TIME_RE, line[created_at:created_at + 19])
    assert re.fullmatch(TIME_RE, lines[1][last_used_at:])  # gateway-token was read
    assert lines[2][last_used_at:] == "-"  # oauth-secret never was
    assert created_at >= len("gateway-token") + 2


def test_list_json() -> None:
    set_stdin("b-token", b"v")
    set_stdin("a-token", b"v")
    data = json.loads(invoke("token", "list", "--json").stdout)
    assert [d["name"] for d in data] == ["a-token", "b-token"]
    for item in data:
        assert set(item) == {"name", "backend", "created", "last_used", "updated", "rotated"}
        assert item["backend"] == "file"
        assert datetime.fromisoformat(item["created"]).utcoffset() == timedelta(0)
        assert item["last_used"] is None


def test_list_empty() -> None:
    result = invoke("token", "list")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no tokens in the file store" in result.stderr
    assert json.loads(invoke("token", "list", "--json").stdout) == []


def test_times_are_local_time(tmp_path: Path) -> None:
    """Tables show local ``YYYY-MM-DD HH:MM:SS``; JSON keeps UTC ISO 8601 (a POSIX TZ string
    needs no zoneinfo database)."""
    set_stdin("t1", b"v")
    created = datetime.fromisoformat(json.loads(invoke("token", "list", "--json").stdout)[0]
                                     ["created"])
    for tz, offset in (("UTC0", timedelta(0)), ("XYZ-5:30", timedelta(hours=5, minutes=30)),
                       ("ABC+7", timedelta(hours=-7))):
        done = run(["token", "list"], env={"TZ": tz})
        assert done.returncode == 0, done.stderr
        local = created.astimezone(timezone(offset)).strftime("%Y-%m-%d %H:%M:%S")
        assert local in done.stdout.decode(), (tz, done.stdout)


# -- import --------------------------------------------------------------------------------------

def test_import_from_a_set_variable() -> None:
    result = invoke("token", "import", "--name", "ci-token", "--env", "MY_TOKEN",
                    env={"MY_TOKEN": "from-env value\n"})
    assert result.exit_code == 0, result.stderr
    assert "from $MY_TOKEN" in result.stderr and "unset MY_TOKEN" in result.stderr
    assert result.stdout == ""
    assert stored_value("ci-token") == "from-env value\n"  # taken exactly


def test_import_from_an_unset_variable() -> None:
    result = invoke("token", "import", "--name", "ci-token", "--env", "NOT_THERE",
                    env={"NOT_THERE": None})
    assert_one_line_error(result, 4, "NOT_THERE", "not set")


def test_import_from_an_empty_variable() -> None:
    result = invoke("token", "import", "--name", "ci-token", "--env", "EMPTY",
                    env={"EMPTY": ""})
    assert_one_line_error(result, 4, "EMPTY", "empty")


def test_import_refuses_an_existing_name_without_force() -> None:
    set_stdin("ci-token", b"old")
    result = invoke("token", "import", "--name", "ci-token", "--env", "T", env={"T": "new"})
    assert_one_line_error(result, 5, "already exists")
    result = invoke("token", "import", "--name", "ci-token", "--env", "T", "--force",
                    env={"T": "new"})
    assert result.exit_code == 0
    assert stored_value("ci-token") == "new"


# -- help, python -m, global options -----------------------------------------------------

def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # a lazy group imports each command here
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(_all_commands(cli)), ids=" ".join)
def test_help_on_every_command(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = invoke(*path, flag, backend=None)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"Usage: mcp-router {' '.join(path)}".rstrip())
        assert "Options:" in result.stdout


def test_foundation_commands_exist() -> None:
    commands = set(_all_commands(cli))
    for name in ("set", "update", "get", "list", "delete", "import"):
        assert ("token", name) in commands


def test_python_dash_m_works() -> None:
    done = run(["--help"], backend=None)
    assert done.returncode == 0
    assert done.stdout.decode().startswith("Usage: mcp-router [OPTIONS] COMMAND")
    done = run(["--version"], backend=None)
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"mcp-router, version {mcp_router.__version__}"
    done = run(["token", "get", "--name", "ghost"])
    assert done.returncode == 3
    assert done.stderr.decode().startswith("error: no token named 'ghost'")


def test_verbose_names_the_backend_on_stderr() -> None:
    set_stdin("t1", b"v")
    result = invoke("--verbose", "token", "list")
    assert result.stderr.startswith("backend: file (configured explicitly")
    assert "backend:" not in result.stdout


def test_backend_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: file\n")
    result = invoke("--config", str(config), "token", "set", "--name", "t1", "--stdin",
                    input="v", backend=None)
    assert result.exit_code == 0, result.stderr
    assert "in the file store" in result.stderr


def test_ci_true_never_prompts() -> None:
    set_stdin("t1", b"v")
    for args in (["set", "--name", "t2"], ["delete", "--name", "t1"],
                 ["get", "--name", "t1", "--export"]):
        result = invoke("token", *args, env={"CI": "true"})
        assert result.exit_code == 13, args


# -- every error class: exit code, one line, --debug shows the chain ----------------------

def _error_instances() -> list[mcp_router.MCPRouterError]:
    made = []
    for name in mcp_router.errors.__all__:
        cls = getattr(mcp_router.errors, name)
        if cls in (mcp_router.TokenNotFoundError, mcp_router.TokenExistsError):
            made.append(cls("planted-name"))
        else:
            made.append(cls(f"planted {name} message", hint=f"fix for {name}"))
    return made


class _FailingBackend(Backend):
    name = "failing"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def _fail(self) -> None:
        try:
            raise ValueError("the underlying cause")
        except ValueError as cause:
            raise self.error from cause

    def contains(self, name: str) -> bool:
        self._fail()
        return False

    def retrieve(self, name: str) -> str:
        self._fail()
        return ""


@pytest.fixture
def failing_backend() -> Iterator[list[BaseException]]:
    """``--backend failing``: a plugin registered here whose reads raise ``box[0]``."""
    box: list[BaseException] = [RuntimeError()]
    register_backend("failing", lambda settings: _FailingBackend(box[0]))
    yield box
    _registered.pop("failing", None)


@pytest.mark.parametrize("error", _error_instances(), ids=lambda e: type(e).__name__)
def test_every_error_class_maps_to_its_exit_code(
    failing_backend: list[BaseException], error: mcp_router.MCPRouterError
) -> None:
    failing_backend[0] = error
    result = invoke("token", "get", "--name", "t1", backend="failing")
    line = assert_one_line_error(result, type(error).exit_code)
    assert line == f"error: {error}"

    result = invoke("--debug", "token", "get", "--name", "t1", backend="failing")
    assert result.exit_code == type(error).exit_code
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: the underlying cause" in result.stderr
    assert "direct cause of the following exception" in result.stderr
    assert result.stderr.splitlines()[-1] == f"error: {error}"


def test_unexpected_exception_is_one_line_exit_70(
    failing_backend: list[BaseException],
) -> None:
    failing_backend[0] = RuntimeError("library detail that might quote a value")
    result = invoke("token", "get", "--name", "t1", backend="failing")
    line = assert_one_line_error(result, 70, "RuntimeError", "--debug")
    assert "library detail" not in line

    result = invoke("--debug", "token", "get", "--name", "t1", backend="failing")
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: library detail" in result.stderr


def test_keyboard_interrupt_exits_130(failing_backend: list[BaseException]) -> None:
    failing_backend[0] = KeyboardInterrupt()
    result = invoke("token", "get", "--name", "t1", backend="failing")
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted"


def test_config_directory_that_cannot_be_created(tmp_path: Path) -> None:
    """A config directory below a regular file: one line naming it (exit 6), not exit 70."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = invoke("token", "set", "--name", "t1", "--stdin", input="v",
                    env={"XDG_CONFIG_HOME": str(blocker / "config")})
    assert_one_line_error(result, 6, f"cannot create the directory {blocker / 'config'}",
                          "XDG_CONFIG_HOME")


def test_real_error_paths(tmp_path: Path, config_dir: Path) -> None:
    """Errors reached through real conditions, not a plugin."""
    assert_one_line_error(invoke("--config", str(tmp_path / "none.yaml"), "token", "list"),
                          11, "does not exist")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("advanced: [unclosed\n")
    assert_one_line_error(invoke("--config", str(bad_yaml), "token", "list"), 11,
                          "bad.yaml")
    assert_one_line_error(invoke("token", "list", backend="no-such-backend"), 11,
                          "unknown storage backend 'no-such-backend'", "file")

    set_stdin("t1", b"v")
    (config_dir / "tokens.enc").write_bytes(b"not an mcp-router token file at all")
    assert_one_line_error(invoke("token", "list"), 8)
    assert (config_dir / "tokens.enc").read_bytes() == b"not an mcp-router token file at all"


@pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux session bus setting")
def test_no_fallback_without_a_platform_store_is_exit_6() -> None:
    result = invoke("--no-fallback", "token", "list", backend="auto")
    assert_one_line_error(result, 6, "no platform credential store is usable")


def test_passphrase_errors(config_dir: Path) -> None:
    """A file with a passphrase: none given -> 7 (locked); a wrong one -> 9 (decryption)."""
    result = invoke("token", "set", "--name", "t1", "--stdin", input="v",
                    env={"MCP_ROUTER_PASSPHRASE": "right horse battery"})
    assert result.exit_code == 0, result.stderr
    before = (config_dir / "tokens.enc").read_bytes()
    assert_one_line_error(invoke("token", "get", "--name", "t1", "--export", "--yes"), 7,
                          "MCP_ROUTER_PASSPHRASE")
    assert_one_line_error(invoke("token", "set", "--name", "t2", "--stdin", input="v",
                                 env={"MCP_ROUTER_PASSPHRASE": "wrong"}), 9)
    assert (config_dir / "tokens.enc").read_bytes() == before
    result = invoke("token", "get", "--name", "t1", "--export", "--yes",
                    env={"MCP_ROUTER_PASSPHRASE": "right horse battery"})
    assert result.stdout == "v\n"


def test_config_passphrase_without_a_terminal_refuses_to_create(tmp_path: Path,
                                                                config_dir: Path) -> None:
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: file\n"
                      "    file_passphrase: true\n")
    result = invoke("--config", str(config), "token", "set", "--name", "t1", "--stdin",
                    input="v", backend=None)
    assert_one_line_error(result, 13, "MCP_ROUTER_PASSPHRASE")
    assert not (config_dir / "tokens.enc").exists()
