"""The composite GitHub Action (action.yml) run here step by step, as a hosted runner runs
it: a clean HOME, RUNNER_TEMP, the file-command files, CI=true, no terminal, no D-Bus.

The module fixture runs the whole action once (install from this checkout with pip, then
store a planted token) under strace, and the tests look at what it left: the token in the
store and readable by a later step, ``::add-mask::`` emitted, and the value nowhere else:
not in any output line, any file, or the arguments or environment of any process other
than the step's own shell (which is where Actions puts it).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.gha import pypi_reachable
from gha_emulator import REPO, Runner, StepResult, execs, have_strace, load_yaml
from leakcheck import find_leaks, plant_secret, scan_tree

CANARY = plant_secret("ghs-canary")
MASK_LINE = f"::add-mask::{CANARY}"
ACTION = REPO / "action.yml"
WORKFLOW = REPO / ".github" / "workflows" / "action-selftest.yml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def action_run(tmp_path_factory: pytest.TempPathFactory,
               gha_pip_cache: Path) -> tuple[Runner, list[StepResult]]:
    if not pypi_reachable():
        pytest.skip("pypi.org is unreachable: the action's install step needs it")
    runner = Runner(tmp_path_factory.mktemp("runner"), trace=have_strace(),
                    extra_env={"PIP_CACHE_DIR": str(gha_pip_cache)})
    results = runner.run_composite(
        REPO, {"token-name": "ci-token", "token-value": CANARY, "backend": "file"},
        step_id="setup")
    return runner, results


@pytest.fixture
def installed(action_run: tuple[Runner, list[StepResult]], tmp_path: Path) -> Runner:
    """A fresh job on a fresh HOME that reuses the venv the module's install step made."""
    main, results = action_run
    assert all(r.returncode == 0 for r in results)
    runner = Runner(tmp_path / "job")
    runner.job_path = list(main.job_path)
    return runner


