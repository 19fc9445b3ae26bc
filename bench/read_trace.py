"""Reading: one cell's full trace, and all compartments at one time step, through ``open_report``.

Default file: 100,000 cells x 10 compartments (1M columns) x 1000 steps float32 (4 GB), written with
``CompartmentSeriesWriter`` in blocks of 100 steps (``block_steps=100``, so the writer's chunk policy applies).
Blocks are views at a moving offset into one preallocated random buffer (generation is not measured), which also
lets every read be checked against the values written.

Measured (``time.perf_counter``):

- ``open``: ``open_report(path)`` and ``reader["v"]`` (the latter loads the Compartments columns).
- ``trace``: ``reader["v"].get(node_ids=[k])`` for ``--cells-to-read`` random cells, reader opened once: the full
  trace (1000 x 10). "warm" = file in the OS page cache (just written); "cold" = the file is evicted from the page
  cache (fsync + ``posix_fadvise(DONTNEED)``) before each read, so chunks come from disk.
- ``trace incl. open``: ``open_report`` + ``["v"]`` + ``get`` + close, per cell (warm).
- ``time step``: ``get(tstart=t, tstop=t)`` (all 1M compartments at one step) for a few random steps.

The goal is on the median warm ``get()`` of one cell with the reader open: <= 20 ms. The chunk-shape trade-off
(the writer's policy against wider / taller chunks) is in ``bench/chunk_tradeoff.py``.

    python bench/read_trace.py
    python bench/read_trace.py --cells 10000 --steps 500 --no-cold     # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import h5py
import numpy as np
from _util import evict, machine, result, scratch_dir, table

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report

GOAL_MS = 20.0
DT_MS = 0.1


def write_file(path: str, n_cells: int, per: int, n_steps: int, bs: int, flat: np.ndarray) -> float:
    n_comp = n_cells * per
    comps = build_compartments(
        node_ids=np.arange(n_cells),
        counts=np.full(n_cells, per),
        number=np.tile(np.arange(per), n_cells),
        position=np.tile((np.arange(per) + 0.5) / per, n_cells),
    )
    t0 = time.perf_counter()
    with CompartmentSeriesWriter(path, compartments=comps, name="v", n_steps=n_steps, dt_ms=DT_MS, block_steps=bs) as w:
        for b, step0 in enumerate(range(0, n_steps, bs)):
            n = min(bs, n_steps - step0)
            w.write_block(step0, flat[b : b + n * n_comp].reshape(n, n_comp))
    return time.perf_counter() - t0


def expected(flat: np.ndarray, steps: np.ndarray, cols: np.ndarray, n_comp: int, bs: int) -> np.ndarray:
    """Values written at (steps x cols): block b is flat[b : b + bs * n_comp] in row-major order."""
    b = steps // bs
    return flat[(b + (steps - b * bs) * n_comp)[:, None] + cols[None, :]]


def stats_ms(times: list[float]) -> list[float]:
    ms = [t * 1e3 for t in times]
    return [min(ms), statistics.median(ms), max(ms)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--compartments", type=int, default=10, help="compartments per cell")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--block-steps", type=int, default=100)
    parser.add_argument("--cells-to-read", type=int, default=20, help="random cells read (warm; cold uses half)")
    parser.add_argument("--time-steps-to-read", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="skip the reads after page-cache eviction")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    n_cells, per, n_steps, bs = args.cells, args.compartments, args.steps, args.block_steps
    n_comp = n_cells * per
    n_blocks = -(-n_steps // bs)
    rng = np.random.default_rng(args.seed)
    flat = rng.standard_normal(bs * n_comp + n_blocks, dtype=np.float32) * 10 - 65

    with scratch_dir("read-trace") as folder:
        path = os.path.join(folder, "report.nwb")
        t_write = write_file(path, n_cells, per, n_steps, bs, flat)
        with h5py.File(path, "r") as f:
            chunks = f["acquisition/v/data"].chunks
        size_gb = os.path.getsize(path) / 1e9
        print(f"read_trace: {n_cells} cells x {per} compartments x {n_steps} steps float32, file {size_gb:.2f} GB "
              f"(written in {t_write:.1f} s), chunks {chunks}; {machine()}")  # fmt: skip

        cells = rng.choice(n_cells, size=args.cells_to_read + args.cells_to_read // 2, replace=False)
        warm_cells, cold_cells = cells[: args.cells_to_read], cells[args.cells_to_read :]
        steps = rng.choice(n_steps, size=2 * args.time_steps_to_read, replace=False)
        warm_steps, cold_steps = steps[: args.time_steps_to_read], steps[args.time_steps_to_read :]
        rows = []

        # open (warm)
        t_open, t_series = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            r = open_report(path)
            t1 = time.perf_counter()
            _ = r["v"]
            t2 = time.perf_counter()
            r.close()
            t_open.append(t1 - t0)
            t_series.append(t2 - t1)
        rows.append(["open_report(path)", 3, *stats_ms(t_open)])
        rows.append(['reader["v"] (loads table)', 3, *stats_ms(t_series)])

        def read_cells(s, ids, cold: bool) -> list[float]:
            out = []
            for k in ids:
                if cold:
                    evict(path)
                t0 = time.perf_counter()
                fr = s.get(node_ids=[int(k)], scaled=False)
                out.append(time.perf_counter() - t0)
                cols = np.arange(k * per, (k + 1) * per)
                want = expected(flat, np.arange(n_steps), cols, n_comp, bs)
                assert fr.data.shape == (n_steps, per) and np.array_equal(fr.data, want), f"cell {k}: wrong data"
            return out

        def read_steps(s, ks, cold: bool) -> list[float]:
            out = []
            for k in ks:
                if cold:
                    evict(path)
                t = k * DT_MS / 1000
                t0 = time.perf_counter()
                fr = s.get(tstart=t, tstop=t, scaled=False)
                out.append(time.perf_counter() - t0)
                want = expected(flat, np.array([k]), np.arange(n_comp), n_comp, bs)
                assert fr.data.shape == (1, n_comp) and np.array_equal(fr.data, want), f"step {k}: wrong data"
            return out

        t_incl = []  # warm, on cells not read below
        for k in cold_cells[:5] if args.no_cold else rng.choice(n_cells, size=5, replace=False):
            t0 = time.perf_counter()
            with open_report(path) as r:
                r["v"].get(node_ids=[int(k)])
            t_incl.append(time.perf_counter() - t0)
        rows.append(["open + get(node_ids=[k]) + close", len(t_incl), *stats_ms(t_incl)])

        with open_report(path) as r:
            s = r["v"]
            # every warm read before the first eviction
            t_warm = read_cells(s, warm_cells, cold=False)
            rows.append(["get(node_ids=[k]) warm", len(t_warm), *stats_ms(t_warm)])
            t_step = read_steps(s, warm_steps, cold=False)
            rows.append(["get(tstart=t, tstop=t) warm", len(t_step), *stats_ms(t_step)])
            if not args.no_cold:
                t_cold = read_cells(s, cold_cells, cold=True)
                rows.append(["get(node_ids=[k]) cold", len(t_cold), *stats_ms(t_cold)])
                t_step_c = read_steps(s, cold_steps, cold=True)
                rows.append(["get(tstart=t, tstop=t) cold", len(t_step_c), *stats_ms(t_step_c)])

    table(["read", "n", "min ms", "median ms", "max ms"], rows)
    result("read_trace", "median warm get(node_ids=[k]) (reader open)", statistics.median(t_warm) * 1e3, GOAL_MS, " ms")


if __name__ == "__main__":
    main()
