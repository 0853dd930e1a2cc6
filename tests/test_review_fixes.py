"""Small structural rules found in review: one definition per constant, a lean public API,
and a light start-up for the everyday commands."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mcp_router"


def test_the_passphrase_variable_is_defined_once() -> None:
    definition = re.compile(r"^\s*PASSPHRASE_ENV\s*(:[^=]*)?=", re.MULTILINE)
    where = [path.relative_to(SRC).as_posix() for path in sorted(SRC.rglob("*.py"))
             if definition.search(path.read_text(encoding="utf-8"))]
    assert where == ["secure/backends/encfile.py"]
