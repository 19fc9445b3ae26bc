"""Every command in README.md and docs/*.md runs here.

The fenced blocks of each page are extracted and run in document order, in a fresh folder that looks like a
checkout (the tracked files of ``examples/`` copied, ``.venv`` linked to the running venv), with the venv's
``bin/`` first on ``PATH`` (as after ``. .venv/bin/activate``) and ``MPI_LIB_NRN_PATH`` unset, so a page must say
what it needs. Nothing is written into the working tree.

- ``bash`` / ``sh`` / ``shell``: run with ``bash -euo pipefail``; ``console``: the lines starting with ``$ `` are run.
- ``python``: run in one namespace per page, in one process per page (so a block may use names and files of the
  blocks above it; NEURON's global state stays in that process).
- other tags (``json``, ``yaml``, ``text``, ...) are data or output listings and are never run.
- Not-run convention: a runnable block preceded by ``<!-- not-run: reason -->`` is skipped; the reason is required
  (e.g. ``make test`` itself, or commands that need Debian packages and root). Every fence needs a language tag.

Each page may also get prepared inputs (``PAGES`` below): ``bmtk_network`` (the example network built and its
mechanisms compiled in ``examples/bmtk_network``, as ``run.py`` leaves them) and ``sonata_files`` (``report.h5`` in
BMTK 1.2's style and ``spikes.h5``, from ``tests/data/generate_sonata.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_LANGS = {"bash", "sh", "shell", "console", "python"}
DATA_LANGS = {"json", "yaml", "toml", "text", "ini", "csv"}
NOT_RUN = re.compile(r"^<!--\s*not-run:(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[^`\s]*)\s*$")
README_MAX_LINES = 200
PAGE_TIMEOUT_S = 240


@dataclass(frozen=True)
class Page:
    """How a page runs: prepared inputs and pytest marks (the simulators are slow; mpiexec is marked mpi)."""

    inputs: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()


#: every page with a runnable block must be listed (a new page is a decision: which inputs, which marks)
PAGES = {
    "README.md": Page(marks=("slow", "simulator")),
    "docs/bmtk.md": Page(inputs=("bmtk_network",), marks=("slow", "simulator")),
    "docs/netpyne.md": Page(marks=("slow", "simulator")),
    "docs/file_layout.md": Page(),
    "docs/core_api.md": Page(),
    "docs/sonata.md": Page(inputs=("sonata_files",)),
    "docs/mpi.md": Page(inputs=("bmtk_network",), marks=("slow", "simulator", "mpi")),
    "docs/failures.md": Page(),
    "docs/performance.md": Page(),
    "docs/ecp.md": Page(),
    "docs/compression.md": Page(inputs=("sonata_files",)),
}


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    not_run: str | None  # the reason, when marked


def page_paths() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def extract(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, with the not-run mark of the line before each (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, fence = i, len(m["indent"]), m["fence"]
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{rel(path)}:{start + 1}: fence never closed")
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        mark = NOT_RUN.match(lines[j].strip()) if j >= 0 else None
        reason = mark["reason"].strip() if mark else None
        blocks.append(Block(rel(path), start + 1, m["lang"].lower(), "\n".join(body) + "\n", reason))
        i += 1
    return blocks


def runnable(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.lang in RUN_LANGS and b.not_run is None]


def convention_problems(pages: list[Path]) -> list[str]:
    problems = []
    for path in pages:
        text = path.read_text(encoding="utf-8")
        blocks = extract(path)
        for b in blocks:
            where = f"{b.page}:{b.line}"
            if not b.lang:
                problems.append(f"{where}: fence without a language tag (bash/python to run it, text/json if data)")
            elif b.lang not in RUN_LANGS | DATA_LANGS:
                known = f"run: {sorted(RUN_LANGS)}; data: {sorted(DATA_LANGS)}"
                problems.append(f"{where}: unknown fence tag {b.lang!r} ({known})")
            elif b.not_run is not None and not b.not_run:
                problems.append(f"{where}: <!-- not-run: --> needs a reason")
            elif b.not_run is not None and b.lang in DATA_LANGS:
                problems.append(f"{where}: not-run mark on a {b.lang} block, which never runs")
        marks = sum(bool(NOT_RUN.match(line.strip())) for line in text.splitlines())
        if marks != sum(b.not_run is not None for b in blocks):
            problems.append(f"{rel(path)}: a not-run mark that is not right before a fenced block")
        if runnable(blocks) and rel(path) not in PAGES:
            problems.append(f"{rel(path)}: has runnable blocks but is not listed in test_docs.PAGES")
    return problems


def test_every_block_is_run_or_marked_with_a_reason():
    pages = page_paths()
    problems = convention_problems(pages)
    assert not problems, "\n".join(problems)
    assert set(PAGES) <= {rel(p) for p in pages}, "PAGES lists a page that does not exist"


# ---------------------------------------------------------------------------------------------- running the pages

DRIVER = r"""
import json, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__docs__"}
for b in blocks:
    where = f"{b['page']}:{b['line']}"
    print(f"=== {where} ({b['lang']})", flush=True)
    if b["lang"] == "python":
        try:
            exec(compile(b["source"], where, "exec"), ns)
        except BaseException:
            traceback.print_exc()
            print(f"=== FAILED: {where}", flush=True)
            sys.exit(1)
    else:
        src = b["source"]
        if b["lang"] == "console":
            src = "\n".join(line[2:] for line in src.splitlines() if line.startswith("$ "))
        rc = subprocess.run(["bash", "-euo", "pipefail", "-c", src]).returncode
        if rc:
            print(f"=== FAILED: {where} (exit status {rc})", flush=True)
            sys.exit(1)
    sys.stdout.flush()
