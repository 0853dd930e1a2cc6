"""The audit log: one record per token operation, through the CLI; the hash chain catches
edited, reordered and deleted records; retention keeps it verifiable; fail closed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from clirun import invoke
from mcp_router.errors import ConfigError, StorageUnavailableError
from mcp_router.secure import audit, open_store
from mcp_router.secure.audit import AuditLog, Retention
from mcp_router.secure.store import StoreSettings

SECRET = "audit-secret-5f1c9e0a7b"


def _db(config_dir: Path) -> Path:
    return config_dir / "audit.db"


def _records(*args: str) -> list[dict[str, object]]:
    result = invoke("token", "audit", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _set(name: str, value: str = SECRET) -> None:
    assert invoke("token", "set", "--name", name, "--stdin", input=value).exit_code == 0


def test_each_command_appends_one_record_with_its_action_and_outcome() -> None:
    _set("t1")
    invoke("token", "get", "--name", "t1")
    invoke("token", "get", "--name", "t1", "--export", "--yes")
    invoke("token", "update", "--name", "t1", "--stdin", input="v2-value")
    invoke("token", "list")
    invoke("token", "import", "--name", "t2", "--env", "V", env={"V": "from-env"})
    invoke("token", "get", "--name", "ghost")
    invoke("token", "delete", "--name", "ghost", "--yes")
    invoke("token", "delete", "--name", "t2", "--yes")
    got = [(r["action"], r["name"], r["outcome"], r["command"]) for r in _records()]
    assert got == [
        ("delete", "t2", "ok", "token delete"),
        ("delete", "ghost", "not found", "token delete"),
        ("get", "ghost", "not found", "token get"),
        ("import", "t2", "ok", "token import"),
        ("list", None, "ok", "token list"),
        ("update", "t1", "ok", "token update"),
        ("export", "t1", "ok", "token get"),
        ("get", "t1", "ok", "token get"),
        ("set", "t1", "ok", "token set"),
    ]


def test_a_record_has_every_field_and_never_the_value_or_its_hash(config_dir: Path) -> None:
    import os

    _set("t1")
    (record,) = _records()
    assert set(record) == {"seq", "time", "action", "name", "outcome", "user", "pid",
                           "command", "backend", "detail", "prev", "hash"}
    assert record["user"] == _account() and record["pid"] == os.getpid()
    assert record["backend"] == "file"
    assert datetime.fromisoformat(str(record["time"])).tzinfo is not None
    raw = _db(config_dir).read_bytes()
    for form in (SECRET, hashlib.sha256(SECRET.encode()).hexdigest(), SECRET.encode().hex()):
        assert form.encode() not in raw


def test_the_command_is_our_words_never_argv() -> None:
    invoke("token", "set", "--name", "t1", "--value", SECRET)
    (record,) = _records()
    assert record["command"] == "token set"
    assert SECRET not in json.dumps(record)


def test_invalid_names_are_refused_before_the_log(config_dir: Path) -> None:
    """A mistyped name might be a pasted secret: it must not reach the log."""
    result = invoke("token", "get", "--name", "Pasted Secret Value")
    assert result.exit_code == 4
    assert _records() == []


def test_table_is_newest_first_and_filters_combine() -> None:
    _set("a")
    _set("b")
    invoke("token", "get", "--name", "a")
    table = invoke("token", "audit").stdout.splitlines()
    assert table[0].split()[:2] == ["TIME", "ACTION"]
    assert [line.split()[2] for line in table[1:]] == ["get", "set", "set"]
    assert [r["name"] for r in _records("--name", "a")] == ["a", "a"]
    assert [r["action"] for r in _records("--name", "a", "--action", "set")] == ["set"]
    assert len(_records("--days", "1")) == 3
    assert invoke("token", "audit", "--name", "nobody").stderr.strip() == \
        "no audit records match"


def test_days_filter_uses_the_time_index(config_dir: Path) -> None:
    _set("a")
    log = AuditLog(_db(config_dir))
    plan = log.open().execute(
        "EXPLAIN QUERY PLAN SELECT seq FROM records WHERE time >= ? "
        "ORDER BY time DESC, seq DESC", ("2020",)).fetchall()
    assert any("records_time" in str(row) for row in plan)
    assert not any("TEMP B-TREE" in str(row) for row in plan)  # no sort pass
    old = datetime.now(timezone.utc) - timedelta(days=30)
    log.clock = lambda: old
    log.append("get", "a", "ok")
    assert [r.seq for r in log.query(days=7)] == [1]
    assert [r.seq for r in log.query(days=31)] == [1, 2]  # newest first, by time


def test_library_callers_name_their_command_and_action(file_settings: StoreSettings) -> None:
    """The API the router and 'config check' use."""
    store = open_store(file_settings)
    store.store("gw", SECRET)
    audit.set_command("config check")
    try:
        with audit.action("resolve"):
            assert store.retrieve("gw") == SECRET
    finally:
        audit.set_command(None)
    store.retrieve("gw")
    latest = store.audit_log.query()
    assert [(r.action, r.command) for r in latest] == [
        ("retrieve", None), ("resolve", "config check"), ("store", None)]
    store.close()


# -- verification and tampering ----------------------------------------------------------
def _five_records() -> None:
    for name in ("a", "b", "c"):
        _set(name)
    invoke("token", "get", "--name", "a")
    invoke("token", "list")


def _sql(config_dir: Path, *statements: str | tuple[str, tuple[object, ...]]) -> None:
    """Tamper with the log behind mcp-router's back."""
    conn = sqlite3.connect(_db(config_dir))
    with conn:
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, ())
            conn.execute(sql, params)
    conn.close()