def later_step(runner: Runner, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``mcp-router ARGS`` as a later ``run:`` step of the job would start it (output
    decoded without newline translation)."""
    proc = subprocess.run(["mcp-router", *args], env={**runner.env_for_later_steps(),
                                                      **(env or {})},
                          cwd=runner.workspace, stdin=subprocess.DEVNULL, capture_output=True,
                          start_new_session=True, timeout=120, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode())


def store_step(runner: Runner, **inputs: str) -> StepResult:
    results = runner.run_composite(REPO, inputs, step_id="setup", only=("store",))
    assert len(results) == 1
    return results[0]


def leaky_lines(result: StepResult, secret: str = CANARY) -> list[str]:
    """Output lines carrying any form of ``secret``, except its own ``::add-mask::`` line."""
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line != f"::add-mask::{secret}" and find_leaks(secret, line)]


# -- the action's metadata ---------------------------------------------------------------
def test_action_declares_the_documented_inputs() -> None:
    action = load_yaml(ACTION)
    inputs = action["inputs"]
    assert set(inputs) == {"token-name", "token-value", "config", "backend", "version",
                           "passphrase"}
    assert {k for k, v in inputs.items() if v.get("required")} == {"token-name",
                                                                    "token-value"}
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], "values must reach run: blocks through env:"
    mapped = {k: v for step in action["runs"]["steps"] for k, v in (step.get("env") or {}).items()}
    assert mapped["INPUT_TOKEN_VALUE"] == "${{ inputs.token-value }}"
    assert mapped["MCP_ROUTER_PASSPHRASE"] == "${{ inputs.passphrase }}"


# -- the full action, end to end -----------------------------------------------------------
def test_every_step_succeeds(action_run: tuple[Runner, list[StepResult]]) -> None:
    _, results = action_run
    assert [r.name for r in results] == [s["name"] for s in load_yaml(ACTION)["runs"]["steps"]]
    for result in results:
        assert result.returncode == 0, (result.name, result.stdout, result.stderr)


def test_router_is_ready_for_later_steps(action_run: tuple[Runner, list[StepResult]]) -> None:
    runner, _ = action_run
    assert runner.job_path == [str(runner.temp / "mcp-router-venv" / "bin")]
    assert runner.job_env == {"MCP_ROUTER_BACKEND": "file"}
    assert runner.steps["setup"] == {"backend": "file", "bin": runner.job_path[0]}
    result = later_step(runner, "token", "get", "--name", "ci-token", "--export", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == CANARY + "\n"
    listing = later_step(runner, "token", "list")
    assert listing.stdout.splitlines()[1].startswith("ci-token ")
    assert (runner.home / ".config" / "mcp-router" / "tokens.enc").is_file()


def test_value_is_masked_before_anything_else_mentions_it(
        action_run: tuple[Runner, list[StepResult]]) -> None:
    _, results = action_run
    store = results[1]
    assert store.stdout.splitlines()[0] == MASK_LINE
    assert "ready: token 'ci-token' is in the file store" in store.stdout


def test_value_appears_in_no_output_line(action_run: tuple[Runner, list[StepResult]]) -> None:
    _, results = action_run
    for result in results:
        assert leaky_lines(result) == [], result.name


def test_value_is_in_no_file(action_run: tuple[Runner, list[StepResult]]) -> None:
    runner, _ = action_run
    store_file = runner.home / ".config" / "mcp-router" / "tokens.enc"
    assert store_file.is_file()  # scanned too: it holds ciphertext only
    roots = [runner.home, runner.temp, runner.workspace, runner.root / "files"]
    assert scan_tree(CANARY, *roots) == {}


@pytest.mark.skipif(not have_strace(), reason="strace is not installed (make system-deps)")
def test_value_in_no_child_process_argv_or_env(
        action_run: tuple[Runner, list[StepResult]]) -> None:
    _, results = action_run
    store = results[1]
    assert store.trace is not None
    processes = list(execs(store.trace))
    step_shells = [p for p in processes if p.argv[:1] == ["bash"]]
    others = [p for p in processes if p not in step_shells]
    # The step's shell gets the value in its environment (that is how Actions passes env:)
    # and replaces itself with the script: that is all.
    assert [p.argv[1:] for p in step_shells] == [
        ["--noprofile", "--norc", "-eo", "pipefail", p.argv[-1]] for p in step_shells[:1]
    ] + [[str(REPO / "scripts" / "gha-setup.sh"), "store"]]
    assert all(find_leaks(CANARY, "\0".join(p.env)) for p in step_shells)
    assert any(Path(p.argv[0]).name == "mcp-router" or "mcp-router" in " ".join(p.argv)
               for p in others), "the scan saw no mcp-router process"
    for process in processes:
        assert find_leaks(CANARY, "\0".join(process.argv)) == [], process.argv
    for process in others:
        assert find_leaks(CANARY, "\0".join(process.env)) == [], process.argv
    install = results[0]
    assert install.trace is not None
    for process in execs(install.trace):
        assert find_leaks(CANARY, "\0".join(process.argv + process.env)) == []


# -- inputs and edge cases, on the venv installed above -------------------------------------
def test_xtrace_from_the_job_env_does_not_print_the_value(installed: Runner) -> None:
    installed.extra_env["SHELLOPTS"] = "xtrace"
    result = store_step(installed, **{"token-name": "ci-token", "token-value": CANARY})
    assert result.returncode == 0, result.stderr
    assert "+ exec bash" in result.stderr  # the trace was really on in the step's shell
    assert leaky_lines(result) == []


def test_multiline_value_is_escaped_and_masked_line_by_line(installed: Runner) -> None:
    value = "first-line%0A\r\nsecond line\n\nthird"
    result = store_step(installed, **{"token-name": "ml-token", "token-value": value})
    assert result.returncode == 0, result.stderr
    masks = [line for line in result.stdout.splitlines() if line.startswith("::add-mask::")]
    assert masks == ["::add-mask::first-line%250A%0D%0Asecond line%0A%0Athird",
                     "::add-mask::first-line%250A", "::add-mask::second line",
                     "::add-mask::third"]
    got = later_step(installed, "token", "get", "--name", "ml-token", "--export", "--yes")
    assert got.stdout == value + "\n"


def test_a_trailing_newline_is_dropped_by_the_stdin_rule(installed: Runner) -> None:
    result = store_step(installed, **{"token-name": "nl-token", "token-value": "abc-123\n"})
    assert result.returncode == 0, result.stderr
    got = later_step(installed, "token", "get", "--name", "nl-token", "--export", "--yes")
    assert got.stdout == "abc-123\n"


def test_passphrase_input_guards_the_file_and_is_not_exported(installed: Runner) -> None:
    phrase = f"pp-{uuid.uuid4().hex}"
    result = store_step(installed, **{"token-name": "ci-token", "token-value": CANARY,
                                      "passphrase": phrase})
    assert result.returncode == 0, result.stderr
    assert f"::add-mask::{phrase}" in result.stdout.splitlines()
    assert "MCP_ROUTER_PASSPHRASE" not in installed.job_env
    assert scan_tree(phrase, installed.root) == {}
    locked = later_step(installed, "token", "get", "--name", "ci-token", "--export", "--yes")
    assert locked.returncode == 7
    assert "MCP_ROUTER_PASSPHRASE" in locked.stderr and CANARY not in locked.stdout
    opened = later_step(installed, "token", "get", "--name", "ci-token", "--export", "--yes",
                        env={"MCP_ROUTER_PASSPHRASE": phrase})
    assert (opened.returncode, opened.stdout) == (0, CANARY + "\n")


def test_passphrase_on_a_file_made_without_one_fails_the_step(installed: Runner) -> None:
    first = store_step(installed, **{"token-name": "early-token", "token-value": "early-value"})
    assert first.returncode == 0, first.stderr
    result = store_step(installed, **{"token-name": "ci-token", "token-value": CANARY,
                                      "passphrase": "too-late-passphrase"})
    assert result.returncode == 1
    assert ("::error title=mcp-router setup::the token file was created earlier without a "
            "passphrase") in result.stdout
    assert leaky_lines(result) == []


def test_config_input_is_exported_as_an_absolute_path(installed: Runner) -> None:
    token_file = installed.temp / "job-tokens.enc"
    (installed.workspace / "ci").mkdir()
    (installed.workspace / "ci" / "router.yaml").write_text(
        f"version: 1\nadvanced:\n  secure_storage:\n    backend: file\n"
        f"    file_path: {token_file}\n")
    result = store_step(installed, **{"token-name": "ci-token", "token-value": CANARY,
                                      "config": "ci/router.yaml"})
    assert result.returncode == 0, result.stderr
    assert installed.job_env == {
        "MCP_ROUTER_CONFIG": str(installed.workspace / "ci" / "router.yaml")}
    assert token_file.is_file()
    got = later_step(installed, "token", "get", "--name", "ci-token", "--export", "--yes")
    assert got.stdout == CANARY + "\n"


@pytest.mark.parametrize(("inputs", "message"), [
    ({"token-name": "ci-token", "token-value": ""}, "the input token-value is empty"),
    ({"token-name": "", "token-value": CANARY}, "the input token-name is required"),
    ({"token-name": "ci-token", "token-value": CANARY, "config": "missing.yaml"},
     "config file 'missing.yaml' does not exist"),
])
def test_bad_inputs_fail_the_step_with_an_error_annotation(
        installed: Runner, inputs: dict[str, str], message: str) -> None:
    result = store_step(installed, **inputs)
    assert result.returncode == 1
    assert f"::error title=mcp-router setup::{message}" in result.stdout
    assert leaky_lines(result) == []
    assert not (installed.home / ".config" / "mcp-router" / "tokens.enc").exists()


def test_a_bad_token_name_fails_with_the_cli_error(installed: Runner) -> None:
    result = store_step(installed, **{"token-name": "Bad Name", "token-value": CANARY})
    assert result.returncode == 4
    assert "error: " in result.stderr and leaky_lines(result) == []


def test_version_input_must_look_like_a_version(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    results = runner.run_composite(REPO, {"token-name": "t", "token-value": CANARY,
                                          "version": "1.0 --index-url=http://evil"})
    assert [r.returncode for r in results] == [1]
    assert "is not a version number" in results[0].stdout
    assert not (runner.temp / "mcp-router-venv").exists()


def _foreign_wheel(directory: Path, marker: Path) -> None:
    """A wheel named mcp-router 9.9.9 that is some other project: it has no
    mcp_router.backends entry points, and touches ``marker`` if any of it ever runs."""
    touch = f"open({str(marker)!r}, 'w').close()\n"
    files = {
        "mcp_router/__init__.py": touch,
        "mcp_router/cli.py": touch + "def main():\n    pass\n",
        "mcp_router-9.9.9.dist-info/METADATA":
            "Metadata-Version: 2.1\nName: mcp-router\nVersion: 9.9.9\n",
        "mcp_router-9.9.9.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "mcp_router-9.9.9.dist-info/entry_points.txt":
            "[console_scripts]\nmcp-router = mcp_router.cli:main\n",
    }
    record = []
    with zipfile.ZipFile(directory / "mcp_router-9.9.9-py3-none-any.whl", "w") as wheel:
        for name, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
            wheel.writestr(name, data)
        record.append("mcp_router-9.9.9.dist-info/RECORD,,")
        wheel.writestr("mcp_router-9.9.9.dist-info/RECORD", "\n".join(record) + "\n")


def test_version_input_refuses_a_package_that_is_not_this_project(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    marker = tmp_path / "foreign-code-ran"
    _foreign_wheel(index, marker)
    runner = Runner(tmp_path / "job", extra_env={"PIP_NO_INDEX": "1",
                                                 "PIP_FIND_LINKS": str(index)})
    results = runner.run_composite(REPO, {"token-name": "ci-token", "token-value": CANARY,
                                          "version": "9.9.9"})
    assert [r.returncode for r in results] == [1]
    assert ("::error title=mcp-router setup::the installed mcp-router (mcp-router==9.9.9) is "
            "not this project") in results[0].stdout
    assert runner.job_path == []  # nothing put on PATH for later steps
    assert not marker.exists()  # and nothing of it ran


# -- the self-test workflow ------------------------------------------------------------------
def test_selftest_workflow_uses_the_action_on_itself() -> None:
    steps = load_yaml(WORKFLOW)["jobs"]["selftest"]["steps"]
    uses = [i for i, s in enumerate(steps) if s.get("uses") == "./"]
    assert len(uses) == 1
    assert {"token-name", "token-value"} <= set(steps[uses[0]]["with"])
    later = " ".join(s.get("run", "") for s in steps[uses[0] + 1:])
    assert "mcp-router token get --name ci-token --export --yes" in later


@pytest.mark.parametrize("variant", ["plain", "passphrase"])
def test_selftest_workflow_job_passes_here(gha_runner: Callable[..., Runner],
                                           variant: str) -> None:
    runner = gha_runner()
    results = runner.run_job(WORKFLOW, "selftest", {"os": "ubuntu-latest", "variant": variant})
    for result in results:
        assert result.returncode == 0, (result.name, result.stdout, result.stderr)
    names = [r.name for r in results]
    assert names[-3:] == ["Read the token back in a later step (compared, never printed)",
                          "Nothing prompts in CI, and the passphrase really guards the file",
                          "Clean up"]
    assert "ci-token read back from the file store: it matches" in results[-3].stdout
    token = runner.steps["value"]["token"]
    for result in results:
        assert leaky_lines(result, token) == [], result.name
