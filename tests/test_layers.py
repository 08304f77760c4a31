"""The import directions README.md states, held by an AST scan of every module (imports inside functions
included): which package may import which, and which may never reach torch, directly or through
another module of the project."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGES = ("digits", "training", "export", "webapp", "evaluate", "generate", "deploy", "bench", "tools")
# package -> the other packages of the project it may import (README.md, "What is inside")
ALLOWED = {
    "digits": set(),
    "training": {"digits", "generate"},            # training.cas trains on a generated dataset
    "export": {"digits", "training"},
    "webapp": {"digits"},
    "evaluate": {"digits"},
    "generate": {"digits"},
    "deploy": {"digits", "webapp"},
    "bench": {"digits", "webapp", "export", "training"},
    "tools": {"digits", "evaluate", "bench"},     # the report modules, for the docs' tables
}
TORCH_FREE = {"digits", "webapp", "evaluate", "generate", "deploy", "tools"}
TORCH = {"torch", "torchvision"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> set[str]:
    """Every module a file imports, by full name (``from a import b`` names ``a.b`` where that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (root / node.module.replace(".", "/") / f"{alias.name}.py").is_file()}
    return found


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, for every module of the project's packages."""
    return {module_name(path, root): imports(path, root)
            for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}


def reaches(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every module ``start`` imports, directly or through the project's own modules."""
    seen, todo = set(), [start]
    while todo:
        for name in edges.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def problems(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in edges.items():
        package = module.split(".")[0]
        for name in sorted(imported):
            other = name.split(".")[0]
            if other in PACKAGES and other != package and other not in ALLOWED[package]:
                found.append(f"{module} imports {name}: {package} may import only {sorted(ALLOWED[package])}")
        if package in TORCH_FREE:
            via = sorted(name for name in reaches(module, edges) if name.split(".")[0] in TORCH)
            if via:
                found.append(f"{module} reaches {via[0]}: {package} must stay torch-free")
    return found


def test_the_checkout_keeps_the_stated_import_directions():
    assert problems(graph(ROOT)) == []


@pytest.mark.parametrize("file, line, want", [
    ("digits/idx.py", "import torch", "digits.idx reaches torch: digits must stay torch-free"),
    ("digits/cli.py", "from training import checkpoint", "digits.cli imports training.checkpoint"),
    ("webapp/api.py", "from evaluate.report import REAL", "webapp.api imports evaluate.report"),
    ("evaluate/report.py", "from bench.__main__ import table", "evaluate.report imports bench.__main__"),
    ("tools/tables.py", "import bench.__main__", "tools.tables reaches torch"),
])
def test_a_broken_direction_fails_naming_the_module(tmp_path, file, line, want):
    """The same scan with one import added to one module: a direction broken anywhere is found, also torch
    reached through another module of the project (bench.__main__ imports torch inside its functions)."""
    edges = graph(ROOT)
    added = tmp_path / "added.py"
    added.write_text(line + "\n")
    edges[module_name(ROOT / file, ROOT)] |= imports(added, ROOT)
    assert any(problem.startswith(want) for problem in problems(edges)), problems(edges)


def test_tests_reach_paths_through_one_helper_and_their_helpers_form_no_cycle():
    """conftest is pytest's: fixtures only, imported by no module; test helpers import each other
    without a cycle (tests/paths.py holds the paths)."""
    edges = {module_name(path, ROOT): {name for name in imports(path, ROOT) if name.startswith("tests.")}
             for path in sorted((ROOT / "tests").glob("*.py"))}
    assert [m for m, imported in edges.items() if "tests.conftest" in imported] == []
    cyclic = [m for m in edges if m in reaches(m, edges)]
    assert cyclic == []
