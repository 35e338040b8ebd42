"""docs/embedding.md says how many lines of code the FastAPI example needs (the measure
of issue #27): the number it gives is the number the example has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples/web/fastapi_app/school_api.py"
DOC = ROOT / "docs/embedding.md"


def lines_of_code(source: str) -> int:
    """Lines that are not blank, not a comment and not part of a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def test_the_counter_skips_blank_lines_comments_and_docstrings() -> None:
    source = (
        '"""Module.\n\nMore."""\n\n# why\nx = 1  # kept\n\n\n'
        'def f() -> None:\n    """Doc."""\n    return None\n'
    )
    assert lines_of_code(source) == 3


def test_the_documented_size_of_the_fastapi_app_is_its_real_size() -> None:
    found = re.findall(r"the FastAPI app is \*\*(\d+) lines\*\*", DOC.read_text())
    assert len(found) == 1, "docs/embedding.md must state the app's size once"
    assert int(found[0]) == lines_of_code(APP.read_text()), (
        f"docs/embedding.md says {found[0]} lines; {APP.name} has "
        f"{lines_of_code(APP.read_text())}: update the number in the doc"
    )
