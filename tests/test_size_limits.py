"""Values read from places the user does not type into are bounded like ``--file`` and
``--stdin``: a config's ``token_file`` and a custom helper's output. A huge or endless
source is refused with a clear error instead of filling memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcp_router.config import SecretResolver, parse_config
from mcp_router.errors import HelperError, InvalidTokenValueError
from mcp_router.secure.backends.command import CommandBackend, HelperConfig
from mcp_router.secure.validation import MAX_VALUE_BYTES


def _file_ref(tmp_path: Path, data: bytes) -> object:
    (tmp_path / "token.txt").write_bytes(data)
    text = "version: 1\ngateway:\n  auth:\n    token_file: token.txt\n"
    return parse_config(text, str(tmp_path / "r.yaml")).gateway.auth.token


def test_token_file_at_the_limit_is_read(tmp_path: Path) -> None:
    ref = _file_ref(tmp_path, b"v" * MAX_VALUE_BYTES + b"\r\n")
    assert SecretResolver().resolve(ref).reveal() == "v" * MAX_VALUE_BYTES  # type: ignore[arg-type]


def test_token_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    ref = _file_ref(tmp_path, b"v" * (MAX_VALUE_BYTES + 3))
    with pytest.raises(InvalidTokenValueError) as info:
        SecretResolver().resolve(ref)  # type: ignore[arg-type]
    assert info.value.exit_code == 4
    assert f"larger than the limit of {MAX_VALUE_BYTES} bytes" in str(info.value)
    assert "token.txt" in str(info.value) and "token_file" in str(info.value)


def _helper(tmp_path: Path, body: str) -> CommandBackend:
    script = tmp_path / "helper"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(0o755)
    return CommandBackend(HelperConfig.from_options({
        "custom_command": str(script), "custom_args": ["{name}"], "custom_timeout": 20}))


@pytest.mark.skipif(sys.platform == "win32", reason="a script helper needs a #! line")
def test_helper_value_at_the_limit_is_read(tmp_path: Path) -> None:
    backend = _helper(tmp_path, f"sys.stdout.write('v' * {MAX_VALUE_BYTES} + '\\r\\n')")
    assert backend.retrieve("t1") == "v" * MAX_VALUE_BYTES


@pytest.mark.skipif(sys.platform == "win32", reason="a script helper needs a #! line")
@pytest.mark.parametrize("body", [
    f"sys.stdout.write('v' * {MAX_VALUE_BYTES + 3})",
    "while True:\n    sys.stdout.write('y' * 65536)",  # endless: stopped, not timed out
])
def test_helper_output_over_the_limit_is_a_helper_error(tmp_path: Path, body: str) -> None:
    backend = _helper(tmp_path, body)
    with pytest.raises(HelperError) as info:
        backend.retrieve("t1")
    message = str(info.value)
    assert "printed more than" in message and f"{MAX_VALUE_BYTES} bytes" in message
    assert "'t1'" in message and "vvvv" not in message and "yyyy" not in message
