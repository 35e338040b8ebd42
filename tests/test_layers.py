"""The layers hold: import-linter's contracts in ``pyproject.toml`` pass on the package,
and fail when an import reaches upward (at the top of a module, inside a function, or
under ``TYPE_CHECKING``); ``scripts/layers.py`` finds cycles, hidden imports and draws
the package graph that ``docs/architecture.md`` shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "layers.py"
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports() -> str:
    found = Path(sys.executable).parent / "lint-imports"
    if found.exists():
        return str(found)
    which = shutil.which("lint-imports")
    if which is None:
        pytest.skip("import-linter is not installed (it is in the dev dependency group)")
    return which


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run(
        [_lint_imports(), "--no-cache", str(PYPROJECT)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


PLANTS = {
    "top": "from eduengine.bootstrap import School as _School\n",
    "function": "def _planted() -> object:\n    from eduengine.bootstrap import School\n\n"
    "    return School\n",
    "type-checking": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
    "    from eduengine.bootstrap import School as _School\n",
}


@pytest.mark.parametrize("where", sorted(PLANTS))
def test_a_planted_upward_import_breaks_the_contracts(tmp_path: Path, where: str) -> None:
    # errors.py is the bottom of every layering: importing the composition root from it
    # is the upward import the contracts exist to refuse, wherever it is written
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "eduengine", src / "eduengine", ignore=shutil.ignore_patterns("__pycache__")
    )
    errors = src / "eduengine" / "errors.py"
    errors.write_text(errors.read_text() + "\n\n" + PLANTS[where])
    result = _lint(src, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "eduengine.errors -> eduengine.bootstrap" in result.stdout


def _findings() -> dict[str, list[str]]:
    result = _script("--json")
    assert result.returncode == 0, result.stderr
    found: dict[str, list[str]] = json.loads(result.stdout)
    return found


def test_no_module_imports_itself_through_others() -> None:
    """No circle of modules, counting imports inside functions and under TYPE_CHECKING
    (which import-linter's contracts count as well)."""
    found = _findings()
    assert found["cycles"] == []
    assert found["import_time_cycles"] == []


#: psycopg is the optional ``postgres`` extra: these import the PostgreSQL adapter only
#: when a PostgreSQL store is asked for (each says so where it is written)
LAZY_DRIVER_IMPORTS = {
    "eduengine.ops.stores -> eduengine.adapters.postgres",
    "eduengine.web.django -> eduengine.adapters.postgres",
}


def test_imports_inside_functions_are_only_the_optional_drivers() -> None:
    found = _findings()
    assert set(found["function_imports"]) <= LAZY_DRIVER_IMPORTS
    assert set(found["type_checking_imports"]) <= {
        "eduengine.ops.stores -> eduengine.adapters.postgres"
    }


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "pkg"


def _script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


SMALL = {
    "__init__.py": "",
    "errors.py": "class Oops(Exception):\n    pass\n",
    "a.py": """\
        from pkg import b
        from pkg.errors import Oops
        """,
    "b.py": """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from pkg.a import Oops


        def later() -> None:
            from . import c
        """,
    "c.py": "import pkg.a\n",
    "sub/__init__.py": "",
    "sub/d.py": "from ..errors import Oops\nfrom pkg.sub import e\n",
    "sub/e.py": "",
}


def test_the_script_finds_cycles_through_hidden_imports_and_at_import_time(
    tmp_path: Path,
) -> None:
    package = _package(tmp_path, SMALL)
    result = _script("--package", package, "--pyproject", tmp_path / "none.toml", "--cycles")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # a -> b (top), b -> a (type checking), b -> c (function), c -> a (top)
    assert "## cycles counting every import: 1 (sizes: 3)" in out
    assert "- 3 modules: pkg.a pkg.b pkg.c" in out
    assert "## cycles at import time: 0 (sizes: none)" in out


def test_the_script_lists_function_and_type_checking_imports_with_their_lines(
    tmp_path: Path,
) -> None:
    package = _package(tmp_path, SMALL)
    result = _script("--package", package, "--pyproject", tmp_path / "none.toml", "--functions")
    assert result.returncode == 0, result.stderr
    assert "## function imports: 1\n- pkg.b:8 -> pkg.c\n" in result.stdout
    assert "## type-checking imports: 1\n- pkg.b:4 -> pkg.a\n" in result.stdout


def test_the_graph_has_a_node_per_package_and_dotted_edges_for_hidden_imports(
    tmp_path: Path,
) -> None:
    package = _package(tmp_path, SMALL)
    result = _script("--package", package, "--pyproject", tmp_path / "none.toml", "--graph")
    assert result.returncode == 0, result.stderr
    graph = result.stdout.split("## graph\n")[1]
    assert graph.startswith("```mermaid\nflowchart TD\n")
    for line in ("  a --> b", "  a --> errors", "  c --> a", "  sub --> errors"):
        assert line + "\n" in graph
    # only in-function (or type-checking) imports: dotted
    assert "  b -.-> c\n" in graph
    # b reaches a through c already, so its type-checking import of a is not drawn...
    assert "b -.-> a" not in graph
    # ... unless every edge is asked for
    every = _script(
        "--package", package, "--pyproject", tmp_path / "none.toml", "--graph", "--every-edge"
    )
    assert "  b -.-> a\n" in every.stdout
    # the relative import inside sub/ stays inside its node
    assert "sub --> sub" not in graph


def test_declared_layers_become_the_rows_of_the_graph(tmp_path: Path) -> None:
    package = _package(tmp_path, SMALL)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        textwrap.dedent(
            """\
            [[tool.importlinter.contracts]]
            name = "layers"
            type = "layers"
            containers = ["pkg"]
            layers = ["c", "a | b", "sub", "errors"]
            """
        )
    )
    result = _script("--package", package, "--pyproject", pyproject, "--graph")
    assert result.returncode == 0, result.stderr
    assert '  subgraph layer2["a · b"]\n    a\n    b\n  end\n' in result.stdout
    assert '  subgraph layer4["errors"]\n    errors\n  end\n' in result.stdout


