"""The leak check, extended to the lifecycle commands: rotate (every input mode,
--generate, --backup), get --previous, rollback, list --stale-days, audit (table, JSON,
--verify), backup, restore (dry run, wrong passphrase, tampered file, --force), repair,
with and without --debug, in process and as real processes.

Token values may appear only on the stdout of the runs that print them on purpose
(``get --export``, ``rotate --generate --show``); a backup passphrase nowhere. Every file
under HOME / XDG dirs / the temp dir is scanned (token file, index, audit log, backups:
ciphertext only), and so are the command lines and environments of child processes. The
audit log and the index must not hold a SHA-256 of any value either.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from leakcheck import (
    exec_leaks,
    find_leaks,
    plant_secret,
    read_exec_log,
    scan_tree,
)
from leaksession import Session


def test_no_secret_leaks_from_any_lifecycle_command(
        isolated_env: Path, temp_dir: Path, tmp_path: Path) -> None:
    value, rotated, passphrase = (plant_secret("value"), plant_secret("rotated"),
                                  plant_secret("backup-pp"))
    s = Session(tmp_path)
    generated = _run_everything(s, value, rotated, passphrase, isolated_env)

    assert any(r.may_show_value and find_leaks(value, r.stdout) for r in s.runs), \
        "an export run should have printed the value: the scan would be blind"
    problems: list[str] = []
    for secret, may_show in ((value, True), (rotated, True), (generated, True),
                             (passphrase, False)):
        for r in s.runs:
            if not (may_show and r.may_show_value):
                problems += [f"{r.label}: stdout: {x}" for x in find_leaks(secret, r.stdout)]
            problems += [f"{r.label}: stderr: {x}" for x in find_leaks(secret, r.stderr)]
        digest = hashlib.sha256(secret.encode()).hexdigest()
        for path, labels in scan_tree(secret, isolated_env, temp_dir).items():
            problems.append(f"file {path}: {labels}")
        for path, labels in scan_tree(digest, isolated_env, temp_dir).items():
            problems.append(f"file {path}: SHA-256 of a secret: {labels}")
        problems += s.children.leaks(secret)
        problems += exec_leaks(secret, read_exec_log(s.exec_log))
    assert problems == [], "\n".join(problems)
    state = isolated_env / ".config" / "mcp-router"
    assert {"tokens.enc", "metadata.db", "audit.db"} <= {p.name for p in state.iterdir()}
    assert (isolated_env / "tokens.backup").is_file()


def _run_everything(s: Session, value: str, rotated: str, passphrase: str,
                    home: Path) -> str:
    rot = ("token", "rotate", "--name")
    pp = s.file("pp.txt", passphrase.encode() + b"\n")
    wrong = s.file("wrong.txt", b"a wrong passphrase")
    backup_file = str(home / "tokens.backup")  # under HOME: scanned
    s.cli("set", "token", "set", "--name", "t1", "--stdin", input=value, expect=0)
    s.cli("set t2", "token", "set", "--name", "t2", "--stdin", input=value, expect=0)
    # -- rotate in every input mode
    s.cli("rotate --stdin --backup", *rot, "t1", "--stdin", "--backup", input=rotated,
          expect=0)
    s.cli("rotate --value", *rot, "t2", "--value", rotated, expect=0)
    s.cli("rotate --file", *rot, "t2", "--file", s.file("r.txt", rotated.encode()),
          expect=0)
    s.process("rotate --stdin --backup (process)", *rot, "t2", "--stdin", "--backup",
              input=value.encode(), expect=0)
    s.cli("rotate missing", *rot, "ghost", "--value", rotated, expect=3)
    s.cli("--debug rotate two sources", "--debug", *rot, "t1", "--value", rotated,
          "--generate", expect=2)
    s.cli("rotate --generate", *rot, "t2", "--generate", "--backup", expect=0)
    shown = s.cli("rotate --generate --show", *rot, "t2", "--generate", "--backup",
                  "--show", expect=0, may_show_value=True)
    generated = shown.stdout.decode().strip()
    assert len(generated) == 43  # the generated value is scanned for too
    # -- previous values
    s.cli("get --previous", "token", "get", "--name", "t1", "--previous", expect=0)
    s.cli("get --previous --json", "token", "get", "--name", "t1", "--previous", "--json",
          expect=0)
    s.cli("get --previous --export", "token", "get", "--name", "t1", "--previous",
          "--export", "--yes", expect=0, may_show_value=True)
    s.cli("rollback", "token", "rollback", "--name", "t1", expect=0)
    s.process("rollback (process)", "token", "rollback", "--name", "t1", expect=0)
    s.cli("get --export", "token", "get", "--name", "t1", "--export", "--yes", expect=0,
          may_show_value=True)
    s.cli("--debug rollback missing", "--debug", "token", "rollback", "--name", "ghost",
          expect=3)
    s.cli("list --stale-days", "token", "list", "--stale-days", "0", expect=0)
    s.cli("list --stale-days --json", "token", "list", "--stale-days", "0", "--json",
          expect=0)
    # -- backup and restore
    s.cli("backup", "token", "backup", "--output", backup_file, "--passphrase-file", pp,
          expect=0)
    s.cli("backup exists", "token", "backup", "--output", backup_file, "--passphrase-file",
          pp, expect=5)
    s.process("backup --force (process)", "token", "backup", "--output", backup_file,
              "--passphrase-file", pp, "--force", expect=0)
    s.cli("restore --dry-run", "token", "restore", "--input", backup_file,
          "--passphrase-file", pp, "--dry-run", expect=0)
    s.cli("--debug restore wrong passphrase", "--debug", "token", "restore", "--input",
          backup_file, "--passphrase-file", wrong, expect=9)
    data = bytearray(Path(backup_file).read_bytes())
    data[60] ^= 1
    tampered = s.file("tampered.backup", bytes(data))
    s.process("--debug restore tampered (process)", "--debug", "token", "restore",
              "--input", tampered, "--passphrase-file", pp, expect=9)
    s.cli("delete t2", "token", "delete", "--name", "t2", "--yes", expect=0)
    s.cli("restore", "token", "restore", "--input", backup_file, "--passphrase-file", pp,
          expect=0)
    s.cli("restore --force", "token", "restore", "--input", backup_file,
          "--passphrase-file", pp, "--force", expect=0)
    other_home = {"XDG_CONFIG_HOME": str(home / ".config-other")}
    s.cli("restore elsewhere", "token", "restore", "--input", backup_file,
          "--passphrase-file", pp, env=other_home, expect=0)
    # -- repair and audit
    os.chmod(home / ".config" / "mcp-router" / "tokens.enc", 0o644)
    s.cli("repair --all", "token", "repair", "--all", expect=0)
    s.cli("--debug repair --name", "--debug", "token", "repair", "--name", "t1", expect=0)
    s.cli("audit", "token", "audit", expect=0)
    s.cli("audit --json", "token", "audit", "--json", expect=0)
    s.process("audit --verify (process)", "token", "audit", "--verify", expect=0)
    return generated
