"""The package's shape: imports point only forward through the stages (cpt64640_cds.STAGES), never in a
cycle, not even through an import inside a function; no module is too long to read in one sitting."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import cpt64640_cds
from cpt64640_cds import LEAVES, STAGES

PACKAGE = Path(cpt64640_cds.__file__).parent
NAME = cpt64640_cds.__name__
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((NAME, *parts))] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """The package modules `module` imports, anywhere in the file (a function-level import counts too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from . import x` imports the module x when there is one, else a name of the package.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            if name == NAME or name.startswith(NAME + "."):
                yield _known(name), node.lineno


def _known(name: str) -> str:
    """The module a dotted name is (or is inside: `pkg.mod.attr` → `pkg.mod`)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _rank(stage: str | None) -> int:
    if stage is None or stage in LEAVES:
        return -1
    return STAGES.index(stage)


GRAPH = {
    module: sorted({target for target, _ in _imports(module, path)} - {module}) for module, path in MODULES.items()
}


def test_every_top_level_module_or_folder_is_a_known_stage_or_leaf():
    stages = {_stage(m) for m in MODULES} - {None, "__main__"}
    assert stages <= set(STAGES) | set(LEAVES), stages - set(STAGES) - set(LEAVES)
    assert set(STAGES) <= stages, set(STAGES) - stages


def test_leaves_import_only_leaves():
    for module, targets in GRAPH.items():
        if _stage(module) in LEAVES:
            assert all(_stage(t) in LEAVES for t in targets), (module, targets)


def backward_arrows(edges: list[tuple[str, str, int]]) -> list[str]:
    """(module, target, line) edges that point from a stage to a later one."""
    return [
        f"{module}:{line} imports {target}"
        for module, target, line in edges
        if _stage(module) not in (None, "__main__") and _rank(_stage(target)) > _rank(_stage(module))
    ]


def cycles_in(graph: dict[str, list[str]]) -> list[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in graph.get(module, []):
            # A package's __init__ importing its own modules is how a package exposes them, not a cycle.
            if module.startswith(target + "."):
                continue
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
    return found


def test_imports_point_only_forward_through_the_stages():
    edges = [(module, target, line) for module, path in MODULES.items() for target, line in _imports(module, path)]
    assert backward_arrows(edges) == []


def test_no_import_cycle():
    assert cycles_in(GRAPH) == []


def test_the_checks_find_a_backward_arrow_and_a_cycle():
    """The two checks above could fail: fed a bad graph, they say where."""
    rules, facts = "cpt64640_cds.rules.common", "cpt64640_cds.facts.model"
    assert backward_arrows([(facts, rules, 7), (rules, facts, 3)]) == [f"{facts}:7 imports {rules}"]
    assert backward_arrows([("cpt64640_cds.errors", "cpt64640_cds.web.app", 1)]) != []
    assert cycles_in({rules: [facts], facts: [rules]}) == [[rules, facts, rules]]
    assert cycles_in({"a.b": ["a"], "a": ["a.b"]}) == []  # a package exposing its module


def test_no_module_is_longer_than_one_sitting():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
