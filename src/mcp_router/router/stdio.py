"""Local stdio MCP servers (``backends`` entries with ``command``), secrets in their environment.

The router resolves ``env_secure_keys`` from the store, adds them and ``env`` to its own
environment and then *becomes* the server: on POSIX it ``exec``s the command, so the
client talks to the server directly and the router adds no overhead at all. On Windows,
which has no ``exec``, it starts the command with the same stdin and stdout and exits with
its exit status. Secrets are passed in the environment only, never as arguments.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping

from mcp_router.config.schema import StdioBackend
from mcp_router.errors import ConfigError
from mcp_router.secret import Secret

__all__ = ["child_environment", "exec_backend"]

log = logging.getLogger(__name__)


def child_environment(
    backend: StdioBackend, secrets: Mapping[str, Secret], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the server process: ours, then ``env``, then the secrets."""
    env = dict(os.environ if base is None else base)
    env.update(backend.env)
    env.update({name: secret.reveal() for name, secret in secrets.items()})
    return env


def exec_backend(backend: StdioBackend, secrets: Mapping[str, Secret]) -> int:
    """Replace this process with the backend's command (POSIX); on Windows run it and
    return its exit status."""
    if not backend.command:
        raise ConfigError(f"backend '{backend.name}' has an empty command")
    program = shutil.which(backend.command[0]) or backend.command[0]
    env = child_environment(backend, secrets)
    cwd = str(backend.cwd) if backend.cwd is not None else None
    log.info("starting backend '%s' (%s) with %d variable(s) from the store",
             backend.name, backend.command[0], len(secrets))
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":  # pragma: no cover - exercised by the Windows CI job
        try:
            return subprocess.call([program, *backend.command[1:]], env=env, cwd=cwd)
        except OSError as exc:
            raise _not_started(backend, exc) from None
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.execve(program, [program, *backend.command[1:]], env)  # noqa: S606 - no shell wanted
    except OSError as exc:
        raise _not_started(backend, exc) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _not_started(backend: StdioBackend, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot start backend '{backend.name}': {backend.command[0]}: {exc.strerror}",
        hint="check the command in the backends entry (is it installed and on PATH?)",
    )
