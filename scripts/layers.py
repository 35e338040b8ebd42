#!/usr/bin/env python3
"""Read the imports of a package and show its layers, circles and hidden imports (stdlib only).

    python3 scripts/layers.py                       # report on src/eduengine
    python3 scripts/layers.py --cycles --functions  # only those sections
    python3 scripts/layers.py --write docs/architecture.md
    python3 scripts/layers.py --check docs/architecture.md   # exit 1 when out of date

Every ``import`` of the package is found with :mod:`ast`, wherever it is written: at the
top of a module, inside a function, or under ``if TYPE_CHECKING:``. An import inside a
function or for the type checker only still ties the two modules together (it is the
circle, not a way out of it), so the circles are reported twice: counting every import,
and counting only the imports that run when a module is first imported.

The report has three parts:

- **cycles**: the strongly connected components of the module graph (groups of modules
  that reach each other through imports), largest first;
- **in-function imports**: ``module:line -> imported module``;
- **graph**: a Mermaid flowchart with one node per subpackage or top-level module and one
  edge per pair that imports across; an edge made only of in-function or type-checking
  imports is dotted, and an edge that a longer path implies is left out (``--every-edge``
  keeps them). When ``pyproject.toml`` declares an import-linter ``layers`` contract on
  the package, its layers become the graph's rows (top layer first).

``--write FILE`` puts the graph between the lines ``<!-- layers:begin -->`` and
``<!-- layers:end -->`` of ``FILE`` (the markers must be there already); ``--check FILE``
changes nothing and exits 1 if the graph there differs from the code's.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- layers:begin -->"
END = "<!-- layers:end -->"

#: where the import is written, which decides when it runs
TOP = "top"
FUNCTION = "function"
TYPING = "type-checking"


@dataclass(frozen=True, order=True)
class Import:
    """One import statement's edge: ``importer`` imports ``imported`` at ``line``."""

    importer: str
    imported: str
    line: int
    where: str


def module_names(package: Path) -> dict[str, Path]:
    """Every module of the package directory ``package``, by dotted name.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "pkg" / "sub").mkdir(parents=True)
    ...     for f in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
    ...         _ = (Path(d) / "pkg" / f).write_text("")
    ...     sorted(module_names(Path(d) / "pkg"))
    ['pkg', 'pkg.a', 'pkg.sub', 'pkg.sub.b']
    """
    names: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(node: ast.AST, where: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import under ``node``, with where it runs (a function wins over typing)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, where
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, FUNCTION)
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and where == TOP:
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), TYPING)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), TOP)
        else:
            yield from _walk(child, where)


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The most specific module of the package that ``name`` names or lives in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """The imports of ``module`` (at ``path``) that reach modules in ``known``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node, where in _walk(tree, TOP):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                # a relative import counts from the module's package
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # as grimp (import-linter) counts: ``from pkg import mod`` imports the module
            # pkg.mod, ``from pkg import name`` the package pkg
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            resolved = _resolve(target, known)
            if resolved is not None and resolved != module:
                found.append(Import(module, resolved, node.lineno, where))
    return sorted(set(found))


def all_imports(package: Path) -> list[Import]:
    """Every import between the modules of ``package``, sorted."""
    known = module_names(package)
    return sorted(i for name, path in known.items() for i in imports_of(name, path, known))


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one member, largest first.

    >>> cycles([("a", "b"), ("b", "a"), ("b", "c"), ("c", "d"), ("d", "c"), ("e", "a")])
    [['a', 'b'], ['c', 'd']]
    """
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    # Tarjan's algorithm, iterative: a deep package would overflow Python's stack
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(components, key=lambda c: (-len(c), c))


def node_of(module: str, root: str) -> str:
    """The graph node of ``module``: its subpackage, or itself at the top of ``root``.

    >>> node_of("eduengine.booking.model", "eduengine"), node_of("eduengine.clock", "eduengine")
    ('booking', 'clock')
    """
    rest = module.removeprefix(root).lstrip(".")
    return rest.split(".")[0] if rest else "__init__"


def declared_layers(pyproject: Path, root: str) -> list[list[str]]:
    """The layers (top first) of the first import-linter ``layers`` contract on ``root``.

    Each layer is a list of node names (``"a | b"`` and ``"a : b"`` are siblings).
    """
    if not pyproject.exists():
        return []
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    contracts = config.get("tool", {}).get("importlinter", {}).get("contracts", [])
    for contract in contracts:
        if contract.get("type") != "layers":
            continue
        containers = contract.get("containers", [])
        if containers and root not in containers:
            continue
        rows: list[list[str]] = []
        for layer in contract.get("layers", []):
            names = [n.strip().strip("()") for n in layer.replace(":", "|").split("|")]
            rows.append([node_of(n, root) if not containers else n.split(".")[0] for n in names])
        return rows
    return []


