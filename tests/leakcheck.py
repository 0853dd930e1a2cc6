"""Find a planted secret wherever it must not be: output streams, files, and the command
lines (and environment) of child processes. Reusable by every leak test::

    from leakcheck import ExecRecorder, find_leaks, plant_secret, scan_tree

    secret = plant_secret()
    with ExecRecorder() as children:          # in-process: every exec / spawn / Popen
        result = CliRunner().invoke(cli, [...], input=secret)
    assert find_leaks(secret, result.stderr_bytes) == []
    assert scan_tree(secret, home, tmp_dir) == {}
    assert children.leaks(secret) == []

For a real subprocess, :func:`exec_log_env` returns environment variables that make every
Python process started with them (and its Python descendants) log the children it starts;
:func:`read_exec_log` reads that log back as :class:`ExecEvent` objects.

A secret is searched in its UTF-8 and UTF-16 bytes, as hex, as standard and URL-safe base64
at each of the three byte alignments, and without its last four characters (the most a
masked preview may show), so a truncated or encoded copy is found too.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import textwrap
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "EXEC_LOG_ENV",
    "ExecEvent",
    "ExecRecorder",
    "exec_leaks",
    "exec_log_env",
    "find_leaks",
    "forms",
    "plant_secret",
    "read_exec_log",
    "scan_tree",
]

EXEC_LOG_ENV = "MCP_LEAKCHECK_EXEC_LOG"
#: Audit events (PEP 578) raised when Python starts another program.
EXEC_EVENTS = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
                         "os.system", "os.startfile", "pty.spawn"})


def plant_secret(prefix: str = "planted") -> str:
    """A value that occurs nowhere by chance (48 characters, ASCII)."""
    return f"{prefix}-{uuid.uuid4().hex}-{uuid.uuid4().hex[:8]}"


def _b64_aligned(raw: bytes, encode: Any) -> Iterator[bytes]:
    # Embedded at offset k (mod 3) in a larger buffer, the secret's base64 shows up with a
    # different alphabet phase; the middle of the encoding after k filler bytes is what any
    # such buffer contains. Drop the first group (it mixes in filler) and the last (it mixes
    # in whatever follows).
    for k in range(3):
        encoded = encode(b"\0" * k + raw).rstrip(b"=")
        yield encoded[4 if k else 0: -4]


def forms(secret: str) -> dict[str, bytes]:
    """Every encoding of ``secret`` to search for, by label."""
    raw = secret.encode("utf-8")
    found = {
        "utf-8": raw,
        "utf-16-le": secret.encode("utf-16-le"),
        "utf-16-be": secret.encode("utf-16-be"),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "json": json.dumps(secret).encode()[1:-1],
        "repr": repr(secret).encode()[1:-1],
    }
    for k, needle in enumerate(_b64_aligned(raw, base64.b64encode)):
        found[f"base64+{k}"] = needle
    for k, needle in enumerate(_b64_aligned(raw, base64.urlsafe_b64encode)):
        found[f"base64url+{k}"] = needle
    if len(secret) > 12:
        found["all but the last 4"] = secret[:-4].encode("utf-8")
    return {label: needle for label, needle in found.items() if len(needle) >= 8}


def find_leaks(secret: str, data: bytes | str | None) -> list[str]:
    """The labels of the forms of ``secret`` found in ``data`` (empty: no leak)."""
    if not data:
        return []
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return [label for label, needle in forms(secret).items() if needle in blob]


def scan_tree(secret: str, *roots: Path) -> dict[Path, list[str]]:
    """Every file under ``roots`` (symlinks not followed) that holds a form of ``secret``."""
    leaks: dict[Path, list[str]] = {}
    for root in roots:
        for path in _files(Path(root)):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            labels = find_leaks(secret, data)
            if labels:
                leaks[path] = labels
    return leaks


def _files(root: Path) -> Iterator[Path]:
    if root.is_file() and not root.is_symlink():
        yield root
        return
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path


# -- child processes --------------------------------------------------------------------------

@dataclass(frozen=True)
class ExecEvent:
    """One program start: the audit event, the argument vector, and the environment when
    one was passed explicitly (``None``: the child inherited its parent's)."""

    event: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    pid: int = 0

    def leaks(self, secret: str, *, check_env: bool = True) -> list[str]:
        found = [f"argv: {label}" for label in find_leaks(secret, "\0".join(self.argv))]
        if check_env and self.env:
            text = "\0".join(f"{k}={v}" for k, v in self.env.items())
            found += [f"env: {label}" for label in find_leaks(secret, text)]
        return found


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _event_from_audit(event: str, args: tuple[Any, ...]) -> ExecEvent:
    """Normalise the arguments of the audit events in :data:`EXEC_EVENTS`."""
    argv: list[str] = []
    env: Any = None
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        executable, cmd, _cwd, env = args
        cmd_list = [cmd] if isinstance(cmd, (str, bytes, os.PathLike)) else list(cmd or [])
        argv = [_text(executable)] if executable else []
        argv += [_text(a) for a in cmd_list]
    elif event in ("os.exec", "os.posix_spawn"):  # (path, args, env)
        path, cmd, env = args
        argv = [_text(path), *(_text(a) for a in cmd)]
    elif event == "os.spawn":  # (mode, path, args, env)
        _mode, path, cmd, env = args
        argv = [_text(path), *(_text(a) for a in cmd)]
    else:  # os.system (command,), os.startfile (path, operation, ...), pty.spawn (argv,)
        argv = [_text(a) for a in args]
    environ = None
    if env is not None:
        environ = {_text(k): _text(v) for k, v in dict(env).items()}
    return ExecEvent(event, tuple(argv), environ, os.getpid())


_recorders: list[ExecRecorder] = []
_hook_installed = False


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if not _recorders or event not in EXEC_EVENTS:
        return
    recorded = _event_from_audit(event, args)
    for recorder in _recorders:
        recorder.events.append(recorded)


@dataclass
class ExecRecorder:
    """Record, in this process, every program started while inside ``with``.

    Uses a PEP 578 audit hook, so it sees ``subprocess``, ``os.exec*``, ``os.posix_spawn``,
    ``os.spawn*`` and ``os.system`` however deep in a library they are called. (An audit
    hook cannot be removed; outside ``with`` it returns at once.)
    """

    events: list[ExecEvent] = field(default_factory=list)

    def __enter__(self) -> ExecRecorder:
        global _hook_installed
        if not _hook_installed:
            sys.addaudithook(_audit_hook)
            _hook_installed = True
        _recorders.append(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _recorders.remove(self)

    def leaks(self, secret: str, *, check_env: bool = True) -> list[str]:
        """``"<argv0>: <where>"`` for every recorded start that carries ``secret``."""
        return [f"{e.argv[0] if e.argv else e.event}: {label}"
                for e in self.events for label in e.leaks(secret, check_env=check_env)]


_SITECUSTOMIZE = textwrap.dedent('''
    # Written by tests/leakcheck.py: log every program this Python process starts.
    import json as _json, os as _os, sys as _sys

    _LOG = _os.environ.get({env!r})
    _EVENTS = {events!r}

    def _leakcheck_text(value):
        if isinstance(value, bytes):
            return value.decode("utf-8", "surrogateescape")
        return _os.fspath(value) if isinstance(value, _os.PathLike) else str(value)

    def _leakcheck_hook(event, args):
        if not _LOG or event not in _EVENTS:
            return
        try:
            record = {{"event": event, "pid": _os.getpid(),
                      "args": [_leakcheck_encode(a) for a in args]}}
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(_json.dumps(record) + "\\n")
        except Exception:
            pass

    def _leakcheck_encode(value):
        if value is None or isinstance(value, (int, float, bool)):
            return value
        if isinstance(value, (str, bytes, _os.PathLike)):
            return _leakcheck_text(value)
        if hasattr(value, "items"):
            return {{_leakcheck_text(k): _leakcheck_text(v) for k, v in value.items()}}
        try:
            return [_leakcheck_text(v) for v in value]
        except TypeError:
            return _leakcheck_text(value)

    _sys.addaudithook(_leakcheck_hook)
''')


def exec_log_env(workdir: Path) -> tuple[dict[str, str], Path]:
    """Environment variables that make Python processes log the programs they start.

    Returns ``(env, log_path)``: merge ``env`` into a subprocess's environment; afterwards
    :func:`read_exec_log` on ``log_path`` lists what it (and its Python descendants, which
    inherit the variables) started. Keep ``workdir`` outside the directories a test scans:
    the log holds whatever the children were given.
    """
    hook_dir = Path(workdir) / "leakcheck-site"
    hook_dir.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(
        _SITECUSTOMIZE.format(env=EXEC_LOG_ENV, events=sorted(EXEC_EVENTS))
    )
    log = Path(workdir) / "exec-log.jsonl"
    log.touch()
    path = os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, EXEC_LOG_ENV: str(log)}, log


def read_exec_log(log: Path) -> list[ExecEvent]:
    events = []
    for line in Path(log).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        event = _event_from_audit(record["event"], tuple(record["args"]))
        events.append(ExecEvent(event.event, event.argv, event.env, record["pid"]))
    return events


def exec_leaks(secret: str, events: Iterable[ExecEvent], *, check_env: bool = True
               ) -> list[str]:
    return [f"{e.argv[0] if e.argv else e.event} (pid {e.pid}): {label}"
            for e in events for label in e.leaks(secret, check_env=check_env)]