def _verify() -> tuple[int, str]:
    result = invoke("token", "audit", "--verify")
    return result.exit_code, result.stdout + result.stderr


def test_verify_intact_log() -> None:
    _five_records()
    code, out = _verify()
    assert code == 0
    assert out.startswith("audit log intact: 5 records (#1..#5); head ")


def test_verify_detects_an_edited_record(config_dir: Path) -> None:
    _five_records()
    _sql(config_dir, "UPDATE records SET outcome = 'denied' WHERE seq = 3")
    code, out = _verify()
    assert code == 8
    assert "broken at record #3" in out and "edited" in out


def test_verify_detects_an_edit_with_a_recomputed_hash(config_dir: Path) -> None:
    """Fixing the edited record's own hash breaks the link of the next one."""
    _five_records()
    log = AuditLog(_db(config_dir))
    (rec,) = [r for r in log.query() if r.seq == 2]
    forged = rec.__class__(**{**rec.__dict__, "name": "zzz"})
    log.close()
    _sql(config_dir, ("UPDATE records SET name = 'zzz', hash = ? WHERE seq = 2",
                      (forged.expected_hash(),)))
    code, out = _verify()
    assert code == 8 and "broken at record #3" in out


def test_verify_detects_reordered_records(config_dir: Path) -> None:
    _five_records()
    # Swap the contents (hashes included) of records #2 and #4; seq stays in place.
    _sql(config_dir,
         "CREATE TEMP TABLE two AS SELECT * FROM records WHERE seq IN (2, 4)",
         "UPDATE records SET (time, action, name, outcome, user, pid, command, backend, "
         "detail, prev, hash) = (SELECT time, action, name, outcome, user, pid, command, "
         "backend, detail, prev, hash FROM two WHERE two.seq = "
         "CASE records.seq WHEN 2 THEN 4 ELSE 2 END) WHERE seq IN (2, 4)")
    code, out = _verify()
    assert code == 8 and "broken at record #2" in out


def test_verify_detects_a_deleted_record(config_dir: Path) -> None:
    _five_records()
    _sql(config_dir, "DELETE FROM records WHERE seq = 3")
    code, out = _verify()
    assert code == 8 and "broken at record #4" in out and "deleted" in out


def test_verify_detects_deleted_first_records(config_dir: Path) -> None:
    _five_records()
    _sql(config_dir, "DELETE FROM records WHERE seq <= 2")
    code, out = _verify()
    assert code == 8 and "broken at record #3" in out


def test_verify_detects_a_forged_anchor(config_dir: Path) -> None:
    """Deleting old records and writing an anchor, without a trim record, is caught."""
    _five_records()
    h2 = AuditLog(_db(config_dir)).query()[-2].hash
    _sql(config_dir, "DELETE FROM records WHERE seq <= 2",
         ("INSERT INTO anchor (id, seq, hash) VALUES (1, 2, ?)", (h2,)))
    code, out = _verify()
    assert code == 8 and "without a trim record" in out


# -- retention ---------------------------------------------------------------------------
def test_trimming_by_count_keeps_the_chain_verifiable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", Retention(max_records=100, max_days=400))
    for i in range(250):
        log.append("get", f"t{i}", "ok")
    seqs = [r.seq for r in log.query()]
    assert len(seqs) <= 100 + 10 + 1 and seqs[0] == max(seqs)  # bound, slack, trim record
    assert any(r.action == "trim" for r in log.query())
    result = log.verify()
    assert result.ok, result.reason


def test_trimming_by_age(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", Retention(max_records=1000, max_days=30))
    now = datetime.now(timezone.utc)
    log.clock = lambda: now - timedelta(days=60)
    for _ in range(5):
        log.append("get", "old", "ok")
    log.clock = lambda: now
    log.append("get", "new", "ok")
    names = [r.name for r in log.query()]
    assert "old" not in names and names[-1] == "new"  # newest first: trim record, then new
    assert log.verify().ok


def test_retention_comes_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: file\n    options:\n"
                      "      audit_max_records: 5\n      audit_max_days: 10\n")
    for i in range(30):
        assert invoke("--config", str(config), "token", "set", "--name", f"t{i}",
                      "--value", "v" * 8, backend=None).exit_code == 0
    records = json.loads(invoke("token", "audit", "--json").stdout)
    assert 5 <= len(records) <= 5 + 10 + 1  # the bound, its slack, the trim record
    assert sum(r["action"] == "trim" for r in records) == 1
    assert invoke("token", "audit", "--verify").exit_code == 0
    with pytest.raises(ConfigError):
        Retention.from_options({"audit_max_days": "soon"})


