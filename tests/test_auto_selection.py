"""``auto``: the platform store when usable, else the encrypted file, never silently;
fail closed without the fallback; the environment classification behind the reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.secretservice import KeyringDaemon, PrivateBus
from mcp_router.cli.main import cli
from mcp_router.errors import StorageUnavailableError
from mcp_router.secure import open_store
from mcp_router.secure.environment import classify
from mcp_router.secure.registry import select_backend
from mcp_router.secure.store import StoreSettings

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="Secret Service is Linux's")
NOTE = "note: no platform credential store is usable"


def _auto(config_dir: Path, **changes: object) -> StoreSettings:
    return StoreSettings(backend="auto", config_dir=config_dir, **changes)  # type: ignore[arg-type]


@linux_only
def test_picks_an_unlocked_secret_service(secret_service: KeyringDaemon,
                                          config_dir: Path) -> None:
    backend, selection = select_backend(_auto(config_dir))
    assert backend.name == "secret-service" and not selection.fell_back
    assert selection.reason == "the Secret Service default collection is unlocked"


@linux_only
def test_falls_back_when_no_provider(empty_bus: PrivateBus, config_dir: Path) -> None:
    backend, selection = select_backend(_auto(config_dir))
    assert backend.name == "file" and selection.fell_back
    assert "no Secret Service provider" in selection.rejected["secret-service"]


@linux_only
def test_locked_keyring_without_a_prompt_is_rejected(secret_service: KeyringDaemon,
                                                     config_dir: Path) -> None:
    secret_service.lock()
    try:
        backend, selection = select_backend(_auto(config_dir))
        assert backend.name == "file"
        assert "locked" in selection.rejected["secret-service"]
    finally:
        secret_service.unlock()


@linux_only
def test_locked_keyring_with_a_prompt_is_kept(secret_service: KeyringDaemon, config_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    secret_service.lock()
    try:
        backend, selection = select_backend(_auto(config_dir))
        assert backend.name == "secret-service" and "ask to unlock" in selection.reason
    finally:
        secret_service.unlock()


def test_fails_closed_without_fallback(config_dir: Path) -> None:
    # conftest points DBUS_SESSION_BUS_ADDRESS at nothing: no platform store on Linux.
    if sys.platform != "linux":
        pytest.skip("on macOS/Windows the platform store is normally usable")
    with pytest.raises(StorageUnavailableError) as info:
        open_store(_auto(config_dir, allow_fallback=False))
    assert "secret-service" in info.value.reasons
    assert not (config_dir / "tokens.enc").exists()


@linux_only
def test_cli_no_fallback_and_config_key(tmp_path: Path, config_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--no-fallback", "token", "set", "--name", "t", "--stdin"],
                           input="value")
    assert result.exit_code == StorageUnavailableError.exit_code
    assert "no platform credential store is usable" in result.stderr
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    allow_fallback: false\n",
                      encoding="utf-8")
    result = runner.invoke(cli, ["--config", str(config), "token", "set", "--name", "t",
                                 "--stdin"], input="value")
    assert result.exit_code == StorageUnavailableError.exit_code
    assert not (config_dir / "tokens.enc").exists()


@linux_only
def test_fallback_is_announced_once_on_the_first_write(config_dir: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["token", "list"])
    assert listed.exit_code == 0 and NOTE not in listed.stderr  # nothing landed yet
    first = runner.invoke(cli, ["token", "set", "--name", "a", "--stdin"], input="one")
    assert first.exit_code == 0
    assert NOTE in first.stderr and "secret-service:" in first.stderr
    assert "tokens.enc" in first.stderr and "--no-fallback" in first.stderr
    second = runner.invoke(cli, ["token", "set", "--name", "b", "--stdin"], input="two")
    assert second.exit_code == 0 and NOTE not in second.stderr
    assert (config_dir / "fallback-notice-shown").exists()
    verbose = runner.invoke(cli, ["--verbose", "token", "get", "--name", "a"])
    assert "backend: file (fallback: no platform store is usable" in verbose.stderr
    assert "rejected secret-service:" in verbose.stderr


@linux_only
def test_no_notice_when_the_platform_store_is_used(secret_service: KeyringDaemon) -> None:
    result = CliRunner().invoke(cli, ["token", "set", "--name", "ss-note", "--stdin",
                                      "--force"], input="value")
    assert result.exit_code == 0 and NOTE not in result.stderr
    assert "in the secret-service store" in result.stderr


@linux_only
def test_explicit_file_backend_is_not_a_fallback(config_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--backend", "file", "token", "set", "--name", "a",
                                      "--stdin"], input="one")
    assert result.exit_code == 0 and NOTE not in result.stderr


# -- environment classification ---------------------------------------------------------
def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_wsl(tmp_path: Path) -> None:
    root = _root(tmp_path, {"proc/sys/kernel/osrelease": "5.15.90.1-microsoft-standard-WSL2"})
    env = classify({}, platform="linux", root=root)
    assert env.wsl and "WSL" in env.summary()
    assert "Credential Manager" in (env.advice("secret-service") or "")


def test_container(tmp_path: Path) -> None:
    assert classify({}, platform="linux", root=_root(tmp_path, {".dockerenv": ""})
                    ).container == "docker"
    assert classify({"container": "podman"}, platform="linux", root=tmp_path / "none"
                    ).container == "podman"
    cgroup = _root(tmp_path / "k", {"proc/1/cgroup": "0::/kubepods/besteffort/pod1"})
    assert classify({}, platform="linux", root=cgroup).container == "kubepods"


def test_ssh_without_desktop(tmp_path: Path) -> None:
    env = classify({"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22",
                    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"},
                   platform="linux", root=tmp_path)
    assert env.ssh and not env.desktop and env.dbus_address
    assert "SSH session without a desktop" in (env.advice("secret-service") or "")
    assert "no graphical session" in env.summary()


def test_desktop_session_has_no_advice(tmp_path: Path) -> None:
    env = classify({"WAYLAND_DISPLAY": "wayland-0",
                    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"},
                   platform="linux", root=tmp_path)
    assert env.desktop and env.advice("secret-service") is None


def test_no_dbus(tmp_path: Path) -> None:
    env = classify({}, platform="linux", root=tmp_path)
    assert env.dbus_address is None
    assert "dbus-run-session" in (env.advice("secret-service") or "")


def test_macos_over_ssh(tmp_path: Path) -> None:
    env = classify({"SSH_TTY": "/dev/ttys001"}, platform="darwin", root=tmp_path)
    assert env.ssh and not env.desktop and env.container is None
    assert "security unlock-keychain" in (env.advice("keychain") or "")
