"""Every deprecation of the library warns with ``EduEngineDeprecationWarning``, so a suite
can make eduengine's own deprecations errors without failing on other packages'."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

import eduengine
from eduengine.kernel.deprecation import EduEngineDeprecationWarning, warn_moved

SRC = Path(eduengine.__file__).parent


def _categories() -> list[tuple[str, int, str]]:
    """(file, line, category) of every ``warnings.warn`` call under src/eduengine."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "warn"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "warnings"
            ):
                continue
            given = [k.value for k in node.keywords if k.arg == "category"] + node.args[1:2]
            category = ast.unparse(given[0]) if given else "UserWarning"
            found.append((str(path.relative_to(SRC)), node.lineno, category))
    return found


def test_every_deprecation_of_the_library_is_an_eduengine_deprecation_warning() -> None:
    found = _categories()
    assert len(found) >= 15  # the scan sees the library's deprecations
    assert [f for f in found if f[2] != "EduEngineDeprecationWarning"] == []


def test_the_library_s_deprecations_are_deprecation_warnings_others_are_not_theirs() -> None:
    with pytest.warns(EduEngineDeprecationWarning, match="import eduengine.kernel.new"):
        warn_moved("eduengine.old", "eduengine.kernel.new")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_moved("eduengine.old", "eduengine.kernel.new")
        warnings.warn("another package's deprecation", DeprecationWarning, stacklevel=1)
    assert [issubclass(w.category, DeprecationWarning) for w in caught] == [True, True]
    assert [issubclass(w.category, EduEngineDeprecationWarning) for w in caught] == [True, False]
