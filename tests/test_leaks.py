"""Plant unique secrets, run every foundation command (every input mode, the error paths,
``--debug``), and look for the secrets everywhere: stdout and stderr of every run, every
file under HOME / the XDG dirs / the temp dir, and the command line and environment of any
program started. A token value may appear only on the stdout of ``get --export``; a file
passphrase nowhere at all.
"""

from __future__ import annotations

import os
from pathlib import Path

from leakcheck import (
    ExecRecorder,
    exec_leaks,
    exec_log_env,
    find_leaks,
    forms,
    plant_secret,
    read_exec_log,
    scan_tree,
)
from leaksession import Session


def test_the_scanner_finds_every_form() -> None:
    """The scan would see the secret if it were there: raw, in UTF-16, hex and base64 at
    any offset, and truncated."""
    import base64

    secret = plant_secret()
    raw = secret.encode()
    for prefix in (b"", b"x", b"xy", b"xyz"):
        for encode, label in ((base64.b64encode, "base64+"),
                              (base64.urlsafe_b64encode, "base64url+")):
            found = find_leaks(secret, encode(prefix + raw + b"\xff"))
            assert any(x.startswith(label) for x in found), (prefix, label)
    assert "hex" in find_leaks(secret, b"..." + raw.hex().encode() + b"...")
    assert "utf-16-le" in find_leaks(secret, secret.encode("utf-16-le"))
    assert find_leaks(secret, "shown: " + secret[:-4] + "****") == ["all but the last 4"]
    assert find_leaks(secret, "****" + secret[-4:]) == []
    assert all(len(n) >= 8 for n in forms(secret).values())


def test_the_exec_recorder_sees_children(tmp_path: Path) -> None:
    import subprocess
    import sys

    secret = plant_secret()
    with ExecRecorder() as children:
        subprocess.run([sys.executable, "-c", "pass", secret], check=True)
    assert f"{sys.executable}: argv: utf-8" in children.leaks(secret)

    env, log = exec_log_env(tmp_path)
    subprocess.run([sys.executable, "-c",
                    "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass', "
                    f"'{secret}'], env={{'X': '{secret}'}})"],
                   env={**os.environ, **env}, check=True)
    leaks = exec_leaks(secret, read_exec_log(log))
    assert any("argv" in leak for leak in leaks) and any("env" in leak for leak in leaks)


def test_no_secret_leaks_from_any_foundation_command(
    isolated_env: Path, temp_dir: Path, tmp_path: Path
) -> None:
    value, other, passphrase = plant_secret("value"), plant_secret("other"), plant_secret("pp")
    s = Session(tmp_path)
    _run_everything(s, value, other, passphrase, isolated_env)

    assert any(r.may_show_value and find_leaks(value, r.stdout) for r in s.runs), \
        "the export runs should have printed the value: the scan would be blind"
    problems: list[str] = []
    for secret, allowed_on_export in ((value, True), (other, True), (passphrase, False)):
        for r in s.runs:
            if not (allowed_on_export and r.may_show_value):
                problems += [f"{r.label}: stdout: {x}" for x in find_leaks(secret, r.stdout)]
            problems += [f"{r.label}: stderr: {x}" for x in find_leaks(secret, r.stderr)]
        for path, labels in scan_tree(secret, isolated_env, temp_dir).items():
            problems.append(f"file {path}: {labels}")
        problems += s.children.leaks(secret)
        problems += exec_leaks(secret, read_exec_log(s.exec_log))
    assert problems == [], "\n".join(problems)
    # The scanned trees really held the store: the scan looked at the files that matter.
    scanned = {p.name for p in (isolated_env / ".config" / "mcp-router").iterdir()}
    assert {"tokens.enc", "metadata.db"} <= scanned


