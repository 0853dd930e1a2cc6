"""The ``custom`` backend: tokens kept by an external helper command (Vault, pass, ...).

Configured in ``advanced.secure_storage``::

    backend: custom
    custom_command: /usr/local/bin/vault-helper
    custom_args: [get, "secret/mcp/{name}"]          # read (required)
    custom_store_args: [put, "secret/mcp/{name}"]    # write (optional)
    custom_delete_args: [delete, "secret/mcp/{name}"]  # delete (optional)
    custom_list_args: [list]                          # list (optional)
    custom_timeout: 10                                # seconds, every call

The protocol (``docs/custom-backend.md``):

* argv is ``[custom_command, *args]``, executed directly (never through a shell). Each
  ``{name}`` inside an argument is replaced by the token name, only after the name has
  passed :func:`validate_name` (lowercase letters, digits, ``.``, ``_``, ``-``; never a
  leading ``-``), so a name can neither inject an option nor escape a path. The previous
  value ``token rotate --backup`` keeps is an item of the same alphabet,
  ``<name>..previous``.
* Secrets travel on pipes only. ``get`` prints the value on stdout; one trailing line
  ending (``\\n`` or ``\\r\\n``) is removed, the rule of ``token set --file``. ``store``
  receives the value on stdin followed by one ``\\n`` (so ``get`` of what ``store`` wrote
  round-trips exactly, and a value ending in a newline keeps it). Nothing secret is ever
  put in argv or the environment; mcp-router's own secret variables
  (``MCP_ROUTER_PASSPHRASE``, ``MCP_ROUTER_PKCS11_PIN``) are removed from the helper's
  environment.
* Output is bounded: ``get`` (like ``store`` and ``delete``) may print a value of at most
  ``MAX_VALUE_BYTES`` and its line ending, ``list`` 4 MiB; a helper printing more is
  stopped and the call is a :class:`HelperError`.
* ``list`` prints names, one per line; blank lines and lines that are not valid token
  names (other entries of a shared store) are skipped.
* Exit status 0 is success. A missing token is recognised by
  ``custom_not_found_exit_code`` when configured, else (when ``custom_list_args`` is
  configured) by the name being absent from ``list``; any other failure is a
  :class:`HelperError` (exit 14) carrying the status and the start of stderr, with any
  occurrence of the secret involved redacted.
* Each call runs at most ``custom_timeout`` seconds, in its own process group (killed
  whole on timeout), with stdin a pipe or ``/dev/null``, never the terminal.
"""

from __future__ import annotations

import builtins
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_router.errors import (
    ConfigError,
    HelperError,
    InvalidTokenNameError,
    InvalidTokenValueError,
    NotSupportedError,
    StorageUnavailableError,
    TokenNotFoundError,
)
from mcp_router.secure.backends.helperio import OutputTooLargeError, communicate
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo
from mcp_router.secure.validation import MAX_VALUE_BYTES, strip_one_newline, validate_name

__all__ = ["DEFAULT_TIMEOUT", "CommandBackend", "HelperConfig", "create", "redact"]

DEFAULT_TIMEOUT = 10.0
PLACEHOLDER = "{name}"
STDERR_LIMIT = 300
#: Our own secret-bearing variables, never handed to a helper.
SCRUBBED_ENV = ("MCP_ROUTER_PASSPHRASE", "MCP_ROUTER_PKCS11_PIN")
_OPT = "advanced.secure_storage"
#: The most a helper may print on stdout: a value and its line ending (CRLF)...
_VALUE_OUTPUT = MAX_VALUE_BYTES + 2
#: ...except for list, one name per line: room for many thousands of names.
_OUTPUT_LIMITS = {"list": 4 * 1024 * 1024}
#: The start of stderr kept for the error message (the rest is read and dropped).
_STDERR_KEPT = 16 * 1024


