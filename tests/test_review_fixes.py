"""Small structural rules found in review: one definition per constant, a lean public API,
and a light start-up for the everyday commands."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mcp_router"


def test_the_passphrase_variable_is_defined_once() -> None:
    definition = re.compile(r"^\s*PASSPHRASE_ENV\s*(:[^=]*)?=", re.MULTILINE)
    where = [path.relative_to(SRC).as_posix() for path in sorted(SRC.rglob("*.py"))
             if definition.search(path.read_text(encoding="utf-8"))]
    assert where == ["secure/backends/encfile.py"]


def test_the_benchmark_filler_is_not_public_api() -> None:
    from mcp_router.secure import audit, auditlog

    assert "bench_fill" not in audit.__all__ and "bench_fill" not in auditlog.__all__
    assert not hasattr(audit, "bench_fill")
    assert callable(auditlog.bench_fill)  # scripts/bench_env.py still finds it


def test_the_benchmark_fills_the_audit_log(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(SRC.parents[1] / "scripts"))
    try:
        import bench_env
    finally:
        sys.path.pop(0)
    from mcp_router.secure.auditlog import AuditLog

    env = bench_env.BenchEnv(tmp_path, "file")
    assert env.populate_audit(20)
    log = AuditLog(env.config_dir / "audit.db")
    assert log.verify().ok
    log.close()


def test_token_get_does_not_import_the_lifecycle_commands() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mcp_router", "--backend", "file",
         "token", "get", "--name", "x", "--export", "--yes"],
        capture_output=True, text=True, timeout=60, check=False)
    assert "no token named 'x'" in done.stderr  # the command ran
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "mcp_router.cli.main" in imported  # the measurement works
    assert "mcp_router.cli.lifecycle" not in imported


def test_rotate_of_a_token_removed_behind_our_back_fails_before_asking(config_dir: Path
                                                                       ) -> None:
    """The index still has a row for a token another tool took away: rotate says 'not
    found' before asking for the new value (asking, with no terminal, would be exit 13)."""
    from clirun import invoke
    from mcp_router.secure.backends.encfile import FileBackend

    assert invoke("token", "set", "--name", "ghost", "--stdin", input="value").exit_code == 0
    FileBackend(config_dir / "tokens.enc").delete("ghost")  # the bare backend: no index
    result = invoke("token", "rotate", "--name", "ghost")
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith("error: ") and "ghost" in result.stderr
