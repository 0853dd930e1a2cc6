"""Windows Credential Manager: the target mapping and chunking (pure, tested everywhere),
and the real Credential Manager (on Windows only)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_router.errors import (
    AccessDeniedError,
    CorruptStoreError,
    StorageUnavailableError,
    TokenNotFoundError,
)
from mcp_router.secure.backends.wincred import (
    MAX_BLOB_BYTES,
    Manifest,
    Part,
    WinCredBackend,
    assemble,
    chunk_target,
    parse_target,
    plan_store,
    split_value,
    target_for,
    translate_error,
)
from mcp_router.secure.store import StoreSettings
from mcp_router.secure.validation import MAX_VALUE_BYTES


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le"))


def test_targets() -> None:
    assert target_for("gateway-token") == "MCP-Router:gateway-token"
    assert chunk_target("gateway-token", "0a1b2c3d", 2) == "MCP-Router:gateway-token#0a1b2c3d.2"
    assert parse_target("MCP-Router:gateway-token") == ("gateway-token", None)
    assert parse_target("mcp-router:gateway-token") == ("gateway-token", None)  # case-blind
    assert parse_target("MCP-Router:a#0a1b2c3d.1") == ("a", "0a1b2c3d.1")
    assert parse_target("git:https://github.com") is None
    assert parse_target("MCP-Router") is None


def test_short_value_is_one_verbatim_credential() -> None:
    writes, stale = plan_store("t", "short value", "0a1b2c3d")
    assert writes == [Part("MCP-Router:t", "short value", None)]
    assert stale == []


def test_value_at_the_blob_limit_is_not_split() -> None:
    value = "x" * (MAX_BLOB_BYTES // 2)
    assert split_value(value) == [value]
    assert len(split_value(value + "x")) == 2


def test_long_value_parts_then_main_last() -> None:
    value = "j" * 3000  # a JWT-sized value: 6,000 bytes as UTF-16
    writes, _ = plan_store("jwt", value, "0a1b2c3d")
    assert [w.target for w in writes] == ["MCP-Router:jwt#0a1b2c3d.1",
                                          "MCP-Router:jwt#0a1b2c3d.2", "MCP-Router:jwt"]
    assert writes[-1].comment == "mcp-router chunked v1 gen=0a1b2c3d parts=3 length=3000"
    assert all(_utf16(w.blob) <= MAX_BLOB_BYTES for w in writes)
    parts = {w.target: w.blob for w in writes}
    main = writes[-1]
    assert assemble("jwt", main.blob, main.comment, parts.get) == value


def test_rewrite_deletes_the_old_generation_only() -> None:
    existing = ["MCP-Router:jwt#00000000.1", "MCP-Router:jwt#00000000.2",
                "MCP-Router:jwt#ffffffff.1"]
    _, stale = plan_store("jwt", "j" * 3000, "ffffffff", existing)
    assert stale == ["MCP-Router:jwt#00000000.1", "MCP-Router:jwt#00000000.2"]
    _, stale = plan_store("jwt", "now short", "12345678", existing)
    assert stale == sorted(existing)
    # Another token's parts are never touched, even if passed in by mistake.
    _, stale = plan_store("jwt", "x", "12345678", ["MCP-Router:jwt2#00000000.1"])
    assert stale == []


def test_assemble_reports_a_missing_part_and_a_bad_length() -> None:
    main = Manifest("0a1b2c3d", 2, 10).comment()
    assert assemble("t", "abcde", main, {}.get) is None  # raced a writer: read again
    with pytest.raises(CorruptStoreError):
        assemble("t", "abcde", main, {"MCP-Router:t#0a1b2c3d.1": "fg"}.get)
    assert assemble("t", "abcde", main, {"MCP-Router:t#0a1b2c3d.1": "fghij"}.get) \
        == "abcdefghij"


def test_manifest_parsing_is_strict() -> None:
    assert Manifest.parse(None) is None
    assert Manifest.parse("a comment a user typed") is None
    assert Manifest.parse("mcp-router chunked v1 gen=0a1b2c3d parts=0 length=1") is None
    assert Manifest.parse("mcp-router chunked v1 gen=XYZ parts=2 length=1") is None
    assert Manifest.parse("mcp-router chunked v1 gen=0a1b2c3d parts=2 length=7") == \
        Manifest("0a1b2c3d", 2, 7)


def test_largest_value_fits_in_parts() -> None:
    value = "é" * (MAX_VALUE_BYTES // 2)
    parts = split_value(value)
    assert "".join(parts) == value
    assert all(_utf16(p) <= MAX_BLOB_BYTES for p in parts)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=4000), st.integers(min_value=4, max_value=MAX_BLOB_BYTES))
def test_split_is_lossless_and_within_limit(value: str, limit: int) -> None:
    parts = split_value(value, limit)
    assert "".join(parts) == value
    assert all(_utf16(p) <= limit for p in parts)
    assert all(parts)  # no empty part


def test_surrogate_pairs_are_not_cut() -> None:
    value = "a" + "🔑" * 2000  # non-BMP: two UTF-16 units each
    for part in split_value(value):
        part.encode("utf-16-le")  # a cut pair could not be encoded


def test_error_translation() -> None:
    assert isinstance(translate_error(1168, "read", "t"), TokenNotFoundError)
    assert isinstance(translate_error(5, "write", "t"), AccessDeniedError)
    no_session = translate_error(1312, "write", "t")
    assert isinstance(no_session, StorageUnavailableError)
    assert "logon session" in str(no_session)
    other = translate_error(87, "write", "t")
    assert "Windows error 87" in str(other) and "VaultSvc" in str(other)


def test_backend_is_unavailable_off_windows() -> None:
    if sys.platform == "win32":
        pytest.skip("this checks the message on other platforms")
    probe = WinCredBackend().probe()
    assert not probe.ok and "only on Windows" in probe.reason


# -- the real Credential Manager (Windows CI) -------------------------------------------
@pytest.mark.platform_store
def test_long_value_round_trip_in_credential_manager(wincred_settings: StoreSettings) -> None:
    backend = WinCredBackend()
    name = f"wc-{uuid.uuid4().hex[:10]}"
    value = "eyJ" + "a" * 6000 + "🔑"
    backend.store(name, value)
    try:
        assert backend.retrieve(name) == value
        listed = subprocess.run(["cmdkey", "/list"], capture_output=True, text=True,
                                check=False).stdout
        assert f"MCP-Router:{name}" in listed
        assert [i.name for i in backend.list() if i.name == name] == [name]
        backend.store(name, "short now")
        assert backend.retrieve(name) == "short now"
        assert backend._targets(f"MCP-Router:{name}#*") == []  # old parts removed
        backend.store(name, value)
    finally:
        backend.delete(name)
    assert backend._targets(f"MCP-Router:{name}*") == []
    with pytest.raises(TokenNotFoundError):
        backend.retrieve(name)
