"""Reading ``advanced.secure_storage``: the backend and its options."""

from __future__ import annotations

import difflib
import re

from mcp_router.config.nodes import Section
from mcp_router.config.schema import SecureStorageConfig
from mcp_router.config.sections import SECRET_LOOKING, resolve_path, secure_key_ref

__all__ = ["STORAGE_KEYS", "read_secure_storage"]

CUSTOM_KEYS = (
    "custom_command", "custom_args", "custom_store_args", "custom_delete_args",
    "custom_list_args", "custom_timeout", "custom_not_found_exit_code",
)
PKCS11_KEYS = ("pkcs11_module", "pkcs11_slot", "pkcs11_token_label", "pkcs11_pin_secure_key")
SECRET_SERVICE_KEYS = ("secret_service_timeout", "secret_service_unlock_timeout")
STORAGE_KEYS = (
    "backend", "file_path", "allow_fallback", "file_passphrase", *CUSTOM_KEYS, *PKCS11_KEYS,
    *SECRET_SERVICE_KEYS, "options",
)
_BACKEND_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
PLACEHOLDER = "{name}"


def read_secure_storage(advanced: Section) -> SecureStorageConfig:
    section = advanced.section("secure_storage")
    if section is None:
        return SecureStorageConfig()
    backend = _backend_name(section)
    file_path = section.string("file_path")
    options_section = section.section("options")
    config = SecureStorageConfig(
        backend=backend,
        file_path=resolve_path(section, file_path) if file_path else None,
        allow_fallback=section.boolean("allow_fallback", True),
        file_passphrase=section.boolean("file_passphrase", False),
        custom_command=section.string("custom_command"),
        custom_args=section.string_list("custom_args") or (),
        custom_store_args=section.string_list("custom_store_args"),
        custom_delete_args=section.string_list("custom_delete_args"),
        custom_list_args=section.string_list("custom_list_args"),
        custom_timeout=section.number("custom_timeout", 10.0),
        custom_not_found_exit_code=section.integer("custom_not_found_exit_code", None,
                                                   minimum=1),
        pkcs11_module=section.string("pkcs11_module"),
        pkcs11_slot=section.integer("pkcs11_slot", None),
        pkcs11_token_label=section.string("pkcs11_token_label"),
        pkcs11_pin=secure_key_ref(section, "pkcs11_pin_secure_key", store="default"),
        secret_service_timeout=_optional_seconds(section, "secret_service_timeout"),
        secret_service_unlock_timeout=_optional_seconds(section,
                                                        "secret_service_unlock_timeout"),
        options=section.ctx.value(options_section.node) if options_section else {},
    )
    section.take("pkcs11_pin_secure_key")
    section.finish(STORAGE_KEYS)
    _check_options(options_section)
    _check_custom(section, config)
    _check_unused(section, backend)
    return config


def _optional_seconds(section: Section, key: str) -> float | None:
    return section.number(key, 0.0) or None if section.has(key) else None


def _backend_name(section: Section) -> str:
    name = section.string("backend", "auto") or "auto"
    if not _BACKEND_NAME.match(name):
        section.error("backend", "expected a backend name such as auto, file or custom")
        return "auto"
    from mcp_router.secure.registry import BACKEND_NAMES, _registered

    if name in BACKEND_NAMES or name in _registered:
        return name
    from mcp_router.secure.registry import available_backends

    known = available_backends()
    if name not in known:  # not built in and no installed plugin of that name
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "one of " + ", ".join(known)
        section.error("backend", f"unknown storage backend; {hint}")
        return "auto"
    return name


def _check_options(options: Section | None) -> None:
    """Plugin options are passed on as written: flag the ones that look like secrets."""
    if options is None:
        return
    for key in options.keys():
        if SECRET_LOOKING.search(key) and not key.endswith("_secure_key"):
            options.ctx.warn(options.key_node(key), options.key(key),
                             "looks like a secret in plain text; keep secrets in a store")


def _check_custom(section: Section, config: SecureStorageConfig) -> None:
    if config.backend != "custom":
        return
    if config.custom_command is None and not section.has("custom_command"):
        section.missing("custom_command", 'custom_command: "/usr/local/bin/vault-helper"')
    if not config.custom_args and not section.has("custom_args"):
        section.missing("custom_args", 'custom_args: ["get", "secret/mcp/{name}"]')
    writable = config.custom_store_args is not None or config.custom_delete_args is not None
    if writable and config.custom_list_args is None and (
            config.custom_not_found_exit_code is None):
        key = "custom_store_args" if config.custom_store_args is not None else (
            "custom_delete_args")
        section.error(key, "a writable helper also needs custom_list_args or "
                      "custom_not_found_exit_code, to tell a missing token from a failure")
    for key in ("custom_args", "custom_store_args", "custom_delete_args"):
        args = getattr(config, key)
        if args and not any(PLACEHOLDER in arg for arg in args):
            section.error(key, "expected the placeholder {name} in one of the arguments "
                          "(where the token name goes)")


def _check_unused(section: Section, backend: str) -> None:
    for keys, owner in ((CUSTOM_KEYS, "custom"), (PKCS11_KEYS, "pkcs11")):
        if backend == owner:
            continue
        for key in keys:
            if section.has(key):
                section.ctx.warn(section.key_node(key), section.key(key),
                                 f"ignored: only used with backend: {owner}")
