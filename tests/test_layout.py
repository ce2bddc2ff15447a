"""The package's import rules, read from the source: layers, no cycles, a user interface in cli/ only.

docs/architecture.md explains the layers. A rule broken here names the importing module, the
line and what it imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import tomllib

PACKAGE = Path(__file__).resolve().parent.parent / "gancli"

#: Rooms from the top down: a room may import the rooms below it, never those above; rooms
#: on one line are peers and import neither each other nor anything of their own line.
LAYERS = [
    ("cli",),
    ("testing", "report"),
    ("training",),
    ("metrics", "loggers"),
    ("sampling",),
    ("checkpoints",),
    ("architectures", "datasets"),
    ("losses",),
    ("config",),
    ("core",),
    ("errors",),
]
#: Rooms within a room, from the top down, as LAYERS: training's run (the loop and all it writes)
#: imports its step (one training step on a device), never the other way; its package module,
#: which gives `train` to the world, sits above both, and the `Reporter` interface below.
INNER_LAYERS = {
    "training": [("",), ("run",), ("step", "reporting")],
}
INTERFACE_PACKAGES = ("typer", "rich", "click")  # only cli/ talks to a terminal
LOOSE_MODULES = {"__init__", "__main__", "errors", "plugin"}  # plugin: the stable surface, above every room


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved; `from A
    import b` gives `A.b` (a module, or a name in A). Imports under `if TYPE_CHECKING:` are left
    out, as they never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def graph(root: Path) -> dict[str, list[tuple[str, int]]]:
    """Module -> the modules of the package it imports, with lines: `A.b` when that is a
    module, else `A` (b is a name defined in A)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    edges = {}
    for name, path in files.items():
        targets = [(target if target in files else target.rpartition(".")[0], line)
                   for target, line in imports_of(path, name)]
        edges[name] = [(target, line) for target, line in targets if target in files and target != name]
    return edges


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def inner_room(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else ""


def inner_violation(source: str, target: str) -> str | None:
    """Why `source` may not import `target`, two modules of one room with inner layers."""
    layers = INNER_LAYERS.get(room(source))
    if layers is None:
        return None
    level = {name: depth for depth, line in enumerate(layers) for name in line}
    inner_source, inner_target = inner_room(source), inner_room(target)
    if inner_source == inner_target:
        return None
    if inner_source not in level or inner_target not in level:
        return f"{room(source)}.{inner_source or inner_target}: not in INNER_LAYERS"
    if level[inner_target] <= level[inner_source]:
        return f"{room(source)}.{inner_source} may not import {room(source)}.{inner_target}"
    return None


def violations(root: Path) -> list[str]:
    """Every broken rule in the package at `root`, as readable lines."""
    level = {name: depth for depth, line in enumerate(LAYERS) for name in line}
    problems = []
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    for name, path in files.items():
        if name.count(".") == 1 and path.stem not in LOOSE_MODULES:
            problems.append(f"{name}: a module outside any room")
        for target, line in imports_of(path, name):
            if target.split(".")[0] in INTERFACE_PACKAGES and room(name) != "cli":
                problems.append(f"{name}:{line} imports {target}: only cli/ talks to a terminal")
    for name, targets in graph(root).items():
        source = room(name)
        for target, line in targets:
            destination = room(target)
            if source == destination and (problem := inner_violation(name, target)):
                problems.append(f"{name}:{line} imports {target}: {problem}")
            if source in ("", "__main__", "plugin") or not destination or source == destination:
                continue  # the package's entry points sit above every room; a room imports itself freely
            if source not in level or destination not in level:
                problems.append(f"{name}:{line} imports {target}: room not in LAYERS")
            elif level[destination] <= level[source]:
                problems.append(f"{name}:{line} imports {target}: {source} may not import {destination}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph(root))]
    return problems


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other."""
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target, _ in edges.get(node, []):
            if state.get(target) == "open":
                found.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_the_package_keeps_its_import_rules():
    assert violations(PACKAGE) == []


def write_package(root: Path, modules: dict[str, str]) -> Path:
    package = root / "gancli"
    for name, source in {"__init__": "", **modules}.items():
        path = package.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        for parent in path.relative_to(package).parents:
            (package / parent / "__init__.py").touch()
    return package


@pytest.mark.parametrize("modules, expected", [
    ({"training.run.trainer": "from gancli.cli import progress\n", "cli.progress": ""},
     "training may not import cli"),
    ({"training.step.gan_step": "from gancli.training.run import folder\n", "training.run.folder": ""},
     "training.step may not import training.run"),
    ({"training.step.bench": "from gancli.training import train\n"},
     "training.step may not import training."),
    ({"checkpoints.format": "import gancli.training.run.trainer\n", "training.run.trainer": ""},
     "checkpoints may not import training"),
    ({"datasets.loading": "from ..training import batches\n", "training.batches": ""},
     "datasets may not import training"),
    ({"sampling.output": "from rich.console import Console\n"}, "only cli/ talks to a terminal"),
    ({"core.pixels": "import typer\n"}, "only cli/ talks to a terminal"),
    ({"training.a": "from gancli.training import b\n", "training.b": "from gancli.training.a import x\n"},
     "import cycle: gancli.training.a -> gancli.training.b -> gancli.training.a"),
    ({"helpers": ""}, "gancli.helpers: a module outside any room"),
])
def test_each_rule_catches_a_deliberate_violation(tmp_path, modules, expected):
    found = violations(write_package(tmp_path, modules))
    assert any(expected in line for line in found), found


def test_the_config_schema_loads_without_torch():
    import subprocess
    import sys

    code = "import sys, gancli.config; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


IMPORT_NAMES = {"PIL": "pillow", "yaml": "pyyaml"}  # where a distribution's import name differs


def test_every_third_party_import_is_a_declared_dependency():
    import sys

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    declared = {requirement.split(">")[0].split("=")[0].split("[")[0].strip().lower()
                for requirement in project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                                           for r in extra]}
    imported = {target.split(".")[0] for path in PACKAGE.rglob("*.py")
                for target, _ in imports_of(path, module_name(path, PACKAGE))}
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name not in ("gancli", "")}
    declared = {name.replace("_", "-") for name in declared}
    missing = sorted(name for name in third_party
                     if IMPORT_NAMES.get(name, name).lower().replace("_", "-") not in declared)
    assert missing == [], f"imported but not declared in pyproject.toml: {missing}"
