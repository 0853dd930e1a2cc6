"""Running the real CLI from tests: in process through click's CliRunner, or as a real
``python -m mcp_router`` subprocess where file descriptors, pipes or terminals matter.

Both go through the root group, which maps errors to exit codes, so an exit code seen
here is the one a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from click.testing import CliRunner, Result

from mcp_router.cli import cli

__all__ = ["PYTHON_CLI", "invoke", "run", "stored_value"]

#: The command line of the real program (``python -m mcp_router``).
PYTHON_CLI = [sys.executable, "-m", "mcp_router"]


def invoke(
    *args: str,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
    backend: str | None = "file",
) -> Result:
    """Run ``mcp-router [--backend BACKEND] ARGS`` in this process; stdin is not a terminal."""
    argv = ["--backend", backend, *args] if backend else list(args)
    return CliRunner().invoke(cli, argv, input=input, env=env, catch_exceptions=False)


def run(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    backend: str | None = "file",
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m mcp_router [--backend BACKEND] ARGS`` as a real process."""
    argv = [*PYTHON_CLI, *(["--backend", backend] if backend else []), *args]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        argv, input=input if input is not None else b"", capture_output=True, env=full_env,
        check=False, timeout=120,
    )


def stored_value(name: str, *, backend: str = "file") -> str:
    """The value of ``name`` as ``get --export --yes`` prints it (without echo's newline)."""
    result = invoke("token", "get", "--name", name, "--export", "--yes", backend=backend)
    assert result.exit_code == 0, result.stderr
    out = result.stdout_bytes
    assert out.endswith(b"\n")
    return out[:-1].decode("utf-8")
