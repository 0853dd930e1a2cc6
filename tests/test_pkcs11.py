"""The ``pkcs11`` backend against a real SoftHSM2 token: object model, stolen-files
property, token selection, PIN sources, every error case, leaks, and the CLI.

The conformance suite runs on this backend too (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.softhsm import SoftHSM, reset_modules
from mcp_router.errors import (
    AccessDeniedError,
    ConfigError,
    DecryptionError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure.opener import SecureStore, open_store
from mcp_router.secure.registry import create_backend
from mcp_router.secure.store import StoreSettings

PIN_ENV = "MCP_ROUTER_PKCS11_PIN"


def planted() -> str:
    return "planted-" + uuid.uuid4().hex


@contextlib.contextmanager
def opened(settings: StoreSettings) -> Iterator[SecureStore]:
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def hsm_session(hsm: SoftHSM, label: str | None = None) -> Iterator[object]:
    """A logged-in session of our own, to look at what the backend left on the token."""
    from mcp_router.secure.backends.pkcs11_session import load_module

    reset_modules()
    token = load_module(hsm.module).get_token(token_label=label or hsm.label)
    session = token.open(rw=True, user_pin=hsm.pin)
    try:
        yield session
    finally:
        session.close()
        reset_modules()


def data_objects(session: object, name: str | None = None) -> list[object]:
    from pkcs11 import Attribute, ObjectClass

    template = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: "mcp-router"}
    if name is not None:
        template[Attribute.LABEL] = name
    return list(session.get_objects(template))  # type: ignore[attr-defined]


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")  # is_interactive() is False: no PIN prompt


# -- object model -------------------------------------------------------------------------
def test_objects_created_on_the_token(pkcs11_settings: StoreSettings,
                                      softhsm: SoftHSM) -> None:
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    secret = planted()
    with opened(pkcs11_settings) as store:
        store.store("gateway-token", secret)
    with hsm_session(softhsm) as session:
        keys = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        assert len(keys) == 1
        key = keys[0]
        assert key[Attribute.LABEL] == "mcp-router token key"
        assert key[Attribute.KEY_TYPE] == KeyType.AES and key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.TOKEN] and key[Attribute.PRIVATE]
        assert key[Attribute.SENSITIVE] and key[Attribute.ALWAYS_SENSITIVE]
        assert not key[Attribute.EXTRACTABLE] and key[Attribute.NEVER_EXTRACTABLE]
        assert key[Attribute.ENCRYPT] and key[Attribute.DECRYPT]
        assert not (key[Attribute.WRAP] or key[Attribute.UNWRAP] or key[Attribute.DERIVE])
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
        [obj] = data_objects(session, "gateway-token")
        assert obj[Attribute.PRIVATE] and obj[Attribute.TOKEN]
        value = obj[Attribute.VALUE]
        assert secret.encode() not in value
        assert len(value) == 1 + 1 + 16 + 8 + 12 + len(secret) + 16


def test_value_moved_to_another_name_does_not_decrypt(pkcs11_settings: StoreSettings,
                                                      softhsm: SoftHSM) -> None:
    from pkcs11 import Attribute

    with opened(pkcs11_settings) as store:
        store.store("alpha", planted())
        store.store("beta", "beta-value")
    with hsm_session(softhsm) as session:
        [alpha] = data_objects(session, "alpha")
        [beta] = data_objects(session, "beta")
        sealed = alpha[Attribute.VALUE]
        template = {a: beta[a] for a in (Attribute.CLASS, Attribute.TOKEN, Attribute.PRIVATE,
                                         Attribute.APPLICATION, Attribute.LABEL)}
        beta.destroy()
        session.create_object({**template, Attribute.VALUE: sealed})
    with opened(pkcs11_settings) as store, pytest.raises(DecryptionError) as info:
        store.retrieve("beta")
    assert "beta" in str(info.value) and info.value.exit_code == 9


def test_interrupted_overwrite_keeps_the_newest(pkcs11_settings: StoreSettings,
                                               softhsm: SoftHSM) -> None:
    """A crash between creating the new object and destroying the old leaves both."""
    from pkcs11 import Attribute

    with opened(pkcs11_settings) as store:
        store.store("name", "old")
    with hsm_session(softhsm) as session:
        [obj] = data_objects(session, "name")
        old = {a: obj[a] for a in (Attribute.CLASS, Attribute.TOKEN, Attribute.PRIVATE,
                                   Attribute.APPLICATION, Attribute.LABEL, Attribute.VALUE)}
    with opened(pkcs11_settings) as store:
        store.store("name", "new")
    with hsm_session(softhsm) as session:
        session.create_object(old)  # the leftover of the interrupted overwrite
        assert len(data_objects(session, "name")) == 2
    with opened(pkcs11_settings) as store:
        assert store.retrieve("name") == "new"
        assert [i.name for i in store.list()] == ["name"]
        store.store("name", "newer")
    with hsm_session(softhsm) as session:
        assert len(data_objects(session, "name")) == 1
    with opened(pkcs11_settings) as store:
        assert store.retrieve("name") == "newer"


def test_public_objects_are_ignored(pkcs11_settings: StoreSettings,
                                    softhsm: SoftHSM) -> None:
    """Anyone can create public objects without the PIN; they are not ours."""
    from pkcs11 import Attribute, ObjectClass

    with hsm_session(softhsm) as session:
        session.create_object({Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True,
                               Attribute.PRIVATE: False, Attribute.APPLICATION: "mcp-router",
                               Attribute.LABEL: "planted", Attribute.VALUE: b"\x01junk"})
    with opened(pkcs11_settings) as store:
        assert store.list() == []
        with pytest.raises(TokenNotFoundError):
            store.retrieve("planted")


# -- a stolen config directory and token directory ----------------------------------------
def test_stolen_files_reveal_nothing_without_the_pin(
    pkcs11_settings: StoreSettings, softhsm: SoftHSM, config_dir: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_terminal: None,
) -> None:
    secret = planted()
    with opened(pkcs11_settings) as store:
        store.store("gateway-token", secret)
        assert store.retrieve("gateway-token") == secret
    reset_modules()

    # The thief copies the config directory and SoftHSM2's token directory.
    loot = tmp_path / "loot"
    shutil.copytree(config_dir, loot / "config")
    shutil.copytree(softhsm.token_dir, loot / "tokens")
    for path in loot.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in (secret, softhsm.pin):
                assert needle.encode() not in data, path
                assert needle.encode("utf-16-le") not in data, path
    stolen = SoftHSM(module=softhsm.module, root=loot, label=softhsm.label)
    stolen.conf.write_text(f"directories.tokendir = {loot / 'tokens'}\n"
                           "objectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(stolen.conf))
    settings = replace(pkcs11_settings, config_dir=loot / "config")

    monkeypatch.delenv(PIN_ENV)
    with opened(settings) as store, pytest.raises(StoreLockedError):
        store.retrieve("gateway-token")
    monkeypatch.setenv(PIN_ENV, "123456")
    with opened(settings) as store, pytest.raises(AccessDeniedError):
        store.retrieve("gateway-token")
    reset_modules()
    # For SoftHSM2 the token directory *is* the HSM: with the PIN it opens.
    monkeypatch.setenv(PIN_ENV, softhsm.pin)
    with opened(settings) as store:
        assert store.retrieve("gateway-token") == secret


# -- token selection ----------------------------------------------------------------------
def _slot_order(softhsm: SoftHSM) -> list[str]:
    from mcp_router.secure.backends.pkcs11_session import load_module

    reset_modules()
    labels = [s.get_token().label for s in load_module(softhsm.module).get_slots()]
    reset_modules()
    return labels


def test_select_by_label_or_by_slot_index(pkcs11_settings: StoreSettings,
                                          softhsm: SoftHSM) -> None:
    softhsm.init_token("second")
    order = _slot_order(softhsm)
    assert sorted(order) == ["", "mcp-router-test", "second"]
    by_label = replace(pkcs11_settings, options=softhsm.options(pkcs11_token_label="second"))
    with opened(by_label) as store:
        store.store("only-on-second", "value")
    index = order.index("second")
    for slot, expected in ((index, ["only-on-second"]),
                           (order.index("mcp-router-test"), [])):
        settings = replace(pkcs11_settings, options={"pkcs11_module": softhsm.module,
                                                     "pkcs11_slot": slot})
        with opened(settings) as store:
            assert [i.name for i in store.list()] == expected
    both = replace(pkcs11_settings, options=softhsm.options(
        pkcs11_token_label="second", pkcs11_slot=index))
    with opened(both) as store:
        assert store.retrieve("only-on-second") == "value"
    wrong = replace(pkcs11_settings, options=softhsm.options(
        pkcs11_token_label="mcp-router-test", pkcs11_slot=index))
    with opened(wrong) as store, pytest.raises(StorageUnavailableError) as info:
        store.list()
    assert "holds token 'second', not 'mcp-router-test'" in str(info.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"pkcs11_slot": 7}, "there is no slot index 7"),
        ({"pkcs11_token_label": "nope"}, "no token labelled 'nope'"),
        ({"pkcs11_slot": 1}, "is not initialised"),
        ({"pkcs11_module": "/nonexistent/libvendor-pkcs11.so"}, "does not exist"),
        ({"pkcs11_module": "/bin/ls"}, "cannot be used as a PKCS#11 module"),
        ({"pkcs11_module": "<a random .so>"}, "cannot be used as a PKCS#11 module"),
        ({"pkcs11_module": "/etc/passwd"}, "cannot be used as a PKCS#11 module"),
        ({"pkcs11_module": "/tmp"}, "cannot be used as a PKCS#11 module"),
    ],
    ids=["slot-out-of-range", "unknown-label", "uninitialised", "missing-module",
         "executable", "random-so", "text-file", "directory"],
)
def test_unusable_hsm_is_reported(pkcs11_settings: StoreSettings, options: dict[str, object],
                                  expected: str) -> None:
    import _ctypes

    if options.get("pkcs11_module") == "<a random .so>":
        options = {"pkcs11_module": _ctypes.__file__}  # a shared object, not PKCS#11
    module = pkcs11_settings.options["pkcs11_module"]
    settings = replace(pkcs11_settings, options={"pkcs11_module": module, **options})
    probe = create_backend("pkcs11", settings).probe()
    assert not probe.ok and expected in probe.reason and "\n" not in probe.reason
    with opened(settings) as store:
        for operation in (store.list, lambda: store.store("name", "value")):
            with pytest.raises(StorageUnavailableError) as info:
                operation()
            assert expected in str(info.value) and info.value.hint
            assert info.value.exit_code == 6


@pytest.mark.parametrize(
    "options",
    [{}, {"pkcs11_module": ""}, {"pkcs11_module": "m.so", "pkcs11_slot": "abc"},
     {"pkcs11_module": "m.so", "pkcs11_slot": -1}, {"pkcs11_module": "m.so", "pkcs11_slot": True},
     {"pkcs11_module": "m.so", "pkcs11_token_label": ""},
     {"pkcs11_module": "m.so", "pkcs11_pin_secure_key": 5}],
    ids=["no-module", "empty-module", "slot-text", "slot-negative", "slot-bool",
         "empty-label", "pin-key-not-text"],
)
def test_invalid_options_are_config_errors(config_dir: Path, options: dict[str, object]
                                           ) -> None:
    settings = StoreSettings(backend="pkcs11", config_dir=config_dir, options=options)
    backend = create_backend("pkcs11", settings)  # never raises: doctor must see the reason
    probe = backend.probe()
    assert not probe.ok and "advanced.secure_storage.pkcs11_" in probe.reason
    with pytest.raises(ConfigError):
        backend.list()


def test_probe_needs_no_pin(pkcs11_settings: StoreSettings, softhsm: SoftHSM,
                            monkeypatch: pytest.MonkeyPatch, no_terminal: None) -> None:
    monkeypatch.delenv(PIN_ENV)
    probe = create_backend("pkcs11", pkcs11_settings).probe()
    assert probe.ok, probe.reason
    assert f"token '{softhsm.label}'" in probe.reason and "is ready" in probe.reason
    assert "user PIN asked at a prompt" in probe.reason
    assert "\n" not in probe.reason
    assert "PKCS#11 slot index 0 via" in create_backend("pkcs11", pkcs11_settings).describe()


# -- the PIN ------------------------------------------------------------------------------
def test_wrong_pin_changes_nothing(pkcs11_settings: StoreSettings, softhsm: SoftHSM,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with opened(pkcs11_settings) as store:
        store.store("name", "original")
    reset_modules()  # as a new process: log in again
    monkeypatch.setenv(PIN_ENV, "wrong-" + softhsm.pin)
    with opened(pkcs11_settings) as store:
        for operation in (lambda: store.store("name", "replacement"), store.list,
                          lambda: store.retrieve("name")):
            with pytest.raises(AccessDeniedError) as info:
                operation()
            message = str(info.value)
            assert "rejected the user PIN from $MCP_ROUTER_PKCS11_PIN" in message
            assert softhsm.pin not in message and info.value.exit_code == 10
    monkeypatch.setenv(PIN_ENV, softhsm.pin)
    with opened(pkcs11_settings) as store:
        assert store.retrieve("name") == "original"


def test_locked_pin(pkcs11_settings: StoreSettings, softhsm: SoftHSM) -> None:
    with opened(pkcs11_settings) as store:
        store.store("name", "value")
    softhsm.set_user_pin_locked(softhsm.label)
    probe = create_backend("pkcs11", pkcs11_settings).probe()
    assert not probe.ok and "locked" in probe.reason
    with opened(pkcs11_settings) as store, pytest.raises(StoreLockedError) as info:
        store.retrieve("name")
    assert "is locked" in str(info.value) and "SO" in (info.value.hint or "")
    assert info.value.exit_code == 7


def test_no_pin_and_no_terminal(pkcs11_settings: StoreSettings,
                                monkeypatch: pytest.MonkeyPatch, no_terminal: None) -> None:
    monkeypatch.delenv(PIN_ENV)
    with opened(pkcs11_settings) as store, pytest.raises(StoreLockedError) as info:
        store.list()
    assert PIN_ENV in (info.value.hint or "")


def test_pin_from_the_platform_store(pkcs11_platform_pin_settings: StoreSettings,
                                     softhsm: SoftHSM, config_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch, no_terminal: None
                                     ) -> None:
    secret = planted()
    with opened(pkcs11_platform_pin_settings) as store:
        store.store("gateway-token", secret)
        assert store.retrieve("gateway-token") == secret
        # The PIN lives in the file store, not in the HSM.
        assert [i.name for i in store.list()] == ["gateway-token"]
    reset_modules()
    monkeypatch.setenv(PIN_ENV, "wrong")  # the environment overrides the configured key
    with opened(pkcs11_platform_pin_settings) as store, pytest.raises(AccessDeniedError):
        store.list()
    monkeypatch.delenv(PIN_ENV)
    reset_modules()
    with opened(StoreSettings(backend="file", config_dir=config_dir)) as platform:
        platform.delete("hsm-pin")
    with opened(pkcs11_platform_pin_settings) as store, \
            pytest.raises(StoreLockedError) as info:
        store.retrieve("gateway-token")
    assert "token 'hsm-pin' in the file store" in str(info.value)
    assert "mcp-router --backend file token set --name hsm-pin" in (info.value.hint or "")


# -- leaks --------------------------------------------------------------------------------
def test_secret_and_pin_never_logged(pkcs11_settings: StoreSettings, softhsm: SoftHSM,
                                     monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = planted()
    messages: list[str] = []
    with opened(pkcs11_settings) as store:
        store.store("name", secret)
        assert store.retrieve("name") == secret
        messages.append(repr(store) + repr(store.backend))
    reset_modules()
    monkeypatch.setenv(PIN_ENV, softhsm.pin + "x")
    with opened(pkcs11_settings) as store, pytest.raises(AccessDeniedError) as info:
        store.retrieve("name")
    messages += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    text = caplog.text + "\n".join(messages)
    assert secret not in text and softhsm.pin not in text


# -- the CLI, as a real process -----------------------------------------------------------
SPEC_CONFIG = """\
version: 1
advanced:
  secure_storage:
    backend: "pkcs11"
    pkcs11_module: "{module}"
    pkcs11_slot: {slot}
{extra}"""


def write_config(path: Path, softhsm: SoftHSM, *, slot: object = 0,
                 extra: str = '    pkcs11_pin_secure_key: "hsm-pin"\n') -> Path:
    path.write_text(SPEC_CONFIG.format(module=softhsm.module, slot=slot, extra=extra))
    return path


def cli(*args: str, config: Path | None = None, stdin: str | None = None,
        env: dict[str, str] | None = None) -> tuple[int, str, str]:
    from clirun import run

    argv = [*(["--config", str(config)] if config else []), *args]
    done = run(argv, input=stdin.encode() if stdin is not None else None, env=env,
               backend=None)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def one_line_error(stderr: str) -> str:
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    return stderr


def test_cli_token_commands_with_the_spec_config(softhsm: SoftHSM, tmp_path: Path) -> None:
    secret = planted()
    config = write_config(tmp_path / "mcp-router.yaml", softhsm)
    outputs: list[str] = []

    # The PIN goes into the platform's default store (the encrypted file here).
    code, out, err = cli("token", "set", "--name", "hsm-pin", "--stdin", stdin=softhsm.pin)
    assert code == 0 and "in the file store" in err
    outputs += [out, err]
    code, out, err = cli("-v", "token", "set", "--name", "gateway-token", "--stdin",
                         config=config, stdin=secret + "\n")
    assert code == 0, err
    assert "backend: pkcs11" in err and "stored 'gateway-token' in the pkcs11 store" in err
    outputs += [out, err]
    code, out, err = cli("token", "list", config=config)
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "CREATED", "LAST_USED"]
    assert out.splitlines()[1].startswith("gateway-token ")
    outputs += [out, err]
    code, out, err = cli("token", "get", "--name", "gateway-token", config=config)
    assert code == 0 and "backend:   pkcs11" in out
    outputs += [out, err]
    code, out, err = cli("token", "get", "--name", "gateway-token", "--export", "--yes",
                         config=config)
    assert code == 0 and out == secret + "\n"
    code, out, err = cli("token", "delete", "--name", "gateway-token", "--yes", config=config)
    assert code == 0 and "deleted 'gateway-token'" in err
    outputs += [out, err]
    code, out, err = cli("token", "list", config=config)
    assert code == 0 and "no tokens in the pkcs11 store" in err
    outputs += [out, err]
    for text in outputs:
        assert secret not in text and secret[:-4] not in text and softhsm.pin not in text


@pytest.mark.parametrize(
    ("case", "exit_code", "fragment"),
    [
        ("wrong-pin", 10, "rejected the user PIN from $MCP_ROUTER_PKCS11_PIN"),
        ("no-pin", 7, "needs its user PIN and none was given"),
        ("locked-pin", 7, "is locked"),
        ("missing-module", 6, "does not exist"),
        ("not-a-module", 6, "/bin/ls cannot be used as a PKCS#11 module"),
        ("missing-slot", 6, "there is no slot index 5"),
        ("uninitialised", 6, "is not initialised"),
        ("unknown-label", 6, "no token labelled 'nope'"),
    ],
)
def test_cli_errors(softhsm: SoftHSM, tmp_path: Path, case: str, exit_code: int,
                    fragment: str) -> None:
    env = {PIN_ENV: softhsm.pin}
    config = write_config(tmp_path / "c.yaml", softhsm, extra="")
    code, _, err = cli("token", "set", "--name", "kept", "--stdin", config=config,
                       stdin="original", env=env)
    assert code == 0, err
    if case == "wrong-pin":
        env = {PIN_ENV: "wrong-pin-value"}
    elif case == "no-pin":
        env = {}
    elif case == "locked-pin":
        softhsm.set_user_pin_locked(softhsm.label)
    elif case == "missing-module":
        config.write_text(config.read_text().replace(softhsm.module, "/opt/hsm/missing.so"))
    elif case == "not-a-module":
        config.write_text(config.read_text().replace(softhsm.module, "/bin/ls"))
    elif case == "missing-slot":
        write_config(config, softhsm, slot=5, extra="")
    elif case == "uninitialised":
        write_config(config, softhsm, slot=1, extra="")
    elif case == "unknown-label":
        config.write_text(config.read_text().replace("pkcs11_slot: 0",
                                                     'pkcs11_token_label: "nope"'))
    code, out, err = cli("token", "set", "--name", "kept", "--stdin", "--force",
                         config=config, stdin="replacement", env=env)
    assert code == exit_code and out == "", err
    assert fragment in one_line_error(err) and "(" in err  # the fix, in parentheses
    assert softhsm.pin not in err and "wrong-pin-value" not in err
    if case != "locked-pin":  # nothing changed
        write_config(config, softhsm, extra="")
        code, out, err = cli("token", "get", "--name", "kept", "--export", "--yes",
                             config=config, env={PIN_ENV: softhsm.pin})
        assert (code, out) == (0, "original\n"), err


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")
def test_cli_prompts_for_the_pin_on_a_terminal(softhsm: SoftHSM, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    from clirun import PYTHON_CLI

    config = write_config(tmp_path / "c.yaml", softhsm, extra="")

    def session(pin: str) -> tuple[int, str]:
        child = pexpect.spawn(PYTHON_CLI[0], [*PYTHON_CLI[1:], "--config", str(config),
                                              "token", "list"],
                              env=dict(os.environ), encoding="utf-8", timeout=60)
        child.logfile_read = screen = io.StringIO()
        child.expect_exact(f"User PIN for HSM token '{softhsm.label}': ")
        child.sendline(pin)
        child.expect(pexpect.EOF)
        child.close()
        return child.exitstatus, screen.getvalue()

    code, screen = session(softhsm.pin)
    assert code == 0 and "no tokens in the pkcs11 store" in screen
    assert softhsm.pin not in screen  # hidden input
    code, screen = session("not-the-pin")
    assert code == 10 and "rejected the user PIN from the prompt" in screen


def test_debug_output_shows_the_chain_but_not_the_pin(softhsm: SoftHSM, tmp_path: Path
                                                      ) -> None:
    config = write_config(tmp_path / "c.yaml", softhsm, extra="")
    wrong = "wrong-" + softhsm.pin
    code, out, err = cli("--debug", "token", "list", config=config, env={PIN_ENV: wrong})
    assert code == 10 and "Traceback" in err and "PinIncorrect" in err
    assert wrong not in out + err and softhsm.pin not in out + err


def test_without_python_pkcs11(config_dir: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """python-pkcs11 is an optional extra: without it, a clear error (exit 6), not a crash."""
    from clirun import invoke

    monkeypatch.setitem(sys.modules, "pkcs11", None)  # `import pkcs11` raises ImportError
    options = {"pkcs11_module": "/usr/lib/softhsm/libsofthsm2.so"}
    backend = create_backend("pkcs11", StoreSettings(backend="pkcs11", config_dir=config_dir,
                                                     options=options))
    probe = backend.probe()
    assert not probe.ok and "mcp-router[pkcs11]" in probe.reason
    with pytest.raises(StorageUnavailableError) as info:
        backend.list()
    assert "python-pkcs11" in str(info.value)
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: pkcs11\n"
                      f"    pkcs11_module: {options['pkcs11_module']}\n")
    result = invoke("--config", str(config), "token", "list", backend=None,
                    env={PIN_ENV: "1234"})
    assert result.exit_code == 6, result.output
    assert "pip install 'mcp-router[pkcs11]'" in result.stderr


def test_pin_from_the_settings_prompt(pkcs11_settings: StoreSettings, softhsm: SoftHSM,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend asks through StoreSettings.prompt (the application's seam), never a
    terminal of its own; without a prompt (a library) it refuses with the fix."""
    monkeypatch.delenv(PIN_ENV)
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return softhsm.pin

    with opened(replace(pkcs11_settings, prompt=prompt)) as store:
        store.store("name", "value")
    assert asked == [f"User PIN for HSM token '{softhsm.label}'"]
    reset_modules()  # as a new process: log in again
    with opened(replace(pkcs11_settings, prompt=lambda question: None)) as store, \
            pytest.raises(StoreLockedError) as info:
        store.list()
    assert PIN_ENV in (info.value.hint or "")

