"""Rotation through the CLI: rotate (every input mode, --generate, --backup), the previous
value (get --previous, rollback), rotation dates in list/get, and list --stale-days."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from clirun import invoke, stored_value
from mcp_router.secure import open_store
from mcp_router.secure.index import MetadataIndex
from mcp_router.secure.rotation import GENERATED_BYTES, previous_name
from mcp_router.secure.store import StoreSettings, TokenInfo

OLD, NEW = "old-value-0123456789", "new-value-9876543210"


def _set(name: str = "t1", value: str = OLD) -> None:
    assert invoke("token", "set", "--name", name, "--stdin", input=value).exit_code == 0


def _get_fields(text: str) -> dict[str, str]:
    return {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
            for line in text.splitlines() if ":" in line}


def test_rotate_replaces_the_value_and_records_the_date() -> None:
    _set()
    before = json.loads(invoke("token", "get", "--name", "t1", "--json").stdout)
    assert before["rotated"] is None
    result = invoke("token", "rotate", "--name", "t1", "--stdin", input=NEW + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "rotated 't1'" in result.stderr
    assert stored_value("t1") == NEW
    after = json.loads(invoke("token", "get", "--name", "t1", "--json").stdout)
    assert datetime.fromisoformat(after["rotated"]) >= datetime.fromisoformat(after["created"])
    assert _get_fields(invoke("token", "get", "--name", "t1").stdout)["rotated"] != "-"
    header = invoke("token", "list").stdout.splitlines()[0]
    assert re.fullmatch(r"NAME +CREATED +LAST_USED +ROTATED", header)


def test_list_keeps_the_spec_columns_until_a_token_is_rotated() -> None:
    _set()
    assert re.fullmatch(r"NAME +CREATED +LAST_USED", invoke("token", "list").stdout
                        .splitlines()[0])


def test_rotate_input_modes(tmp_path: Path) -> None:
    _set()
    source = tmp_path / "v.txt"
    source.write_text(NEW + "\r\n")
    assert invoke("token", "rotate", "--name", "t1", "--file", str(source)).exit_code == 0
    assert stored_value("t1") == NEW
    result = invoke("token", "rotate", "--name", "t1", "--value", "third-value")
    assert result.exit_code == 0 and "warning: --value" in result.stderr
    assert stored_value("t1") == "third-value"
    assert invoke("token", "rotate", "--name", "t1").exit_code == 13  # no terminal, no source


def test_rotate_a_missing_token_fails_before_reading_a_value() -> None:
    result = invoke("token", "rotate", "--name", "ghost", "--stdin", input=NEW)
    assert result.exit_code == 3 and "no token named 'ghost'" in result.stderr


def test_generate_is_shown_only_when_asked() -> None:
    _set()
    hidden = invoke("token", "rotate", "--name", "t1", "--generate")
    assert hidden.exit_code == 0 and hidden.stdout == ""
    value = stored_value("t1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value) and GENERATED_BYTES == 32
    shown = invoke("token", "rotate", "--name", "t1", "--generate", "--show")
    assert shown.exit_code == 0
    printed = shown.stdout.strip()
    assert printed == stored_value("t1") and printed != value
    assert printed not in shown.stderr
    also = invoke("token", "rotate", "--name", "t1", "--generate", "--print")
    assert also.stdout.strip() == stored_value("t1")


def test_generate_usage_errors() -> None:
    _set()
    assert invoke("token", "rotate", "--name", "t1", "--generate", "--stdin",
                  input=NEW).exit_code == 2
    assert invoke("token", "rotate", "--name", "t1", "--show", "--stdin",
                  input=NEW).exit_code == 2
    assert stored_value("t1") == OLD


def test_backup_keeps_the_previous_value_and_rollback_swaps() -> None:
    _set()
    assert invoke("token", "rotate", "--name", "t1", "--backup", "--stdin",
                  input=NEW).exit_code == 0
    assert stored_value("t1") == NEW
    preview = invoke("token", "get", "--name", "t1", "--previous")
    assert _get_fields(preview.stdout)["previous"] == "****6789 (20 characters)"
    assert OLD not in preview.stdout
    exported = invoke("token", "get", "--name", "t1", "--previous", "--export", "--yes")
    assert exported.stdout == OLD + "\n"
    assert json.loads(invoke("token", "get", "--name", "t1", "--previous", "--json")
                      .stdout)["previous"] is True

    assert invoke("token", "rollback", "--name", "t1").exit_code == 0
    assert stored_value("t1") == OLD
    assert invoke("token", "get", "--name", "t1", "--previous", "--export",
                  "--yes").stdout == NEW + "\n"
    assert invoke("token", "rollback", "--name", "t1").exit_code == 0  # undo the rollback
    assert stored_value("t1") == NEW


def test_without_backup_there_is_no_previous_value() -> None:
    _set()
    invoke("token", "rotate", "--name", "t1", "--backup", "--stdin", input=NEW)
    invoke("token", "rotate", "--name", "t1", "--stdin", input="third-value")
    result = invoke("token", "get", "--name", "t1", "--previous")
    assert result.exit_code == 3
    assert "no previous value of 't1'" in result.stderr and "--backup" in result.stderr
    assert invoke("token", "rollback", "--name", "t1").exit_code == 3
    assert stored_value("t1") == "third-value"


def test_previous_lives_in_the_same_backend_hidden_from_list(
        file_settings: StoreSettings, config_dir: Path) -> None:
    _set()
    invoke("token", "rotate", "--name", "t1", "--backup", "--stdin", input=NEW)
    store = open_store(file_settings)
    assert store.backend.retrieve(previous_name("t1")) == OLD
    assert [i.name for i in store.list()] == ["t1"]
    store.close()
    assert [i["name"] for i in json.loads(invoke("token", "list", "--json").stdout)] == ["t1"]
    assert OLD.encode() not in (config_dir / "metadata.db").read_bytes()


def test_users_cannot_reach_the_reserved_name() -> None:
    _set()
    invoke("token", "rotate", "--name", "t1", "--backup", "--stdin", input=NEW)
    for args in (("get", "--name", "t1..previous", "--export", "--yes"),
                 ("set", "--name", "t1..previous", "--value", "x" * 8, "--force"),
                 ("delete", "--name", "t1..previous", "--yes")):
        result = invoke("token", *args)
        assert result.exit_code == 4 and "reserved" in result.stderr, args
    assert invoke("token", "get", "--name", "t1", "--previous", "--export",
                  "--yes").stdout == OLD + "\n"


def test_delete_removes_the_previous_value(file_settings: StoreSettings) -> None:
    _set()
    invoke("token", "rotate", "--name", "t1", "--backup", "--stdin", input=NEW)
    assert invoke("token", "delete", "--name", "t1", "--yes").exit_code == 0
    store = open_store(file_settings)
    assert not store.backend.contains(previous_name("t1"))
    store.close()


def test_a_name_too_long_for_a_companion_rotates_without_backup() -> None:
    name = "a" * 120
    _set(name)
    refused = invoke("token", "rotate", "--name", name, "--backup", "--stdin", input=NEW)
    assert refused.exit_code == 4 and "too long to keep a previous value" in refused.stderr
    assert invoke("token", "rotate", "--name", name, "--stdin", input=NEW).exit_code == 0
    assert invoke("token", "delete", "--name", name, "--yes").exit_code == 0


def test_rotation_on_another_backend(memory_settings: StoreSettings) -> None:
    _set_mem = ("token", "set", "--name", "m1", "--stdin")
    assert invoke(*_set_mem, input=OLD, backend="memory").exit_code == 0
    assert invoke("token", "rotate", "--name", "m1", "--backup", "--stdin", input=NEW,
                  backend="memory").exit_code == 0
    store = open_store(memory_settings)
    assert store.backend.retrieve("m1") == NEW
    assert store.backend.retrieve(previous_name("m1")) == OLD
    store.close()


def test_stale_days_flags_old_and_unknown_tokens(config_dir: Path) -> None:
    for name in ("fresh", "old", "rotated"):
        _set(name)
    index = MetadataIndex(config_dir / "metadata.db")
    long_ago = datetime.now(timezone.utc) - timedelta(days=100)
    index.restore_times(TokenInfo("old", "file", created=long_ago))
    index.restore_times(TokenInfo("rotated", "file", created=long_ago))
    index.close()
    invoke("token", "rotate", "--name", "rotated", "--stdin", input=NEW)
    lines = invoke("token", "list", "--stale-days", "30").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "LAST_USED", "ROTATED", "STALE"]
    flagged = {line.split()[0]: line.rstrip().endswith("yes") for line in lines[1:]}
    assert flagged == {"fresh": False, "old": True, "rotated": False}
    data = json.loads(invoke("token", "list", "--stale-days", "30", "--json").stdout)
    assert {d["name"]: d["stale"] for d in data} == flagged
    assert invoke("token", "list", "--stale-days", "-1").exit_code == 2


def test_rotation_is_audited() -> None:
    _set()
    invoke("token", "rotate", "--name", "t1", "--backup", "--stdin", input=NEW)
    invoke("token", "get", "--name", "t1", "--previous")
    invoke("token", "rollback", "--name", "t1")
    records = json.loads(invoke("token", "audit", "--json").stdout)
    assert [(r["action"], r["name"], r["detail"]) for r in records[:3]] == [
        ("rollback", "t1", None), ("get", "t1", "previous value"),
        ("rotate", "t1", "previous value kept")]
