"""Shared fixtures: an isolated environment for every test, and the backends the
conformance suite runs on."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_router.secure.store import StoreSettings

pytest_plugins: list[str] = ["fixtures.platformstores",
                              "fixtures.secretservice", "fixtures.softhsm",
                              "fixtures.passstore", "fixtures.helperscript", "fixtures.mcpservers",
                              "fixtures.oauth", "fixtures.gha"]

#: Conformance-suite backends: id -> name of the fixture that yields its StoreSettings.
#: A fixture skips (with the reason) when its service cannot run on this machine.
CONFORMANCE_BACKENDS: dict[str, str] = {
    "memory": "memory_settings",
    "file": "file_settings",
    "secret-service": "secret_service_settings",
    "keychain": "keychain_settings",
    "wincred": "wincred_settings",
    "pkcs11": "pkcs11_settings",
    "custom-pass": "custom_pass_settings",
}

_KEEP_ENV = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV",
             "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "PYTHONHASHSEED", "COVERAGE_PROCESS_START"}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HOME and XDG dirs, and an environment without the user's settings."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key not in _KEEP_ENV:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    # No session bus unless a fixture starts one: nothing may reach the user's keyring.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    yield home


@pytest.fixture
def config_dir(isolated_env: Path) -> Path:
    return isolated_env / ".config" / "mcp-router"


@pytest.fixture
def memory_settings(config_dir: Path) -> Iterator[StoreSettings]:
    """The in-memory backend, registered through the public registry for this test."""
    from mcp_router.secure import register_backend
    from mcp_router.secure.backends.memory import MemoryBackend
    from mcp_router.secure.registry import _registered

    shared = MemoryBackend()
    previous = _registered.get("memory")
    register_backend("memory", lambda settings: shared)
    yield StoreSettings(backend="memory", config_dir=config_dir)
    if previous is None:
        _registered.pop("memory", None)
    else:
        _registered["memory"] = previous


@pytest.fixture
def file_settings(config_dir: Path) -> StoreSettings:
    return StoreSettings(backend="file", config_dir=config_dir)


@pytest.fixture(params=sorted(CONFORMANCE_BACKENDS))
def store_settings(request: pytest.FixtureRequest) -> StoreSettings:
    settings: StoreSettings = request.getfixturevalue(CONFORMANCE_BACKENDS[request.param])
    return settings


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temp dir for this test and every process it starts (scanned afterwards)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for var in ("TMPDIR", "TEMP", "TMP", "SQLITE_TMPDIR"):
        monkeypatch.setenv(var, str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    yield tmp
