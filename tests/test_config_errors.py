"""Validation: every error names the file, line and key, says what was expected, and
never quotes a value. Discovery order of the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_router.config import check_config, find_config, load_config, parse_config
from mcp_router.errors import ConfigError


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "router.yaml"
    path.write_text(text)
    report = check_config(path)
    assert report.config is None, "expected the file to be refused"
    return [str(p).replace(str(path), "F") for p in report.problems]


def one_problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def test_typo_is_reported_with_did_you_mean(tmp_path: Path) -> None:
    text = ("version: 1\ngateway:\n  auth:\n    type: bearer\n"
            "    token_secure_kye: \"prod-token\"\n")
    assert one_problem(tmp_path, text) == (
        "F:5: gateway.auth.token_secure_kye: unknown key 'token_secure_kye'; "
        "did you mean 'token_secure_key'?")


def test_load_config_raises_the_first_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text("version: 1\nlogging:\n  levle: info\n  format: xml\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:3: logging.levle: unknown key")
    assert "(and 1 more problem)" in str(info.value)
    assert "config check" in (info.value.hint or "")
    assert info.value.exit_code == 11


@pytest.mark.parametrize("text, expected", [
    ("gateway: {}\n", "F:1: version: required key is missing (e.g. version: 1"),
    ("version: 2\n", "F:1: version: expected 1"),
    ("version: \"1\"\n", "F:1: version: expected a whole number, got a string"),
    ("version: 1\ngateway: [a]\n", "F:2: gateway: expected a mapping of keys, got a list"),
    ("version: 1\ngateway:\n  url: ftp://example.com\n",
     "F:3: gateway.url: expected a URL starting with https:// or http:// or wss:// or ws://"),
    ("version: 1\ngateway:\n  auth:\n    type: basic\n    token_secure_key: t\n",
     "F:4: gateway.auth.type: expected one of bearer, oauth2"),
    ("version: 1\ngateway:\n  auth:\n    type: bearer\n",
     "F:3: gateway.auth.token_secure_key: required key is missing"),
    ("version: 1\ngateway:\n  auth:\n    token_secure_key: 42\n",
     "F:4: gateway.auth.token_secure_key: expected a string, got an integer (quote it)"),
    ("version: 1\ngateway:\n  auth:\n    token_env: \"not a var\"\n",
     "F:4: gateway.auth.token_env: expected an environment variable name"),
    ("version: 1\ngateway:\n  auth:\n    type: oauth2\n    client_id: c\n",
     "F:3: gateway.auth.token_endpoint: required key is missing"),
    ("version: 1\ngateway:\n  auth:\n    type: oauth2\n    client_id: c\n"
     "    token_endpoint: https://a.example/t\n    grant_type: password\n"
     "    username: u\n",
     "F:3: gateway.auth.password_secure_key: required key is missing"),
    ("version: 1\ngateway:\n  auth:\n    type: oauth2\n    client_id: c\n"
     "    token_endpoint: https://a.example/t\n    token_secure_key: x\n",
     "F:7: gateway.auth.token_secure_key: unknown key 'token_secure_key' here "
     "(it belongs to type: bearer)"),
    ("version: 1\ngateway:\n  auth:\n    type: oauth2\n    client_id: c\n"
     "    token_endpoint: https://a.example/t\n    token_endpoint_auth_method: post\n",
     "F:7: gateway.auth.token_endpoint_auth_method: expected one of client_secret_basic, "
     "client_secret_post"),
    ("version: 1\ngateway:\n  connection:\n    reconnect:\n      max_delay: -1\n",
     "F:5: gateway.connection.reconnect.max_delay: expected a number greater than 0"),
    ("version: 1\ngateway:\n  tls:\n    verify: \"yes\"\n",
     "F:4: gateway.tls.verify: expected true or false, got a string"),
    ("version: 1\nbackends:\n  - name: a\n    url: https://a.example\n  - name: a\n"
     "    url: https://b.example\n",
     "F:5: backends[1].name: duplicate backend name (first used on line 3)"),
    ("version: 1\nbackends:\n  - url: https://a.example\n",
     "F:3: backends[0].name: required key is missing"),
    ("version: 1\nbackends:\n  - name: a\n    command: npx server\n",
     "F:4: backends[0].command: expected a list of strings, got a string"),
    ("version: 1\nbackends:\n  - name: a\n    command: [npx]\n    auth:\n"
     "      token_secure_key: t\n",
     "F:5: backends[0].auth: unknown key 'auth' here (it belongs to a remote backend"),
    ("version: 1\nbackends:\n  - name: a\n    command: [npx]\n    env_secure_keys:\n"
     "      GITHUB_TOKEN: GitHub\n",
     "F:6: backends[0].env_secure_keys.GITHUB_TOKEN: expected a token name"),
    ("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n"
     "    custom_command: /bin/helper\n    custom_args: [get, secret]\n",
     "F:6: advanced.secure_storage.custom_args: expected the placeholder {name}"),
    ("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n",
     "F:3: advanced.secure_storage.custom_command: required key is missing"),
    ("version: 1\nadvanced:\n  secure_storage:\n    backend: custom\n"
     "    custom_command: h\n    custom_args: [get, \"{name}\"]\n"
     "    custom_store_args: [put, \"{name}\"]\n",
     "F:7: advanced.secure_storage.custom_store_args: a writable helper also needs "
     "custom_list_args or custom_not_found_exit_code"),
    ("version: 1\nadvanced:\n  secure_storage:\n    backend: secret-servce\n",
     "F:4: advanced.secure_storage.backend: unknown storage backend; did you mean "
     "'secret-service'?"),
    ("version: 1\nadvanced:\n  secure_storage:\n    pkcs11_slot: -1\n    backend: pkcs11\n",
     "F:4: advanced.secure_storage.pkcs11_slot: expected a whole number of at least 0"),
    ("version: 1\nlogging:\n  format: xml\n",
     "F:3: logging.format: expected one of text, json"),
    ("version: 1\nversion: 1\n", "F:2: version: duplicate key (first given on line 1)"),
    ("version: 1\n? [a]\n: b\n", "F:2: (top level): keys must be plain names, got a list"),
    ("", "F:1: (top level): the file is empty; it needs at least 'version: 1'"),
    ("- a\n", "F:1: (top level): expected a mapping of keys, got a list"),
])
def test_each_error_names_line_key_and_expectation(tmp_path: Path, text: str,
                                                   expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = ("version: 1\ngateway:\n  urll: https://x.example\n  auth:\n"
            "    tokn_secure_key: a\nlogging:\n  level: loud\nextra: 1\n")
    found = problems(tmp_path, text)
    assert [p.split(":")[1] for p in found] == ["3", "5", "7", "8"]


def test_yaml_syntax_error_names_the_line_but_quotes_nothing(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdef"
    text = f"version: 1\ngateway:\n  auth:\n    token: \"{secret}\n    type: [bearer\n"
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith("F:")
    assert "invalid YAML" in found[0] and secret not in found[0]


def test_no_message_quotes_a_value(tmp_path: Path) -> None:
    """A token pasted into the wrong key must not be echoed back."""
    secret = "Sk_Live_0123456789ABCDEF"
    text = (f"version: 1\ngateway:\n  url: \"{secret}\"\n  auth:\n"
            f"    token_secure_key: \"{secret}\"\n    token_env: \"{secret}-x\"\n"
            f"logging:\n  level: \"{secret}\"\n")
    found = problems(tmp_path, text)
    assert len(found) == 4
    assert not any(secret in p for p in found), found


def test_warnings_for_plain_text_and_ignored_sources(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\ngateway:\n  url: http://gw.example.com/mcp\n  auth:\n"
                    "    token_secure_key: t\n    token: plain-secret-value\n"
                    "backends:\n  - name: local\n    command: [server]\n"
                    "    env: {API_KEY: abc, LOG_LEVEL: debug}\n"
                    "  - name: other\n    url: https://user:pw@o.example\n")
    config = load_config(path)
    warnings = [str(w).replace(str(path), "F") for w in config.warnings]
    assert any(w.startswith("F:6: gateway.auth.token: the token is stored in plain text")
               for w in warnings)
    assert "F:6: gateway.auth.token: ignored: token_secure_key takes precedence" in warnings
    assert any(w.startswith("F:3: gateway.url: credentials would be sent unencrypted")
               for w in warnings)
    assert any(w.startswith("F:10: backends[0].env.API_KEY: looks like a secret")
               for w in warnings)
    assert not any("LOG_LEVEL" in w for w in warnings)
    assert any(w.startswith("F:12: backends[1].url: the URL contains a password")
               for w in warnings)
    assert not any("plain-secret-value" in w or ":pw@" in w for w in warnings)
    assert "plain-secret-value" not in repr(config)


def test_values_typed_and_defaulted(tmp_path: Path) -> None:
    config = parse_config(
        "version: 1\ngateway:\n  url: wss://gw.example.com/ws\n  auth:\n"
        "    type: oauth2\n    client_id: cid\n    token_endpoint: https://a.example/t\n"
        "    scopes: read write\n    grant_type: password\n    username: u\n"
        "    password_secure_key: pw\n    token_endpoint_auth_method: client_secret_post\n"
        "  tls:\n    ca_file: certs/ca.pem\n  connection:\n    timeout: 5\n"
        "    reconnect: {initial_delay: 0.5, max_attempts: 3}\n"
        "logging: {level: debug, format: json}\n", str(tmp_path / "r.yaml"))
    gateway = config.gateway
    assert gateway.auth.scopes == ("read", "write")
    assert gateway.auth.password.name == "pw"
    assert gateway.tls.ca_file == tmp_path / "certs" / "ca.pem"  # relative to the file
    assert gateway.connection.timeout == 5.0
    assert gateway.connection.reconnect.initial_delay == 0.5
    assert gateway.connection.reconnect.max_attempts == 3
    assert gateway.connection.reconnect.max_delay == 30.0
    assert (config.logging.level, config.logging.format) == ("debug", "json")


def test_stdio_backend(tmp_path: Path) -> None:
    config = parse_config(
        "version: 1\nbackends:\n  - name: github\n    command: [npx, -y, server-github]\n"
        "    env: {LOG_LEVEL: debug}\n    env_secure_keys:\n"
        "      GITHUB_PERSONAL_ACCESS_TOKEN: github-pat\n", "r.yaml")
    backend = config.backend("github")
    assert backend.kind == "stdio"
    assert backend.command == ("npx", "-y", "server-github")
    assert backend.env == {"LOG_LEVEL": "debug"}
    ref = backend.env_secure_keys["GITHUB_PERSONAL_ACCESS_TOKEN"]
    assert (ref.source, ref.name, ref.origin.line) == ("secure_key", "github-pat", 7)
    with pytest.raises(ConfigError, match="no backend named 'nope'"):
        config.backend("nope")


# -- discovery ----------------------------------------------------------------------

def test_discovery_order(isolated_env: Path, tmp_path: Path) -> None:
    claude = isolated_env / ".config" / "claude-cli" / "mcp-router.yaml"
    generic = isolated_env / ".config" / "mcp" / "mcp-router.yaml"
    explicit = tmp_path / "explicit.yaml"
    for path in (claude, generic, explicit):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("version: 1\n")
    assert find_config(explicit) == explicit
    assert find_config() == claude
    claude.unlink()
    assert find_config() == generic
    generic.unlink()
    system = Path("/etc/mcp/mcp-router.yaml")
    assert find_config() == (system if system.is_file() else None)


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        find_config(tmp_path / "missing.yaml")
    assert "mcp-router setup" in (info.value.hint or "")


def test_no_file_means_defaults() -> None:
    config = load_config(None)
    assert config.secure_storage.backend == "auto" and config.gateway is None


def test_anchors_merge_keys_and_extension_keys(tmp_path: Path) -> None:
    config = parse_config(
        "version: 1\nx-common: &common\n  url: https://shared.example.com/mcp\n"
        "  auth: {token_secure_key: shared-token}\n"
        "backends:\n  - <<: *common\n    name: a\n  - <<: *common\n    name: b\n"
        "    url: https://b.example.com/mcp\n", "r.yaml")
    assert [(b.name, b.url) for b in config.backends] == [
        ("a", "https://shared.example.com/mcp"), ("b", "https://b.example.com/mcp")]
    assert [r.name for r in config.credential_refs()] == ["shared-token", "shared-token"]


def test_plugin_options_that_look_secret_are_warned_about() -> None:
    config = parse_config("version: 1\nadvanced:\n  secure_storage:\n"
                          "    options: {api_token: abc, audit_max_days: 3}\n", "r.yaml")
    assert [str(w) for w in config.warnings] == [
        "r.yaml:4: advanced.secure_storage.options.api_token: looks like a secret in plain "
        "text; keep secrets in a store"]
    assert config.secure_storage.options == {"api_token": "abc", "audit_max_days": 3}
