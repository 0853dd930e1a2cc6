"""``token repair``: break each thing it mends on purpose, and check that it is mended and
reported, without the secret."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import invoke, stored_value
from mcp_router.secure import register_backend
from mcp_router.secure.backends.memory import MemoryBackend
from mcp_router.secure.registry import _registered

VALUE = "repair-secret-value-31337"


def _set(name: str, backend: str = "file") -> None:
    assert invoke("token", "set", "--name", name, "--stdin", input=VALUE,
                  backend=backend).exit_code == 0


def _repair(*args: str, backend: str = "file") -> tuple[int, list[str], str]:
    result = invoke("token", "repair", *args, backend=backend)
    return result.exit_code, result.stdout.splitlines(), result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _rows(config_dir: Path) -> set[str]:
    conn = sqlite3.connect(config_dir / "metadata.db")
    names = {row[0] for row in conn.execute("SELECT name FROM tokens WHERE backend = 'file'")}
    conn.close()
    return names


def _sql(config_dir: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(config_dir / "metadata.db")
    with conn:
        conn.execute(sql, params)
    conn.close()


@pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")
def test_loose_permissions_are_tightened(config_dir: Path) -> None:
    _set("t1")
    loose = {config_dir: 0o755, config_dir / "tokens.enc": 0o644,
             config_dir / "metadata.db": 0o664, config_dir / "audit.db": 0o644,
             config_dir / "store.lock": 0o666}
    for path, mode in loose.items():
        os.chmod(path, mode)
    code, out, _ = _repair("--all")
    assert code == 0
    for path, mode in loose.items():
        wanted = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == wanted
        assert f"fixed: permissions of {path}: {mode:04o} -> {wanted:04o}" in out
    assert stored_value("t1") == VALUE
    code, out, err = _repair("--all")
    assert code == 0 and out == [] and err.strip() == "nothing to repair"


@pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")
def test_a_symlink_in_the_config_dir_is_not_followed(tmp_path: Path) -> None:
    """Permission repair must not chmod a file outside the config directory through a
    link planted in it. (Through the CLI a planted link at the lock or token file already
    stops the command earlier: those are opened with O_NOFOLLOW.)"""
    from mcp_router.secure.repair import _fix_permissions

    outside = tmp_path / "outside"
    outside.write_text("")
    os.chmod(outside, 0o644)
    link = tmp_path / "audit.db"
    link.symlink_to(outside)
    fixes = _fix_permissions([(link, 0o600)])
    assert _mode(outside) == 0o644
    assert len(fixes) == 1 and "symbolic link" in fixes[0]


def test_missing_index_rows_are_added(config_dir: Path) -> None:
    _set("t1")
    _set("t2")
    invoke("token", "rotate", "--name", "t1", "--backup", "--value", "rotated-value")
    _sql(config_dir, "DELETE FROM tokens")
    code, out, _ = _repair("--name", "t1")
    assert code == 0
    assert out == ["fixed: added the missing metadata entry for 't1'",
                   "fixed: added the missing metadata entry for the previous value of 't1'"]
    assert _rows(config_dir) == {"t1", "t1..previous"}
    code, out, _ = _repair("--all")
    assert out == ["fixed: added the missing metadata entry for 't2'"]
    listed = json.loads(invoke("token", "list", "--json").stdout)
    assert [i["name"] for i in listed] == ["t1", "t2"]


def test_rows_for_vanished_tokens_are_removed(config_dir: Path) -> None:
    _set("t1")
    for ghost in ("ghost-a", "ghost-b"):
        _sql(config_dir, "INSERT INTO tokens (backend, name, created) VALUES ('file', ?, "
             "'2025-01-01T00:00:00+00:00')", ghost)
    code, out, _ = _repair("--name", "ghost-a")  # known only to the index: still repairable
    assert code == 0
    assert out == ["fixed: removed the metadata entry for 'ghost-a': it is not in the file "
                   "store"]
    code, out, _ = _repair("--all")
    assert out == ["fixed: removed the metadata entry for 'ghost-b': it is not in the file "
                   "store"]
    assert _rows(config_dir) == {"t1"}


def test_repair_of_an_unknown_token_and_usage_errors() -> None:
    code, _, err = _repair("--name", "nowhere")
    assert code == 3 and "no token named 'nowhere'" in err
    assert _repair()[0] == 2
    assert _repair("--name", "a", "--all")[0] == 2
    assert _repair("--name", "Bad Name")[0] == 4


def test_repair_is_audited() -> None:
    _set("t1")
    _repair("--name", "t1")
    _repair("--all")
    records = json.loads(invoke("token", "audit", "--json", "--action", "repair").stdout)
    assert [(r["name"], r["outcome"]) for r in records] == [(None, "ok"), ("t1", "ok")]


# -- the backend hook ----------------------------------------------------------------------
class LabelledBackend(MemoryBackend):
    """A store whose items carry a label, like the platform stores: the hook puts it back."""

    name = "labelled"

    def __init__(self) -> None:
        super().__init__()
        self.labels: dict[str, str] = {}

    def store(self, name: str, token: str) -> None:
        super().store(name, token)
        self.labels[name] = f"MCP Router: {name}"

    def repair(self, name: str) -> list[str]:
        wanted = f"MCP Router: {name}"
        if self.labels.get(name) == wanted:
            return []
        self.labels[name] = wanted
        return [f"{name}: label set to '{wanted}'"]


@pytest.fixture
def labelled() -> Iterator[LabelledBackend]:
    backend = LabelledBackend()
    register_backend("labelled", lambda settings: backend)
    yield backend
    _registered.pop("labelled", None)


def test_backend_repair_hook_is_called_per_item(labelled: LabelledBackend) -> None:
    _set("t1", backend="labelled")
    _set("t2", backend="labelled")
    labelled.labels["t1"] = "something else"
    labelled.labels["t2"] = "renamed by another tool"
    code, out, _ = _repair("--name", "t1", backend="labelled")
    assert code == 0 and out == ["fixed: t1: label set to 'MCP Router: t1'"]
    code, out, _ = _repair("--all", backend="labelled")
    assert code == 0 and out == ["fixed: t2: label set to 'MCP Router: t2'"]


def test_secret_service_labels_are_restored(secret_service: object) -> None:
    import secretstorage

    _set("ss-token", backend="secret-service")
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        (item,) = collection.search_items({"application": "mcp-router",
                                           "token_name": "ss-token"})
        item.set_label("renamed by another tool")
        code, out, _ = _repair("--name", "ss-token", backend="secret-service")
        assert code == 0 and any("MCP Router: ss-token" in line for line in out), out
        assert item.get_label() == "MCP Router: ss-token"
    finally:
        conn.close()
        invoke("token", "delete", "--name", "ss-token", "--yes", backend="secret-service")
