"""``mcp-router token migrate-env`` through the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from clirun import invoke, run, stored_value
from fixtures.helperscript import KVHelper


def value() -> str:
    return "env-secret-" + uuid.uuid4().hex


def test_migrates_each_variable_and_says_how_to_remove_them() -> None:
    auth, oauth = value(), value()
    result = invoke("token", "migrate-env", "--env", "MCP_AUTH_TOKEN=gateway-token",
                    "--env", "MCP_OAUTH_SECRET=oauth-secret",
                    env={"MCP_AUTH_TOKEN": auth, "MCP_OAUTH_SECRET": oauth})
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert ("migrated  $MCP_AUTH_TOKEN -> 'gateway-token' in the file store "
            "(read back and verified)") in err
    assert "migrated  $MCP_OAUTH_SECRET -> 'oauth-secret'" in err
    assert "unset MCP_AUTH_TOKEN MCP_OAUTH_SECRET" in err
    assert 'token_secure_key: "gateway-token"' in err
    assert stored_value("gateway-token") == auth
    assert stored_value("oauth-secret") == oauth
    assert auth not in result.output and oauth not in result.output


def test_a_bad_entry_fails_alone_and_the_exit_is_non_zero() -> None:
    good = value()
    result = invoke("token", "migrate-env", "--env", "UNSET_VAR=one", "--env", "EMPTY=two",
                    "--env", "GOOD=three", "--env", "no-equals-sign", "--env", "X=Bad Name",
                    env={"EMPTY": "", "GOOD": good, "UNSET_VAR": None})
    assert result.exit_code == 4
    err = result.stderr
    assert "failed    $UNSET_VAR: environment variable UNSET_VAR is not set" in err
    assert "failed    $EMPTY: environment variable EMPTY is empty" in err
    assert "failed    no-equals-sign: 'no-equals-sign' is not VAR=NAME" in err
    assert "failed    X: invalid token name" in err
    assert "migrated  $GOOD -> 'three'" in err
    assert "error: 4 of 5 entries were not migrated" in err
    assert "unset GOOD\n" in err
    assert stored_value("three") == good
    assert invoke("token", "get", "--name", "one").exit_code == 3


def test_rerun_is_harmless_and_a_different_value_needs_force() -> None:
    first, second = value(), value()
    args = ("token", "migrate-env", "--env", "TOKEN_VAR=t1")
    assert invoke(*args, env={"TOKEN_VAR": first}).exit_code == 0
    again = invoke(*args, env={"TOKEN_VAR": first})
    assert again.exit_code == 0 and "unchanged $TOKEN_VAR -> 't1'" in again.stderr
    refused = invoke(*args, env={"TOKEN_VAR": second})
    assert refused.exit_code == 5 and "already exists" in refused.stderr
    assert stored_value("t1") == first
    forced = invoke(*args, "--force", env={"TOKEN_VAR": second})
    assert forced.exit_code == 0 and "replaced  $TOKEN_VAR" in forced.stderr
    assert stored_value("t1") == second


def test_values_never_reach_a_helper_process(tmp_path: Path, kv_helper: KVHelper) -> None:
    """With the custom backend the value goes to the helper on stdin only: not in its
    argv and not in its inherited environment (the variable is dropped first)."""
    secret = value()
    config = tmp_path / "r.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n" + "".join(
        f"    {k}: {json.dumps(v)}\n" for k, v in kv_helper.options().items()))
    result = run(["--config", str(config), "token", "migrate-env", "--env",
                  "MCP_AUTH_TOKEN=gateway-token"], env={"MCP_AUTH_TOKEN": secret},
                 backend=None)
    assert result.returncode == 0, result.stderr
    assert b"read back and verified" in result.stderr
    assert (kv_helper.data / "gateway-token").read_text() == secret + "\n"
    assert kv_helper.invocations()
    assert secret not in kv_helper.record.read_text()
    assert secret.encode() not in result.stdout + result.stderr
