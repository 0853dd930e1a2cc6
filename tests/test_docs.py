"""The generated docs are current, the exit-code table matches errors.py, and the README
links every user doc."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mcp_router.errors as errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
USER_DOCS = ["user-guide.md", "cli.md", "exit-codes.md", "api.md"]


def test_generated_docs_are_up_to_date() -> None:
    """docs/cli.md comes from every command's --help, the exit-code table from errors.py.
    When this fails, run ``make docs`` and commit the result."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"),
                           "--check"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr + "\nrun `make docs` and commit docs/"


def test_exit_code_table_lists_every_error_with_its_code() -> None:
    text = (DOCS / "exit-codes.md").read_text(encoding="utf-8")
    table = dict((name, int(code)) for code, name in
                 re.findall(r"^\| (\d+) \| [^`|]*`(\w+)` \|", text, re.M))
    expected = {name: getattr(errors, name).exit_code for name in errors.__all__}
    assert table == expected


def test_cli_reference_covers_the_foundation_commands() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for command in ("set", "update", "get", "list", "delete", "import"):
        assert f"\n## mcp-router token {command}\n" in text
        assert f"Usage: mcp-router token {command} [OPTIONS]" in text


def test_readme_links_every_user_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)[1]
    for doc in USER_DOCS:
        assert f"](docs/{doc})" in section, doc


def test_links_between_docs_resolve() -> None:
    for doc in USER_DOCS:
        text = (DOCS / doc).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (DOCS / target).is_file(), f"{doc} links to missing {target}"
