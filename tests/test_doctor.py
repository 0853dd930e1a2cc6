"""``mcp-router token doctor`` through the CLI, against a real gnome-keyring."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fixtures.secretservice import KeyringDaemon, PrivateBus
from mcp_router.cli.main import cli
from mcp_router.errors import StorageUnavailableError
from mcp_router.secure.doctor import Status, diagnose
from mcp_router.secure.store import StoreSettings

linux_only = pytest.mark.skipif(sys.platform != "linux",
                                reason="the Secret Service checks run on Linux")


def _doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "token", "doctor"])


def _report(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, [*args, "token", "doctor", "--json"])
    return result.exit_code, json.loads(result.stdout)


def _checks(report: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"]}  # type: ignore[index,union-attr]


@linux_only
def test_running_and_unlocked(secret_service: KeyringDaemon) -> None:
    code, report = _report()
    checks = _checks(report)
    assert code == 0
    assert checks["D-Bus session bus"]["status"] == "OK"
    assert checks["Secret Service reachable"]["status"] == "OK"
    assert "gnome-keyring" in checks["Secret Service reachable"]["detail"]
    assert checks["Secret Service unlocked"]["status"] == "OK"
    assert report["auto"] == {"backend": "secret-service", "rejected": {},
                              "reason": "the Secret Service default collection is unlocked"}
    assert report["backend"] == "secret-service" and report["usable"] is True
    text = _doctor()
    assert text.exit_code == 0
    assert "auto picks: secret-service" in text.stdout


@linux_only
def test_locked(secret_service: KeyringDaemon) -> None:
    secret_service.lock()
    try:
        code, report = _report()
        checks = _checks(report)
        assert code == 0  # the encrypted file is still usable
        assert checks["Secret Service unlocked"]["status"] == "FAIL"
        assert "locked" in checks["Secret Service unlocked"]["detail"]
        assert checks["Secret Service unlocked"]["fix"]
        assert checks["auto selection"]["status"] == "WARN"
        assert report["auto"]["backend"] == "file"  # type: ignore[index]
        assert "locked" in report["auto"]["rejected"]["secret-service"]  # type: ignore[index]
        # Without the fallback nothing is usable: the exit status says so.
        result = _doctor("--no-fallback")
        assert result.exit_code == StorageUnavailableError.exit_code
        assert "FAIL  auto selection" in result.stdout and "fix:" in result.stdout
        assert "no secure storage is usable" in result.stderr
    finally:
        secret_service.unlock()


@linux_only
def test_absent_provider(empty_bus: PrivateBus) -> None:
    code, report = _report()
    checks = _checks(report)
    assert code == 0
    assert checks["D-Bus session bus"]["status"] == "OK"
    assert checks["Secret Service reachable"]["status"] == "FAIL"
    assert "gnome-keyring-daemon" in checks["Secret Service reachable"]["fix"]
    assert "Secret Service unlocked" not in checks
    assert report["auto"]["backend"] == "file"  # type: ignore[index]


@linux_only
def test_no_bus_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    code, report = _report()
    checks = _checks(report)
    assert checks["D-Bus session bus"]["status"] == "FAIL"
    assert "Secret Service reachable" not in checks
    assert code == 0 and report["backend"] == "file"


@linux_only
def test_secret_service_explicitly_configured_but_absent(empty_bus: PrivateBus) -> None:
    result = _doctor("--backend", "secret-service")
    assert result.exit_code == StorageUnavailableError.exit_code
    assert "FAIL  usable store" in result.stdout


@linux_only
def test_loose_file_permissions_warn(config_dir: Path) -> None:
    config_dir.mkdir(parents=True, mode=0o755)
    os.chmod(config_dir, 0o755)  # noqa: S103 - the loose mode under test
    token_file = config_dir / "tokens.enc"
    token_file.write_bytes(b"x")
    os.chmod(token_file, 0o644)
    checks = _checks(_report()[1])
    permissions = checks["file permissions"]
    assert permissions["status"] == "WARN"
    assert "0o755" in permissions["detail"] and "0o644" in permissions["detail"]
    assert "chmod 600" in permissions["fix"]


def test_machine_id_and_file_key_are_explained() -> None:
    checks = _checks(_report()[1])
    assert checks["machine id"]["status"] == "OK"
    assert "other programs running as you" in checks["encrypted file"]["detail"]


@linux_only
def test_file_passphrase_is_read_from_the_file_not_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file made with a passphrase says so even when the variable is not set now, and
    one made without says so even when it is (the variable cannot change an old file)."""
    def detail() -> str:
        return str(_checks(_report("--backend", "file")[1])["encrypted file"]["detail"])

    monkeypatch.setenv("MCP_ROUTER_PASSPHRASE", "doctor-passphrase")
    assert "a new file will mix in a passphrase" in detail()
    assert CliRunner().invoke(cli, ["--backend", "file", "token", "set", "--name", "t1",
                                    "--value", "v"]).exit_code == 0
    monkeypatch.delenv("MCP_ROUTER_PASSPHRASE")
    assert "with a passphrase" in detail()
    (Path(os.environ["XDG_CONFIG_HOME"]) / "mcp-router" / "tokens.enc").unlink()
    assert CliRunner().invoke(cli, ["--backend", "file", "token", "set", "--name", "t2",
                                    "--value", "v"]).exit_code == 0
    monkeypatch.setenv("MCP_ROUTER_PASSPHRASE", "doctor-passphrase")
    assert "no passphrase" in detail()


