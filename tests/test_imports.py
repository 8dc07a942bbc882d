"""The import structure: no cycle among llmcore's modules (lazy imports inside functions included), so any module
imports first in a fresh interpreter; `python -m llmcore` is the CLI; the upload checks do not load the trainer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLMCORE = ROOT / "llmcore"
# llmcore's packages, lowest first: a module imports only from its own package and the ones below it (the top-level
# modules inputs, files and address are the ground floor; cli, __main__ and loader (opens any model, at any
# snapshot) the roof)
LAYERS = ["<base>", "world", "model", "analysis", "training", "maps", "<top>"]
BASE, TOP = {"inputs", "files", "address", "__init__"}, {"cli", "__main__", "loader"}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imported(tree: ast.AST, package: str, names: set[str]) -> set[str]:
    """Modules of `package` (dotted, below the package) that a module's code imports anywhere (top level or inside
    functions); imports under `if TYPE_CHECKING:` never run and are left out. `names`: the package's modules."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level and \
                (node.module == package or node.module.startswith(package + ".")):
            base = node.module[len(package) + 1:]
            subs = {f"{base}.{a.name}" if base else a.name for a in node.names}
            found |= (subs & names) or ({base} if base else set())
        elif isinstance(node, ast.Import):
            found |= {a.name[len(package) + 1:] for a in node.names if a.name.startswith(package + ".")}
        stack.extend(ast.iter_child_nodes(node))
    return found


def _name(folder: Path, p: Path) -> str:
    parts = p.relative_to(folder).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folder: Path) -> dict[str, set[str]]:
    """module (dotted, below the package; a sub-package by its own name) -> the package's modules it imports."""
    files = {_name(folder, p): p for p in folder.rglob("*.py")}
    names = set(files)
    return {m: _imported(ast.parse(p.read_text()), folder.name, names) - {m} for m, p in files.items() if m}


def layer(module: str) -> int:
    top = module.split(".")[0]
    return 0 if top in BASE else len(LAYERS) - 1 if top in TOP else LAYERS.index(top)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search with an on-path colour)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    tree = ast.parse("from llmcore.x import y\nif TYPE_CHECKING:\n    from llmcore.z import w\n"
                     "def f():\n    from llmcore import v\n    import llmcore.u\n")
    assert _imported(tree, "llmcore", {"v", "x"}) == {"x", "v", "u"}


def test_llmcore_has_no_import_cycle():
    graph = import_graph(LLMCORE)
    assert "model.checkpoint" in graph["maps.landscape"] and "cli" in graph["__main__"]
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_every_import_runs_down_the_layers():
    """The folder listing is the architecture: world < model < analysis < training < maps; training imports no map
    code (the maps attach to a run as a callback), the world no model code."""
    graph = import_graph(LLMCORE)
    assert {m.split(".")[0] for m in graph} - BASE - TOP <= set(LAYERS), "a package missing from LAYERS"
    up = [(m, d) for m, deps in graph.items() for d in deps if layer(d) > layer(m)]
    assert not up, f"imports running up the layers: {up}"
    assert not any(d.startswith("maps") for m, deps in graph.items() if m.startswith("training") for d in deps)


def _import_alone(module: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_checkpoint_imports_first_in_a_fresh_interpreter():
    run = _import_alone("llmcore.model.checkpoint")
    assert run.returncode == 0, run.stderr[-2000:]


def test_upload_checks_load_neither_the_jobs_nor_the_trainer():
    code = ("import sys, dashboard.uploads; "
            "print(sorted(m for m in ('dashboard.jobs', 'llmcore.training.trainer', 'llmcore.cli') "
            "if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_python_m_llmcore_runs_the_cli():
    run = subprocess.run([sys.executable, "-m", "llmcore", "train", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage: llmcore train") and "--out" in run.stdout
