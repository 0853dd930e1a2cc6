"""The secret-service backend against a real gnome-keyring, and interop with secret-tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("secretstorage", reason="the Secret Service backend is Linux-only")

from fixtures.secretservice import KeyringDaemon, PrivateBus
from mcp_router.cli.main import cli
from mcp_router.errors import StorageUnavailableError, StoreLockedError, TokenNotFoundError
from mcp_router.secure import open_store
from mcp_router.secure.backends.secretservice import (
    SecretServiceBackend,
    attributes_for,
    label_for,
    session_bus_address,
)
from mcp_router.secure.store import StoreSettings


def _name() -> str:
    return f"ss-{uuid.uuid4().hex[:10]}"


def _secret_tool(daemon: KeyringDaemon, *args: str, value: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
    if shutil.which("secret-tool") is None:
        pytest.skip("secret-tool not installed (apt-get install libsecret-tools)")
    return subprocess.run(["secret-tool", *args], input=value, capture_output=True,
                          text=True, env=daemon.env(), timeout=30, check=False)


def test_identifiers() -> None:
    assert label_for("gateway-token") == "MCP Router: gateway-token"
    assert attributes_for("gateway-token") == {"application": "mcp-router",
                                               "token_name": "gateway-token"}


def test_secret_tool_finds_what_we_store(secret_service: KeyringDaemon,
                                         secret_service_settings: StoreSettings) -> None:
    name, value = _name(), "from-mcp-router-" + uuid.uuid4().hex
    store = open_store(secret_service_settings)
    store.store(name, value)
    found = _secret_tool(secret_service, "lookup", "application", "mcp-router",
                         "token_name", name)
    assert found.returncode == 0 and found.stdout == value
    listing = _secret_tool(secret_service, "search", "--all", "application", "mcp-router",
                           "token_name", name)
    assert f"label = MCP Router: {name}" in listing.stdout


def test_we_read_what_secret_tool_stores(secret_service: KeyringDaemon,
                                         secret_service_settings: StoreSettings) -> None:
    name, value = _name(), "from-secret-tool-ключ-" + uuid.uuid4().hex
    stored = _secret_tool(secret_service, "store", "--label", f"MCP Router: {name}",
                          "application", "mcp-router", "token_name", name, value=value)
    assert stored.returncode == 0, stored.stderr
    store = open_store(secret_service_settings)
    assert store.retrieve(name) == value
    assert name in {i.name for i in store.list()}
    # Overwriting keeps the one item secret-tool made (it has an extra xdg:schema attribute).
    store.store(name, "replaced")
    assert _secret_tool(secret_service, "lookup", "application", "mcp-router",
                        "token_name", name).stdout == "replaced"
    store.delete(name)
    assert _secret_tool(secret_service, "lookup", "application", "mcp-router",
                        "token_name", name).returncode != 0


def test_cli_round_trip_and_list(secret_service: KeyringDaemon) -> None:
    name, value = _name(), "cli-" + uuid.uuid4().hex
    runner = CliRunner()
    result = runner.invoke(cli, ["--backend", "secret-service", "token", "set", "--name", name,
                                 "--stdin"], input=value)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--backend", "secret-service", "token", "get", "--name", name,
                                 "--export", "--yes"])
    assert result.exit_code == 0 and result.stdout.strip() == value
    result = runner.invoke(cli, ["--backend", "secret-service", "token", "list"])
    assert name in result.stdout


def test_foreign_items_with_unaddressable_names_are_not_listed(
        secret_service: KeyringDaemon, secret_service_settings: StoreSettings) -> None:
    _secret_tool(secret_service, "store", "--label", "odd", "application", "mcp-router",
                 "token_name", "Not A Valid Name", value="x")
    names = {i.name for i in open_store(secret_service_settings).list()}
    assert "Not A Valid Name" not in names


def test_locked_collection_fails_fast_without_a_prompt(
        secret_service: KeyringDaemon, secret_service_settings: StoreSettings) -> None:
    name = _name()
    store = open_store(secret_service_settings)
    store.store(name, "value")
    secret_service.lock()
    try:
        with pytest.raises(StoreLockedError) as info:
            store.retrieve(name)
        assert "locked" in str(info.value) and "Seahorse" in str(info.value)
        with pytest.raises(StoreLockedError):
            store.store(_name(), "value")
        probe = SecretServiceBackend().probe()
        assert not probe.ok and "locked" in probe.reason
        result = CliRunner().invoke(cli, ["--backend", "secret-service", "token", "get",
                                          "--name", name, "--export", "--yes"])
        assert result.exit_code == StoreLockedError.exit_code
    finally:
        secret_service.unlock()
    assert store.retrieve(name) == "value"


def test_locked_collection_asks_the_provider_where_a_prompt_is_possible(
        secret_service: KeyringDaemon, secret_service_settings: StoreSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # With a display, the backend asks gnome-keyring to prompt. There is no prompter on
    # this bus, so gnome-keyring dismisses the prompt: that must surface as "cancelled".
    monkeypatch.setenv("DISPLAY", ":99")
    name = _name()
    store = open_store(secret_service_settings)
    store.store(name, "value")
    assert SecretServiceBackend().probe().ok  # locked but promptable is usable
    secret_service.lock()
    try:
        with pytest.raises(StoreLockedError, match="cancelled"):
            store.retrieve(name)
    finally:
        secret_service.unlock()


def test_missing_bus(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert session_bus_address() is None
    probe = SecretServiceBackend().probe()
    assert not probe.ok and "no D-Bus session bus" in probe.reason
    with pytest.raises(StorageUnavailableError):
        open_store(StoreSettings(backend="secret-service", config_dir=config_dir)).retrieve("x")
    result = CliRunner().invoke(cli, ["--backend", "secret-service", "token", "list"])
    assert result.exit_code == StorageUnavailableError.exit_code


def test_bus_address_pointing_at_nothing() -> None:
    # conftest's default: DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus
    probe = SecretServiceBackend().probe()
    assert not probe.ok and "cannot connect" in probe.reason


def test_runtime_dir_bus_is_found(empty_bus: PrivateBus, tmp_path: Path) -> None:
    runtime = tmp_path / "xdg"
    runtime.mkdir()
    os.symlink(empty_bus.address.split("path=")[1].split(",")[0], runtime / "bus")
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    # A symlink to a socket is a socket once followed.
    assert session_bus_address(env) == f"unix:path={runtime / 'bus'}"


def test_provider_absent(empty_bus: PrivateBus, config_dir: Path) -> None:
    probe = SecretServiceBackend().probe()
    assert not probe.ok and "no Secret Service provider" in probe.reason
    with pytest.raises(StorageUnavailableError, match="gnome-keyring-daemon"):
        SecretServiceBackend().retrieve("x")


def test_provider_not_answering_is_bounded(secret_service: KeyringDaemon) -> None:
    backend = SecretServiceBackend(timeout=0.5)
    with secret_service.paused():
        probe = backend.probe()
        assert not probe.ok and "did not answer" in probe.reason
        with pytest.raises(StorageUnavailableError, match="did not answer"):
            backend.retrieve("anything")
    # The connection is re-established once the provider answers again.
    with pytest.raises(TokenNotFoundError):
        backend.retrieve("absent-" + uuid.uuid4().hex[:8])


def test_list_many_items(secret_service: KeyringDaemon,
                         secret_service_settings: StoreSettings) -> None:
    prefix = _name()
    backend = SecretServiceBackend()
    names = [f"{prefix}-{i:03d}" for i in range(150)]  # more than two batches
    for name in names:
        backend.store(name, "v")
    listed = [i.name for i in backend.list() if i.name.startswith(prefix)]
    assert listed == names
    for name in names:
        backend.delete(name)


def test_secret_does_not_leak(secret_service: KeyringDaemon, isolated_env: Path,
                              tmp_path: Path) -> None:
    from leakcheck import ExecRecorder, find_leaks, plant_secret, scan_tree

    secret, name = plant_secret(), _name()
    runner = CliRunner()
    with ExecRecorder() as children:
        results = [
            runner.invoke(cli, ["-v", "token", "set", "--name", name, "--stdin"], input=secret),
            runner.invoke(cli, ["-v", "token", "get", "--name", name]),
            runner.invoke(cli, ["token", "list", "--json"]),
            runner.invoke(cli, ["token", "doctor", "--json"]),
            runner.invoke(cli, ["token", "set", "--name", name, "--stdin"], input=secret),
        ]
        secret_service.lock()
        try:
            results.append(runner.invoke(cli, ["--backend", "secret-service", "token", "get",
                                               "--name", name, "--export", "--yes"]))
        finally:
            secret_service.unlock()
    assert [r.exit_code for r in results] == [0, 0, 0, 0, 5, 7]
    for result in results:
        assert find_leaks(secret, result.stdout_bytes + result.stderr_bytes) == []
    assert scan_tree(secret, isolated_env, tmp_path) == {}
    assert children.leaks(secret) == []


def test_bus_not_answering_is_bounded(empty_bus: PrivateBus) -> None:
    import signal

    assert empty_bus.process is not None
    empty_bus.process.send_signal(signal.SIGSTOP)
    try:
        probe = SecretServiceBackend(timeout=0.5).probe()
    finally:
        empty_bus.process.send_signal(signal.SIGCONT)
    assert not probe.ok and "did not answer within 0.5 s" in probe.reason


def test_time_limits_come_from_the_config(tmp_path: Path) -> None:
    from mcp_router.config.storage import storage_settings
    from mcp_router.secure.backends.secretservice import create

    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: secret-service\n"
                      "    secret_service_timeout: 0.5\n"
                      "    secret_service_unlock_timeout: 30\n", encoding="utf-8")
    backend = create(storage_settings(config))
    assert (backend.timeout, backend.unlock_timeout) == (0.5, 30.0)


def test_get_and_set_take_few_round_trips(secret_service: KeyringDaemon,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`token get` is one search, one session and one read on a fresh connection."""
    from jeepney.low_level import HeaderFields

    from mcp_router.secure.backends.dbusio import BoundedConnection

    name = _name()
    SecretServiceBackend().store(name, "first")
    sent: list[str] = []
    original = BoundedConnection.send_and_get_reply

    def counting(self: BoundedConnection, message: object, **kwargs: object) -> object:
        sent.append(message.header.fields[HeaderFields.member])  # type: ignore[attr-defined]
        return original(self, message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BoundedConnection, "send_and_get_reply", counting)
    backend = SecretServiceBackend()
    assert backend.retrieve(name) == "first"
    assert sent == ["Hello", "SearchItems", "OpenSession", "GetSecret"]
    sent.clear()
    backend.store(name, "second")  # an existing item: its secret is replaced in place
    assert sent == ["SearchItems", "SetSecret"]
    assert backend.retrieve(name) == "second"
    backend.delete(name)


def test_transport_cipher_round_trip_and_bad_padding() -> None:
    from mcp_router.errors import CorruptStoreError
    from mcp_router.secure.encfile.transport import cbc_decrypt, cbc_encrypt

    key = bytes(range(16))
    for plain in (b"", b"x" * 15, b"y" * 16, "ключ".encode()):
        iv, ciphertext = cbc_encrypt(key, plain)
        assert len(ciphertext) % 16 == 0 and cbc_decrypt(key, iv, ciphertext) == plain
    iv, ciphertext = cbc_encrypt(key, b"value")  # one block, padded with 11 x 0x0b
    zero_pad = iv[:15] + bytes([iv[15] ^ 0x0B])  # the last plaintext byte becomes 0x00
    with pytest.raises(CorruptStoreError):
        cbc_decrypt(key, zero_pad, ciphertext)
    with pytest.raises(CorruptStoreError):
        cbc_decrypt(key, iv, ciphertext[:-1])