def test_write_puts_the_graph_between_the_markers_and_check_sees_it_drift(
    tmp_path: Path,
) -> None:
    package = _package(tmp_path, SMALL)
    page = tmp_path / "architecture.md"
    page.write_text("# Layers\n\n<!-- layers:begin -->\nold\n<!-- layers:end -->\n\nAfter.\n")
    none = tmp_path / "none.toml"
    assert _script("--package", package, "--pyproject", none, "--check", page).returncode == 1

    assert _script("--package", package, "--pyproject", none, "--write", page).returncode == 0
    text = page.read_text()
    assert text.startswith("# Layers\n\n<!-- layers:begin -->\n```mermaid\n")
    assert text.endswith("```\n<!-- layers:end -->\n\nAfter.\n")
    assert _script("--package", package, "--pyproject", none, "--check", page).returncode == 0

    (package / "errors.py").write_text("from pkg.sub import e\n")
    stale = _script("--package", package, "--pyproject", none, "--check", page)
    assert stale.returncode == 1
    assert "--write" in stale.stderr
    assert page.read_text() == text


def test_a_page_without_markers_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, SMALL)
    page = tmp_path / "page.md"
    page.write_text("no markers\n")
    result = _script("--package", package, "--check", page)
    assert result.returncode == 2
    assert "<!-- layers:begin -->" in result.stderr
    assert page.read_text() == "no markers\n"


def test_the_architecture_page_shows_the_current_graph() -> None:
    page = ROOT / "docs" / "architecture.md"
    if "<!-- layers:begin -->" not in page.read_text():
        pytest.skip("docs/architecture.md has no generated layer graph yet (issue #21)")
    result = _script("--check", page)
    assert result.returncode == 0, result.stderr


def test_the_script_reads_the_real_package() -> None:
    result = _script()
    assert result.returncode == 0, result.stderr
    assert "## cycles at import time:" in result.stdout
    assert "```mermaid" in result.stdout


def test_the_script_examples_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "doctest", str(SCRIPT)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
