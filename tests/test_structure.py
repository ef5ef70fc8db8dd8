"""The package's import graph, read from the source with ``ast``: no cycles, and the layering
the design asks for (training on top, the core and the ONNX backend below it).

Every import counts, including the ones inside functions (optional dependencies are
imported where they are used, but a cycle through them is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import poselift

PACKAGE = Path(poselift.__file__).resolve().parent
#: The modules outside the library: training, and the command line (``poselift.cli`` and its
#: ``poselift.commands``).
NOT_LIBRARY = ("poselift.training", "poselift.cli", "poselift.commands")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> list[str]:
    """The poselift modules one import statement loads (a name imported from a package
    that is a submodule counts as that submodule)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
    found = []
    for name in names:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.append(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over every poselift module."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(_targets(module, path, node, mods))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path that starts and ends at the same module, or ``None``."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_the_graph_is_read_correctly():
    graph = import_graph()
    assert "poselift.runners" in graph["poselift.lifter"]
    assert "poselift.evaluation.h36m" in graph["poselift.commands.evaluate"]  # an import inside a function
    assert "poselift.training.config" in graph["poselift.training.trainer"]  # a relative import


def import_levels(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's level: 1 for a module that imports no poselift module, else one more than
    the highest level it imports (the graph has no cycle)."""
    levels: dict[str, int] = {}

    def level(v: str) -> int:
        if v not in levels:
            levels[v] = 1 + max((level(w) for w in graph[v]), default=0)
        return levels[v]

    for v in graph:
        level(v)
    return levels


#: The most import levels the library may have (every module but :data:`NOT_LIBRARY`; the
#: package itself, ``poselift``, on top), and the whole package (issue 18: at most 9). The
#: lifter is six deep (``lifter -> runners -> nets -> config -> skeleton -> errors``); the
#: trainer, the recipe runner (``training.run``, ``training.finetune``) and the command
#: (``poselift.cli``, one module: a ``cli`` package would put its ``__main__`` a level higher)
#: add one each.
MAX_LIBRARY_LEVELS = 7
MAX_LEVELS = 9


def _deepest(graph: dict[str, set[str]], levels: dict[str, int], modules: list[str]) -> tuple[int, str]:
    deepest = max(modules, key=levels.get)
    chain = [deepest]
    while graph[chain[-1]]:
        chain.append(max(graph[chain[-1]], key=levels.get))
    return levels[deepest], " -> ".join(chain)


def test_import_levels_are_bounded():
    graph = import_graph()
    assert _cycle(graph) is None
    levels = import_levels(graph)
    library = [m for m in graph if not m.startswith(NOT_LIBRARY)]
    depth, chain = _deepest(graph, levels, library)
    assert depth <= MAX_LIBRARY_LEVELS, f"{depth} import levels in the library: {chain}"
    depth, chain = _deepest(graph, levels, list(graph))
    assert depth <= MAX_LEVELS, f"{depth} import levels: {chain}"


def test_layout_tables_do_not_import_the_networks():
    """The layout tables (layouts.py) and layout facts reach no runner, network or weights module."""
    graph = import_graph()
    for tables in ("poselift.layouts", "poselift.skeleton", "poselift.liftability"):
        reached = _reachable(graph, tables)
        assert not reached & {"poselift.runners", "poselift.correction", "poselift.nets", "poselift.onnx", "poselift.weights"}, (tables, reached)
    assert "poselift.adapt" not in _reachable(graph, "poselift.lifter")  # Adapted comes from the tables


def test_the_import_graph_has_no_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers():
    graph = import_graph()
    core = [m for m in graph if not m.startswith(NOT_LIBRARY)]
    for module in core:
        assert not any(m.startswith("poselift.training") for m in _reachable(graph, module)), module
    assert "poselift.lifter" not in _reachable(graph, "poselift.onnx")  # a backend never imports Lifter
    assert "poselift.lifter" not in _reachable(graph, "poselift.runners")
    assert not any(m.startswith("poselift.training") for m in _reachable(graph, "poselift.evaluation.evaluate"))


def test_training_stays_thin_on_top_of_the_core():
    """The training modules add at most two import levels above the deepest core module any of
    them imports (the lifter's Trainer one, the recipe runner and fine-tuning two), so the
    package's depth is set by the core, not by how training is split into modules."""
    graph = import_graph()
    levels = import_levels(graph)
    training = [m for m in graph if m.startswith("poselift.training")]
    core_top = max(levels[d] for m in training for d in graph[m] if not d.startswith(NOT_LIBRARY))
    deepest = max(training, key=levels.get)
    assert levels[deepest] - core_top <= 2, (deepest, levels[deepest], core_top)


def test_the_repository_scripts_import_names_that_exist():
    """Every ``from poselift... import name`` in the scripts, training tools, benchmarks and
    examples of the repository names something the package has (a moved function breaks
    them without any test importing them)."""
    import importlib

    root = Path(__file__).resolve().parents[1]  # the repository, also where the package is installed
    broken = []
    for folder in ("scripts", "training", "benchmarks", "examples"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("poselift")):
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name) and f"{node.module}.{alias.name}" not in _modules():
                        broken.append(f"{path.relative_to(root)}: from {node.module} import {alias.name}")
    assert not broken, broken
