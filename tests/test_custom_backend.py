"""The ``custom`` backend against real helpers: a plain script and ``pass``.

The conformance suite runs on ``pass`` (tests/test_conformance.py, id ``custom-pass``);
this module covers what is particular to helpers: the protocol, failures, time limits,
and that a secret never reaches a helper's argv or environment.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from clirun import run
from fixtures.helperscript import KVHelper
from fixtures.passstore import PASS_OPTIONS, PassStore
from mcp_router.errors import (
    ConfigError,
    HelperError,
    InvalidTokenNameError,
    InvalidTokenValueError,
    NotSupportedError,
    StorageUnavailableError,
    TokenNotFoundError,
)
from mcp_router.secure import StoreSettings, open_store
from mcp_router.secure.backends.command import CommandBackend, HelperConfig, redact
from mcp_router.secure.testing import HOSTILE_NAMES


def backend_for(helper: KVHelper, **options: object) -> CommandBackend:
    return CommandBackend(HelperConfig.from_options(helper.options(**options)))


def planted() -> str:
    return "planted-" + uuid.uuid4().hex


# -- the protocol, with the plain script ---------------------------------------------

def test_round_trip_through_the_script(kv_helper: KVHelper, config_dir: Path) -> None:
    store = open_store(StoreSettings(backend="custom", config_dir=config_dir,
                                     options=kv_helper.options()))
    store.store("api-key", "value\n")
    assert (kv_helper.data / "api-key").read_bytes() == b"value\n\n"  # value + one newline
    assert store.retrieve("api-key") == "value\n"
    assert [i.name for i in store.list()] == ["api-key"]  # junk list lines skipped
    store.delete("api-key")
    with pytest.raises(TokenNotFoundError):
        store.retrieve("api-key")
    store.close()


def test_name_is_substituted_only_as_a_whole_argument_part(kv_helper: KVHelper) -> None:
    backend = backend_for(kv_helper)
    backend.store("svc.prod_1", "v")
    argv = kv_helper.invocations()[-1]["argv"]
    assert argv[1:] == ["put", "secret/mcp/svc.prod_1"]


def test_output_rule_strips_one_line_ending(kv_helper: KVHelper) -> None:
    backend = backend_for(kv_helper)
    for written, read in [(b"abc", "abc"), (b"abc\n", "abc"), (b"abc\r\n", "abc"),
                          (b"abc\n\n", "abc\n"), (b" abc \n", " abc ")]:
        (kv_helper.data / "t").write_bytes(written)
        assert backend.retrieve("t") == read


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_names_never_reach_the_helper(kv_helper: KVHelper, name: str) -> None:
    backend = backend_for(kv_helper)
    for operation in (backend.retrieve, backend.delete, lambda n: backend.store(n, "v")):
        with pytest.raises(InvalidTokenNameError):
            operation(name)
    assert kv_helper.invocations() == []


@pytest.mark.parametrize("name", ["gateway~previous", "a~b", "x~"])
def test_no_name_outside_the_token_alphabet_reaches_the_helper(kv_helper: KVHelper,
                                                               name: str) -> None:
    """The store's only reserved items (``<name>..previous``) are inside the alphabet, so
    the backend admits nothing beyond it."""
    backend = backend_for(kv_helper)
    for operation in (backend.retrieve, backend.delete, lambda n: backend.store(n, "v")):
        with pytest.raises(InvalidTokenNameError):
            operation(name)
    assert kv_helper.invocations() == []


def test_read_only_helper_says_not_supported(kv_helper: KVHelper, config_dir: Path) -> None:
    options = {"custom_command": str(kv_helper.path),
               "custom_args": ["get", "secret/mcp/{name}"]}  # the spec's example, exactly
    (kv_helper.data / "prod-token").write_text("from-vault\n")
    store = open_store(StoreSettings(backend="custom", config_dir=config_dir,
                                     options=options))
    assert store.retrieve("prod-token") == "from-vault"
    for operation in (lambda: store.store("x", "v"), lambda: store.delete("prod-token"),
                      store.backend.list):
        with pytest.raises(NotSupportedError, match="not supported by this backend"):
            operation()
    # The store's list falls back to what its metadata index has seen.
    assert [i.name for i in store.list()] == ["prod-token"]
    store.close()


def test_set_on_a_read_only_helper_is_not_supported_before_anything_runs(
        kv_helper: KVHelper, tmp_path: Path) -> None:
    """`token set`/`update` on a read-only helper: exit 12 at once, not a helper error from
    the existence check (the helper cannot report "not found"), and no helper call."""
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n"
                      f"    custom_command: {json.dumps(str(kv_helper.path))}\n"
                      '    custom_args: ["get", "secret/mcp/{name}"]\n')
    for command in ("set", "update"):
        result = run(["--config", str(config), "token", command, "--name", "new-one",
                      "--stdin"], input=b"value", backend=None)
        assert result.returncode == 12, result.stderr
        assert b"not supported by this backend" in result.stderr
    assert kv_helper.invocations() == []


def test_not_found_by_exit_code_without_a_list_command(kv_helper: KVHelper) -> None:
    backend = CommandBackend(HelperConfig.from_options({
        "custom_command": str(kv_helper.path), "custom_args": ["get", "secret/mcp/{name}"],
        "custom_not_found_exit_code": 3}))
    with pytest.raises(TokenNotFoundError, match="mcp-router token set --name absent"):
        backend.retrieve("absent")


def test_failure_without_not_found_rule_reports_status_and_stderr(kv_helper: KVHelper
                                                                  ) -> None:
    backend = CommandBackend(HelperConfig.from_options({
        "custom_command": str(kv_helper.path), "custom_args": ["get", "secret/mcp/{name}"]}))
    with pytest.raises(HelperError) as info:
        backend.retrieve("absent")
    message = str(info.value)
    assert "exited with status 3" in message and "no value at that path" in message
    assert info.value.exit_code == 14


def test_stderr_is_truncated_and_the_secret_redacted(kv_helper: KVHelper) -> None:
    secret = planted()
    backend = backend_for(kv_helper, custom_store_args=["echo-stdin-and-fail", "{name}"])
    with pytest.raises(HelperError) as info:
        backend.store("t1", secret)
    message = str(info.value)
    assert secret not in message
    assert "[redacted]" in message and "exited with status 7" in message
    assert len(message) < 600


def test_a_failed_get_never_shows_what_it_printed(kv_helper: KVHelper,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    secret = planted()
    monkeypatch.setenv("KV_HELPER_SECRET", secret)
    backend = backend_for(kv_helper, custom_args=["print-and-fail", "{name}"],
                          custom_not_found_exit_code=3)
    with pytest.raises(HelperError) as info:
        backend.retrieve("t1")
    assert secret not in str(info.value) and "status 9" in str(info.value)


def test_redact_masks_every_line_of_a_multiline_secret() -> None:
    assert redact("got line-one and line-two", ["line-one\nline-two"]) == (
        "got [redacted] and [redacted]")


@pytest.mark.parametrize("op, message", [("binary", "not UTF-8"), ("empty", "empty value")])
def test_unusable_output_is_a_helper_error(kv_helper: KVHelper, op: str, message: str
                                           ) -> None:
    backend = backend_for(kv_helper, custom_args=[op, "{name}"])
    with pytest.raises(HelperError, match=message):
        backend.retrieve("t1")


def test_value_ending_in_carriage_return_is_refused(kv_helper: KVHelper) -> None:
    with pytest.raises(InvalidTokenValueError, match="carriage return"):
        backend_for(kv_helper).store("t1", "abc\r")
    assert kv_helper.invocations() == []


def test_timeout_stops_the_helper_and_its_children(tmp_path: Path) -> None:
    script = tmp_path / "slow-helper"
    script.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nsleep 300 &\n"
                      f"echo $! > {tmp_path}/child\nwait\n")
    script.chmod(0o755)
    backend = CommandBackend(HelperConfig.from_options({
        "custom_command": str(script), "custom_args": ["{name}"], "custom_timeout": 2}))
    with pytest.raises(HelperError, match="did not finish within 2 s") as info:
        backend.retrieve("t1")
    assert info.value.hint and "custom_timeout" in info.value.hint
    for pid_file in ("pid", "child"):
        path = tmp_path / pid_file
        written = path.read_text().strip() if path.exists() else ""
        if written.isdigit():  # written at once, unless the machine is very slow
            assert _ends(int(written))


def _ends(pid: int) -> bool:
    """Whether ``pid`` is gone within 10 s: killpg() returns before a busy machine has
    scheduled each killed process to exit."""
    import time

    deadline = time.monotonic() + 10
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


def test_missing_helper_is_storage_unavailable(tmp_path: Path) -> None:
    backend = CommandBackend(HelperConfig.from_options({
        "custom_command": str(tmp_path / "nope"), "custom_args": ["{name}"]}))
    assert not backend.probe().ok
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        backend.retrieve("t1")
    on_path = CommandBackend(HelperConfig.from_options({
        "custom_command": "no-such-helper-" + uuid.uuid4().hex[:6], "custom_args": ["{name}"]}))
    assert "not on PATH" in on_path.probe().reason


@pytest.mark.parametrize("options, message", [
    ({}, "custom_command is not set"),
    ({"custom_command": "x"}, "custom_args is not set"),
    ({"custom_command": "x", "custom_args": ["get"]}, "no {name} placeholder"),
    ({"custom_command": "x", "custom_args": "get {name}"}, "list of strings"),
    ({"custom_command": "x", "custom_args": ["{name}"], "custom_timeout": 0}, "custom_timeout"),
    ({"custom_command": "x", "custom_args": ["{name}"], "custom_store_args": ["{name}"]},
     "also needs custom_list_args or custom_not_found_exit_code"),
])
def test_bad_options_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HelperConfig.from_options(options)


# -- secrets stay off argv and out of the environment ----------------------------------

def test_secret_never_in_helper_argv_or_environment(kv_helper: KVHelper, tmp_path: Path,
                                                    config_dir: Path) -> None:
    """Through the real CLI: set, get, list, update, delete; then scan every record."""
    secret, second = planted(), planted()
    config = tmp_path / "mcp-router.yaml"
    options = kv_helper.options()
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n" + "".join(
        f"    {key}: {json.dumps(value)}\n" for key, value in options.items()))
    base = ["--config", str(config)]
    env = {"MCP_ROUTER_PASSPHRASE": "passphrase-" + secret}  # scrubbed for helpers
    outputs = []
    for args, stdin in [
        (["token", "set", "--name", "leak-test", "--stdin"], secret.encode()),
        (["token", "get", "--name", "leak-test"], None),
        (["token", "list"], None),
        (["token", "update", "--name", "leak-test", "--stdin"], second.encode()),
        (["token", "get", "--name", "leak-test", "--export", "--yes"], None),
        (["token", "delete", "--name", "leak-test", "--yes"], None),
    ]:
        result = run([*base, *args], input=stdin, env=env, backend=None)
        assert result.returncode == 0, result.stderr
        outputs.append(result)
    assert outputs[4].stdout.decode().strip() == second  # the export did reach the user
    records = kv_helper.record.read_text()
    assert len(kv_helper.invocations()) >= 6
    for value in (secret, second):
        assert value not in records
        for result in outputs[:4] + outputs[5:]:
            assert value.encode() not in result.stdout + result.stderr
        state = [p for p in config_dir.rglob("*") if p.is_file()]  # index, audit log...
        assert state
        for path in state:
            assert value.encode() not in path.read_bytes(), path


# -- pass: the helper from outside --------------------------------------------------

def test_pass_entries_are_ordinary_pass_entries(pass_store: PassStore, config_dir: Path
                                                ) -> None:
    store = open_store(StoreSettings(backend="custom", config_dir=config_dir,
                                     options=dict(PASS_OPTIONS)))
    store.store("gateway-token", "from-mcp-router")
    shown = pass_store.run("show", "gateway-token")
    assert shown.stdout == "from-mcp-router\n"  # what `pass show` prints to a person
    inserted = pass_store.run("insert", "--multiline", "other-tool", stdin="by-hand\n")
    assert inserted.returncode == 0, inserted.stderr
    assert store.retrieve("other-tool") == "by-hand"
    assert {i.name for i in store.list()} == {"gateway-token", "other-tool"}
    store.close()


def test_pass_missing_entry_is_not_found(pass_store: PassStore, config_dir: Path) -> None:
    store = open_store(StoreSettings(backend="custom", config_dir=config_dir,
                                     options=dict(PASS_OPTIONS)))
    with pytest.raises(TokenNotFoundError, match="mcp-router token set --name nothing"):
        store.retrieve("nothing")
    with pytest.raises(TokenNotFoundError):
        store.delete("nothing")
    store.close()


def test_pass_without_its_key_is_a_helper_error(pass_store: PassStore, config_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    store = open_store(StoreSettings(backend="custom", config_dir=config_dir,
                                     options=dict(PASS_OPTIONS)))
    store.store("t1", "v")
    empty_home = tmp_path / "empty-gnupg"
    empty_home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(empty_home))  # gpg can no longer decrypt
    try:
        with pytest.raises(HelperError, match="get command for 't1' exited with status"):
            store.retrieve("t1")
    finally:
        store.close()
        os.system(f"GNUPGHOME={empty_home} gpgconf --kill all >/dev/null 2>&1")  # noqa: S605


def test_import_env_value_does_not_reach_the_helper_environment(
        kv_helper: KVHelper, tmp_path: Path) -> None:
    """`token import --env VAR` reads VAR and drops it before the helper is started."""
    secret = planted()
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n" + "".join(
        f"    {key}: {json.dumps(value)}\n" for key, value in kv_helper.options().items()))
    result = run(["--config", str(config), "token", "import", "--name", "ci-token",
                  "--env", "CI_TOKEN"], env={"CI_TOKEN": secret}, backend=None)
    assert result.returncode == 0, result.stderr
    assert kv_helper.invocations()
    assert secret not in kv_helper.record.read_text()  # argv and environ of every call
