"""The layers of DESIGN.md: data flows down, never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import mcp_router

PACKAGE = Path(mcp_router.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (lazy imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_secure_knows_nothing_of_the_cli_or_the_config() -> None:
    """secure/ is usable as a library: no import of cli/ or config/, not even a lazy one."""
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / "secure").rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(("mcp_router.cli", "mcp_router.config", "click"))
    }
    assert not offending
