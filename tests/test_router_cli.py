"""``mcp-router run`` usage errors: one line naming the fix, the documented exit code."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mcp_router.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *args])
    return result.exit_code, result.output


def test_no_gateway_url(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\n")
    code, out = run("--config", str(config))
    assert code == 11
    assert "no gateway url" in out and "--backend NAME" in out


def test_unknown_backend(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nbackends:\n  - name: a\n    url: http://127.0.0.1:9/mcp\n")
    code, out = run("--config", str(config), "--backend", "b")
    assert code == 11
    assert "no backend named 'b'" in out and "configured backends: a" in out


def test_missing_config_file(tmp_path: Path) -> None:
    code, out = run("--config", str(tmp_path / "absent.yaml"))
    assert code == 11 and "does not exist" in out
    assert "Traceback" not in out
