"""The import graph of ``latdyn``: no import circles, no upward import between layers.

Every ``import latdyn...`` statement counts, also those inside functions (a lazy import is
still a dependency). Run as a script (``python tests/test_import_graph.py``) to print the
cycles and upward imports instead of asserting.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Layers, lowest first: a module may import only from its own layer or below. ``cli`` is the
#: application shell; ``apps`` are commands built on the workflows; ``workflows`` chain the
#: physics stages; ``physics`` are the stage packages; ``runtime`` loads and runs models;
#: ``base`` are utilities every layer uses.
LAYERS = {
    "base": {"errors", "bounds", "files", "datadir", "provenance", "plotting", "parallel",
             "__init__"},
    "structure": {"structure"},
    "runtime": {"forces", "models", "symmetrize", "settings"},
    "physics": {"relax", "harmonic", "anharmonic", "phonon", "kappa", "qha", "landscape",
                "dynamics", "diagnostics"},
    "workflows": {"workflows", "protocols"},
    "apps": {"compare", "screen", "benchmark"},
    "cli": {"cli"},
}
RANK = {package: rank for rank, names in enumerate(LAYERS.values()) for package in names}


def source_files() -> dict[str, Path]:
    """Module name -> file of every module of ``latdyn`` (``cli/`` installed as latdyn.cli)."""
    files = {}
    roots = [(ROOT / "latdyn", "latdyn")]
    if (ROOT / "cli").is_dir():
        roots.append((ROOT / "cli", "latdyn.cli"))
    for folder, prefix in roots:
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([prefix, *parts])] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``latdyn`` modules it imports (a package's ``__init__`` for a package)."""
    files = source_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith("latdyn") and name in files and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the imported module sits in a higher layer."""
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if RANK[package_of(b)] > RANK[package_of(a)])


def test_every_package_has_a_layer():
    assert {package_of(m) for m in import_graph()} <= set(RANK)


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_upward_imports():
    assert upward_imports(import_graph()) == []


if __name__ == "__main__":
    graph = import_graph()
    print("packages without a layer:", sorted({package_of(m) for m in graph} - set(RANK)))
    for component in cycles(graph):
        print("cycle:", " <-> ".join(component))
    for a, b in upward_imports(graph):
        print(f"upward: {a} -> {b}")
