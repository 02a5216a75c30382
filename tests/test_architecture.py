"""The package map of ARCHITECTURE.md, enforced: layers, no import circles, light imports.

Imports are read from the source (every ``import`` and ``from ... import``, at module level or
inside functions; ``if TYPE_CHECKING:`` blocks excepted, since they never run), so a new
back edge fails here before it shows up as a slow start or an import error in a worker.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "polymask"

LAYERS: list[set[str]] = [
    {"polymask", "polymask.errors", "polymask.limits"},
    {"polymask.io"},
    {"polymask.runtime"},
    {
        "polymask.labels",
        "polymask.model",
        "polymask.config",
        "polymask.conventions",
        "polymask.visualize",
    },
    {"polymask.formats"},
    {"polymask.raster"},
    {"polymask.settings"},
    {"polymask.dataset"},
    {"polymask.validate", "polymask.rasterize", "polymask.stats", "polymask.score"},
    {"polymask.report", "polymask.losses", "polymask.schemas", "polymask.training"},
    {"polymask.cli"},
    {"polymask.__main__"},
]
"""Units from the bottom up. A unit is a top-level module or a subpackage; a module may import
its own unit and the units of lower layers, nothing else."""


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    for path in PACKAGE.rglob("*.c"):  # C extensions are modules too
        names[".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)] = path
    return names


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The polymask modules that ``name`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "polymask")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "polymask":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    found.discard(name)
    return found


def unit_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def layer_of(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{unit} is in no layer of tests/test_architecture.py: place it")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    names = module_names()
    known = set(names)
    return {
        name: imports_of(name, path, known) for name, path in names.items() if path.suffix == ".py"
    }


def test_every_import_goes_down_the_layers(graph):
    back_edges = []
    for module, targets in graph.items():
        unit = unit_of(module)
        for target in targets:
            other = unit_of(target)
            if other != unit and layer_of(other) >= layer_of(unit):
                back_edges.append(f"{module} -> {target}")
    assert back_edges == []


def test_no_import_circles(graph):
    """Tarjan's strongly connected components: any component of two or more is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_layering_test_sees_a_back_edge(tmp_path):
    """The reader above must find an import written inside a function, or the layer test could
    pass on code it does not see."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from polymask.cli.main import cli\n")
    assert imports_of("polymask.io.m", source, {"polymask.cli.main"}) == {"polymask.cli.main"}


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement, forbidden",
    [
        ("import polymask.io.masks", ("polymask.formats", "pydantic", "torch")),
        ("import polymask.score.run", ("polymask.formats", "polymask.raster", "torch")),
        ("import polymask.stats.compute", ("torch",)),
        ("import polymask.cli.main", ("torch", "numpy", "polymask.formats")),
        ("import polymask.settings", ("torch", "shapely", "rasterio", "polymask.formats.labelme")),
    ],
)
def test_imports_stay_light(statement, forbidden):
    """Scoring workers read masks only; ``polymask --help`` loads no library at all."""
    loaded = _modules_loaded_by(statement)
    heavy = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert heavy == []
