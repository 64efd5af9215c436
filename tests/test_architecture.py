"""The import structure of ``ARCHITECTURE.md``, checked from the source text alone.

Everything here reads files with ``ast`` and never imports project code: importing would load
torch and Faust, and a cycle would surface as an ``ImportError`` far from its cause. Every import
counts (module level, inside functions, under ``if TYPE_CHECKING:``), since a function-level or
type-only cycle is still a knot in the design. ``python -m`` entry points written as strings and
``importlib`` calls are not imports and are not seen.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("streams", "models", "serving")
# Triton's model files run inside tritonserver's own Python and reach the project through
# sys.path tricks, so they are not part of this import graph.
SKIPPED = ("serving/model_repository",)

# Top-level package -> the top-level packages it may import.
TOP_LEVEL: dict[str, set[str]] = {
    "models": {"models"},
    "serving": {"serving", "models"},
    "streams": {"streams", "models", "serving"},
}
# The floors of ``streams``: exact module names, or ``pkg.*`` for a package and all under it.
FLOORS: dict[str, tuple[str, ...]] = {
    "ground": (
        "streams",
        "streams.settings",
        "streams.kafka_security",
        "streams.exceptions",
        "streams.metrics",
        "streams.worker_client",
    ),
    "contracts": ("streams.contracts.*",),
    "store": ("streams.store.*",),
    "kafka": ("streams.kafka.*",),
    "delivery": ("streams.delivery.*",),
    "replay": ("streams.replay.*",),
    "local": ("streams.local.*",),
    "training": ("streams.training.*",),
    "agents": ("streams.agents.*",),
    "wiring": ("streams.app", "streams.worker", "streams.transport"),
    "cli": ("streams.cli.*",),
    "bench": ("streams.bench.*",),
    "chaos": ("streams.chaos.*",),
}
# Floor -> the other floors it may import (its own is always allowed). No floor but ``cli`` lists
# ``cli``, none but ``bench`` lists ``bench`` and none but ``chaos`` lists ``chaos``, so nothing
# else may import them: they are entry points (the fault-injection suite, like the benchmarks,
# drives the whole stack from outside).
MAY_IMPORT: dict[str, set[str]] = {
    "ground": set(),
    "contracts": {"ground"},
    "store": {"ground", "contracts"},
    "kafka": {"ground", "contracts"},
    "delivery": {"ground", "contracts"},
    "replay": {"ground", "contracts", "kafka"},
    "local": {"ground", "contracts", "kafka"},
    "training": {"ground", "contracts"},
    "agents": {"ground", "contracts", "store", "kafka", "delivery"},
    "wiring": {"ground", "contracts", "store", "kafka", "delivery", "agents"},
    "cli": set(FLOORS) - {"bench", "chaos"},
    "bench": set(FLOORS) - {"cli", "chaos"},
    "chaos": set(FLOORS) - {"cli", "bench"},
}
# Their ``__init__`` stays light (the modules load torch lazily), so callers import the defining
# module; only their ``__all__`` is checked.
LIGHT_PACKAGES = ("models.evaluation", "models.training", "models.bench", "serving.bench")
MAX_LINES = 400
# Repository-relative path -> why it may be longer than MAX_LINES.
SIZE_ALLOWED: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    """One ``import X`` (``names`` empty) or ``from X import names``, with X resolved to absolute."""

    source: str
    module: str
    names: tuple[str, ...]
    line: int


def find_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every project ``*.py`` under ``root`` (a repository or a fake one)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if any(relative.as_posix().startswith(skip + "/") for skip in SKIPPED):
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def collect_imports(name: str, path: Path) -> list[Import]:
    """Every import statement anywhere in one module, relative ones resolved against its package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(Import(name, alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append(Import(name, module, tuple(alias.name for alias in node.names), node.lineno))
    return found


def all_imports(root: Path) -> list[Import]:
    """The imports of every project module under ``root``."""
    return [imp for name, path in find_modules(root).items() for imp in collect_imports(name, path)]


def build_graph(root: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported project module: first line}. ``from X import a`` points at ``X.a`` when
    that is a module, else at ``X``. Parent packages that Python also loads get no edge: with them,
    every ``__init__`` re-exporting a submodule that imports a sibling would look like a cycle.
    Imports of modules that do not exist (yet) are dropped."""
    modules = find_modules(root)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for imp in all_imports(root):
        targets = [f"{imp.module}.{n}" if f"{imp.module}.{n}" in modules else imp.module for n in imp.names]
        for target in targets or [imp.module]:
            if target in modules:
                graph[imp.source].setdefault(target, imp.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: every strongly connected component, each a sorted list of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_loop(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself inside one component (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(set(graph[node]) & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    return [start]


def cycles(root: Path) -> list[str]:
    """One line per import cycle: a shortest loop through its first module, then all its edges."""
    graph = build_graph(root)
    found: list[str] = []
    for component in strongly_connected(graph):
        start, members = component[0], set(component)
        if len(component) == 1 and start not in graph[start]:
            continue
        edges = [
            f"{s} -> {t} (line {graph[s][t]})" for s in component for t in sorted(graph[s]) if t in members
        ]
        found.append(" -> ".join(shortest_loop(graph, start, members)) + "; edges: " + ", ".join(edges))
    return found


def floor_of(module: str) -> str | None:
    """The floor a ``streams`` module lives on, or None when the table does not place it."""
    for floor, patterns in FLOORS.items():
        for pattern in patterns:
            base = pattern.removesuffix(".*")
            if module == base or (pattern.endswith(".*") and module.startswith(base + ".")):
                return floor
    return None


def layer_violations(root: Path) -> list[str]:
    """Edges that point the wrong way between top-level packages or between floors of ``streams``."""
    graph = build_graph(root)
    unplaced = [m for m in graph if m.split(".")[0] == "streams" and not floor_of(m)]
    problems = [f"{m}: no floor, add it to the layer table" for m in unplaced]
    for source, targets in sorted(graph.items()):
        for target, line in sorted(targets.items()):
            top_source, top_target = source.split(".")[0], target.split(".")[0]
            if top_target not in TOP_LEVEL[top_source]:
                problems.append(f"{source}:{line} imports {target}: {top_source} may not import {top_target}")
                continue
            here, there = floor_of(source), floor_of(target)
            if here and there and there not in MAY_IMPORT[here] | {here}:
                problems.append(f"{source}:{line} imports {target}: floor {here} may not import {there}")
    return problems


def defined_names(tree: ast.Module) -> set[str]:
    """Names bound at module level (also under module-level if/try/with), as ``__all__`` needs."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
    return names


def public_packages(root: Path) -> list[str]:
    """Every package below ``streams`` plus the light packages: the ones with a public surface."""
    modules = find_modules(root)
    below = [m for m, p in modules.items() if p.name == "__init__.py" and m.startswith("streams.")]
    return sorted(below) + [p for p in LIGHT_PACKAGES if p in modules]


def read_all(path: Path) -> list[str] | None:
    """The literal ``__all__`` of a module, or None when it has none or it is not a list of strings."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
    return None


def surface_violations(root: Path) -> list[str]:
    """Packages without a sound ``__all__``, imports that reach past a package's ``__init__``, and
    names taken from a package that its ``__all__`` does not list. A submodule listed in ``__all__``
    counts as defined: ``from pkg import submodule`` works without the ``__init__`` importing it."""
    modules = find_modules(root)
    problems: list[str] = []
    exported: dict[str, set[str]] = {}
    for package in public_packages(root):
        names = read_all(modules[package])
        if names is None:
            problems.append(f"{package}: __init__ has no literal __all__ list of strings")
            continue
        exported[package] = set(names)
        defined = defined_names(ast.parse(modules[package].read_text(encoding="utf-8")))
        for name in names:
            if name not in defined and f"{package}.{name}" not in modules:
                problems.append(f"{package}: __all__ lists {name!r}, which the __init__ does not define")
    for imp in all_imports(root):
        for package, listed in exported.items():
            if imp.source == package or imp.source.startswith(package + "."):
                continue
            if imp.module.startswith(package + ".") and package not in LIGHT_PACKAGES:
                problems.append(f"{imp.source}:{imp.line} imports {imp.module}: import from {package}")
            elif imp.module == package:
                problems.extend(
                    f"{imp.source}:{imp.line} takes {n!r} from {package}, not in its __all__"
                    for n in imp.names
                    if n not in listed
                )
    return problems


def test_no_import_cycles() -> None:
    found = cycles(ROOT)
    assert not found, "import cycles:\n" + "\n".join(found)


def test_layers() -> None:
    found = layer_violations(ROOT)
    assert not found, "imports against ARCHITECTURE.md:\n" + "\n".join(found)


def test_public_surface() -> None:
    found = surface_violations(ROOT)
    assert not found, "public surface:\n" + "\n".join(found)


def test_module_size() -> None:
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in find_modules(ROOT).values()
    }
    too_long = sorted(p for p, n in sizes.items() if n > MAX_LINES and p not in SIZE_ALLOWED)
    largest = ", ".join(f"{p} ({n})" for p, n in sorted(sizes.items(), key=lambda i: -i[1])[:5])
    assert not too_long, f"over {MAX_LINES} lines: {too_long}; largest: {largest}"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """A fake repository: every package directory gets an empty ``__init__`` unless given one."""
    for relative, text in files.items():
        path = root / relative
        for parent in reversed(path.relative_to(root).parents):  # outermost first
            if parent != Path("."):
                (root / parent).mkdir(exist_ok=True)
                (root / parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"streams/a.py": "import streams.b\n", "streams/b.py": "from streams import a\n"},
            "streams.a -> streams.b -> streams.a",
        ),
        (
            {
                "streams/x.py": "from streams.y import f\n",
                "streams/y.py": "def f() -> None:\n    from streams.z import g\n",
                "streams/z.py": "import streams.x\ng = 1\n",
            },
            "streams.x -> streams.y -> streams.z -> streams.x",
        ),
        (
            {
                "models/p.py": (
                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from models.q import Q\n"
                ),
                "models/q.py": "from models.p import P\n",
            },
            "models.p -> models.q -> models.p",
        ),
        (
            {"serving/pkg/a.py": "from .b import B\n", "serving/pkg/b.py": "from ..pkg import a\n"},
            "serving.pkg.a -> serving.pkg.b -> serving.pkg.a",
        ),
    ],
    ids=["two-modules", "function-level", "type-checking", "relative"],
)
def test_checker_finds_planted_cycles(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    found = cycles(write_tree(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_checker_passes_a_reexporting_init(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "streams/store/__init__.py": (
                "from streams.store.a import A\nfrom .b import B\n__all__ = ['A', 'B']\n"
            ),
            "streams/store/a.py": "A = 1\n",
            "streams/store/b.py": "from streams.store.a import A\nB = A\n",
            "streams/agents/__init__.py": "__all__ = ['clicks']\n",
            "streams/agents/clicks.py": "from streams.store import A, B\n",
        },
    )
    assert cycles(root) == [] and surface_violations(root) == []
    assert build_graph(root)["streams.store"] == {"streams.store.a": 1, "streams.store.b": 2}


def test_checker_reports_layer_violations(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "streams/contracts/topics.py": "from streams.agents import clicks\n",
            "streams/agents/clicks.py": "",
            "streams/newroom.py": "",
            "serving/client.py": "import streams.settings\n",
            "streams/settings.py": "",
        },
    )
    found = "\n".join(layer_violations(root))
    assert "streams.contracts.topics:1 imports streams.agents.clicks: floor contracts" in found
    assert "streams.newroom: no floor, add it to the layer table" in found
    assert "serving.client:1 imports streams.settings: serving may not import streams" in found


def test_checker_reports_deep_imports_and_unlisted_names(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "streams/store/__init__.py": (
                "from streams.store.ingest import ClickRow, _private\n__all__ = ['ClickRow']\n"
            ),
            "streams/store/ingest.py": "ClickRow = 1\n_private = 2\n",
            "streams/agents/clicks.py": (
                "from streams.store.ingest import ClickRow\nfrom streams.store import _private\n"
            ),
            "streams/kafka/__init__.py": "__all__ = ['Missing']\n",
            "models/evaluation/__init__.py": "__all__ = ['runner']\n",
            "models/evaluation/runner.py": "def run() -> None: ...\n",
            "streams/cli/evaluate.py": "from models.evaluation.runner import run\n",
        },
    )
    found = "\n".join(surface_violations(root))
    assert "streams.cli.evaluate" not in found, "a light package is imported module by module"
    assert "streams.agents.clicks:1 imports streams.store.ingest: import from streams.store" in found
    assert "streams.agents.clicks:2 takes '_private' from streams.store, not in its __all__" in found
    assert "streams.kafka: __all__ lists 'Missing'" in found
