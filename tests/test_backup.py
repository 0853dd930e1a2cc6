"""Backup and restore: the file format against its vectors (and an independent reader),
and the commands through the CLI: permissions, overwrite refusal, moving tokens between
backends, wrong passphrase, tampering, --dry-run, --force, and interrupted restores."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clirun import invoke, stored_value
from mcp_router.errors import CorruptStoreError, DecryptionError, StorageUnavailableError
from mcp_router.secure import open_store, register_backend
from mcp_router.secure.backends.memory import MemoryBackend
from mcp_router.secure.encfile import backup_format as bf
from mcp_router.secure.registry import _registered
from mcp_router.secure.rotation import previous_name
from mcp_router.secure.store import StoreSettings

VECTORS = sorted((Path(__file__).parent / "vectors").glob("backup-*.json"))
PASSPHRASE = "a long enough passphrase"
VALUES = {"alpha": "alpha-value-0123456789", "beta": "beta-value-\u00e9\u2603-9876",
          "gamma": "gamma-value-abcdef0123"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the format --------------------------------------------------------------------------
def test_there_are_vectors_for_every_outcome() -> None:
    expects = {_load(p)["expect"] for p in VECTORS}
    assert expects == {"success", "header failure", "decryption failure", "payload failure"}


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector_through_the_project(path: Path) -> None:
    vector = _load(path)
    data = bytes.fromhex(vector["file"])
    expect = vector["expect"]
    if expect == "success":
        assert bf.decrypt_backup(data, vector["passphrase"]) == vector["payload"]
        return
    error = {"header failure": CorruptStoreError, "payload failure": CorruptStoreError,
             "decryption failure": DecryptionError}[expect]
    with pytest.raises(error) as info:
        bf.decrypt_backup(data, vector["passphrase"])
    if expect != "decryption failure":
        assert not isinstance(info.value, DecryptionError)


@pytest.mark.parametrize("path", [p for p in VECTORS if "success" in p.name],
                         ids=lambda p: p.stem)
def test_success_vectors_are_recreated_byte_for_byte(path: Path) -> None:
    vector = _load(path)
    rebuilt = bf._encrypt_from_parts(
        bf.serialize_payload(vector["payload"]), vector["passphrase"],
        bytes.fromhex(vector["salt"]), bytes.fromhex(vector["nonce"]),
        log2_n=vector["log2_n"], p=vector["p"])
    assert rebuilt.hex() == vector["file"]


@pytest.mark.parametrize("path", [p for p in VECTORS if "header" not in p.name],
                         ids=lambda p: p.stem)
def test_vector_through_an_independent_reader(path: Path) -> None:
    """hashlib's scrypt and PyCryptodome's AES-GCM, from the spec alone."""
    from Crypto.Cipher import AES

    vector = _load(path)
    data = bytes.fromhex(vector["file"])
    head, body = data[:44], data[44:]
    assert head[:8] == b"MCPRBKUP"
    log2_n, r, p = head[12], head[13], head[14]
    password = unicodedata.normalize("NFC", vector["passphrase"]).encode("utf-8")
    key = hashlib.scrypt(password, salt=head[16:32], n=2**log2_n, r=r, p=p, dklen=32,
                         maxmem=2**31 - 1)
    assert key.hex() == vector["key"]
    cipher = AES.new(key, AES.MODE_GCM, nonce=head[32:44])
    cipher.update(head)
    if vector["expect"] == "decryption failure":
        with pytest.raises(ValueError):
            cipher.decrypt_and_verify(body[:-16], body[-16:])
        return
    plaintext = cipher.decrypt_and_verify(body[:-16], body[-16:])
    if vector["expect"] == "success":
        assert json.loads(plaintext) == vector["payload"]
        assert plaintext == json.dumps(vector["payload"], sort_keys=True,
                                       separators=(",", ":"), ensure_ascii=False).encode()


def test_any_flipped_bit_is_rejected() -> None:
    data = bf.encrypt_backup({"tokens": [], "version": 1}, PASSPHRASE, log2_n=15)
    # One bit in each header field (magic, version, kdf, flags, cost, salt, nonce), the
    # ciphertext and the tag.
    for offset in (0, 8, 9, 10, 12, 14, 20, 40, 44, len(data) - 1):
        for mask in (0x80,):
            flipped = bytearray(data)
            flipped[offset] ^= mask
            with pytest.raises(CorruptStoreError):
                bf.decrypt_backup(bytes(flipped), PASSPHRASE)


# -- the commands ------------------------------------------------------------------------
@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def _fill(backend: str = "file") -> None:
    for name, value in VALUES.items():
        assert invoke("token", "set", "--name", name, "--stdin", input=value,
                      backend=backend).exit_code == 0
    assert invoke("token", "rotate", "--name", "alpha", "--backup", "--stdin",
                  input="alpha-rotated-value", backend=backend).exit_code == 0


def _backup(out: Path, passfile: Path, *extra: str, backend: str = "file") -> Any:
    return invoke("token", "backup", "--output", str(out), "--passphrase-file", str(passfile),
                  *extra, backend=backend)


def _restore(src: Path, passfile: Path, *extra: str, backend: str = "file") -> Any:
    return invoke("token", "restore", "--input", str(src), "--passphrase-file",
                  str(passfile), *extra, backend=backend)


def _state(backend: str) -> dict[str, str]:
    """Every item in the backend (tokens and previous values) with its value."""
    store = open_store(StoreSettings(backend=backend))
    items = {i.name: store.backend.retrieve(i.name) for i in store.backend.list()}
    store.close()
    return items


def test_backup_file_is_private_and_not_overwritten(tmp_path: Path, passfile: Path) -> None:
    _fill()
    out = tmp_path / "tokens.backup"
    result = _backup(out, passfile)
    assert result.exit_code == 0, result.stderr
    assert "backed up 3 token(s)" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = out.read_bytes()
    assert first.startswith(b"MCPRBKUP") and all(v.encode() not in first
                                                  for v in VALUES.values())
    again = _backup(out, passfile)
    assert again.exit_code == 5 and "--force" in again.stderr
    assert out.read_bytes() == first
    assert _backup(out, passfile, "--force").exit_code == 0
    assert out.read_bytes() != first  # fresh salt and nonce
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_restore_into_another_backend(tmp_path: Path, passfile: Path,
                                      memory_settings: StoreSettings) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    result = _restore(out, passfile, backend="memory")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["add: alpha, beta, gamma"]
    assert _state("memory") == _state("file")
    assert invoke("token", "get", "--name", "alpha", "--previous", "--export", "--yes",
                  backend="memory").stdout == VALUES["alpha"] + "\n"
    source = json.loads(invoke("token", "get", "--name", "alpha", "--json").stdout)
    moved = json.loads(invoke("token", "get", "--name", "alpha", "--json",
                              backend="memory").stdout)
    assert moved["created"] == source["created"] and moved["rotated"] == source["rotated"]


def test_restore_into_the_secret_service(tmp_path: Path, passfile: Path,
                                         secret_service: object) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    result = _restore(out, passfile, backend="secret-service")
    assert result.exit_code == 0, result.stderr
    for name in VALUES:
        assert stored_value(name, backend="secret-service") == stored_value(name)
    assert invoke("token", "get", "--name", "alpha", "--previous", "--export", "--yes",
                  backend="secret-service").stdout == VALUES["alpha"] + "\n"
    for name in VALUES:
        invoke("token", "delete", "--name", name, "--yes", backend="secret-service")


def test_wrong_passphrase_and_tampering_change_nothing(tmp_path: Path, passfile: Path,
                                                       memory_settings: StoreSettings) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "set", "--name", "keep", "--value", "unrelated-value", backend="memory")
    before = _state("memory")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase")
    result = _restore(out, wrong, backend="memory")
    assert result.exit_code == 9 and "passphrase is wrong or the file was modified" \
        in result.stderr
    data = bytearray(out.read_bytes())
    for offset in (12, 20, 50, len(data) - 1):
        tampered = tmp_path / f"t{offset}"
        copy = bytearray(data)
        copy[offset] ^= 0x04
        tampered.write_bytes(bytes(copy))
        assert _restore(tampered, passfile, backend="memory").exit_code in (8, 9)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"definitely not a backup" * 4)
    assert _restore(garbage, passfile, backend="memory").exit_code == 8
    assert _state("memory") == before


def test_dry_run_lists_changes_and_writes_nothing(tmp_path: Path, passfile: Path) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "delete", "--name", "beta", "--yes")
    invoke("token", "update", "--name", "gamma", "--value", "changed-since-backup")
    before = _state("file")
    result = _restore(out, passfile, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "would add: beta",
        "would skip (exists with another value; --force replaces it): gamma",
        "unchanged: alpha"]
    forced = _restore(out, passfile, "--dry-run", "--force")
    assert forced.stdout.splitlines()[:2] == ["would add: beta", "would overwrite: gamma"]
    assert _state("file") == before


def test_existing_tokens_are_kept_unless_force(tmp_path: Path, passfile: Path) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "update", "--name", "gamma", "--value", "changed-since-backup")
    kept = _restore(out, passfile)
    assert kept.exit_code == 0 and "skip" in kept.stdout
    assert stored_value("gamma") == "changed-since-backup"
    assert _restore(out, passfile, "--force").exit_code == 0
    assert stored_value("gamma") == VALUES["gamma"]


def test_passphrase_rules(tmp_path: Path, passfile: Path) -> None:
    _fill()
    short = tmp_path / "short"
    short.write_text("short")
    result = _backup(tmp_path / "b", short)
    assert result.exit_code == 4 and "shorter than 8" in result.stderr
    assert not (tmp_path / "b").exists()
    no_tty = invoke("token", "backup", "--output", str(tmp_path / "b"))
    assert no_tty.exit_code == 13 and "--passphrase-file" in no_tty.stderr


# -- interrupted restores ----------------------------------------------------------------
class FailingBackend(MemoryBackend):
    """A memory backend whose n-th write fails: a full disk, a dropped D-Bus connection,
    or the user's Ctrl-C in the middle of a restore."""

    name = "failing"

    def __init__(self) -> None:
        super().__init__()
        self.fail_at: int | None = None
        self.error: BaseException = StorageUnavailableError("the keyring went away")
        self.writes = 0

    def store(self, name: str, token: str) -> None:
        self.writes += 1
        if self.fail_at is not None and self.writes == self.fail_at:
            raise self.error
        super().store(name, token)


