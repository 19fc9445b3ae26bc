"""The package's import contract: subpackages in layers, imports only downwards, no circles, adapters on the public API.

Layers, lowest first (a module may import its own layer's modules and any lower layer, never a higher one):

0. base: ``errors``, ``mpi``, ``failstop``, ``linesource`` (no simulator, no file format; they may import each other)
1. ``nwb``: the file format
2. ``write`` and ``read``: siblings that never import each other
3. ``sonata``: conversion (reads and writes)
4. ``plot``: loading and drawing
5. ``cli``: the ``simout`` commands
6. the package's ``__init__`` (the public API) and ``testing``

Every import counts, at module level or inside a function. The graph is read from the source with ``ast``, so the
test needs nothing installed; it is run on the real tree and on small made-up trees that break each rule once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "simout_plugins"
ADAPTERS = ("bmtk_module", "netpyne_module")
#: part of the package (first component below it) -> layer
LAYERS = {
    "errors": 0,
    "mpi": 0,
    "failstop": 0,
    "linesource": 0,
    "nwb": 1,
    "write": 2,
    "read": 2,
    "sonata": 3,
    "plot": 4,
    "cli": 5,
    "": 6,
    "testing": 6,
}
#: parts of one layer that must not import each other (the base modules may)
SIBLINGS = {"write", "read"}
MAX_MODULE_LINES = 400


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports (``from . import x`` resolves to module ``x`` when it is one)."""
    files = {_module_name(root, p): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not (target == package or target.startswith(package + ".")):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith(package + ".") or a.name == package)
        deps.discard(mod)
        graph[mod] = {d for d in deps if d in files}
    return graph


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs that import a higher layer, or the sibling layer (write <-> read)."""
    bad = []
    for mod, deps in graph.items():
        here = part_of(mod)
        for dep in deps:
            there = part_of(dep)
            if there == here or (dep == PACKAGE and here == ""):
                continue
            if there not in LAYERS or here not in LAYERS:
                bad.append((mod, dep))  # a new part must be given its layer here
            elif LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and {here, there} <= SIBLINGS):
                bad.append((mod, dep))
    return sorted(bad)


def test_package_has_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []


def test_package_imports_only_downwards():
    assert upward_imports(import_graph(ROOT)) == []


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(m) for m in import_graph(ROOT)}
    assert parts <= set(LAYERS), f"give {sorted(parts - set(LAYERS))} a layer in LAYERS"


def test_modules_are_at_most_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / PACKAGE).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


#: what the adapters and the examples may import from: the top level, a subpackage's API, or a base module
PUBLIC_MODULES = {PACKAGE} | {f"{PACKAGE}.{part}" for part in LAYERS if part and part != "testing"}


def test_adapters_and_examples_use_only_public_apis():
    """bmtk_module, netpyne_module and examples/ import ``simout_plugins``, a subpackage (``simout_plugins.nwb``)
    or a base module (``simout_plugins.mpi``), never a module inside a subpackage and never a private name."""
    bad = []
    for folder in (*ADAPTERS, "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                    private_names = [a.name for a in node.names if a.name.startswith("_")]
                    if node.module not in PUBLIC_MODULES or private_names:
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {private_names}")
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith(PACKAGE) and alias.name not in PUBLIC_MODULES:
                            bad.append(f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}")
    assert bad == []


# --- the checks themselves catch what they are for (a made-up package in tmp_path) ---------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / PACKAGE / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # a circle through a relative import and a `from . import module`
            {
                "__init__.py": "",
                "write/__init__.py": "",
                "write/a.py": "from .b import X\n",
                "write/b.py": "from . import a\n",
            },
            [["simout_plugins.write.a", "simout_plugins.write.b"]],
        ),
        ({"__init__.py": "", "nwb/__init__.py": "", "nwb/a.py": "import os\n"}, []),
    ],
)
def test_cycle_check_finds_a_circle(tmp_path, files, expected):
    assert cycles(import_graph(_tree(tmp_path, files))) == expected


def test_layer_check_finds_an_upward_and_a_sideways_import(tmp_path):
    root = _tree(
        tmp_path,
        {
            "__init__.py": "from .write.w import W\n",
            "nwb/__init__.py": "",
            "nwb/fmt.py": "def f():\n    from ..read.r import R  # inside a function still counts\n",
            "read/__init__.py": "",
            "read/r.py": "from ..write.w import W\nfrom ..nwb import fmt\n",
            "write/__init__.py": "",
            "write/w.py": "from ..nwb.fmt import f\nfrom simout_plugins.errors import E\n",
            "errors.py": "",
        },
    )
    assert upward_imports(import_graph(root)) == [
        ("simout_plugins.nwb.fmt", "simout_plugins.read.r"),
        ("simout_plugins.read.r", "simout_plugins.write.w"),
    ]
