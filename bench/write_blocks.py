"""Block writing: CompartmentSeriesWriter against raw h5py writing the same float32 blocks.

Default size: 1000 cells x 50 compartments (50,000 columns) x 4000 steps float32 (800 MB), in blocks of 100 steps
(``block_steps=100`` given to the writer). Variants, each timed from nothing to a closed file:

- ``writer``: ``CompartmentSeriesWriter(...)`` with its default flush policy (pynwb skeleton into a temporary name,
  empty chunked dataset), 40 ``write_block`` calls (each writes the hyperslab; the data, then the "steps written"
  attribute, are flushed at most once per ``flush_interval_s`` = 1 s), ``close`` (flushes, moves the file into
  place). ``build_compartments`` happens before the clock starts (it is benchmarked in build_compartments.py).
- ``writer, flush every block``: the same with ``flush_interval_s=0`` (the policy before issue 15: two flushes and
  an attribute rewrite per block).
- ``raw h5py + flush``: ``h5py.File(path, "w")``, ``create_dataset`` with the writer's chunk shape and
  ``fillvalue=NaN``, ``dset[a:b] = block`` and ``f.flush()`` after every block, close.
- ``raw h5py, no flush``: the same without the per-block flush (what durability costs).

The blocks are one preallocated random array written at every step (generation is not measured). Runs alternate
their order across repeats (page-cache fairness) and each file is deleted right after its run. The ratio is
best-of-N writer / best-of-N raw h5py without flush (goal <= 1.05x, issue 15); the table also gives each variant
against raw + flush, splits each best run into setup (file + skeleton), blocks and close, and gives the blocks-only
ratio (fixed costs excluded).

    python bench/write_blocks.py                      # full size, best of 5
    python bench/write_blocks.py --cells 100 --steps 400 --repeat 2   # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import h5py
import numpy as np
from _util import machine, remove, result, scratch_dir, table

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.nwb.chunking import choose_chunks

GOAL = 1.05


def run_writer(path: str, comps, block: np.ndarray, n_steps: int, block_steps: int, **opts) -> dict[str, float]:
    t0 = time.perf_counter()
    w = CompartmentSeriesWriter(
        path, compartments=comps, name="v", n_steps=n_steps, dt_ms=0.1, block_steps=block_steps, unit="mV", **opts
    )
    w.open()
    t1 = time.perf_counter()
    for step0 in range(0, n_steps, block_steps):
        w.write_block(step0, block[: min(block_steps, n_steps - step0)])
    t2 = time.perf_counter()
    w.close()
    t3 = time.perf_counter()
    return {"total": t3 - t0, "setup": t1 - t0, "blocks": t2 - t1, "close": t3 - t2}


def run_raw(path: str, block: np.ndarray, n_steps: int, block_steps: int, chunks, flush: bool) -> dict[str, float]:
    t0 = time.perf_counter()
    f = h5py.File(path, "w")
    dset = f.create_dataset("data", shape=(n_steps, block.shape[1]), dtype="f4", chunks=chunks, fillvalue=np.nan)
    t1 = time.perf_counter()
    for step0 in range(0, n_steps, block_steps):
        stop = min(step0 + block_steps, n_steps)
        dset[step0:stop] = block[: stop - step0]
        if flush:
            f.flush()
    t2 = time.perf_counter()
    f.close()
    t3 = time.perf_counter()
    return {"total": t3 - t0, "setup": t1 - t0, "blocks": t2 - t1, "close": t3 - t2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--compartments", type=int, default=50, help="compartments per cell")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--block-steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant (best is kept)")
    args = parser.parse_args()

    n_cells, n_per, n_steps, bs = args.cells, args.compartments, args.steps, args.block_steps
    n_comp = n_cells * n_per
    comps = build_compartments(
        node_ids=np.arange(n_cells), counts=np.full(n_cells, n_per), number=np.tile(np.arange(n_per), n_cells)
    )
    block = np.random.default_rng(0).standard_normal((bs, n_comp), dtype=np.float32) * 10 - 65
    chunks = choose_chunks(n_steps=n_steps, n_compartments=n_comp, itemsize=4, block_steps=bs)
    gbytes = n_steps * n_comp * 4 / 1e9
    print(f"write_blocks: {n_cells} cells x {n_per} compartments x {n_steps} steps float32 = {gbytes:.2f} GB, "
          f"blocks of {bs} steps, chunks {chunks}; {machine()}")  # fmt: skip

    variants = {
        "writer": lambda p: run_writer(p, comps, block, n_steps, bs),
        "writer, flush every block": lambda p: run_writer(p, comps, block, n_steps, bs, flush_interval_s=0),
        "raw h5py + flush": lambda p: run_raw(p, block, n_steps, bs, chunks, flush=True),
        "raw h5py, no flush": lambda p: run_raw(p, block, n_steps, bs, chunks, flush=False),
    }
    names = list(variants)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in names}
    with scratch_dir("write-blocks") as folder:
        path = os.path.join(folder, "bench.nwb")
        # warm-up: one untimed run of each variant (first pynwb write, first touch of the page cache)
        for name in names:
            variants[name](path)
            remove(path)
        for r in range(args.repeat):
            for name in names if r % 2 == 0 else names[::-1]:
                gc.collect()
                runs[name].append(variants[name](path))
                if name.startswith("writer"):
                    with h5py.File(path, "r") as f:
                        got = f["acquisition/v/data"].chunks
                    assert got == chunks, f"writer chose chunks {got}, expected {chunks}"
                remove(path)

    base = min(r["total"] for r in runs["raw h5py + flush"])
    bare = min(r["total"] for r in runs["raw h5py, no flush"])
    rows = []
    for name in names:
        best = min(runs[name], key=lambda r: r["total"])
        rows.append([name, best["total"], best["setup"], best["blocks"], best["close"],
                     " ".join(f"{r['total']:.2f}" for r in runs[name]), gbytes / best["total"],
                     best["total"] / base, best["total"] / bare])  # fmt: skip
    table(["variant", "best s", "setup s", "blocks s", "close s", "all runs s", "GB/s", "vs raw+flush", "vs raw"], rows)
    ratio = min(r["total"] for r in runs["writer"]) / bare
    wb = min(runs["writer"], key=lambda r: r["total"])
    rb = min(runs["raw h5py, no flush"], key=lambda r: r["total"])
    print(
        f"blocks only (setup and close excluded): writer {wb['blocks']:.3f} s / raw, no flush {rb['blocks']:.3f} s = "
        f"{wb['blocks'] / rb['blocks']:.3f}x; writer fixed cost (setup + close) {wb['setup'] + wb['close']:.3f} s"
    )
    result("write_blocks", f"writer / raw h5py without flush (best of {args.repeat})", ratio, GOAL)


if __name__ == "__main__":
    main()
