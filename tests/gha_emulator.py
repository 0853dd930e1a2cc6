"""Run GitHub Actions steps here the way a hosted runner does, closely enough to test the
composite action in action.yml and the workflow that uses it.

What a runner gives a step and what is reproduced:

- a fresh HOME, ``RUNNER_TEMP``, a workspace, ``CI=true``, ``GITHUB_ACTIONS=true``,
  ``RUNNER_OS``; no terminal (stdin is /dev/null, new session, so /dev/tty cannot be
  opened) and no D-Bus session;
- per step, the file-command files ``GITHUB_ENV``, ``GITHUB_PATH``, ``GITHUB_OUTPUT``
  (``NAME=value`` lines or ``NAME<<DELIM`` blocks); what a step appends to ``GITHUB_ENV``
  and ``GITHUB_PATH`` reaches every later step, outputs become ``steps.<id>.outputs``;
- ``shell: bash`` runs the step's script from a file as
  ``bash --noprofile --norc -eo pipefail FILE``;
- a composite action's inputs are not in the environment: its steps see them only where
  ``env:`` maps ``${{ inputs.x }}``; ``GITHUB_ACTION_PATH`` is the action's directory.

Expressions are evaluated only where the action and workflow use them (``inputs``,
``steps.<id>.outputs``, ``matrix``, ``github.action_path``, ``runner.*``); anything else
fails loudly so that the emulation never silently diverges from the real thing. With
``trace=True`` every step runs under ``strace -f -e trace=execve`` so a test can look at
the arguments and environment of every process the step started.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    trace: Path | None = None


@dataclass
class Runner:
    """One job's worth of runner state in ``root``."""

    root: Path
    trace: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    home: Path = field(init=False)
    temp: Path = field(init=False)
    workspace: Path = field(init=False)
    job_env: dict[str, str] = field(default_factory=dict, init=False)
    job_path: list[str] = field(default_factory=list, init=False)
    steps: dict[str, dict[str, str]] = field(default_factory=dict, init=False)
    results: list[StepResult] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.home, self.temp, self.workspace = (self.root / d for d in ("home", "temp", "ws"))
        for directory in (self.home, self.temp, self.workspace, self.root / "files"):
            directory.mkdir(parents=True, exist_ok=True)

    # -- environment -----------------------------------------------------------------
    def base_env(self) -> dict[str, str]:
        python_bin = str(Path(sys.base_prefix) / "bin")  # the runner's preinstalled Python
        system_path = os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"])
        env = {
            "HOME": str(self.home),
            "PATH": os.pathsep.join([*reversed(self.job_path), system_path]),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        env.update(self.job_env)
        env.update(self.extra_env)
        return env

    def env_for_later_steps(self) -> dict[str, str]:
        """The environment a later ``run:`` step of the job starts with."""
        return self.base_env()

    # -- running ---------------------------------------------------------------------
    def run_script(self, name: str, script: str, env: Mapping[str, str],
                   step_id: str | None = None) -> StepResult:
        files = self.root / "files"
        tag = uuid.uuid4().hex
        commands = {key: files / f"{key.lower()}_{tag}" for key in
                    ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE",
                     "GITHUB_STEP_SUMMARY")}
        for path in commands.values():
            path.touch()
        script_file = self.temp / f"{tag}.sh"
        script_file.write_text(script, encoding="utf-8")
        full_env = {**self.base_env(), **{k: str(v) for k, v in commands.items()}, **env}
        argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
        trace = None
        if self.trace:
            trace = self.root / "traces" / f"{len(self.results):02d}-{tag}.strace"
            trace.parent.mkdir(exist_ok=True)
            argv = ["strace", "-f", "--seccomp-bpf", "-qq", "-v", "-s", "1048576",
                    "-e", "trace=execve", "-o", str(trace), *argv]
        proc = subprocess.run(argv, env=full_env, cwd=self.workspace, stdin=subprocess.DEVNULL,
                              capture_output=True, start_new_session=True,
                              timeout=600, check=False)
        self.job_env.update(parse_file_command(commands["GITHUB_ENV"]))
        self.job_path.extend(line for line in commands["GITHUB_PATH"].read_text().splitlines()
                             if line.strip())
        outputs = parse_file_command(commands["GITHUB_OUTPUT"])
        if step_id:
            self.steps[step_id] = outputs
        result = StepResult(name, proc.returncode, _text(proc.stdout), _text(proc.stderr),
                            outputs, trace)
        self.results.append(result)
        return result

    def run_composite(self, action_dir: Path, inputs: Mapping[str, str],
                      step_id: str | None = None,
                      only: tuple[str, ...] | None = None) -> list[StepResult]:
        """Run every step of the composite action in ``action_dir`` with ``inputs`` (or the
        steps whose ids are in ``only``); stop at the first failing step, as the runner
        does."""
        action = load_yaml(action_dir / "action.yml")
        assert action["runs"]["using"] == "composite"
        declared = action.get("inputs", {})
        unknown = set(inputs) - set(declared)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        values = {k: str(v.get("default", "")) for k, v in declared.items()}
        values.update(inputs)
        missing = [k for k, v in declared.items() if v.get("required") and not values.get(k)]
        context = {"inputs": values, "github": {"action_path": str(action_dir)},
                   "steps": {}, "runner": {"temp": str(self.temp), "os": "Linux"}}
        results: list[StepResult] = []
        if missing:  # the runner only warns; the action's own checks then fail the step
            print(f"warning: required inputs not given: {missing}")
        for step in action["runs"]["steps"]:
            if only is not None and step.get("id") not in only:
                continue
            assert step.get("shell") == "bash", "every step must say shell: bash"
            assert "${{" not in step["run"], "a run: block must take values from env: only"
            env = {k: evaluate(str(v), context) for k, v in (step.get("env") or {}).items()}
            env["GITHUB_ACTION_PATH"] = str(action_dir)
            result = self.run_script(step.get("name", "?"), step["run"], env)
            context["steps"][step.get("id", "")] = {"outputs": result.outputs}
            results.append(result)
            if result.returncode != 0:
                break
        if step_id:
            self.steps[step_id] = {
                name: evaluate(str(spec["value"]), context)
                for name, spec in (action.get("outputs") or {}).items()
            }
        return results


    def run_job(self, workflow: Path, job: str, matrix: Mapping[str, str]) -> list[StepResult]:
        """Run one job of a workflow file (see :meth:`run_steps`)."""
        steps = load_yaml(workflow)["jobs"][job]["steps"]
        return self.run_steps(steps, {"matrix": dict(matrix)})

    def run_steps(self, steps: list[dict[str, Any]], context: Mapping[str, Any],
                  actions: Mapping[str, Path] | None = None,
                  skip_uses: tuple[str, ...] = ("actions/checkout@", "actions/setup-python@"),
                  ) -> list[StepResult]:
        """Run a job's steps: ``run:`` steps, ``uses: ./`` (this repository's action) and
        any ``uses:`` named in ``actions`` (e.g. ``owner/mcp-router@v1`` -> this checkout).
        The checkout and setup-python steps are what this machine already is. ``context``
        supplies ``matrix``, ``secrets`` and the like."""
        actions = {"./": REPO, **(actions or {})}
        failed = False
        for step in steps:
            ctx = {**context, "runner": {"temp": str(self.temp), "os": "Linux"},
                   "steps": {k: {"outputs": v} for k, v in self.steps.items()}}
            condition = step.get("if")
            assert condition in (None, "always()"), f"if: not supported: {condition}"
            if failed and condition != "always()":
                continue
            uses = step.get("uses")
            if uses and uses.startswith(skip_uses):
                continue
            if uses:
                assert uses in actions, f"uses: not supported by the emulator: {uses}"
                inputs = {k: evaluate(str(v), ctx) for k, v in step["with"].items()}
                results = self.run_composite(actions[uses], inputs, step_id=step.get("id"))
                failed = failed or any(r.returncode for r in results)
                continue
            assert step.get("shell") == "bash", "every run: step must say shell: bash"
            assert "${{" not in step["run"], "a run: block must take values from env: only"
            env = {k: evaluate(str(v), ctx) for k, v in (step.get("env") or {}).items()}
            result = self.run_script(step.get("name", "?"), step["run"], env, step.get("id"))
            failed = failed or result.returncode != 0
        return self.results


