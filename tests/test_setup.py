"""``mcp-router setup`` end to end: the real prompts on a pty (pexpect), and the flags
scripts use without a terminal."""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path

import pytest

from clirun import PYTHON_CLI, invoke, stored_value
from mcp_router.config import BearerAuth, OAuth2Auth, load_config

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 60  # never a timed assertion: only a hung prompt reaches it


class Terminal:
    """``mcp-router --backend file setup ARGS`` on a pty; everything shown is recorded."""

    def __init__(self, *args: str) -> None:
        argv = [*PYTHON_CLI[1:], "--backend", "file", "setup", *args]
        self.screen = io.StringIO()
        self.child = pexpect.spawn(PYTHON_CLI[0], argv, env=dict(os.environ),
                                   encoding="utf-8", timeout=TIMEOUT, dimensions=(24, 200))
        self.child.logfile_read = self.screen

    def answer(self, prompt: str, reply: str) -> None:
        self.child.expect_exact(prompt)
        self.child.sendline(reply)

    def expect(self, text: str) -> None:
        self.child.expect_exact(text)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.signalstatus is None
        return int(self.child.exitstatus)

    @property
    def output(self) -> str:
        return self.screen.getvalue()


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")


@pytest.fixture
def target(isolated_env: Path) -> Path:
    return isolated_env / ".config" / "mcp" / "mcp-router.yaml"


def secret() -> str:
    return "setup-secret-" + uuid.uuid4().hex


def test_interactive_bearer_setup(target: Path) -> None:
    value = secret()
    term = Terminal()
    term.answer("Gateway URL (https://... or wss://...): ", "ftp://nope")
    term.expect("expected a URL starting with")  # asked again
    term.answer("Gateway URL (https://... or wss://...): ", "https://gw.example.com/mcp")
    term.answer("Authentication type (bearer, oauth2) [bearer]: ", "")
    term.answer("Name for the token in secure storage [gateway-token]: ", "Bad Name")
    term.expect("invalid token name")
    term.answer("Name for the token in secure storage [gateway-token]: ", "prod-token")
    term.answer("Gateway token: ", value)
    term.answer("Repeat for confirmation: ", value)
    assert term.finish() == 0, term.output
    assert "stored 'prod-token' in the file store" in term.output
    assert f"wrote {target}" in term.output
    assert "ok       gateway.auth.token_secure_key" in term.output  # config check ran
    assert "every reference resolves" in term.output
    assert value not in term.output  # the prompt never echoed it
    assert value not in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o600
    config = load_config(target)
    assert config.gateway.url == "https://gw.example.com/mcp"
    assert isinstance(config.gateway.auth, BearerAuth)
    assert config.gateway.auth.token.name == "prod-token"
    assert config.secure_storage.backend == "file"
    assert stored_value("prod-token") == value


def test_interactive_oauth2_setup(target: Path) -> None:
    value = secret()
    term = Terminal()
    term.answer("Gateway URL (https://... or wss://...): ", "wss://gw.example.com/ws")
    term.answer("Authentication type (bearer, oauth2) [bearer]: ", "oauth2")
    term.answer("OAuth2 client id: ", "router-client")
    term.answer("OAuth2 token endpoint: ", "https://auth.example.com/token")
    term.answer("Scopes, separated by spaces (empty for none): ", "mcp:read mcp:write")
    term.answer("Name for the client secret in secure storage [oauth-secret]: ", "")
    term.answer("OAuth2 client secret: ", value)
    term.answer("Repeat for confirmation: ", value)
    assert term.finish() == 0, term.output
    assert value not in term.output
    auth = load_config(target).gateway.auth
    assert isinstance(auth, OAuth2Auth)
    assert (auth.client_id, auth.token_endpoint, auth.scopes) == (
        "router-client", "https://auth.example.com/token", ("mcp:read", "mcp:write"))
    assert auth.client_secret is not None and auth.client_secret.name == "oauth-secret"
    assert stored_value("oauth-secret") == value


