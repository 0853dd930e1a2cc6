"""The encrypted-file store under attack and accident, through the public API and the real
CLI: damaged files, the wrong machine or passphrase, concurrent and killed writers,
permissions, and a token file path that is not a plain file."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clirun import run
from mcp_router import open_store
from mcp_router.errors import (
    CorruptStoreError,
    DecryptionError,
    StorageUnavailableError,
    StoreLockedError,
)
from mcp_router.secure.backends.encfile import FileBackend
from mcp_router.secure.encfile import crypto
from mcp_router.secure.encfile.machine import machine_id, user_id
from mcp_router.secure.opener import SecureStore
from mcp_router.secure.store import StoreSettings

TMP_GLOB = ".tokens.enc.*.tmp"


@pytest.fixture
def token_file(config_dir: Path) -> Path:
    return config_dir / "tokens.enc"


@pytest.fixture
def store(file_settings: StoreSettings) -> Iterator[SecureStore]:
    opened = open_store(file_settings)
    opened.store("alpha", "value-alpha")
    opened.store("beta", "value-beta")
    yield opened
    opened.close()


@dataclass(frozen=True)
class Snapshot:
    """Everything about a file that a refused write must not change."""

    data: bytes
    inode: int
    mtime_ns: int
    mode: int

    @classmethod
    def of(cls, path: Path) -> Snapshot:
        st = path.lstat()
        return cls(path.read_bytes(), st.st_ino, st.st_mtime_ns, st.st_mode)


def read_state(path: Path) -> dict[str, str]:
    """Decrypt the file as this machine and user: the tokens it holds now."""
    if not path.exists():
        return {}
    material = crypto.KeyMaterial(machine_id(), user_id())
    return crypto.decrypt_file(path.read_bytes(), material)[1]


class _opened:
    """``with _opened() as store``: the file store, closed afterwards."""

    def __enter__(self) -> SecureStore:
        self.store = open_store(backend="file")
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _flip(offset: int, mask: int = 0x01) -> Callable[[bytes], bytes]:
    def mutate(data: bytes) -> bytes:
        out = bytearray(data)
        out[offset] ^= mask
        return bytes(out)

    return mutate


def _non_canonical(data: bytes) -> bytes:
    """An authentic file (right key) whose payload is valid JSON but not canonical."""
    from mcp_router.secure.encfile.format import parse_file

    header = parse_file(data)[0]
    key = crypto.derive_key(crypto.KeyMaterial(machine_id(), user_id()), header)
    return crypto._seal(b'{"tokens": {"alpha": "x"}, "version": 1}', key, header)


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], type[CorruptStoreError]]] = {
    "flipped-ciphertext-bit": (_flip(50), DecryptionError),
    "flipped-tag-bit": (_flip(-1, 0x80), DecryptionError),
    "flipped-salt-bit": (_flip(20), DecryptionError),
    "flipped-nonce-bit": (_flip(40), DecryptionError),
    "flipped-flag-bit": (_flip(10, 0x02), CorruptStoreError),
    "truncated-by-one": (lambda d: d[:-1], DecryptionError),
    "truncated-to-30": (lambda d: d[:30], CorruptStoreError),
    "appended-byte": (lambda d: d + b"\n", DecryptionError),
    "empty": (lambda d: b"", CorruptStoreError),
    "zero-filled": (lambda d: bytes(len(d)), CorruptStoreError),
    "garbage": (lambda d: random.Random(7).randbytes(len(d)), CorruptStoreError),
    "version-2": (lambda d: d[:8] + b"\x02" + d[9:], CorruptStoreError),
    "huge-iterations": (lambda d: d[:12] + b"\xff\xff\xff\xff" + d[16:], CorruptStoreError),
    "non-canonical-payload": (_non_canonical, CorruptStoreError),
}

API_CALLS: dict[str, Callable[[SecureStore], object]] = {
    "retrieve": lambda s: s.retrieve("alpha"),
    "list": lambda s: s.list(),
    "exists": lambda s: s.exists("alpha"),
    "store": lambda s: s.store("gamma", "new-value"),
    "create": lambda s: s.create("gamma", "new-value"),
    "overwrite": lambda s: s.create("alpha", "new-value", overwrite=True),
    "update": lambda s: s.update("alpha", "new-value"),
    "delete": lambda s: s.delete("alpha"),
}

CLI_CALLS: list[tuple[list[str], bytes]] = [
    (["token", "list"], b""),
    (["token", "get", "--name", "alpha"], b""),
    (["token", "get", "--name", "alpha", "--export", "--yes"], b""),
    (["token", "set", "--name", "gamma", "--stdin"], b"new-value"),
    (["token", "set", "--name", "alpha", "--stdin", "--force"], b"new-value"),
    (["token", "update", "--name", "alpha", "--stdin"], b"new-value"),
    (["token", "delete", "--name", "alpha", "--yes"], b""),
]


def damage(token_file: Path, how: str) -> Snapshot:
    mutate, _ = DAMAGE[how]
    token_file.write_bytes(mutate(token_file.read_bytes()))
    return Snapshot.of(token_file)


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], code: int) -> None:
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert b"value-alpha" not in result.stdout + result.stderr


# -- damaged files ------------------------------------------------------------------------
@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_file_is_refused_and_never_touched(store: SecureStore, token_file: Path,
                                                   how: str) -> None:
    expected = DAMAGE[how][1]
    before = damage(token_file, how)
    for call in API_CALLS.values():
        with pytest.raises(expected) as info:
            call(store)
        if expected is CorruptStoreError:
            assert not isinstance(info.value, DecryptionError)
        assert Snapshot.of(token_file) == before
    assert not list(token_file.parent.glob(TMP_GLOB))


@pytest.mark.parametrize("how", ["flipped-tag-bit", "zero-filled", "empty"])
def test_damaged_file_through_the_cli(store: SecureStore, token_file: Path, how: str) -> None:
    before = damage(token_file, how)
    code = DAMAGE[how][1].exit_code
    for args, stdin in CLI_CALLS:
        result = run(args, input=stdin)
        assert_one_line_error(result, code)
        assert Snapshot.of(token_file) == before, args
        # Which file, and what to do about it.
        assert result.stderr.startswith(f"error: {token_file}: ".encode()), result.stderr
        assert b"left untouched" in result.stderr


# -- the wrong key ------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["machine", "user"])
def test_file_from_another_machine_or_account_is_refused(token_file: Path, who: str) -> None:
    other = {"machine_id": "fedcba9876543210fedcba9876543210"} if who == "machine" else {
        "user_id": "4242"}
    token_file.parent.mkdir(parents=True, mode=0o700)
    FileBackend(token_file, **other).store("alpha", "value-alpha")  # type: ignore[arg-type]
    before = Snapshot.of(token_file)
    with _opened() as opened:
        with pytest.raises(DecryptionError, match="machine id, user or passphrase"):
            opened.retrieve("alpha")
        with pytest.raises(DecryptionError):
            opened.store("beta", "value-beta")
    assert_one_line_error(run(["token", "list"]), 9)
    assert_one_line_error(run(["token", "set", "--name", "beta", "--stdin"], input=b"x"), 9)
    assert Snapshot.of(token_file) == before


def _header_flags(path: Path) -> int:
    return path.read_bytes()[10]


def test_passphrase_file_needs_the_right_passphrase(token_file: Path) -> None:
    phrase = "pp-" + uuid.uuid4().hex
    created = run(["token", "set", "--name", "alpha", "--stdin"], input=b"value-alpha",
                  env={"MCP_ROUTER_PASSPHRASE": phrase})
    assert created.returncode == 0, created.stderr
    assert _header_flags(token_file) == 0x01
    before = Snapshot.of(token_file)

    missing = run(["token", "get", "--name", "alpha", "--export", "--yes"])
    assert_one_line_error(missing, StoreLockedError.exit_code)
    assert b"MCP_ROUTER_PASSPHRASE" in missing.stderr
    for args, stdin in CLI_CALLS:
        wrong = run(args, input=stdin, env={"MCP_ROUTER_PASSPHRASE": phrase + "x"})
        assert_one_line_error(wrong, DecryptionError.exit_code)
        assert phrase.encode() not in wrong.stdout + wrong.stderr
    assert Snapshot.of(token_file) == before

    right = run(["token", "get", "--name", "alpha", "--export", "--yes"],
                env={"MCP_ROUTER_PASSPHRASE": phrase})
    assert right.returncode == 0 and right.stdout == b"value-alpha\n"
    assert phrase.encode() not in right.stdout + right.stderr


def test_passphrase_is_asked_once_per_store(config_dir: Path) -> None:
    asked: list[bool] = []

    def source(required: bool) -> str:
        asked.append(required)
        return "a passphrase"

    settings = StoreSettings(backend="file", config_dir=config_dir, passphrase=source)
    first = open_store(settings)
    first.create("alpha", "value-alpha")
    first.close()
    assert asked == [False]  # the new file's passphrase
    asked.clear()
    again = open_store(settings)
    again.create("beta", "value-beta")
    again.update("alpha", "new")
    assert again.retrieve("alpha") == "new" and len(again.list()) == 2
    again.delete("beta")
    again.close()
    assert asked == [True]


def test_a_mistyped_passphrase_is_asked_again(config_dir: Path) -> None:
    answers = iter(["right", "wrong", "right"])
    settings = StoreSettings(backend="file", config_dir=config_dir,
                             passphrase=lambda required: next(answers))
    first = open_store(settings)
    first.store("alpha", "value-alpha")
    first.close()
    opened = open_store(settings)
    with pytest.raises(DecryptionError):
        opened.retrieve("alpha")
    assert opened.retrieve("alpha") == "value-alpha"
    opened.close()


# -- concurrent and killed writers --------------------------------------------------------
WRITER = """
import os, sys
from mcp_router import open_store
store = open_store(backend="file")
worker = int(sys.argv[1])
for i in range(50):
    store.store(f"w{worker}-t{i:02d}", f"value-{worker}-{i}")
