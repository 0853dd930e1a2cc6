"""docs/ci-cd.md stays honest: every command on the page is run by a test.

- Shell code blocks, the ``sh '...'`` lines of Groovy blocks and inline ```mcp-router ...```
  spans: each command must be a string constant of one of the CI/CD test modules, which
  run them (after joining ``\\``-continued lines and dropping comments).
- The GitHub Actions workflow block is run here as it stands, step by step, by the runner
  emulator, with ``uses: <owner>/mcp-router@<ref>`` pointing at this checkout.
- The table of the action's inputs lists exactly the inputs action.yml declares.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gha_emulator import REPO, Runner, load_yaml
from leakcheck import find_leaks, plant_secret

DOC = REPO / "docs" / "ci-cd.md"
TEST_MODULES = ["test_ci_recipes.py", "test_noninteractive.py", "test_github_action.py",
                "test_ci_docs.py"]
ACTION_REF = re.compile(r"^[\w.-]+/mcp-router@[\w.-]+$")


def code_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def normalise(command: str) -> str:
    return " ".join(command.replace("\\\n", " ").split())


def shell_commands(block: str) -> list[str]:
    """Logical command lines: continuations joined, comment lines and comments dropped."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#\s.*$", "", line).strip()
        if line:
            commands.append(normalise(line))
    return commands


def documented_commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    commands: list[str] = []
    for lang, body in code_blocks(text):
        if lang in ("bash", "sh", "shell"):
            commands += shell_commands(body)
        elif lang == "groovy":
            commands += [normalise(c) for c in re.findall(r"\bsh '([^']*)'", body)]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    commands += [normalise(c) for c in re.findall(r"`(mcp-router [^`]+)`", prose)]
    return commands


def strings_in_tests() -> set[str]:
    found: set[str] = set()
    for name in TEST_MODULES:
        tree = ast.parse((Path(__file__).parent / name).read_text(encoding="utf-8"))
        found |= {normalise(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return found


def workflow_blocks() -> list[dict]:
    return [yaml.safe_load(body) for lang, body in code_blocks(DOC.read_text())
            if lang == "yaml" and "jobs:" in body]


def test_the_page_has_commands_to_check() -> None:
    commands = documented_commands()
    assert len(commands) >= 10
    assert "mcp-router token import --name ci-token --env TOKEN --force" in commands
    assert any(c.startswith("kubectl get secret mcp-tokens -o json |") for c in commands)
    assert len(workflow_blocks()) == 1


def test_every_documented_command_is_run_by_a_test() -> None:
    tested = strings_in_tests()
    untested = [c for c in documented_commands() if c not in tested]
    assert untested == [], "commands in docs/ci-cd.md that no test runs"


def test_the_inputs_table_matches_action_yml() -> None:
    text = DOC.read_text(encoding="utf-8")
    github = text[text.index("## GitHub Actions"):text.index("## Jenkins")]
    documented = set(re.findall(r"^\| `([\w-]+)` \|", github, flags=re.MULTILINE))
    assert documented == set(load_yaml(REPO / "action.yml")["inputs"])


@pytest.mark.slow
def test_the_documented_workflow_runs(gha_runner: Callable[..., Runner]) -> None:
    (workflow,) = workflow_blocks()
    ((_job_name, job),) = workflow["jobs"].items()
    refs = [s["uses"] for s in job["steps"] if "mcp-router@" in s.get("uses", "")]
    assert len(refs) == 1 and ACTION_REF.match(refs[0]), refs
    token, phrase = plant_secret("doc-token"), plant_secret("doc-passphrase")
    runner = gha_runner()
    results = runner.run_steps(job["steps"], {
        "secrets": {"MCP_AUTH_TOKEN": token, "MCP_ROUTER_PASSPHRASE": phrase}},
        actions={refs[0]: REPO})
    for result in results:
        assert result.returncode == 0, (result.name, result.stdout, result.stderr)
        for line in (result.stdout + result.stderr).splitlines():
            assert line.startswith("::add-mask::") or not (
                find_leaks(token, line) or find_leaks(phrase, line)), (result.name, line)
    listed = next(r for r in results if r.name == "A later step that uses the token")
    assert listed.stdout.splitlines()[1].startswith("ci-token ")
    assert results[-1].name.startswith("Forget the token")
    assert "deleted 'ci-token'" in results[-1].stderr
    assert (runner.home / ".config" / "mcp-router" / "tokens.enc").is_file()


@pytest.mark.parametrize("block", ["bash", "groovy"])
def test_extraction_sees_each_kind_of_block(block: str) -> None:
    langs = {lang for lang, _ in code_blocks(DOC.read_text())}
    assert block in langs
