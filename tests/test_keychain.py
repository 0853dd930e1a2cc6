"""The macOS Keychain backend: error translation (everywhere) and the real login keychain
(macOS only; the CI macOS job requires it)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from mcp_router.cli.main import cli
from mcp_router.errors import (
    AccessDeniedError,
    NotSupportedError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure import open_store
from mcp_router.secure.backends.keychain import (
    SERVICE,
    KeychainBackend,
    create,
    label_for,
    translate_status,
)
from mcp_router.secure.store import StoreSettings


def test_identifiers() -> None:
    assert SERVICE == "com.poiley.mcp-router"
    assert label_for("gateway-token") == "MCP Router: gateway-token"


def test_status_translation() -> None:
    assert isinstance(translate_status(-25300, "read", "t"), TokenNotFoundError)
    locked = translate_status(-25308, "read", "t")
    assert isinstance(locked, StoreLockedError) and "security unlock-keychain" in str(locked)
    assert "access list" in str(locked)  # -25308 also means: an item that needs a dialog
    assert isinstance(translate_status(-128, "read", "t"), AccessDeniedError)
    assert isinstance(translate_status(-25293, "read", "t"), AccessDeniedError)
    assert isinstance(translate_status(-25307, "open"), StorageUnavailableError)
    other = translate_status(-50, "store", "t")
    assert "OSStatus -50" in str(other) and "security error -50" in str(other)


def test_restrict_access_reaches_the_backend() -> None:
    assert create(StoreSettings(options={"restrict_access": True})).restrict_access
    assert not create(StoreSettings()).restrict_access


def test_unavailable_off_macos() -> None:
    if sys.platform == "darwin":
        pytest.skip("this checks the message on other platforms")
    probe = KeychainBackend().probe()
    assert not probe.ok and "only on macOS" in probe.reason


def test_restrict_access_refused_off_macos() -> None:
    if sys.platform == "darwin":
        pytest.skip("on macOS the flag is supported")
    result = CliRunner().invoke(cli, ["--backend", "file", "token", "set", "--name", "t",
                                      "--stdin", "--restrict-access"], input="value")
    assert result.exit_code == NotSupportedError.exit_code
    assert "not supported on this platform" in result.stderr


# -- the real login keychain (macOS CI) ------------------------------------------------------
def _security(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["security", *args], capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.mark.platform_store
def test_item_is_visible_to_security(keychain_settings: StoreSettings) -> None:
    name = f"kc-{uuid.uuid4().hex[:10]}"
    store = open_store(keychain_settings)
    store.store(name, "value-" + uuid.uuid4().hex)
    try:
        # Attributes only (no -w): reading the value from another program would prompt.
        found = _security("find-generic-password", "-s", SERVICE, "-a", name)
        assert found.returncode == 0, found.stderr
        assert f'"acct"<blob>="{name}"' in found.stdout
        assert name in {i.name for i in store.list()}  # from the metadata index
    finally:
        store.delete(name)
    assert _security("find-generic-password", "-s", SERVICE, "-a", name).returncode != 0


@pytest.mark.platform_store
def test_reads_an_item_added_by_security(keychain_settings: StoreSettings) -> None:
    name, value = f"kc-{uuid.uuid4().hex[:10]}", "from-security-" + uuid.uuid4().hex
    added = _security("add-generic-password", "-s", SERVICE, "-a", name, "-w", value, "-A")
    assert added.returncode == 0, added.stderr
    try:
        assert KeychainBackend().retrieve(name) == value
        KeychainBackend().store(name, "updated in place")
        assert KeychainBackend().retrieve(name) == "updated in place"
    finally:
        KeychainBackend().delete(name)


@pytest.mark.platform_store
def test_restricted_item_is_readable_by_us(keychain_settings: StoreSettings) -> None:
    name = f"kc-{uuid.uuid4().hex[:10]}"
    backend = KeychainBackend(restrict_access=True)
    backend.store(name, "restricted\x00value")  # CFData: a NUL is kept
    try:
        assert backend.retrieve(name) == "restricted\x00value"
        assert backend.contains(name)
    finally:
        backend.delete(name)
    assert not backend.contains(name)


@pytest.mark.platform_store
def test_cli_restrict_access_on_macos(keychain_settings: StoreSettings) -> None:
    name = f"kc-{uuid.uuid4().hex[:10]}"
    runner = CliRunner()
    result = runner.invoke(cli, ["--backend", "keychain", "token", "set", "--name", name,
                                 "--stdin", "--restrict-access"], input="value")
    assert result.exit_code == 0, result.output
    try:
        result = runner.invoke(cli, ["--backend", "keychain", "token", "get", "--name", name,
                                     "--export", "--yes"])
        assert result.stdout.strip() == "value"
    finally:
        KeychainBackend().delete(name)