@linux_only
def test_configured_helper_backend_is_probed(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n"
                      "    custom_command: /nonexistent/vault-helper\n"
                      "    custom_args: ['get', '{name}']\n", encoding="utf-8")
    result = _doctor("--config", str(config))
    assert result.exit_code == StorageUnavailableError.exit_code
    assert "FAIL  configured backend 'custom'" in result.stdout


def test_configured_plugin_that_does_not_exist() -> None:
    report = diagnose(StoreSettings(backend="no-such-plugin"))
    check = next(c for c in report.checks if c.name.startswith("configured backend"))
    assert check.status is Status.FAIL and "unknown storage backend" in check.detail
    assert not report.usable


def test_windows_check_uses_the_service_tool() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str]:
        calls.append(argv)
        return 0, "SERVICE_NAME: VaultSvc\n        STATE              : 1  STOPPED\n"

    win = diagnose(StoreSettings(), run=run, platform="win32")
    service = next(c for c in win.checks if c.name == "Credential Manager service")
    assert service.status is Status.WARN and "STOPPED" in service.detail
    assert calls == [["sc", "query", "VaultSvc"]]


@pytest.mark.parametrize(("state", "ssh", "status"), [
    ("unlocked", False, Status.OK), ("locked", False, Status.WARN),
    ("locked", True, Status.FAIL)])
def test_keychain_check_reads_the_lock_state_without_a_dialog(
        state: str, ssh: bool, status: Status, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state comes from Security.framework (SecKeychainGetStatus), never from
    ``security show-keychain-info``, which asks for the password of a locked keychain."""
    from mcp_router.secure.backends.keychain import KeychainBackend
    from mcp_router.secure.registry import _registered

    monkeypatch.setattr(KeychainBackend, "keychain_state", lambda self: state)
    # On macOS the real keychain is off limits to unmarked tests: build this one directly.
    monkeypatch.setitem(_registered, "keychain", lambda settings: KeychainBackend())
    if ssh:
        monkeypatch.setenv("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22")

    def run(argv: list[str]) -> tuple[int, str]:
        raise AssertionError(f"no external command on macOS: {argv}")

    mac = diagnose(StoreSettings(), run=run, platform="darwin")
    check = next(c for c in mac.checks if c.name == "keychain unlocked")
    assert check.status is status
    if status is not Status.OK:
        assert check.fix is not None and "security unlock-keychain" in check.fix


def test_keychain_check_off_macos_says_why() -> None:
    if sys.platform == "darwin":
        pytest.skip("this checks the message on other platforms")
    mac = diagnose(StoreSettings(), platform="darwin")
    check = next(c for c in mac.checks if c.name == "keychain unlocked")
    assert check.status is Status.FAIL and "only on macOS" in check.detail


@pytest.mark.platform_store
def test_real_platform_checks(keychain_or_wincred: str) -> None:
    """On the macOS and Windows CI jobs: the native tools really report the store usable."""
    code, report = _report()
    checks = _checks(report)
    name = "keychain unlocked" if keychain_or_wincred == "keychain" else \
        "Credential Manager service"
    assert checks[name]["status"] in ("OK", "WARN"), checks[name]
    assert report["auto"]["backend"] == keychain_or_wincred  # type: ignore[index]
    assert code == 0


@pytest.fixture
def keychain_or_wincred(request: pytest.FixtureRequest) -> str:
    backend = "keychain" if sys.platform == "darwin" else "wincred"
    request.getfixturevalue(f"{backend}_settings")  # skips (or fails on CI) as they do
    return backend


def test_a_plugin_whose_probe_crashes_is_reported(config_dir: Path) -> None:
    from mcp_router.secure import register_backend
    from mcp_router.secure.registry import _registered
    from mcp_router.secure.store import Backend

    class Broken(Backend):
        name = "broken"

        def probe(self) -> object:  # type: ignore[override]
            raise RuntimeError("bug")

    register_backend("broken", lambda settings: Broken())
    try:
        report = diagnose(StoreSettings(backend="broken", config_dir=config_dir))
    finally:
        _registered.pop("broken", None)
    check = next(c for c in report.checks if c.name == "configured backend 'broken'")
    assert check.status is Status.FAIL and "RuntimeError" in check.detail
