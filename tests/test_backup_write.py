"""How a backup file is written: never partial under its name, 0600, an existing file
refused without --force (atomically) and replaced with it, whatever temp files are lying
around."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_router.errors import MCPRouterError
from mcp_router.paths import atomic_write
from mcp_router.secure import open_store
from mcp_router.secure.backup import read_backup, write_backup

PASSPHRASE = "backup-passphrase-1"

CRASH = """
import os, signal, sys
from pathlib import Path
from mcp_router.secure import open_store
from mcp_router.secure.backup import write_backup

store = open_store(backend="file")
store.store("t1", "value-1")
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # the machine dies here
write_backup(store, Path(sys.argv[1]), "backup-passphrase-1", force=sys.argv[2] == "1")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("force", [False, True])
def test_a_crash_while_writing_leaves_no_partial_backup(tmp_path: Path, force: bool) -> None:
    out = tmp_path / "b.enc"
    if force:
        out.write_bytes(b"the earlier backup")
    done = subprocess.run([sys.executable, "-c", CRASH, str(out), "1" if force else "0"],
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    if force:
        assert out.read_bytes() == b"the earlier backup"
    else:
        assert not out.exists()


def test_force_ignores_a_leftover_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "b.enc"
    out.write_bytes(b"the earlier backup")
    for leftover in (f".{out.name}.{os.getpid()}.tmp", f".{out.name}.tmp"):
        (tmp_path / leftover).write_bytes(b"from a crashed run")
    store = open_store(backend="file")
    try:
        store.store("t1", "value-1")
        assert write_backup(store, out, PASSPHRASE, force=True) == 1
    finally:
        store.close()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert read_backup(out, PASSPHRASE)["tokens"][0]["value"] == "value-1"


def test_an_existing_file_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "b.enc"
    store = open_store(backend="file")
    try:
        store.store("t1", "value-1")
        write_backup(store, out, PASSPHRASE)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        first = out.read_bytes()
        with pytest.raises(MCPRouterError) as refused:
            write_backup(store, out, PASSPHRASE)
    finally:
        store.close()
    assert refused.value.exit_code == 5 and "--force" in str(refused.value)
    assert out.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.enc"]  # no temp left


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_no_overwrite_is_decided_when_the_file_takes_its_name(tmp_path: Path) -> None:
    """The refusal does not rely on an earlier check: a name that appears meanwhile (here
    already there, even as a dangling symlink) is never replaced nor followed."""
    taken = tmp_path / "taken"
    taken.write_bytes(b"someone else's")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    for path in (taken, link):
        with pytest.raises(FileExistsError):
            atomic_write(path, b"new", overwrite=False)
    assert taken.read_bytes() == b"someone else's"
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "taken"]
    fresh = tmp_path / "fresh"
    atomic_write(fresh, b"new", overwrite=False)
    assert fresh.read_bytes() == b"new" and stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "link", "taken"]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows renames without replacing")
def test_no_overwrite_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """On a file system without hard links (FAT: link() fails with EPERM) the name is
    claimed with O_EXCL instead; the refusal and the result are the same."""
    import errno

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    taken = tmp_path / "taken"
    taken.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        atomic_write(taken, b"new", overwrite=False)
    assert taken.read_bytes() == b"someone else's"
    fresh = tmp_path / "fresh"
    atomic_write(fresh, b"new", overwrite=False)
    assert fresh.read_bytes() == b"new" and stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "taken"]