def _run_everything(s: Session, value: str, other: str, passphrase: str, home: Path) -> None:
    set_, upd = ["token", "set", "--name"], ["token", "update", "--name"]
    # -- every input mode of set, in process and as a real process with a pipe
    s.cli("set --stdin", *set_, "t-stdin", "--stdin", input=value + "\n", expect=0)
    s.process("set --stdin (process)", *set_, "t-proc", "--stdin",
              input=value.encode() + b"\r\n", expect=0)
    s.cli("set --value", *set_, "t-value", "--value", value, expect=0)
    s.cli("set --file", *set_, "t-file", "--file", s.file("v.txt", value.encode()), expect=0)
    s.cli("set --force", *set_, "t-file", "--stdin", "--force", input=other, expect=0)
    # -- set's error paths, each carrying a secret in its input
    s.cli("set existing", *set_, "t-stdin", "--stdin", input=other, expect=5)
    s.cli("set existing --value", *set_, "t-stdin", "--value", other, expect=5)
    s.cli("set bad name", *set_, "Bad Name", "--value", other, expect=4)
    s.cli("set two modes", *set_, "t-x", "--value", other, "--stdin", input=other, expect=2)
    s.cli("set too large", *set_, "t-x", "--stdin", input=other * 2000, expect=4)
    s.cli("set non-utf8 file", *set_, "t-x", "--file",
          s.file("bin", other.encode() + b"\xff\xfe"), expect=4)
    s.cli("set no source", *set_, "t-x", expect=13)
    # -- update in every mode, and its errors
    s.cli("update --stdin", *upd, "t-stdin", "--stdin", input=other + "\n", expect=0)
    s.cli("update --value", *upd, "t-value", "--value", other, expect=0)
    s.cli("update --file", *upd, "t-proc", "--file", s.file("o.txt", other.encode()),
          expect=0)
    s.cli("update missing", *upd, "ghost", "--stdin", input=other, expect=3)
    # -- reading
    s.cli("get", "token", "get", "--name", "t-stdin", expect=0)
    s.cli("get --json", "token", "get", "--name", "t-value", "--json", expect=0)
    s.cli("get --export, no --yes", "token", "get", "--name", "t-stdin", "--export",
          expect=13)
    s.cli("get --export --yes", "token", "get", "--name", "t-stdin", "--export", "--yes",
          expect=0, may_show_value=True)
    s.process("get --export --yes (process)", "token", "get", "--name", "t-value",
              "--export", "--yes", expect=0, may_show_value=True)
    s.cli("list", "token", "list", expect=0)
    s.cli("list --json", "token", "list", "--json", expect=0)
    s.cli("--verbose list", "--verbose", "token", "list", expect=0)
    # -- import
    s.cli("import", "token", "import", "--name", "t-env", "--env", "LEAK_VAR",
          env={"LEAK_VAR": value}, expect=0)
    s.process("import existing (process)", "token", "import", "--name", "t-env", "--env",
              "LEAK_VAR", env={"LEAK_VAR": other}, expect=5)
    s.cli("import unset", "token", "import", "--name", "t-u", "--env", "NOPE",
          env={"NOPE": None}, expect=4)
    # -- --debug runs of the error paths print whole tracebacks: still no secret
    s.cli("--debug set existing", "--debug", *set_, "t-stdin", "--stdin", input=other,
          expect=5)
    s.process("--debug set bad name (process)", "--debug", *set_, "BAD", "--value", other,
              expect=4)
    s.process("--debug set too large (process)", "--debug", *set_, "t-x", "--stdin",
              input=other.encode() * 2000, expect=4)
    s.cli("--debug update missing", "--debug", *upd, "ghost", "--value", other, expect=3)
    s.cli("--debug get --export --yes", "--debug", "token", "get", "--name", "t-stdin",
          "--export", "--yes", expect=0, may_show_value=True)
    s.cli("--debug import empty", "--debug", "token", "import", "--name", "t-e", "--env",
          "EMPTY", env={"EMPTY": ""}, expect=4)
    # -- delete
    s.cli("delete, no --yes", "token", "delete", "--name", "t-file", expect=13)
    s.cli("delete --yes", "token", "delete", "--name", "t-file", "--yes", expect=0)
    s.cli("delete missing", "token", "delete", "--name", "t-file", "--yes", expect=3)

    # -- a second store whose file has a passphrase (under HOME too, so it is scanned)
    pp_home = {"XDG_CONFIG_HOME": str(home / ".config-pp")}
    with_pp = {**pp_home, "MCP_ROUTER_PASSPHRASE": passphrase}
    s.cli("pp set", *set_, "t-pp", "--stdin", input=value, env=with_pp, expect=0)
    s.cli("pp get --export", "token", "get", "--name", "t-pp", "--export", "--yes",
          env=with_pp, expect=0, may_show_value=True)
    s.cli("pp no passphrase", "token", "get", "--name", "t-pp", "--export", "--yes",
          env={**pp_home, "MCP_ROUTER_PASSPHRASE": None}, expect=7)
    s.process("--debug pp wrong passphrase (process)", "--debug", "token", "get", "--name",
              "t-pp", "--export", "--yes",
              env={**pp_home, "MCP_ROUTER_PASSPHRASE": "wrong passphrase"}, expect=9)
    s.cli("pp update wrong passphrase", *upd, "t-pp", "--stdin", input=other,
          env={**pp_home, "MCP_ROUTER_PASSPHRASE": "wrong passphrase"}, expect=9)