def evaluate(text: str, context: Mapping[str, Any]) -> str:
    """Substitute ``${{ a.b.c }}`` references; anything but a plain reference to a known
    context (an operator, a function call, an unknown context) fails."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", expr):
            raise AssertionError(f"expression not supported by the emulator: {expr}")
        head, *rest = expr.split(".")
        if head not in context:
            raise AssertionError(f"unknown context in expression: {expr}")
        value: Any = context[head]
        for part in rest:  # as on GitHub, a missing property is null, printed as ''
            value = value.get(part) if isinstance(value, Mapping) else None
        return "" if value is None else str(value)

    return _EXPR.sub(one, text)


def parse_file_command(path: Path) -> dict[str, str]:
    """``NAME=value`` lines and ``NAME<<DELIM`` ... ``DELIM`` blocks, as the runner reads them."""
    result: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            else:
                raise AssertionError(f"{path}: unterminated {name}<<{delimiter}")
            result[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            result[name] = value
    return result


def _text(data: bytes) -> str:
    """Output as the log shows it: no newline translation, so a stray CR stays visible."""
    return data.decode("utf-8", "replace")


def load_yaml(path: Path) -> dict[str, Any]:
    # YAML 1.1 reads the key `on:` as True; workflows mean the string.
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in doc:
        doc["on"] = doc.pop(True)
    return dict(doc)


# -- strace logs ------------------------------------------------------------------------
@dataclass
class Exec:
    pid: str
    argv: list[str]
    env: list[str]


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _string_list(text: str, start: int) -> tuple[list[str], int]:
    """The strace string array beginning at text[start] == '['; returns (items, end)."""
    assert text[start] == "[", text[start:start + 40]
    items, pos = [], start + 1
    while pos < len(text) and text[pos] != "]":
        if text[pos] == '"':
            match = _STRING.match(text, pos)
            assert match, text[pos:pos + 40]
            items.append(match.group(1))
            pos = match.end()
        else:
            pos += 1
    return items, pos + 1


def execs(trace: Path) -> Iterator[Exec]:
    """Every execve in a ``strace -f -v -e trace=execve`` log: its argv and environment,
    as strace prints them (C escapes, which leave a plain ASCII value unchanged)."""
    for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"(\d+)\s+execve\(", line)
        if not match:
            continue
        path = _STRING.match(line, match.end())
        if not path:
            continue
        argv_start = line.find("[", path.end())
        argv, end = _string_list(line, argv_start)
        env_start = line.find("[", end)
        env = _string_list(line, env_start)[0] if env_start != -1 else []
        yield Exec(match.group(1), argv, env)


def have_strace() -> bool:
    return shutil.which("strace") is not None