def test_interactive_replace_keeps_backup_and_reuses_token(target: Path) -> None:
    first = secret()
    result = invoke("setup", "--gateway-url", "https://old.example.com", "--secret-stdin",
                    input=first)
    assert result.exit_code == 0, result.output
    term = Terminal()
    term.answer("Replace it (the old file is kept as .bak)? [y/N]: ", "y")
    term.answer("Gateway URL (https://... or wss://...): ", "https://new.example.com")
    term.answer("Authentication type (bearer, oauth2) [bearer]: ", "")
    term.answer("Name for the token in secure storage [gateway-token]: ", "")
    term.answer("A token named 'gateway-token' is already stored. Use it as it is? [Y/n]: ",
                "")
    assert term.finish() == 0, term.output
    assert "using the token 'gateway-token' already in the file store" in term.output
    assert load_config(target).gateway.url == "https://new.example.com"
    backup = target.with_name(target.name + ".bak")
    assert "https://old.example.com" in backup.read_text()
    assert stored_value("gateway-token") == first


def test_interactive_decline_changes_nothing(target: Path) -> None:
    result = invoke("setup", "--gateway-url", "https://old.example.com", "--secret-stdin",
                    input=secret())
    assert result.exit_code == 0
    before = target.read_text()
    term = Terminal()
    term.answer("Replace it (the old file is kept as .bak)? [y/N]: ", "")
    assert term.finish() != 0
    assert target.read_text() == before


# -- scripts: flags, no terminal ------------------------------------------------------

def test_flags_without_a_terminal(target: Path, tmp_path: Path) -> None:
    value = secret()
    other = tmp_path / "elsewhere.yaml"
    result = invoke("setup", "--config", str(other), "--gateway-url",
                    "https://gw.example.com/mcp", "--token-name", "ci-token", "--secret-stdin",
                    input=value + "\n")
    assert result.exit_code == 0, result.output
    assert not target.exists()
    assert load_config(other).gateway.auth.token.name == "ci-token"
    assert stored_value("ci-token") == value  # one trailing newline removed
    assert value not in result.output


def test_oauth2_flags(target: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("client-secret-value\n")
    result = invoke("setup", "--gateway-url", "https://gw.example.com", "--auth", "oauth2",
                    "--client-id", "cid", "--token-endpoint", "https://a.example.com/t",
                    "--scope", "a", "--scope", "b", "--secret-file", str(secret_file))
    assert result.exit_code == 0, result.output
    auth = load_config(target).gateway.auth
    assert auth.scopes == ("a", "b") and auth.client_secret.name == "oauth-secret"
    assert stored_value("oauth-secret") == "client-secret-value"


def test_missing_answers_without_a_terminal_are_errors(target: Path) -> None:
    result = invoke("setup", "--secret-stdin", input="x")
    assert result.exit_code == 13
    assert "setup needs --gateway-url" in result.stderr
    result = invoke("setup", "--gateway-url", "https://gw.example.com")
    assert result.exit_code == 13
    assert "--secret-stdin or --secret-file" in result.stderr
    result = invoke("setup", "--gateway-url", "notaurl", "--secret-stdin", input="x")
    assert result.exit_code == 2 and "--gateway-url" in result.stderr
    assert not target.exists()


def test_existing_config_needs_force(target: Path) -> None:
    assert invoke("setup", "--gateway-url", "https://a.example.com", "--secret-stdin",
                  input="one").exit_code == 0
    result = invoke("setup", "--gateway-url", "https://b.example.com", "--secret-stdin",
                    input="two")
    assert result.exit_code == 5 and "--force" in result.stderr
    result = invoke("setup", "--force", "--gateway-url", "https://b.example.com",
                    "--secret-stdin", input="two")
    assert result.exit_code == 0, result.output
    assert stored_value("gateway-token") == "two"


def test_a_failed_write_keeps_the_previous_config(target: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("setup", "--gateway-url", "https://a.example.com", "--secret-stdin",
                  input="one").exit_code == 0
    before = target.read_bytes()
    real_replace = os.replace

    def disk_full(src: object, dst: object) -> None:
        if Path(str(dst)) == target:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", disk_full)
    result = invoke("setup", "--force", "--gateway-url", "https://b.example.com",
                    "--secret-stdin", input="two")
    assert result.exit_code == 11, result.output
    assert f"cannot write the config file {target}: No space left" in result.stderr
    assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_existing_token_without_force_is_refused(target: Path) -> None:
    assert invoke("token", "set", "--name", "gateway-token", "--stdin",
                  input="kept").exit_code == 0
    result = invoke("setup", "--gateway-url", "https://a.example.com", "--secret-stdin",
                    input="other")
    assert result.exit_code == 5
    assert stored_value("gateway-token") == "kept"
    # Without a value, the stored token is simply used.
    result = invoke("setup", "--gateway-url", "https://a.example.com")
    assert result.exit_code == 0, result.output
    assert "using the token 'gateway-token'" in result.stderr