def reduced(edges: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """``edges`` without those another path already implies (what reaches what is kept).

    >>> sorted(reduced([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")]))
    [('a', 'b'), ('b', 'c'), ('c', 'd')]
    """
    kept = set(edges)
    for edge in sorted(kept):
        start, goal = edge
        seen, todo = {start}, [b for a, b in kept if a == start and (a, b) != edge]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(b for a, b in kept if a == node)
        # removed one at a time: each removal keeps every node reaching what it reached
        if goal in seen:
            kept.discard(edge)
    return kept


def mermaid(
    imports: Sequence[Import],
    root: str,
    layers: Sequence[Sequence[str]] = (),
    *,
    every_edge: bool = False,
) -> str:
    """A Mermaid flowchart of the package's nodes and the imports between them.

    Unless ``every_edge``, an edge that a longer path implies is left out, so an arrow
    reads "imports, directly or through the packages it points to"."""
    solid: set[tuple[str, str]] = set()
    dotted: set[tuple[str, str]] = set()
    nodes: set[str] = set()
    for i in imports:
        a, b = node_of(i.importer, root), node_of(i.imported, root)
        nodes.update((a, b))
        if a != b and "__init__" not in (a, b):
            (solid if i.where == TOP else dotted).add((a, b))
    nodes.discard("__init__")
    if not every_edge:
        kept = reduced(solid | dotted)
        solid &= kept
        dotted &= kept
    lines = ["```mermaid", "flowchart TD"]
    placed: set[str] = set()
    for number, row in enumerate(layers, start=1):
        members = [n for n in row if n in nodes]
        if not members:
            continue
        lines.append(f'  subgraph layer{number}["{" · ".join(row)}"]')
        lines.extend(f"    {n}" for n in members)
        lines.append("  end")
        placed.update(members)
    lines.extend(f"  {n}" for n in sorted(nodes - placed))
    lines.extend(f"  {a} --> {b}" for a, b in sorted(solid))
    lines.extend(f"  {a} -.-> {b}" for a, b in sorted(dotted - solid))
    lines.append("```")
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with ``block`` between the markers; raises ``ValueError`` without them."""
    head, begin, rest = text.partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN} and {END} must each start a line")
    return head + begin + block + end + tail


def findings(imports: Sequence[Import]) -> dict[str, list[list[str]] | list[str]]:
    """The cycles (counting every import, and at import time only) and each import made
    inside a function or under ``TYPE_CHECKING``, as ``importer -> imported``: what the
    tests compare with what is allowed.

    >>> findings([Import("p.a", "p.b", 3, FUNCTION), Import("p.b", "p.a", 1, TOP)])["cycles"]
    [['p.a', 'p.b']]
    """
    return {
        "cycles": cycles((i.importer, i.imported) for i in imports),
        "import_time_cycles": cycles((i.importer, i.imported) for i in imports if i.where == TOP),
        "function_imports": _edges(i for i in imports if i.where == FUNCTION),
        "type_checking_imports": _edges(i for i in imports if i.where == TYPING),
    }


def _edges(imports: Iterable[Import]) -> list[str]:
    return sorted({f"{i.importer} -> {i.imported}" for i in imports})


def report(
    imports: Sequence[Import],
    root: str,
    sections: set[str],
    layers: Sequence[Sequence[str]] = (),
    *,
    every_edge: bool = False,
) -> str:
    """The text report of the chosen ``sections`` (cycles, functions, graph)."""
    out: list[str] = []
    if "cycles" in sections:
        every = cycles((i.importer, i.imported) for i in imports)
        at_import = cycles((i.importer, i.imported) for i in imports if i.where == TOP)
        for title, found in (("counting every import", every), ("at import time", at_import)):
            sizes = ", ".join(str(len(c)) for c in found) or "none"
            out.append(f"## cycles {title}: {len(found)} (sizes: {sizes})")
            out.extend(f"- {len(c)} modules: {' '.join(c)}" for c in found)
            out.append("")
        # what a layers contract sees: subpackages and top-level modules as wholes
        between = cycles((node_of(i.importer, root), node_of(i.imported, root)) for i in imports)
        out.append(f"## cycles between packages (every import): {len(between)}")
        out.extend(f"- {len(c)} packages: {' '.join(c)}" for c in between)
        out.append("")
    if "functions" in sections:
        hidden = [i for i in imports if i.where != TOP]
        for where in (FUNCTION, TYPING):
            mine = [i for i in hidden if i.where == where]
            out.append(f"## {where} imports: {len(mine)}")
            out.extend(f"- {i.importer}:{i.line} -> {i.imported}" for i in mine)
            out.append("")
    if "graph" in sections:
        out.append("## graph")
        out.append(mermaid(imports, root, layers, every_edge=every_edge))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--package", type=Path, default=ROOT / "src" / "eduengine", help="package directory"
    )
    parser.add_argument("--pyproject", type=Path, default=None, help="for the declared layers")
    parser.add_argument("--cycles", action="store_true", help="report the import cycles")
    parser.add_argument("--functions", action="store_true", help="report in-function imports")
    parser.add_argument("--graph", action="store_true", help="print the Mermaid graph")
    parser.add_argument(
        "--every-edge", action="store_true", help="draw edges that longer paths imply too"
    )
    parser.add_argument("--write", type=Path, metavar="FILE", help="put the graph into FILE")
    parser.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE is stale")
    parser.add_argument(
        "--json", action="store_true", help="print the cycles and hidden imports as JSON"
    )
    args = parser.parse_args(argv)
    package: Path = args.package.resolve()
    root = package.name
    imports = all_imports(package)
    if args.json:
        print(json.dumps(findings(imports), indent=2))
        return 0
    pyproject: Path = args.pyproject or package.parent.parent / "pyproject.toml"
    if args.write or args.check:
        block = mermaid(imports, root, declared_layers(pyproject, root), every_edge=args.every_edge)
        target: Path = args.write or args.check
        text = target.read_text(encoding="utf-8")
        try:
            wanted = replace_block(text, block)
        except ValueError as error:
            print(f"{target}: {error}", file=sys.stderr)
            return 2
        if args.check:
            if wanted != text:
                print(
                    f"{target} shows an old import graph; run python3 scripts/layers.py "
                    f"--write {target}",
                    file=sys.stderr,
                )
                return 1
            return 0
        if wanted != text:
            target.write_text(wanted, encoding="utf-8")
        return 0
    sections = {s for s in ("cycles", "functions", "graph") if getattr(args, s)}
    layers = declared_layers(pyproject, root)
    chosen = sections or {"cycles", "functions", "graph"}
    print(report(imports, root, chosen, layers, every_edge=args.every_edge), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