"""


def _copy_examples(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "examples"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, files):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)


@pytest.fixture(scope="session")
def built_bmtk_example(tmp_path_factory) -> Path:
    """``examples/bmtk_network`` with its mechanisms compiled and its network built (what run.py does first)."""
    pytest.importorskip("bmtk")
    pytest.importorskip("neuron")
    root = tmp_path_factory.mktemp("bmtk_example")
    _copy_examples(root)
    here = root / "examples" / "bmtk_network"
    script = (
        "import sys; sys.path.insert(0, '.'); import network; "
        "network.compile_mechanisms(network.COMPONENTS / 'mechanisms'); "
        "network.build_network(network.HERE / 'network'); "
        "network.write_input_spikes(network.HERE / 'network' / 'inputs_spikes.h5', tstop_ms=500.0)"
    )
    subprocess.run([sys.executable, "-c", script], cwd=here, check=True, capture_output=True, timeout=300)
    return here


def _prepare(work: Path, inputs: tuple[str, ...], request) -> None:
    _copy_examples(work)
    (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    for name in inputs:
        if name == "bmtk_network":
            built = request.getfixturevalue("built_bmtk_example")
            dest = work / "examples" / "bmtk_network"
            shutil.rmtree(dest)
            shutil.copytree(built, dest, symlinks=True)
        elif name == "sonata_files":
            from tests.data.generate_sonata import simple_pops, write_report, write_spikes

            write_report(work / "report.h5", simple_pops(n_rows=11), style="bmtk", time=(0.0, 1.1, 0.1))
            write_spikes(work / "spikes.h5", {"cortex": ([0, 2, 2], [0.3, 0.5, 0.9]), "thalamus": ([1], [0.7])})
        else:
            raise AssertionError(f"unknown page input {name!r}")


def _env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MPI_LIB_NRN_PATH", "LD_PRELOAD", "PYTHONSTARTUP")}
    bin_dir = Path(sys.prefix) / "bin"
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=sys.prefix, MPLBACKEND="Agg")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    env["HOME"] = str(work.parent / "home")  # tools that keep caches or config under ~ write into tmp
    (work.parent / "home").mkdir(exist_ok=True)
    return env


def _params():
    out = []
    for name, page in PAGES.items():
        marks = [getattr(pytest.mark, m) for m in page.marks]
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("page", _params())
def test_page_runs(page, tmp_path, request):
    path = REPO / page
    blocks = runnable(extract(path))
    if not blocks:
        pytest.skip(f"{page} has no runnable block")
    work = tmp_path / "work"
    work.mkdir()
    _prepare(work, PAGES[page].inputs, request)
    (tmp_path / "blocks.json").write_text(json.dumps([b.__dict__ for b in blocks]))
    log_path = tmp_path / "page.log"
    with open(log_path, "w") as log_file:
        try:
            result = subprocess.run(
                [sys.executable, "-c", DRIVER, str(tmp_path / "blocks.json")],
                cwd=work, env=_env(work), stdout=log_file, stderr=subprocess.STDOUT, timeout=PAGE_TIMEOUT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"{page}: blocks still running after {PAGE_TIMEOUT_S} s\n{log_path.read_text()[-6000:]}")
    log = log_path.read_text()
    assert result.returncode == 0, f"{page}: a block failed\n{log[-8000:]}"
    ran = re.findall(r"^=== (\S+) \(", log, flags=re.M)
    assert ran == [f"{b.page}:{b.line}" for b in blocks], log[-3000:]
