"""Dependencies point down, read from the source: lower layers never import the application,
the shared base imports no layer, and no modules import each other in a circle.

The imports are read with ``ast`` from every ``.py`` file, at any depth: imports inside
functions (lazy imports still tie the layers together) and under ``TYPE_CHECKING`` (a type is a
dependency too) count like the others.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = "ivr"
LOWER_LAYERS = ("speech", "dialogue", "telephony")
SHARED_BASE = ("storage", "logfields", "masking")
"""What the layers share (database helper, owner-only files, log fields, number masking):
below all of them."""
PACKAGES = (APPLICATION, *LOWER_LAYERS, *SHARED_BASE)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as the importing module sees it."""

    module: str
    line: int


def module_files() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path) -> list[Import]:
    """Every import in the module, at any depth, with relative imports made absolute."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
            found.extend(
                Import(f"{base}.{alias.name}" if base else alias.name, node.lineno)
                for alias in node.names
            )
    return sorted(found, key=lambda found: found.line)


def _top(module: str) -> str:
    return module.split(".")[0]


def _upward_imports(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    offences = []
    for name, path in module_files().items():
        if _top(name) in layers:
            offences += [
                f"{path.relative_to(ROOT)}:{found.line} imports {found.module}"
                for found in imports_of(name, path)
                if _top(found.module) in forbidden
            ]
    return offences


def test_lower_layers_never_import_the_application() -> None:
    assert _upward_imports(LOWER_LAYERS, (APPLICATION,)) == []


def test_shared_base_imports_no_layer() -> None:
    assert _upward_imports(SHARED_BASE, (APPLICATION, *LOWER_LAYERS)) == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, ``TYPE_CHECKING`` imports included: two modules
    that need each other's types are as entangled as two that import each other at run time."""
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for found in imports_of(name, path):
            target = found.module
            while target and target not in modules:  # ``pkg.sub.Class`` -> ``pkg.sub``
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per group of modules importing each
    other in a circle (Tarjan's strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return [_cycle_through(group, graph) for group in groups]


def _cycle_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A path inside ``group`` from its first module back to it (what to read to break it)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    raise AssertionError(f"{sorted(group)} is not a cycle")


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert [" -> ".join(cycle) for cycle in find_cycles(import_graph())] == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b"}, "b": set(), "c": {"a", "b"}}, []),
    ],
)
def test_cycle_finder_reports_a_circle_and_only_a_circle(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert find_cycles(graph) == expected


def test_import_reader_sees_lazy_type_only_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "actions.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ivr.config import Config\n"
        "def run():\n"
        "    import ivr.logs\n"
        "    from .bank import repository\n",
        encoding="utf-8",
    )
    assert imports_of("dialogue.actions", source) == [
        Import("typing.TYPE_CHECKING", 1),
        Import("ivr.config.Config", 3),
        Import("ivr.logs", 5),
        Import("dialogue.bank.repository", 6),
    ]
