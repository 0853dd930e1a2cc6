"""Every config example of the spec (docs: spec/secure-storage.md) loads and resolves.

The spec shows fragments; each is used verbatim below ``version: 1``, which the config
format requires. Tokens are stored first through the public store API, then every
reference the example makes is resolved through :class:`SecretResolver`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fixtures.helperscript import KVHelper
from mcp_router.config import (
    BearerAuth,
    OAuth2Auth,
    RemoteBackend,
    SecretResolver,
    check_references,
    load_config,
    store_settings_for,
)
from mcp_router.secure import StoreSettings, open_store

BASIC = """\
gateway:
  auth:
    type: bearer
    token_secure_key: "prod-token"
"""

QUICK_START = """\
gateway:
  auth:
    type: bearer
    token_secure_key: "gateway-token"  # References the stored token
"""

OAUTH2 = """\
gateway:
  auth:
    type: oauth2
    client_id: "your-client-id"
    client_secret_secure_key: "oauth-secret"
    token_endpoint: "https://auth.example.com/token"
"""

MULTIPLE = """\
gateway:
  auth:
    type: bearer
    token_secure_key: "primary-token"

backends:
  - name: "service-a"
    auth:
      token_secure_key: "service-a-token"
  - name: "service-b"
    auth:
      token_secure_key: "service-b-token"
"""

CUSTOM = """\
advanced:
  secure_storage:
    backend: "custom"
    custom_command: "/usr/local/bin/vault-helper"
    custom_args: ["get", "secret/mcp/{name}"]
"""

HSM = """\
advanced:
  secure_storage:
    backend: "pkcs11"
    pkcs11_module: "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_slot: 0
    pkcs11_pin_secure_key: "hsm-pin"
"""

BEST_PRACTICE = """\
gateway:
  auth:
    token_secure_key: "prod-gateway-bearer-2024"
"""


def write(tmp_path: Path, body: str, extra: str = "") -> Path:
    path = tmp_path / "mcp-router.yaml"
    path.write_text("version: 1\n" + body + extra)
    return path


def seed(settings: StoreSettings, names: list[str]) -> dict[str, str]:
    values = {name: f"value-of-{name}-{uuid.uuid4().hex[:8]}" for name in names}
    store = open_store(settings)
    for name, value in values.items():
        store.store(name, value)
    store.close()
    return values


def resolve_all(path: Path, settings: StoreSettings) -> dict[str, str]:
    config = load_config(path)
    with SecretResolver(settings) as resolver:
        statuses = check_references(config, resolver)
        assert all(s.ok for s in statuses), [str(s.error) for s in statuses]
        return {ref.name: resolver.resolve(ref).reveal() for ref in config.credential_refs()}


@pytest.mark.parametrize("body, names", [
    (BASIC, ["prod-token"]),
    (QUICK_START, ["gateway-token"]),
    (BEST_PRACTICE, ["prod-gateway-bearer-2024"]),
    (MULTIPLE, ["primary-token", "service-a-token", "service-b-token"]),
], ids=["basic", "quick-start", "best-practice", "multiple-tokens"])
def test_bearer_examples_resolve(tmp_path: Path, file_settings: StoreSettings, body: str,
                                 names: list[str]) -> None:
    values = seed(file_settings, names)
    path = write(tmp_path, body)
    assert resolve_all(path, file_settings) == values
    config = load_config(path)
    assert isinstance(config.gateway.auth, BearerAuth)
    assert config.gateway.auth.token.origin.file == str(path)


def test_multiple_tokens_shape(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MULTIPLE))
    assert [b.name for b in config.backends] == ["service-a", "service-b"]
    service_a = config.backend("service-a")
    assert isinstance(service_a, RemoteBackend)
    assert isinstance(service_a.auth, BearerAuth)
    assert service_a.auth.token.name == "service-a-token"
    assert service_a.auth.token.origin.line == 10


def test_oauth2_example_resolves(tmp_path: Path, file_settings: StoreSettings) -> None:
    values = seed(file_settings, ["oauth-secret"])
    path = write(tmp_path, OAUTH2)
    assert resolve_all(path, file_settings) == values
    auth = load_config(path).gateway.auth
    assert isinstance(auth, OAuth2Auth)
    assert (auth.client_id, auth.token_endpoint, auth.grant_type) == (
        "your-client-id", "https://auth.example.com/token", "client_credentials")
    assert auth.token_endpoint_auth_method == "client_secret_basic"


def test_custom_storage_example_resolves_through_the_helper(tmp_path: Path,
                                                            kv_helper: KVHelper) -> None:
    """The spec's block with custom_command pointing at a real helper script."""
    body = CUSTOM.replace("/usr/local/bin/vault-helper", str(kv_helper.path)) + BASIC
    (kv_helper.data / "prod-token").write_text("from-the-vault\n")
    config = load_config(write(tmp_path, body))
    settings = store_settings_for(config)
    assert settings.backend == "custom"
    assert settings.options["custom_args"] == ["get", "secret/mcp/{name}"]
    assert resolve_all(write(tmp_path, body), settings) == {"prod-token": "from-the-vault"}
    assert kv_helper.invocations()[0]["argv"][1:] == ["get", "secret/mcp/prod-token"]


def test_custom_storage_example_verbatim_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CUSTOM))
    storage = config.secure_storage
    assert storage.custom_command == "/usr/local/bin/vault-helper"
    assert storage.custom_args == ("get", "secret/mcp/{name}")
    assert storage.custom_store_args is None
    assert config.warnings == ()


def test_hsm_example_validates_and_its_pin_resolves_in_the_default_store(
        tmp_path: Path, config_dir: Path) -> None:
    config = load_config(write(tmp_path, HSM))
    storage = config.secure_storage
    assert (storage.backend, storage.pkcs11_module, storage.pkcs11_slot) == (
        "pkcs11", "/usr/lib/softhsm/libsofthsm2.so", 0)
    assert storage.pkcs11_pin is not None and storage.pkcs11_pin.store == "default"
    options = store_settings_for(config).options
    assert options["pkcs11_pin_secure_key"] == "hsm-pin"
    assert options["pkcs11_slot"] == 0
    # The PIN lives in the platform default store (here: the encrypted-file fallback).
    default = StoreSettings(backend="auto", config_dir=config_dir)
    seed(default, ["hsm-pin"])
    settings = StoreSettings(backend="pkcs11", config_dir=config_dir,
                             options=store_settings_for(config).options)
    with SecretResolver(settings) as resolver:
        pin = resolver.resolve(storage.pkcs11_pin)
        assert pin.reveal().startswith("value-of-hsm-pin-")


def test_spec_examples_resolve_through_config_check(tmp_path: Path,
                                                    file_settings: StoreSettings) -> None:
    """The same, end to end through the CLI for the largest example."""
    from clirun import invoke

    seed(file_settings, ["primary-token", "service-a-token", "service-b-token"])
    path = write(tmp_path, MULTIPLE,
                 "advanced:\n  secure_storage:\n    backend: file\n")
    result = invoke("config", "check", "--config", str(path), backend=None)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("  ok ") == 3
