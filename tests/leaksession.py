"""A session of CLI runs for the leak checks: it keeps every run's output, records the
programs started (in process and in child processes), and holds the files a user wrote
(which are not scanned)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clirun import invoke, run
from leakcheck import ExecRecorder, exec_log_env

__all__ = ["Run", "Session"]


@dataclass
class Run:
    label: str
    code: int
    stdout: bytes
    stderr: bytes
    may_show_value: bool = False


class Session:
    """Runs commands (in process or as real processes) and keeps what each printed."""

    def __init__(self, workdir: Path) -> None:
        self.runs: list[Run] = []
        self.inputs = workdir / "inputs"  # files the *user* wrote; not scanned
        self.inputs.mkdir()
        self.child_env, self.exec_log = exec_log_env(workdir / "leakcheck")
        #: Programs started by the in-process runs (not the test's own subprocesses).
        self.children = ExecRecorder()

    def cli(self, label: str, *args: str, input: str | bytes | None = None,
            env: dict[str, str | None] | None = None, expect: int | None = None,
            may_show_value: bool = False) -> Run:
        with self.children:
            result = invoke(*args, input=input, env=env)
        done = Run(label, result.exit_code, result.stdout_bytes, result.stderr_bytes,
                   may_show_value)
        return self._keep(done, expect)

    def process(self, label: str, *args: str, input: bytes | None = None,
                env: dict[str, str] | None = None, expect: int | None = None,
                may_show_value: bool = False) -> Run:
        done = run(list(args), input=input, env={**self.child_env, **(env or {})})
        return self._keep(Run(label, done.returncode, done.stdout, done.stderr,
                              may_show_value), expect)

    def file(self, name: str, data: bytes) -> str:
        path = self.inputs / name
        path.write_bytes(data)
        return str(path)

    def _keep(self, done: Run, expect: int | None) -> Run:
        self.runs.append(done)
        if expect is not None:
            assert done.code == expect, (done.label, done.code, done.stderr.decode())
        return done
