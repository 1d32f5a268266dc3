"""The tree is the architecture: imports between harness/, methods/ and benchmarks/ form no cycle and point one way
(run_matrix.py -> harness.cli -> harness.runner -> methods, harness.backbones, benchmarks, harness.store; the report
reads the store and the benchmark specs), the store and the report load no torch, and every module imports alone.

The import graph is read from the source (AST), lazy imports inside functions included: a cycle hidden in a
function is still a cycle of the design.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store.results import write_result

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "methods", "benchmarks")
TORCH_STACK = ("torch", "torchvision", "transformers", "open_clip", "timm", "safetensors")


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST, top: bool):
    """(import statement, runs when the module is imported) for every import under `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _import_nodes(child, False)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _import_nodes(ast.Module(body=[stmt], type_ignores=[]), top)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, top
        else:
            yield from _import_nodes(child, top)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute names an import statement loads: a submodule for `from pkg import submodule`, else the module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _internal(name: str) -> str | None:
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) if parts else None


def _graph() -> tuple[dict[str, dict[str, bool]], dict[str, set[str]]]:
    """module -> {internal module it imports: at import time (else only inside a function)}, and module -> the
    external top-level packages it imports at import time."""
    edges: dict[str, dict[str, bool]] = {m: {} for m in MODULES}
    external: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for node, top in _import_nodes(ast.parse(path.read_text(), str(path)), True):
            for target in _targets(module, node):
                inner = _internal(target)
                if inner is None and top:
                    external[module].add(target.split(".")[0])
                elif inner is not None and inner != module:
                    edges[module][inner] = edges[module].get(inner, False) or top
    return edges, external


EDGES, EXTERNAL = _graph()


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _cycles(edges: dict[str, dict[str, bool]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_packages_and_their_imports():
    assert {
        "harness.cli",
        "harness.runner.cell",
        "harness.store.results",
        "harness.report.tables",
        "methods.registry",
        "benchmarks.spec",
    } <= set(MODULES)
    assert EDGES["harness.runner.executors.local"]["harness.runner.cell"] is True
    assert EDGES["harness.cli"]["harness.runner.matrix"] is False  # imported only when the matrix runs
    assert "torch" in EXTERNAL["harness.runner.train"]


def test_a_cycle_is_found_when_there_is_one():
    assert _cycles({"a": {"b": False}, "b": {"c": True}, "c": {"a": True}, "d": {"a": True}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(EDGES) == []


# (importer prefix, forbidden prefixes, allowed exceptions): imports at any level, lazy ones included
RULES = [
    ("methods", ("benchmarks", "harness"), ()),
    ("benchmarks", ("methods", "harness"), ("harness", "harness.store", "harness.store.atomic")),
    ("harness.errors", ("harness", "methods", "benchmarks"), ()),
    ("harness.config", ("harness", "methods", "benchmarks"), ("harness.config",)),
    ("harness.store", ("harness", "methods", "benchmarks"), ("harness", "harness.store")),
    (
        "harness.backbones",
        ("harness", "methods", "benchmarks"),
        ("harness", "harness.backbones", "harness.store", "harness.errors"),
    ),
    ("harness.report", ("harness.runner", "harness.backbones", "harness.cli", "harness.config", "methods"), ()),
    ("harness.runner", ("harness.cli",), ()),
]


@pytest.mark.parametrize("importer, forbidden, allowed", RULES, ids=[r[0] for r in RULES])
def test_dependencies_point_one_way(importer, forbidden, allowed):
    wrong = sorted(
        f"{m} -> {t}"
        for m, targets in EDGES.items()
        if _under(m, importer)
        for t in targets
        if any(_under(t, f) for f in forbidden) and not any(_under(t, a) for a in allowed)
    )
    assert wrong == []


def test_only_the_command_line_drives_the_runner():
    drivers = ("harness.runner", "harness.cli")
    wrong = sorted(
        f"{m} -> {t}"
        for m, targets in EDGES.items()
        for t in targets
        if _under(t, "harness.runner") and not any(_under(m, d) for d in drivers)
    )
    assert wrong == []


def _import_closure(module: str) -> set[str]:
    """Internal modules loaded when `module` is imported (import-time edges only, parent packages included)."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parents = [".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)]
        todo += [t for t, top in EDGES[m].items() if top] + [p for p in parents if p in MODULES]
    return seen


@pytest.mark.parametrize("package", ["harness.store", "harness.report"])
def test_store_and_report_import_no_torch_nor_runner_backbones_methods_at_import_time(package):
    for module in (m for m in MODULES if _under(m, package)):
        closure = _import_closure(module)
        heavy = sorted(
            m for m in closure if any(_under(m, p) for p in ("harness.runner", "harness.backbones", "methods"))
        )
        torch_users = sorted(f"{m} imports {x}" for m in closure for x in EXTERNAL[m] if x in TORCH_STACK)
        assert (heavy, torch_users) == ([], []), module


def test_report_path_loads_no_torch_in_a_fresh_interpreter(tmp_path):
    """Importing every store and report module, then `run_matrix.py --report-only` on a tiny results folder."""
    rows = [
        dict(
            method=m,
            method_display=name,
            dataset="syn-coco",
            seed=0,
            lr=1e-3,
            grad_clip=0.8,
            llm="smollm2-135m",
            encoder="clip-b16-embedded",
            profile="smoke",
            split="test",
            metric="CIDEr",
            value=v,
        )
        for m, name, v in (("depalm", "DePALM", 30.0), ("mapl", "MAPL", 20.0))
    ]
    write_result(rows, tmp_path / "results", "tiny")
    modules = [m for m in MODULES if _under(m, "harness.store") or _under(m, "harness.report")]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from harness.cli import main\n"
        f"assert main(['--report-only', '--results', {str(tmp_path / 'results')!r}, "
        f"'--out', {str(tmp_path / 'out')!r}]) == 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m.split(".")[0] in TORCH_STACK] == []
    assert [m for m in loaded if m.startswith(("harness.runner", "harness.backbones", "methods"))] == []
    assert "| DePALM |" in (tmp_path / "out" / "table4.md").read_text()


# Imported once before forking, so each child pays only for our modules; the check is about the order our modules
# need (a missing import, a cycle that only an import order hides), not about third-party packages.
_PRELOAD = ("torch", "transformers", "numpy", "pandas", "pyarrow.parquet", "jinja2", "submitit", "PIL.Image", "tqdm")


def test_every_module_imports_alone():
    """Each module is imported first in a fresh child process (forked after the heavy third-party preload)."""
    code = (
        "import importlib, json, os, sys, traceback\n"
        f"for name in {_PRELOAD!r}:\n"
        "    importlib.import_module(name)\n"
        f"failed = {{}}\n"
        f"for module in {sorted(MODULES)!r}:\n"
        "    r, w = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.close(r)\n"
        "        try:\n"
        "            importlib.import_module(module)\n"
        "            msg = b''\n"
        "        except BaseException:\n"
        "            msg = traceback.format_exc().encode()\n"
        "        os.write(w, msg[-2000:])\n"
        "        os._exit(0)\n"
        "    os.close(w)\n"
        "    with os.fdopen(r, 'rb') as f:\n"
        "        msg = f.read()\n"
        "    os.waitpid(pid, 0)\n"
        "    if msg:\n"
        "        failed[module] = msg.decode()\n"
        "print(json.dumps(failed))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert failed == {}, "\n".join(f"{m}:\n{tb}" for m, tb in failed.items())