@pytest.fixture
def failing() -> Iterator[FailingBackend]:
    backend = FailingBackend()
    register_backend("failing", lambda settings: backend)
    yield backend
    _registered.pop("failing", None)


@pytest.mark.parametrize("error", [StorageUnavailableError("the keyring went away"),
                                   KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_interrupted_restore_is_rolled_back(tmp_path: Path, passfile: Path,
                                            failing: FailingBackend,
                                            error: BaseException) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "set", "--name", "gamma", "--value", "gamma-before-restore",
           backend="failing")
    invoke("token", "set", "--name", "other", "--value", "other-value-1", backend="failing")
    before = _state("failing")
    failing.writes, failing.fail_at, failing.error = 0, 4, error  # alpha (2), beta, gamma
    result = _restore(out, passfile, "--force", backend="failing")
    assert result.exit_code == (130 if isinstance(error, KeyboardInterrupt) else 6)
    assert "restore stopped at 'gamma'" in result.stderr
    assert "the store is as it was before" in result.stderr
    failing.fail_at = None
    assert _state("failing") == before
    assert previous_name("alpha") not in _state("failing")
    records = json.loads(invoke("token", "audit", "--json", "--action",
                                "restore-rollback").stdout)
    assert {r["name"] for r in records} == {"alpha", "beta", "gamma"}


# -- the passphrase prompt on a real terminal -------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")
def test_passphrase_prompts_on_a_terminal(tmp_path: Path) -> None:
    """backup asks twice (and again on a mismatch) and never echoes; restore asks once."""
    pexpect = pytest.importorskip("pexpect")
    from clirun import PYTHON_CLI

    _fill()
    out = tmp_path / "b"
    child = pexpect.spawn(PYTHON_CLI[0], [*PYTHON_CLI[1:], "--backend", "file", "token",
                                          "backup", "--output", str(out)],
                          env=dict(os.environ), encoding="utf-8", timeout=60)
    child.expect_exact("Backup passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect_exact("Repeat for confirmation: ")
    child.sendline(PASSPHRASE + "x")
    child.expect_exact("Error: The two entered values do not match.")
    child.expect_exact("Backup passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect_exact("Repeat for confirmation: ")
    child.sendline(PASSPHRASE)
    child.expect(pexpect.EOF)
    screen = child.before or ""
    child.close()
    assert child.exitstatus == 0, screen
    assert PASSPHRASE not in screen
    assert bf.decrypt_backup(out.read_bytes(), PASSPHRASE)["tokens"]

    child = pexpect.spawn(PYTHON_CLI[0], [*PYTHON_CLI[1:], "--backend", "file", "token",
                                          "restore", "--input", str(out), "--dry-run"],
                          env=dict(os.environ), encoding="utf-8", timeout=60)
    child.expect_exact("Backup passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(pexpect.EOF)
    screen = child.before or ""
    child.close()
    assert child.exitstatus == 0 and "unchanged: alpha, beta, gamma" in screen
    assert PASSPHRASE not in screen


def test_restore_makes_the_previous_value_match_the_backup(tmp_path: Path,
                                                           passfile: Path) -> None:
    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "rotate", "--name", "beta", "--backup", "--value", "beta-rotated-later")
    assert _restore(out, passfile, "--force").exit_code == 0
    assert stored_value("beta") == VALUES["beta"]
    assert invoke("token", "get", "--name", "beta", "--previous").exit_code == 3


def test_restore_plans_under_the_store_lock(tmp_path: Path, passfile: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No other process can write between the plan and the writes (a token it added
    would be overwritten as an "add", without --force)."""
    from mcp_router.errors import LockTimeoutError
    from mcp_router.secure import backup
    from mcp_router.secure.locking import FileLock

    _fill()
    out = tmp_path / "b"
    assert _backup(out, passfile).exit_code == 0
    invoke("token", "delete", "--name", "beta", "--yes")
    held: list[bool] = []
    original = backup.plan_restore

    def planning(store: Any, doc: dict[str, Any], *, force: bool) -> Any:
        other = FileLock(store.lock.path, timeout=0)  # as another process would
        try:
            other.acquire()
        except LockTimeoutError:
            held.append(True)
        else:
            other.release()
            held.append(False)
        return original(store, doc, force=force)

    monkeypatch.setattr(backup, "plan_restore", planning)
    result = _restore(out, passfile)
    assert result.exit_code == 0, result.stderr
    assert held == [True]
    assert stored_value("beta") == VALUES["beta"]


def test_backup_into_a_missing_directory_is_a_clear_error(tmp_path: Path,
                                                         passfile: Path) -> None:
    _fill()
    result = _backup(tmp_path / "no-such-dir" / "tokens.backup", passfile)
    assert result.exit_code == 4, result.stderr
    assert "no-such-dir does not exist" in result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "no-such-dir").exists()


def test_restore_refuses_a_bad_time_before_writing(tmp_path: Path, passfile: Path) -> None:
    """An authentic backup whose times do not parse is refused whole (exit 8), not
    half-written and rolled back with an internal error."""
    doc = {"version": 1, "tokens": [
        {"name": "first", "value": "first-value", "created": "2026-01-02T03:04:05Z"},
        {"name": "second", "value": "second-value", "created": "last tuesday"}]}
    out = tmp_path / "b"
    out.write_bytes(bf.encrypt_backup(doc, passfile.read_text().strip(), log2_n=15))
    result = _restore(out, passfile)
    assert result.exit_code == 8, result.stderr
    assert "unexpected structure" in result.stderr
    assert _state("file") == {}
    doc["tokens"].pop()  # a "Z" offset is fine
    out.write_bytes(bf.encrypt_backup(doc, passfile.read_text().strip(), log2_n=15))
    assert _restore(out, passfile).exit_code == 0
    info = json.loads(invoke("token", "get", "--name", "first", "--json").stdout)
    assert info["created"].startswith("2026-01-02T03:04:05")
