"""Whatever YAML arrives, the loader answers with problems, never with a crash."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_router.config.loader import check_text

KEYS = st.sampled_from([
    "version", "gateway", "url", "auth", "type", "bearer", "oauth2", "token_secure_key",
    "token_env", "token_file", "token", "client_id", "client_secret_secure_key",
    "token_endpoint", "scopes", "grant_type", "password", "username", "password_secure_key",
    "backends", "name", "command", "env", "env_secure_keys", "tls", "verify", "connection",
    "reconnect", "timeout", "advanced", "secure_storage", "backend", "custom", "file_path",
    "custom_command", "custom_args", "custom_store_args", "custom_list_args", "pkcs11_slot",
    "options", "logging", "level", "format", "x-any", "<<",
])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["https://a.example", "{name}", "1",
                                                           "bearer", "oauth2", "custom"]))
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, DOCS, max_size=6))
def test_random_documents_give_a_report(document: dict[str, object]) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    report = check_text(text, "fuzz.yaml")
    assert (report.config is None) == bool(report.problems)
    for problem in report.problems:
        assert problem.origin.file == "fuzz.yaml" and problem.origin.line >= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_a_report(text: str) -> None:
    report = check_text(text, "fuzz.yaml")
    assert (report.config is None) == bool(report.problems)
