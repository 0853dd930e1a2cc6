"""``mcp-router config check`` through the CLI: validation, every reference resolved or
reported missing, plain-text warnings, exit codes; never a value in the output."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from clirun import invoke, run
from fixtures.helperscript import KVHelper

STORE = "advanced:\n  secure_storage:\n    backend: file\n"


def write(path: Path, text: str) -> Path:
    path.write_text("version: 1\n" + text)
    path.chmod(0o600)
    return path


def seed(name: str, value: str) -> None:
    result = invoke("token", "set", "--name", name, "--stdin", input=value)
    assert result.exit_code == 0, result.stderr


def check(path: Path, *extra: str):
    return invoke("config", "check", "--config", str(path), *extra, backend=None)


def test_all_references_resolve(tmp_path: Path) -> None:
    values = {n: f"{n}-{uuid.uuid4().hex}" for n in ("primary", "svc-a", "github-pat")}
    for name, value in values.items():
        seed(name, value)
    path = write(tmp_path / "r.yaml",
                 "gateway:\n  url: https://gw.example.com\n  auth:\n"
                 "    token_secure_key: primary\n"
                 "backends:\n  - name: a\n    url: https://a.example.com\n    auth:\n"
                 "      token_secure_key: svc-a\n"
                 "  - name: gh\n    command: [server]\n"
                 "    env_secure_keys: {GITHUB_TOKEN: github-pat}\n" + STORE)
    result = check(path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "store: file (configured explicitly)" in out
    assert "ok       gateway.auth.token_secure_key (line 5): token 'primary'" in out
    assert "ok       backends[0].auth.token_secure_key (line 10): token 'svc-a'" in out
    assert "ok       backends[1].env_secure_keys.GITHUB_TOKEN (line 13)" in out
    assert f"ok: {path} is valid and every reference resolves" in out
    for value in values.values():
        assert value not in result.output


def test_missing_token_is_reported_with_the_command_that_stores_it(tmp_path: Path) -> None:
    seed("present", "present-value-123")
    path = write(tmp_path / "r.yaml",
                 "gateway:\n  auth:\n    token_secure_key: present\n"
                 "backends:\n  - name: b\n    auth:\n      token_secure_key: absent\n" + STORE)
    result = check(path)
    assert result.exit_code == 3
    assert "ok       gateway.auth.token_secure_key (line 4)" in result.stdout
    assert "MISSING  backends[0].auth.token_secure_key (line 8): token 'absent'" in (
        result.stdout)
    assert "fix: store it with: mcp-router token set --name absent" in result.stdout
    assert "error: 1 of 2 references does not resolve" in result.stderr
    assert "present-value-123" not in result.output


def test_invalid_file_lists_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", "gateway:\n  auth:\n    token_secure_kye: x\n"
                 "logging:\n  level: loud\n")
    result = check(path)
    assert result.exit_code == 11
    assert (f"error: {path}:4: gateway.auth.token_secure_kye: unknown key 'token_secure_kye';"
            " did you mean 'token_secure_key'?") in result.stdout
    assert f"error: {path}:6: logging.level: expected one of" in result.stdout
    assert "2 problem(s)" in result.stderr


def test_plain_text_secrets_are_warned_about_but_never_shown(tmp_path: Path) -> None:
    plain = "plain-" + uuid.uuid4().hex
    path = write(tmp_path / "r.yaml", f"gateway:\n  auth:\n    token: \"{plain}\"\n"
                 "backends:\n  - name: s\n    command: [srv]\n"
                 f"    env: {{API_TOKEN: \"{plain}\"}}\n")
    path.chmod(0o644)
    result = check(path)
    assert result.exit_code == 0, result.output
    assert f"warning: {path}:4: gateway.auth.token: the token is stored in plain text" in (
        result.stdout)
    assert f"warning: {path}:8: backends[0].env.API_TOKEN: looks like a secret" in (
        result.stdout)
    assert f"other users can read it (chmod 600 {path})" in result.stdout
    assert "backend 's': the command 'srv' is not found" in result.stdout
    assert "ok       gateway.auth.token (line 4): plain-text value of gateway.auth.token" in (
        result.stdout)
    assert plain not in result.output


def test_env_and_file_sources(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-value\n")
    token_file.chmod(0o644)
    path = write(tmp_path / "r.yaml", f"gateway:\n  auth:\n    token_file: {token_file}\n"
                 "backends:\n  - name: b\n    auth:\n      token_env: SVC_TOKEN\n")
    result = check(path)
    assert result.exit_code == 11  # the variable is not set: a config problem
    assert "ok       gateway.auth.token_file (line 4): file" in result.stdout
    assert "MISSING  backends[0].auth.token_env (line 8): environment variable SVC_TOKEN" in (
        result.stdout)
    assert "can be read by other users" in result.stdout
    result = invoke("config", "check", "--config", str(path), backend=None,
                    env={"SVC_TOKEN": "env-value"})
    assert result.exit_code == 0, result.output
    assert "env-value" not in result.output and "file-value" not in result.output


def test_through_the_custom_backend(tmp_path: Path, kv_helper: KVHelper) -> None:
    (kv_helper.data / "prod-token").write_text("vault-value\n")
    storage = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in kv_helper.options().items())
    path = write(tmp_path / "r.yaml", "gateway:\n  auth:\n    token_secure_key: prod-token\n"
                 "    token_env: OLD_TOKEN\n"
                 "advanced:\n  secure_storage:\n    backend: custom\n" + storage)
    result = check(path)
    assert result.exit_code == 0, result.output
    assert "store: custom (configured explicitly)" in result.stdout
    assert "ignored: token_secure_key takes precedence" in result.stdout
    assert "vault-value" not in result.output


def test_found_by_discovery_and_as_a_real_process(isolated_env: Path) -> None:
    seed("gateway-token", "v")
    path = isolated_env / ".config" / "claude-cli" / "mcp-router.yaml"
    path.parent.mkdir(parents=True)
    write(path, "gateway:\n  auth:\n    token_secure_key: gateway-token\n" + STORE)
    result = run(["config", "check"], backend=None)
    assert result.returncode == 0, result.stderr
    assert f"config: {path}" in result.stdout.decode()
    write(path, "gateway:\n  auth:\n    token_secure_key: not-there\n" + STORE)
    result = run(["config", "check"], backend=None)
    assert result.returncode == 3
    assert result.stderr.decode().count("\n") == 1  # one error line, no traceback


def test_no_config_anywhere() -> None:
    result = invoke("config", "check", backend=None)
    assert result.exit_code == 11
    assert "no config file found" in result.stderr and "mcp-router setup" in result.stderr
    result = invoke("config", "check", "--config", "/nonexistent/r.yaml", backend=None)
    assert result.exit_code == 11 and "does not exist" in result.stderr


@pytest.mark.parametrize("text", ["gateway: {}\n", "logging: {}\n"])
def test_no_references(tmp_path: Path, text: str) -> None:
    result = check(write(tmp_path / "r.yaml", text))
    assert result.exit_code == 0, result.output
    assert "references: none" in result.stdout


def test_storage_only_config_warns_when_the_store_is_unusable(tmp_path: Path) -> None:
    """The spec's custom example as is: valid, no references, but no helper here."""
    path = write(tmp_path / "r.yaml", "advanced:\n  secure_storage:\n    backend: custom\n"
                 "    custom_command: /usr/local/bin/vault-helper\n"
                 "    custom_args: [get, \"secret/mcp/{name}\"]\n")
    result = check(path)
    assert result.exit_code == 0, result.output
    assert ("warning: the custom store is not usable here: the custom helper "
            "/usr/local/bin/vault-helper does not exist") in result.stdout
    assert "references: none" in result.stdout