@dataclass(frozen=True)
class HelperConfig:
    """The ``custom_*`` options, checked."""

    command: str
    get_args: tuple[str, ...]
    store_args: tuple[str, ...] | None = None
    delete_args: tuple[str, ...] | None = None
    list_args: tuple[str, ...] | None = None
    timeout: float = DEFAULT_TIMEOUT
    not_found_exit_code: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HelperConfig:
        command = options.get("custom_command")
        if not isinstance(command, str) or not command:
            raise ConfigError(f"{_OPT}.custom_command is not set",
                              hint="the custom backend needs the helper's path, e.g. "
                              "custom_command: /usr/local/bin/vault-helper")
        get_args = _args(options, "custom_args", required=True)
        assert get_args is not None
        timeout = options.get("custom_timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{_OPT}.custom_timeout must be a number of seconds above 0")
        code = options.get("custom_not_found_exit_code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ConfigError(f"{_OPT}.custom_not_found_exit_code must be a whole number")
        config = cls(command, get_args, _args(options, "custom_store_args"),
                     _args(options, "custom_delete_args"),
                     _args(options, "custom_list_args", placeholder=False),
                     float(timeout), code)
        writable = config.store_args is not None or config.delete_args is not None
        if writable and config.list_args is None and code is None:
            raise ConfigError(
                f"{_OPT}: a writable helper also needs custom_list_args or "
                "custom_not_found_exit_code",
                hint="without one, a missing token cannot be told from a failing helper")
        return config


def _args(options: Mapping[str, Any], key: str, *, required: bool = False,
          placeholder: bool = True) -> tuple[str, ...] | None:
    value = options.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{_OPT}.{key} is not set",
                              hint='e.g. custom_args: ["get", "secret/mcp/{name}"]')
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value):
        raise ConfigError(f"{_OPT}.{key} must be a list of strings")
    if placeholder and not any(PLACEHOLDER in arg for arg in value):
        raise ConfigError(f"{_OPT}.{key} has no {PLACEHOLDER} placeholder",
                          hint="put {name} where the token name goes")
    return tuple(value)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each secret, and each line of a multi-line secret, masked."""
    pieces: set[str] = set()
    for secret in secrets:
        if secret:
            pieces.add(secret)
            pieces.update(line.strip() for line in secret.splitlines() if
                          len(line.strip()) >= 4)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "[redacted]")
    return text


def _stderr_excerpt(data: bytes, secrets: Sequence[str]) -> str:
    text = redact(data.decode("utf-8", errors="replace"), secrets)
    text = " ".join(text.split())  # one line
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > STDERR_LIMIT:
        text = text[:STDERR_LIMIT] + "..."
    return text


@dataclass(frozen=True)
class _Result:
    status: int
    stdout: bytes
    stderr: bytes


class CommandBackend(Backend):
    """Raw secret I/O through an external helper, one process per operation."""

    name = "custom"

    def __init__(self, config: HelperConfig) -> None:
        self.config = config

    # -- Backend --------------------------------------------------------------------
    def describe(self) -> str:
        return f"external helper {self.config.command}"

    def probe(self) -> ProbeResult:
        try:
            path = self._executable()
        except StorageUnavailableError as exc:
            return ProbeResult(False, exc.message)
        return ProbeResult(True, f"helper {path} is executable")

    def retrieve(self, name: str) -> str:
        result = self._call("get", self.config.get_args, name)
        if result.status != 0:
            self._raise_failure("get", name, result, ())
        try:
            text = result.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise HelperError(f"the custom helper printed a value for '{name}' that is not "
                              "UTF-8 text") from None
        value = strip_one_newline(text)
        if not value:
            raise HelperError(f"the custom helper printed an empty value for '{name}'",
                              hint="check the helper's get command by hand")
        return value

    def store(self, name: str, token: str) -> None:
        args = self._required(self.config.store_args, "store", "custom_store_args")
        if token.endswith("\r"):
            raise InvalidTokenValueError(
                "a value ending in a carriage return cannot pass through the custom "
                "backend (the helper protocol drops a trailing line ending)")
        result = self._call("store", args, name, stdin=(token + "\n").encode("utf-8"))
        if result.status != 0:
            self._raise_failure("store", name, result, (token,), check_missing=False)

    def delete(self, name: str) -> None:
        args = self._required(self.config.delete_args, "delete", "custom_delete_args")
        result = self._call("delete", args, name)
        if result.status != 0:
            self._raise_failure("delete", name, result, ())

    def list(self) -> list[TokenInfo]:
        return [TokenInfo(name=n, backend=self.name) for n in sorted(self._names())]

    def check_writable(self) -> None:
        self._required(self.config.store_args, "store", "custom_store_args")

    def contains(self, name: str) -> bool:
        if self.config.list_args is None:
            return super().contains(name)
        return validate_name(name) in self._names()

    # -- helpers --------------------------------------------------------------------
    def _names(self) -> set[str]:
        args = self._required(self.config.list_args, "list", "custom_list_args")
        result = self._call("list", args, None)
        if result.status != 0:
            self._raise_failure("list", None, result, ())
        names: set[str] = set()
        for line in result.stdout.decode("utf-8", errors="replace").splitlines():
            candidate = line.strip()
            try:
                names.add(validate_name(candidate))
            except InvalidTokenNameError:
                continue  # a blank line, or another application's entry
        return names

    def _required(self, args: tuple[str, ...] | None, operation: str, key: str
                  ) -> tuple[str, ...]:
        if args is None:
            raise NotSupportedError(
                f"{operation} is not supported by this backend (custom, without {key})",
                hint=f"configure {_OPT}.{key} to enable it, or use the helper's own tool",
            )
        return args

    def _executable(self) -> str:
        command = self.config.command
        if os.sep in command or (os.altsep and os.altsep in command):
            path = str(Path(command).expanduser())
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                raise StorageUnavailableError(
                    f"the custom helper {path} does not exist or is not executable",
                    hint=f"fix {_OPT}.custom_command")
            return path
        found = shutil.which(command)
        if found is None:
            raise StorageUnavailableError(
                f"the custom helper '{command}' is not on PATH",
                hint=f"install it or give its full path in {_OPT}.custom_command")
        return found

    def _argv(self, args: tuple[str, ...], name: str | None) -> builtins.list[str]:
        if name is not None:
            validate_name(name)  # before it goes anywhere near an argument
            args = tuple(arg.replace(PLACEHOLDER, name) for arg in args)
        return [self._executable(), *args]

    def _call(self, operation: str, args: tuple[str, ...], name: str | None,
              stdin: bytes | None = None) -> _Result:
        argv = self._argv(args, name)
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        posix = sys.platform != "win32"
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                start_new_session=posix, close_fds=True,
            )
        except OSError as exc:
            raise StorageUnavailableError(
                f"cannot start the custom helper {argv[0]}: {exc.strerror}",
                hint=f"fix {_OPT}.custom_command") from None
        try:
            out, err = communicate(proc, stdin, self.config.timeout,
                                   out_limit=_OUTPUT_LIMITS.get(operation, _VALUE_OUTPUT),
                                   err_limit=_STDERR_KEPT)
        except subprocess.TimeoutExpired:
            _kill(proc, posix)
            raise HelperError(
                f"the custom helper's {operation} command did not finish within "
                f"{self.config.timeout:g} s and was stopped",
                hint=f"raise {_OPT}.custom_timeout, or check that the helper does not wait "
                "for input (it has no terminal)") from None
        except OutputTooLargeError as exc:
            _kill(proc, posix)
            what = f" for '{name}'" if name else ""
            raise HelperError(
                f"the custom helper's {operation} command{what} printed more than "
                f"{exc.args[0]} bytes and was stopped (a value is at most "
                f"{MAX_VALUE_BYTES} bytes)",
                hint=f"run {Path(self.config.command).name} by hand to see what it prints"
                ) from None
        return _Result(proc.returncode, out, err)

    def _raise_failure(self, operation: str, name: str | None, result: _Result,
                       secrets: Sequence[str], *, check_missing: bool = True) -> None:
        if name is not None and check_missing and self._is_missing(name, result):
            raise TokenNotFoundError(name, backend=self.name)
        seen = [result.stdout.decode("utf-8", errors="replace")] if result.stdout else []
        excerpt = _stderr_excerpt(result.stderr, [*secrets, *seen])
        status = (f"was killed by signal {-result.status}" if result.status < 0
                  else f"exited with status {result.status}")
        what = f" for '{name}'" if name else ""
        detail = f": {excerpt}" if excerpt else " (no message on stderr)"
        raise HelperError(
            f"the custom helper's {operation} command{what} {status}{detail}",
            hint=f"run {Path(self.config.command).name} by hand to see why, or check "
            f"{_OPT}.custom_*")

    def _is_missing(self, name: str, result: _Result) -> bool:
        if self.config.not_found_exit_code is not None:
            return result.status == self.config.not_found_exit_code
        if self.config.list_args is not None:
            return name not in self._names()
        return False


def _kill(proc: subprocess.Popen[bytes], posix: bool) -> None:
    """Stop the helper and everything it started, and reap it."""
    try:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)  # the reader threads end when the pipes close
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create(settings: StoreSettings) -> CommandBackend:
    return CommandBackend(HelperConfig.from_options(settings.options))