store.close()
"""


@pytest.mark.slow
def test_eight_processes_writing_concurrently_lose_nothing(token_file: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w)], stderr=subprocess.PIPE)
             for w in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    expected = {f"w{w}-t{i:02d}": f"value-{w}-{i}" for w in range(8) for i in range(50)}
    assert read_state(token_file) == expected
    with _opened() as opened:
        infos = opened.list()
    assert [i.name for i in infos] == sorted(expected)
    assert all(i.created is not None for i in infos)  # the index lost no update either


KILLED_WRITER = """
import os, sys
os.umask(0)  # so that a temp file's mode can only come from how it was created
from mcp_router import open_store
marker = os.environ["PLANTED"]
store = open_store(backend="file")
n = len(store.list())  # decrypts, so the key is derived before the kill window opens
if n == 0:  # a new file: derive the key (and create the file) before the window too
    store.store("k00000", f"{marker}-0")
    n = 1
print("ready", flush=True)
while True:
    store.store(f"k{n:05d}", f"{marker}-{n}")
    n += 1
"""


@pytest.mark.slow
def test_writer_killed_at_random_moments_leaves_old_or_new_state(token_file: Path) -> None:
    marker = "planted-" + uuid.uuid4().hex
    env = {**os.environ, "PLANTED": marker}
    rng = random.Random()
    count, leftovers = 0, 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.06))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        state = read_state(token_file)  # decrypts: never a half-written file
        n = len(state)
        assert state == {f"k{j:05d}": f"{marker}-{j}" for j in range(n)}
        assert n >= count  # no completed write was undone
        count = n
        for tmp in token_file.parent.glob(TMP_GLOB):
            leftovers += 1
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
        assert_no_plaintext(token_file.parent, marker)
    assert count > 0
    with _opened() as opened:
        opened.store("after", "x")  # the next writer clears what killed ones left
    assert not list(token_file.parent.glob(TMP_GLOB))
    print(f"{count} writes survived; {leftovers} temp files left by killed writers")


def assert_no_plaintext(directory: Path, marker: str) -> None:
    for path in directory.iterdir():
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path.name


# -- permissions --------------------------------------------------------------------------
@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_new_files_are_private_even_with_an_open_umask(
    config_dir: Path, token_file: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: dict[str, tuple[int, int, int]] = {}
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: object) -> int:
        fd = real_open(path, flags, mode, **kw)  # type: ignore[arg-type]
        if flags & os.O_CREAT:
            created[Path(path).name] = (flags, mode, stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    monkeypatch.setattr(os, "open", spy)
    with _opened() as opened:
        opened.store("alpha", "value-alpha")
        opened.retrieve("alpha")
    monkeypatch.undo()

    temps = [name for name in created if name.startswith(".tokens.enc.")]
    assert temps, created
    for name in temps:
        flags, mode, mode_at_creation = created[name]
        assert flags & os.O_EXCL and mode == 0o600 and mode_at_creation == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    for path in config_dir.iterdir():  # tokens.enc, metadata.db (+ -wal/-shm), lock files
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert (config_dir / "metadata.db").exists() and token_file.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_an_existing_directory_keeps_its_mode(config_dir: Path, token_file: Path) -> None:
    config_dir.mkdir(parents=True, mode=0o750)
    os.chmod(config_dir, 0o750)  # noqa: S103 - doctor reports it; no silent change
    with _opened() as opened:
        opened.store("alpha", "value-alpha")
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_temp_files_of_another_token_file_are_left_alone(config_dir: Path) -> None:
    config_dir.mkdir(parents=True, mode=0o700)
    ours = config_dir / ".tokens.enc.999-deadbeef.tmp"
    theirs = config_dir / ".work.enc.999-deadbeef.tmp"
    for path in (ours, theirs):
        path.write_bytes(b"left by a killed writer")
    with _opened() as opened:
        opened.store("alpha", "value-alpha")
    assert not ours.exists() and theirs.exists()


# -- a token file path that is not a regular file -----------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinked_token_file_is_refused(store: SecureStore, token_file: Path,
                                         tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.enc"
    os.replace(token_file, elsewhere)  # a valid token file, but reached through a link
    token_file.symlink_to(elsewhere)
    target = Snapshot.of(elsewhere)
    for call in API_CALLS.values():
        with pytest.raises(StorageUnavailableError, match="symbolic link"):
            call(store)
    result = run(["token", "set", "--name", "gamma", "--stdin"], input=b"x")
    assert_one_line_error(result, StorageUnavailableError.exit_code)
    assert token_file.is_symlink() and os.readlink(token_file) == str(elsewhere)
    assert Snapshot.of(elsewhere) == target


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_dangling_symlink_is_not_written_through(config_dir: Path, token_file: Path,
                                                 tmp_path: Path) -> None:
    config_dir.mkdir(parents=True, mode=0o700)
    target = tmp_path / "planted-target"
    token_file.symlink_to(target)
    assert_one_line_error(run(["token", "set", "--name", "alpha", "--stdin"], input=b"x"),
                          StorageUnavailableError.exit_code)
    assert not target.exists() and token_file.is_symlink()


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_token_path_that_is_not_a_file_is_refused(config_dir: Path, token_file: Path,
                                                  kind: str) -> None:
    config_dir.mkdir(parents=True, mode=0o700)
    if kind == "fifo":
        os.mkfifo(token_file, 0o600)  # a plain open() would block forever
    else:
        token_file.mkdir()
    result = run(["token", "list"])  # a subprocess, so that a hang fails by timeout
    assert_one_line_error(result, StorageUnavailableError.exit_code)
    assert b"not a regular file" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinked_config_directory_is_fine(isolated_env: Path, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "mcp-router"
    real.mkdir(parents=True, mode=0o700)
    (isolated_env / ".config").mkdir(exist_ok=True)
    (isolated_env / ".config" / "mcp-router").symlink_to(real)
    with _opened() as opened:
        opened.store("alpha", "value-alpha")
        assert opened.retrieve("alpha") == "value-alpha"
    assert (real / "tokens.enc").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_configured_file_path_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """A hostile ``file_path`` (say, in a shared directory another user can write to)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim-file"
    victim.write_bytes(b"do not touch")
    (shared / "tokens.enc").symlink_to(victim)
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: file\n"
                      f"    file_path: {shared / 'tokens.enc'}\n", encoding="utf-8")
    before = Snapshot.of(victim)
    for args, stdin in CLI_CALLS:
        result = run(["--config", str(config), *args], input=stdin, backend=None)
        assert_one_line_error(result, StorageUnavailableError.exit_code)
        assert b"symbolic link" in result.stderr
    assert Snapshot.of(victim) == before
    assert [p.name for p in shared.iterdir() if p.name.startswith(".")] == []


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")
def test_a_passphrase_is_prompted_for_once_per_command(token_file: Path) -> None:
    """``token set`` reads the file three times (exists, the create check, the write); the
    person at the terminal is asked for the passphrase once."""
    pexpect = pytest.importorskip("pexpect")
    phrase = "pp-" + uuid.uuid4().hex
    created = run(["token", "set", "--name", "alpha", "--stdin"], input=b"value-alpha",
                  env={"MCP_ROUTER_PASSPHRASE": phrase})
    assert created.returncode == 0, created.stderr
    child = pexpect.spawn(sys.executable, ["-m", "mcp_router", "--backend", "file", "token",
                                           "set", "--name", "beta"],
                          env=dict(os.environ), encoding="utf-8", timeout=60)
    prompts = ["Passphrase for the token file: ", "Token value: ", "Repeat for confirmation: "]
    seen = []
    while (index := child.expect_exact([*prompts, pexpect.EOF])) < len(prompts):
        seen.append(prompts[index])
        child.sendline(phrase if index == 0 else "value-beta")
    child.close()
    assert child.exitstatus == 0
    assert seen == prompts
    assert run(["token", "get", "--name", "beta", "--export", "--yes"],
               env={"MCP_ROUTER_PASSPHRASE": phrase}).stdout == b"value-beta\n"