# -- fail closed -------------------------------------------------------------------------
def test_unusable_log_refuses_reads_and_writes(config_dir: Path) -> None:
    _set("t1")
    for side in ("", "-wal", "-shm"):
        Path(str(_db(config_dir)) + side).unlink(missing_ok=True)
    _db(config_dir).write_bytes(b"this is not a database" * 100)
    got = invoke("token", "get", "--name", "t1", "--export", "--yes")
    assert got.exit_code == 6
    assert SECRET not in got.stdout and "audit log" in got.stderr
    wrote = invoke("token", "set", "--name", "t2", "--value", "other-value")
    assert wrote.exit_code == 6
    assert "t2" not in invoke("token", "list", backend="file").stdout


def test_a_record_that_cannot_be_appended_withholds_the_value(config_dir: Path) -> None:
    _set("t1")
    _sql(config_dir, "CREATE TRIGGER full BEFORE INSERT ON records "
                     "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END")
    got = invoke("token", "get", "--name", "t1", "--export", "--yes")
    assert got.exit_code == 6
    assert SECRET not in got.stdout
    assert "cannot write the audit log" in got.stderr and "disk is full" in got.stderr


def test_append_error_type(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    log.append("get", "a", "ok")
    log.open().execute("CREATE TRIGGER full BEFORE INSERT ON records "
                       "BEGIN SELECT RAISE(FAIL, 'nope'); END")
    with pytest.raises(StorageUnavailableError):
        log.append("get", "a", "ok")
    assert [r.seq for r in log.query()] == [1]


def test_log_file_is_private(config_dir: Path) -> None:
    import stat

    _set("t1")
    assert stat.S_IMODE(_db(config_dir).stat().st_mode) == 0o600


def test_resolutions_by_other_commands_are_recorded(tmp_path: Path) -> None:
    """``config check`` (like the router) reads tokens outside the token group: each read
    is a ``resolve`` record naming the command in our words."""
    _set("gw")
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\ngateway:\n  url: https://gateway.example/mcp\n  auth:\n"
                      "    type: bearer\n    token_secure_key: gw\nadvanced:\n"
                      "  secure_storage:\n    backend: file\n")
    result = invoke("--config", str(config), "config", "check", backend=None)
    assert result.exit_code == 0, result.output
    latest = _records()[0]
    assert (latest["action"], latest["name"], latest["command"]) == \
        ("resolve", "gw", "config check")


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    """Processes append at once: BEGIN IMMEDIATE serialises each head read and insert."""
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from mcp_router.secure.auditlog import "
              "AuditLog; log = AuditLog(Path(sys.argv[1]))\n"
              "for i in range(40): log.append('get', f'w{sys.argv[2]}', 'ok')")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "audit.db"),
                               str(n)]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    log = AuditLog(tmp_path / "audit.db")
    result = log.verify()
    assert result.ok and result.records == 160, result


def _account() -> str:
    """The OS account of this process (not the environment's idea of it)."""
    import getpass
    import os

    if hasattr(os, "getuid"):
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    return getpass.getuser()


def test_the_user_comes_from_the_os_not_the_environment(
        config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller cannot sign records with another name through LOGNAME/USER/USERNAME."""
    import os

    from mcp_router.secure import auditlog

    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "mallory")
    auditlog._os_user.cache_clear()
    try:
        _set("t1")
    finally:
        auditlog._os_user.cache_clear()
    (record,) = _records()
    assert record["user"] and record["user"] != "mallory"
    if hasattr(os, "getuid"):
        assert record["user"] == _account()


def test_many_openers_creating_the_databases_at_once(tmp_path: Path) -> None:
    """Switching a new database to WAL takes a lock SQLite's busy timeout does not wait
    for; first use by several connections at the same instant must still succeed (as
    when several router processes start together on a fresh machine)."""
    import threading

    from mcp_router.secure.index import MetadataIndex

    for trial in range(20):
        directory = tmp_path / f"trial-{trial}"
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def first_use(i: int, directory: Path = directory,
                      barrier: threading.Barrier = barrier,
                      errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                index = MetadataIndex(directory / "metadata.db")
                index.record_store("file", f"n{i}")
                index.close()
                log = AuditLog(directory / "audit.db")
                log.append("set", f"n{i}", "ok")
                log.close()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=first_use, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        log = AuditLog(directory / "audit.db")
        assert len(log.query()) == 6 and log.verify().ok
        log.close()
