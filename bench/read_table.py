"""Reading at the seed's scale: 1M cells x 10 compartments, two populations, a label column (issue 15, item 3).

The file (written once with ``CompartmentSeriesWriter``: population ``a`` node ids 0..n/2-1, population ``b`` the
same node ids, labels ``soma``/``dend[k]``, few time steps since only the table matters here) is read in fresh
processes (imports done before the clock starts), each measuring with ``time.perf_counter``:

- ``first get``: ``open_report`` + ``r["v"]`` + ``get(population="b", node_ids=[k])`` (also split: open, series,
  get);
- ``next get``: 50 further ``get`` calls of random cells of both populations (reader open): median and max;
- ``spikes``: ``r.spikes(population="b", node_ids=[k])`` on a Units table with one row per cell.

Each of ``--runs`` rounds runs a cold process and a warm one. Cold: the page cache is dropped right before the
process starts, by default for the file only (``--drop fadvise``: fsync + ``posix_fadvise(POSIX_FADV_DONTNEED)``,
no root needed, other users of the machine keep their cache); ``--drop system`` writes 3 to
``/proc/sys/vm/drop_caches`` after ``sync`` (root only; drops every file's pages, dentries and inodes). Warm: the
same process again right after, with the file cached.

Reads: one more cold process opens the file through a file object that counts the reads HDF5 makes
(``open_report(fileobj)`` = ``h5py.File(fileobj)``, default chunk cache) and prints the reads of open, series,
first get and the further gets (median / max), with their bytes.

Goal (issue 15): first get <= 50 ms cold, each further get <= 10 ms cold (the RESULT line uses the largest of all
further gets of the cold runs).

    python bench/read_table.py                          # 1M cells, 3 rounds
    python bench/read_table.py --cells 100000           # quick
    python bench/read_table.py --file big.nwb --keep    # reuse / keep a file (same bytes before and after a change)
    git archive <commit> | tar -x -C /tmp/base          # a baseline checkout, measured paired with this one:
    python bench/read_table.py --file big.nwb --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from _util import evict, machine, result, scratch_dir, table

from simout_plugins import CompartmentSeriesWriter, build_compartments

PER = 10
STEPS = 4
NEXT = 50
#: path of the marker syscalls (access(2) of a file that does not exist) the traced child makes between phases
MARK = "/nonexistent/simout-bench-mark-"
PHASES = ("open", "series", "get", "next", "spikes")


def write_file(path: str, n_cells: int) -> float:
    half = n_cells // 2
    node_ids = np.concatenate([np.arange(half), np.arange(n_cells - half)])
    pops = np.array(["a"] * half + ["b"] * (n_cells - half), dtype=object)
    labels = np.array(["soma"] + [f"dend[{k}]" for k in range(PER - 1)], dtype=object)
    comps = build_compartments(
        node_ids=node_ids,
        population=pops,
        counts=np.full(n_cells, PER),
        number=np.tile(np.arange(PER), n_cells),
        position=np.tile((np.arange(PER) + 0.5) / PER, n_cells),
        label=np.tile(labels, n_cells),
    )
    n_comp = n_cells * PER
    t0 = time.perf_counter()
    with CompartmentSeriesWriter(
        path, compartments=comps, n_steps=STEPS, dt_ms=0.1, block_steps=STEPS, overwrite=True
    ) as w:
        block = np.broadcast_to(np.arange(n_comp, dtype=np.float32), (STEPS, n_comp))
        w.write_block(0, block)
        w.add_spikes(
            node_ids=node_ids[::97],
            times_ms=np.full(node_ids[::97].size, 1.0),
            population=pops[::97],
            units_node_ids=node_ids,
            units_population=pops,
            resolution_ms=0.1,
        )
    return time.perf_counter() - t0


class CountingFile(io.RawIOBase):
    """A read-only binary file counting the reads (and bytes) HDF5 makes through it."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.name = path
        self.reads = 0
        self.nbytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer) -> int:
        n = self._f.readinto(buffer)
        self.reads += 1
        self.nbytes += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def child(path: str, n_cells: int, seed: int, count: bool) -> dict:
    from simout_plugins import open_report

    traced = os.environ.get("SIMOUT_BENCH_TRACED") == "1"

    rng = np.random.default_rng(seed)
    half = n_cells - n_cells // 2
    k = int(rng.integers(half))
    src = CountingFile(path) if count else path
    marks = []

    def mark() -> None:
        if traced:  # a syscall strace shows between the phases (see count_with_strace)
            os.access(f"{MARK}{len(marks)}", os.F_OK)
        marks.append((time.perf_counter(), src.reads if count else 0, src.nbytes if count else 0, time.process_time()))

    mark()
    r = open_report(src)
    mark()
    s = r["v"]
    mark()
    frame = s.get(population="b", node_ids=[k])
    mark()
    expected = (n_cells // 2 + k) * PER + np.arange(PER)
    assert np.allclose(frame.data[0] * 1e3, expected, rtol=1e-6), "wrong values"
    assert list(frame.label) == ["soma"] + [f"dend[{j}]" for j in range(PER - 1)]
    nexts = []
    for _ in range(NEXT):
        pop = "a" if rng.integers(2) else "b"
        kk = int(rng.integers(n_cells // 2))
        if traced:
            os.access(f"{MARK}next", os.F_OK)
        m0 = (time.perf_counter(), src.reads if count else 0, src.nbytes if count else 0, time.process_time())
        frame = s.get(population=pop, node_ids=[kk])
        m1 = (time.perf_counter(), src.reads if count else 0, src.nbytes if count else 0, time.process_time())
        nexts.append([b - a for a, b in zip(m0, m1)])
        assert np.allclose(frame.data[0] * 1e3, ((pop == "b") * (n_cells // 2) + kk) * PER + np.arange(PER))
    mark()
    r.spikes(population="b", node_ids=[k])
    mark()
    r.close()
    if count:
        src.close()
    steps = [[b - a for a, b in zip(m0, m1)] for m0, m1 in zip(marks[:-1], marks[1:])]
    open_, series, first, _, spikes = steps
    return {
        "open": open_,
        "series": series,
        "get": first,
        "first": [open_[i] + series[i] + first[i] for i in range(4)],
        "next_median": [statistics.median(v[i] for v in nexts) for i in range(4)],
        "next_max": [max(v[i] for v in nexts) for i in range(4)],
        "spikes": spikes,
    }


def drop_cache(path: str, how: str) -> None:
    if how == "fadvise":
        evict(path)
        return
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def child_env(baseline: str | None) -> dict[str, str]:
    """The child's environment: ``simout_plugins`` from ``baseline`` (a checkout) when given."""
    return {**os.environ, "PYTHONPATH": baseline} if baseline else dict(os.environ)


def run_child(path: str, n_cells: int, seed: int, count: bool = False, baseline: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", path, str(n_cells), str(seed)] + (["--count"] if count else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=child_env(baseline))
    return json.loads(out.stdout)


def count_with_strace(path: str, n_cells: int, baseline: str | None = None) -> dict[str, list[int]]:
    """``pread64`` calls on ``path`` (HDF5's and the reader's own) per phase of one cold child, from ``strace -y``."""
    import re
    import shutil
    import tempfile

    if shutil.which("strace") is None:
        return {}
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
        cmd = ["strace", "-f", "-y", "-e", "trace=pread64,access,faccessat,faccessat2", "-o", log.name,
               sys.executable, __file__, "--child", path, str(n_cells), "0"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, env={**child_env(baseline), "SIMOUT_BENCH_TRACED": "1"})
        lines = log.read().splitlines()
    counts: dict[str, list[int]] = {}
    phase, calls, nbytes = None, 0, 0
    marks = {"0": "open", "1": "series", "2": "get", "next": "next", "4": "spikes"}  # "3", "5": between phases

    def close_phase() -> None:
        if phase is not None:
            counts.setdefault(phase, []).append((calls, nbytes))

    for line in lines:
        if MARK in line:
            close_phase()
            tag = line.split(MARK, 1)[1].split('"', 1)[0]
            phase, calls, nbytes = marks.get(tag), 0, 0
        elif "pread64(" in line and f"<{os.path.realpath(path)}>" in line:
            calls += 1
            got = re.search(r"= (\d+)\s*$", line)
            nbytes += int(got.group(1)) if got else 0
    close_phase()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drop", choices=("fadvise", "system"), default="fadvise", help="how the cache is dropped")
    parser.add_argument("--file", help="read this file (written first when missing); default: a scratch file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--baseline", help="a checkout whose simout_plugins is measured too, paired round by round")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), int(args.child[2]), args.count)))
        return
    if args.drop == "system" and not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        parser.error("--drop system needs write access to /proc/sys/vm/drop_caches (root); use --drop fadvise")
    print(machine())
    with scratch_dir("read-table", keep=args.keep) as folder:
        path = args.file or os.path.join(folder, "big.nwb")
        if not os.path.exists(path):
            took = write_file(path, args.cells)
            print(f"written in {took:.1f} s")
        size = os.path.getsize(path) / 1e6
        print(f"{args.cells} cells x {PER} compartments, 2 populations, labels: {size:.0f} MB; cache drop: {args.drop}")
        variants = {"this": None, **({"baseline": args.baseline} if args.baseline else {})}
        runs = {(name, mode): [] for name in variants for mode in ("cold", "warm")}
        for seed in range(args.runs):  # variants alternate which goes first, under the same machine load
            order = list(variants.items()) if seed % 2 == 0 else list(variants.items())[::-1]
            for name, where in order:
                for mode in ("cold", "warm"):
                    if mode == "cold":
                        drop_cache(path, args.drop)
                    runs[(name, mode)].append(run_child(path, args.cells, seed, baseline=where))

        def ms(values: list[dict], key: str, at: int = 0) -> str:
            return " / ".join(f"{1000 * v[key][at]:.1f}" for v in values)

        rows = [
            (f"{name} {mode}", ms(v, "open"), ms(v, "series"), ms(v, "get"), ms(v, "first"), ms(v, "next_median"),
             ms(v, "next_max"), ms(v, "spikes"))
            for (name, mode), v in runs.items()
        ]  # fmt: skip
        print(
            f"times in ms, one value per run ({args.runs} runs); this = {os.path.dirname(os.path.abspath(__file__))}/.."
        )
        heads = ["code, file", "open", "[v]", "first get", "open+[v]+get", "next get median", "next get max", "spikes"]
        table(heads, rows)
        print("CPU time of the same calls (time.process_time, ms): what the reader itself costs, less inflated by load")
        table(
            ["code, file", "open+[v]+get", "next get median"],
            [(f"{name} {mode}", ms(v, "first", 3), ms(v, "next_median", 3)) for (name, mode), v in runs.items()],
        )
        print("reads of one cold run: HDF5's through a counting file object (h5py driver fileobj: the reader reads")
        print("whole chunks of the data there), and every pread64 on the file of a local open (strace -y)")
        keys = {"open": "open", "series": "series", "get": "get", "next_median": "next", "next_max": "next",
                "spikes": "spikes"}  # fmt: skip
        out = []
        for name, where in variants.items():
            drop_cache(path, args.drop)
            counted = run_child(path, args.cells, 0, count=True, baseline=where)
            drop_cache(path, args.drop)
            traced = count_with_strace(path, args.cells, baseline=where)
            for key, phase in keys.items():
                calls = traced.get(phase, [])
                if key == "next_median" and calls:
                    pick = (statistics.median(c for c, _ in calls), statistics.median(b for _, b in calls))
                elif key == "next_max" and calls:
                    pick = (max(c for c, _ in calls), max(b for _, b in calls))
                else:
                    pick = calls[0] if calls else ("-", 0)
                out.append((f"{name} {key}", counted[key][1], f"{counted[key][2] / 1e3:.0f}", pick[0],
                            f"{pick[1] / 1e3:.1f}"))  # fmt: skip
        table(["code, call", "fileobj reads", "KB", "pread64 (strace)", "KB"], out)
        cold = runs[("this", "cold")]
        result("read_table", "first get cold (median)", 1000 * statistics.median(v["first"][0] for v in cold), 50.0,
               " ms")  # fmt: skip
        result("read_table", "next get cold (max)", 1000 * max(v["next_max"][0] for v in cold), 10.0, " ms")


if __name__ == "__main__":
    main()