def test_symlinked_lock_file_is_refused(tmp_path: Path) -> None:
    """A symlink planted at the lock path must not be followed (nothing is created at its
    target) and the write fails cleanly."""
    from mcp_router.errors import StorageUnavailableError
    from mcp_router.secure.locking import FileLock

    target = tmp_path / "elsewhere"
    link = tmp_path / "tokens.enc.lock"
    link.symlink_to(target)
    with pytest.raises(StorageUnavailableError, match="lock file"):
        with FileLock(link):
            pass
    assert not target.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="flock is the POSIX lock")
def test_file_system_without_locks_is_reported_at_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOLCK (a network share without lock support) is not 'another process holds the
    lock': it is said at once, not after the timeout."""
    import errno
    import fcntl

    from mcp_router.errors import LockTimeoutError, StorageUnavailableError
    from mcp_router.secure.locking import FileLock

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = FileLock(tmp_path / "store.lock", timeout=2)
    with pytest.raises(StorageUnavailableError) as info:
        lock.acquire()
    assert not isinstance(info.value, LockTimeoutError)
    assert "cannot lock" in str(info.value) and "local disk" in (info.value.hint or "")


# -- the metadata index -------------------------------------------------------------------
def test_damaged_metadata_index_is_a_corrupt_store(store: SecureStore, config_dir: Path
                                                   ) -> None:
    """A damaged page in metadata.db (the database still opens) is exit 8 with the fix,
    not an internal error."""
    import sqlite3

    for i in range(300):  # enough rows for the table to span several pages
        store.index.ensure("file", f"filler-{i:04d}-" + "x" * 60)
    store.close()
    index = config_dir / "metadata.db"
    with sqlite3.connect(index) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(index.read_bytes())
    for page in range(1, len(data) // 4096):  # every b-tree page header but the first
        data[page * 4096:page * 4096 + 12] = b"\xff" * 12
    index.write_bytes(bytes(data))
    for args, stdin in CLI_CALLS:
        result = run(args, input=stdin)
        assert_one_line_error(result, 8)
        assert f"the metadata index {index} is unreadable".encode() in result.stderr, args
        assert b"token repair --all" in result.stderr


def test_failed_write_is_reported_and_keeps_the_file(store: SecureStore, token_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at the rename: exit 6 with the path, the old file intact, no temp left."""
    from clirun import invoke

    before = Snapshot.of(token_file)
    real_replace = os.replace

    def disk_full(src: object, dst: object) -> None:
        if Path(str(dst)) == token_file:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", disk_full)
    result = invoke("token", "set", "--name", "gamma", "--stdin", input="new-value")
    assert result.exit_code == 6, result.output
    assert result.stderr == (f"error: cannot write {token_file}: No space left on device (the "
                             "previous file is intact; free some space or fix the directory's "
                             "permissions, then retry)\n")
    assert Snapshot.of(token_file) == before
    assert not list(token_file.parent.glob(TMP_GLOB))
