"""Small helpers shared by the core benchmarks (not a benchmark itself).

Every benchmark creates its files under a fresh ``tempfile.mkdtemp()`` folder and removes it at the end, measures
with ``time.perf_counter``, prints a compact table and ends with one ``RESULT`` line: ratio (or value), goal,
PASS/MISS.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence


@contextlib.contextmanager
def scratch_dir(prefix: str, keep: bool = False) -> Iterator[str]:
    """A fresh temporary folder (``tempfile.mkdtemp``), removed on exit unless ``keep``."""
    folder = tempfile.mkdtemp(prefix=f"simout-bench-{prefix}-")
    try:
        yield folder
    finally:
        if keep:
            print(f"(kept {folder})")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, seconds."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def evict(path: str) -> None:
    """Drop ``path`` from the page cache (fsync, then POSIX_FADV_DONTNEED) so the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def machine() -> str:
    import h5py
    import numpy as np

    load = os.getloadavg()[0]
    text = (
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}, load {load:.2f}"
    )
    if load > 0.9:
        text += "\nWARNING: the machine is busy (1-min load average > 0.9); timings may be inflated"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int] | None = None) -> None:
    """Print rows as a fixed-width table (first column left-aligned, the rest right-aligned)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    if widths is None:
        widths = [max(len(str(h)), *(len(r[i]) for r in cells)) + 2 for i, h in enumerate(headers)]
    line = "".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(headers, widths)))
    print(line)
    print("-" * len(line))
    for r in cells:
        print("".join(f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(r, widths))))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if v == 0 or 0.001 <= abs(v) < 1e5:
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def result(name: str, what: str, value: float, goal: float, unit: str = "x") -> bool:
    """Print the final line ``RESULT name: what = value (goal <= goal) PASS|MISS`` and return whether it passed."""
    ok = value <= goal
    print(f"RESULT {name}: {what} = {value:.3g}{unit} (goal <= {goal:g}{unit}) {'PASS' if ok else 'MISS'}")
    return ok


def best_of_alternating(runs: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Run every entry of ``runs`` once per round, in turn (A B C A B C ...), for ``repeat`` rounds, and keep each
    one's smallest figure: ratios taken from one call share the machine's drift (it is shared and noisy).

    ``runs`` maps a name to a callable returning a time in seconds (e.g. what the run itself reports).
    """
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            best[name] = min(best[name], fn())
    return best
