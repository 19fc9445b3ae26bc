"""Chunk-shape trade-off: the writer's policy (simout_plugins/chunking.py) against wider and taller chunks.

For a (T, C) float32 dataset (default 1000 steps x 1M columns = 100,000 cells x 10 compartments, 4 GB) written
once per chunk shape with raw h5py (each file written in the order that fills whole chunks, then closed), time:

- ``trace``: one cell's full trace, ``dset[:, c0:c0 + 10]`` (what ``get(node_ids=[k])`` reads);
- ``step``: all columns at one time step, ``dset[t, :]`` (what ``get(tstart=t, tstop=t)`` reads);

with h5py's default chunk cache (as the reader opens files), "warm" = file in the OS page cache, "cold" = file
evicted (fsync + ``posix_fadvise(DONTNEED)``) before each read. Also printed: chunks per trace / per step, and the
chunk cache a writer needs to write 100-step blocks without re-reading partly written chunks (0 when the chunk's
step extent divides the block, else a full row of chunks: chunk_steps x C x 4 bytes).

Shapes: the policy with ``block_steps=100`` and without (``None``), 1 MiB chunks of 1 and 10 steps (wide),
(100 steps, all columns) (the "one chunk per block" extreme), (all T, 262 columns) 1 MiB tall, and (all T, one
cell's 10 columns). Reported, not judged: the final line gives the policy's trace and step times relative to the
best shape for each read (a trade-off, no single goal).

    python bench/chunk_tradeoff.py
    python bench/chunk_tradeoff.py --cells 10000 --steps 500 --no-cold      # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

import h5py
import numpy as np
from _util import evict, machine, remove, scratch_dir, table

from simout_plugins.nwb.chunking import choose_chunks


def shapes(n_steps: int, n_comp: int, per: int, block_steps: int) -> dict[str, tuple[int, int]]:
    mib = 1 << 20

    def fit(t: int, c: int) -> tuple[int, int]:
        return (max(1, min(t, n_steps)), max(1, min(c, n_comp)))

    out = {
        f"policy (block_steps={block_steps})": choose_chunks(
            n_steps=n_steps, n_compartments=n_comp, itemsize=4, block_steps=block_steps
        ),
        "policy (block_steps=None)": choose_chunks(n_steps=n_steps, n_compartments=n_comp, itemsize=4),
        "wide 1 MiB, 1 step": fit(1, mib // 4),
        "wide 1 MiB, 10 steps": fit(10, mib // 40),
        f"wide ({block_steps} steps, all columns)": fit(block_steps, n_comp),
        "tall 1 MiB (all steps)": fit(n_steps, mib // (4 * n_steps)),
        f"tall (all steps, {per} columns)": fit(n_steps, per),
    }
    return out


def write(path: str, chunks: tuple[int, int], n_steps: int, n_comp: int, buf: np.ndarray, block_steps: int) -> float:
    """Write the whole dataset in pieces that cover whole chunks; returns seconds."""
    ct, cc = chunks
    if ct <= 128:
        rows, cols = ct * max(1, block_steps // ct), n_comp
    else:
        rows, cols = n_steps, min(n_comp, cc * max(1, (buf.size // n_steps) // cc))  # column slabs, all steps
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        d = f.create_dataset("data", shape=(n_steps, n_comp), dtype="f4", chunks=chunks, fillvalue=np.nan)
        for r0 in range(0, n_steps, rows):
            r1 = min(r0 + rows, n_steps)
            for c0 in range(0, n_comp, cols):
                c1 = min(c0 + cols, n_comp)
                d[r0:r1, c0:c1] = buf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
    return time.perf_counter() - t0


def timed_reads(path: str, sels: list, cold: bool) -> list[float]:
    out = []
    with h5py.File(path, "r") as f:
        d = f["data"]
        for sel in sels:
            if cold:
                evict(path)
            t0 = time.perf_counter()
            d[sel]
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--compartments", type=int, default=10, help="compartments per cell")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--block-steps", type=int, default=100)
    parser.add_argument("--traces", type=int, default=10, help="random cells read warm (cold: a third)")
    parser.add_argument("--time-steps", type=int, default=3, help="random steps read warm (cold: 2)")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()

    n_cells, per, n_steps, bs = args.cells, args.compartments, args.steps, args.block_steps
    n_comp = n_cells * per
    rng = np.random.default_rng(args.seed)
    buf = rng.standard_normal(min(max(128, bs), n_steps) * n_comp, dtype=np.float32)  # one write's worth
    cells = rng.choice(n_cells, size=args.traces, replace=False)
    steps = rng.choice(n_steps, size=args.time_steps, replace=False)
    trace_sels = [np.s_[:, int(k) * per : (int(k) + 1) * per] for k in cells]
    step_sels = [np.s_[int(t), :] for t in steps]
    n_cold_traces = max(1, args.traces // 3)
    print(f"chunk_tradeoff: {n_cells} cells x {per} compartments x {n_steps} steps float32 "
          f"({n_steps * n_comp * 4 / 1e9:.2f} GB per file), raw h5py, default chunk cache; {machine()}")  # fmt: skip

    rows = []
    res = {}
    with scratch_dir("chunks") as folder:
        path = os.path.join(folder, "data.h5")
        for name, chunks in shapes(n_steps, n_comp, per, bs).items():
            gc.collect()
            t_write = write(path, chunks, n_steps, n_comp, buf, bs)
            ct, cc = chunks
            col_chunks = [(int(k) * per + per - 1) // cc - int(k) * per // cc + 1 for k in cells]
            per_trace = -(-n_steps // ct) * statistics.mean(col_chunks)  # mean over the cells read
            per_step = -(-n_comp // cc)
            cache = 0 if bs % ct == 0 or ct == n_steps and bs >= n_steps else ct * n_comp * 4
            warm_t = statistics.median(timed_reads(path, trace_sels, cold=False)) * 1e3
            warm_s = statistics.median(timed_reads(path, step_sels, cold=False)) * 1e3
            if args.no_cold:
                cold_t = cold_s = float("nan")
            else:
                cold_t = statistics.median(timed_reads(path, trace_sels[:n_cold_traces], cold=True)) * 1e3
                cold_s = statistics.median(timed_reads(path, step_sels[:2], cold=True)) * 1e3
            res[name] = (warm_t, warm_s, cold_t, cold_s)
            rows.append([name, f"{ct}x{cc}", f"{ct * cc * 4 / 2**20:.2f}", per_trace, per_step,
                         f"{cache / 2**20:.0f}", t_write, warm_t, cold_t, warm_s, cold_s])  # fmt: skip
            remove(path)

    table(["chunk shape", "chunk", "MiB", "chunks/trace", "chunks/step", "write cache MiB", "write s",
           "trace warm ms", "trace cold ms", "step warm ms", "step cold ms"], rows)  # fmt: skip
    policy = next(iter(res))
    col = 0 if args.no_cold else 2
    best_t = min(v[col] for v in res.values())
    best_s = min(v[col + 1] for v in res.values())
    kind = "warm" if args.no_cold else "cold"
    pt, ps = res[policy][col], res[policy][col + 1]
    print(
        f"RESULT chunk_tradeoff: policy {kind} trace {pt:.1f} ms ({pt / best_t:.1f}x the best shape), "
        f"{kind} step {ps:.0f} ms ({ps / best_s:.1f}x the best shape)"
    )


if __name__ == "__main__":
    main()
