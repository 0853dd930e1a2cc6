"""SecretResolver: every credential source, precedence, and the errors of each."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from mcp_router.config import CredentialRef, Origin, SecretResolver, parse_config
from mcp_router.errors import ConfigError, TokenNotFoundError
from mcp_router.secret import Secret
from mcp_router.secure import StoreSettings, open_store


def bearer(tmp_path: Path, *lines: str) -> tuple[Any, Any]:
    text = "version: 1\ngateway:\n  auth:\n" + "".join(f"    {line}\n" for line in lines)
    config = parse_config(text, str(tmp_path / "r.yaml"))
    return config.gateway.auth.token, config


def test_secure_key_reads_the_store_every_time(tmp_path: Path,
                                               file_settings: StoreSettings) -> None:
    store = open_store(file_settings)
    store.store("gateway-token", "first")
    ref, _ = bearer(tmp_path, "token_secure_key: gateway-token")
    with SecretResolver(file_settings) as resolver:
        secret = resolver.resolve(ref)
        assert isinstance(secret, Secret) and secret.reveal() == "first"
        store.update("gateway-token", "rotated")  # e.g. by `token rotate` meanwhile
        assert resolver.resolve(ref).reveal() == "rotated"
    store.close()


def test_missing_token_names_token_reference_and_command(tmp_path: Path,
                                                         file_settings: StoreSettings) -> None:
    ref, _ = bearer(tmp_path, "token_secure_key: prod-token")
    with SecretResolver(file_settings) as resolver, pytest.raises(TokenNotFoundError) as info:
        resolver.resolve(ref)
    message = str(info.value)
    assert "no token named 'prod-token'" in message
    assert f"gateway.auth.token_secure_key at {tmp_path / 'r.yaml'}:4" in message
    assert "mcp-router token set --name prod-token" in message
    assert info.value.exit_code == 3


def test_env_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref, _ = bearer(tmp_path, "token_env: MCP_AUTH_TOKEN")
    resolver = SecretResolver(StoreSettings(backend="no-such-backend"))  # never opened
    with pytest.raises(ConfigError, match=r"MCP_AUTH_TOKEN .* is not set") as info:
        resolver.resolve(ref)
    assert "migrate-env --env MCP_AUTH_TOKEN=" in (info.value.hint or "")
    monkeypatch.setenv("MCP_AUTH_TOKEN", "")
    with pytest.raises(ConfigError, match="is empty"):
        resolver.resolve(ref)
    monkeypatch.setenv("MCP_AUTH_TOKEN", "from-env")
    assert resolver.resolve(ref).reveal() == "from-env"
    assert SecretResolver(environ={"MCP_AUTH_TOKEN": "given"}).resolve(ref).reveal() == "given"


def test_file_source_relative_to_the_config(tmp_path: Path) -> None:
    ref, _ = bearer(tmp_path, "token_file: secrets/token.txt")
    assert ref.name == str(tmp_path / "secrets" / "token.txt")
    resolver = SecretResolver()
    with pytest.raises(ConfigError, match="cannot read the token file"):
        resolver.resolve(ref)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token.txt").write_bytes(b"from-file\r\n")
    assert resolver.resolve(ref).reveal() == "from-file"  # one line ending removed
    (tmp_path / "secrets" / "token.txt").write_bytes(b"\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolver.resolve(ref)
    (tmp_path / "secrets" / "token.txt").write_bytes(b"\xff")
    with pytest.raises(ConfigError, match="not UTF-8"):
        resolver.resolve(ref)


def test_plain_source_is_warned_about_and_hidden(tmp_path: Path) -> None:
    value = "plain-" + uuid.uuid4().hex
    ref, config = bearer(tmp_path, f"token: {value}")
    assert ref.source == "plain" and value not in repr(ref) and value not in repr(config)
    assert SecretResolver().resolve(ref).reveal() == value
    assert any("plain text" in w.message for w in config.warnings)


@pytest.mark.parametrize("lines, source", [
    (["token: p", "token_file: f", "token_env: E", "token_secure_key: k"], "secure_key"),
    (["token: p", "token_file: f", "token_env: E"], "env"),
    (["token: p", "token_file: f"], "file"),
])
def test_precedence(tmp_path: Path, lines: list[str], source: str) -> None:
    ref, config = bearer(tmp_path, *lines)
    assert ref.source == source
    ignored = [w for w in config.warnings if w.message.startswith("ignored")]
    assert len(ignored) == len(lines) - 1


def test_default_store_reference(file_settings: StoreSettings, config_dir: Path) -> None:
    """The PKCS#11 PIN is looked up in the platform default store, not the HSM."""
    default = open_store(StoreSettings(backend="auto", config_dir=config_dir))
    default.store("hsm-pin", "1234")
    default.close()
    ref = CredentialRef("secure_key", "hsm-pin", Origin("f", 1, "k"), store="default")
    settings = StoreSettings(backend="pkcs11", config_dir=config_dir,
                             options={"pkcs11_module": "/nonexistent.so"})
    with SecretResolver(settings) as resolver:
        assert resolver.resolve(ref).reveal() == "1234"


def test_stdio_env_secure_keys(tmp_path: Path, file_settings: StoreSettings) -> None:
    store = open_store(file_settings)
    store.store("github-pat", "ghp-value")
    store.close()
    config = parse_config("version: 1\nbackends:\n  - name: gh\n    command: [server]\n"
                          "    env_secure_keys: {GITHUB_TOKEN: github-pat}\n", "r.yaml")
    with SecretResolver(file_settings) as resolver:
        env = resolver.resolve_env(config.backend("gh"))
    assert {k: v.reveal() for k, v in env.items()} == {"GITHUB_TOKEN": "ghp-value"}
