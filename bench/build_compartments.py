"""Compartments table: ``build_compartments`` + writing the file, against raw h5py and against row-by-row add_row.

Default size: 1,000,000 cells x 10 compartments (10M columns); node_ids, counts, number (int64) and position
(float64) are already in memory before any clock starts.

- ``ours``: ``build_compartments(node_ids, counts, number, position)`` then ``CompartmentSeriesWriter(n_steps=1)``,
  one ``write_block(0, row)`` of a one-step (1, 10M) float32 row, ``close()``.
- ``raw h5py``: ``h5py.File`` writing the same datasets from the same arrays: ``id``, ``number``, ``number_index``
  (cumsum of counts, stored as the same smallest uint as ours), ``position``, ``position_index`` and the one-step
  ``data`` row (same chunk shape and fill value as the writer's dataset).
- ``add_row``: ``Compartments().add_row(number=..., position=..., id=...)`` for each of ``--add-row-cells``
  (default 100,000) cells, in memory only (no file); extrapolated per cell.

Ours and raw alternate order over ``--repeat`` runs (best kept); files are deleted after each run.
The ratio is best ours / best raw (goal <= 2x); the table also gives the time per cell of each path and how many
times faster than add_row ours is per cell.

    python bench/build_compartments.py
    python bench/build_compartments.py --cells 100000 --add-row-cells 10000 --repeat 2   # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import h5py
import numpy as np
from _util import machine, remove, result, scratch_dir, table

from simout_plugins import Compartments, CompartmentSeriesWriter, build_compartments
from simout_plugins.nwb.chunking import choose_chunks
from simout_plugins.nwb.ragged import counts_to_nwb_index, smallest_uint

GOAL = 2.0


def run_ours(path: str, a: dict) -> dict[str, float]:
    t0 = time.perf_counter()
    comps = build_compartments(node_ids=a["node_ids"], counts=a["counts"], number=a["number"], position=a["position"])
    t1 = time.perf_counter()
    with CompartmentSeriesWriter(path, compartments=comps, name="v", n_steps=1, dt_ms=0.1) as w:
        w.write_block(0, a["row"])
    t2 = time.perf_counter()
    return {"total": t2 - t0, "build": t1 - t0, "write": t2 - t1}


def run_raw(path: str, a: dict, chunks) -> dict[str, float]:
    t0 = time.perf_counter()
    index = counts_to_nwb_index(a["counts"])
    index = index.astype(smallest_uint(int(index[-1])))
    t1 = time.perf_counter()
    with h5py.File(path, "w") as f:
        g = f.create_group("acquisition/compartments")
        g["id"] = a["node_ids"]
        g["number"] = a["number"]
        g["number_index"] = index
        g["position"] = a["position"]
        g["position_index"] = index
        row = a["row"]
        d = f.create_dataset("acquisition/v/data", shape=row.shape, dtype=row.dtype, chunks=chunks, fillvalue=np.nan)
        d[...] = row
    t2 = time.perf_counter()
    return {"total": t2 - t0, "build": t1 - t0, "write": t2 - t1}


def run_add_row(a: dict, n_cells: int) -> float:
    number, position, per = a["number"], a["position"], int(a["counts"][0])
    t0 = time.perf_counter()
    table_ = Compartments()
    for i in range(n_cells):
        table_.add_row(number=number[i * per : (i + 1) * per], position=position[i * per : (i + 1) * per], id=i)
    return time.perf_counter() - t0


def check_same(ours: str, raw: str) -> None:
    """The raw file holds the same datasets (dtype, shape) as ours."""
    with h5py.File(ours, "r") as fo, h5py.File(raw, "r") as fr:
        for name in ("id", "number", "number_index", "position", "position_index"):
            do, dr = fo[f"acquisition/compartments/{name}"], fr[f"acquisition/compartments/{name}"]
            got = f"{name}: ours {do.dtype}{do.shape} raw {dr.dtype}{dr.shape}"
            assert (do.dtype, do.shape) == (dr.dtype, dr.shape), got
        do, dr = fo["acquisition/v/data"], fr["acquisition/v/data"]
        assert (do.dtype, do.shape, do.chunks) == (dr.dtype, dr.shape, dr.chunks), "data differs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--compartments", type=int, default=10, help="compartments per cell")
    parser.add_argument("--add-row-cells", type=int, default=100_000, help="cells for the add_row timing")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    n, per = args.cells, args.compartments
    rng = np.random.default_rng(0)
    a = {
        "node_ids": np.arange(n, dtype=np.int64),
        "counts": np.full(n, per, dtype=np.int64),
        "number": np.tile(np.arange(per, dtype=np.int64), n),
        "position": np.tile((np.arange(per) + 0.5) / per, n),
        "row": rng.standard_normal((1, n * per), dtype=np.float32),
    }
    chunks = choose_chunks(n_steps=1, n_compartments=n * per, itemsize=4)
    print(f"build_compartments: {n} cells x {per} compartments ({n * per} columns), one-step row, data chunks "
          f"{chunks}; {machine()}")  # fmt: skip

    runs: dict[str, list[dict[str, float]]] = {"ours": [], "raw h5py": []}
    with scratch_dir("build") as folder:
        p_ours, p_raw = os.path.join(folder, "ours.nwb"), os.path.join(folder, "raw.h5")
        # warm-up at 1/10 size (first pynwb write, imports), then check the two files hold the same datasets
        small = {k: (v[:, : v.shape[1] // 10] if k == "row" else v[: v.size // 10]) for k, v in a.items()}
        run_ours(p_ours, small)
        run_raw(p_raw, small, choose_chunks(n_steps=1, n_compartments=small["row"].shape[1], itemsize=4))
        check_same(p_ours, p_raw)
        remove(p_ours)
        remove(p_raw)
        for r in range(args.repeat):
            order = ["ours", "raw h5py"] if r % 2 == 0 else ["raw h5py", "ours"]
            for name in order:
                gc.collect()
                if name == "ours":
                    runs[name].append(run_ours(p_ours, a))
                    remove(p_ours)
                else:
                    runs[name].append(run_raw(p_raw, a, chunks))
                    remove(p_raw)

    gc.collect()
    t_add = run_add_row(a, args.add_row_cells)
    add_per_cell = t_add / args.add_row_cells

    best = {k: min(v, key=lambda r: r["total"]) for k, v in runs.items()}
    base = best["raw h5py"]["total"]
    rows = []
    for name, b in best.items():
        rows.append([name, b["total"], b["build"], b["write"], " ".join(f"{r['total']:.2f}" for r in runs[name]),
                     b["total"] / n * 1e6, b["total"] / base, add_per_cell / (b["total"] / n)])  # fmt: skip
    rows.append([f"add_row ({args.add_row_cells} cells, no file)", t_add, t_add, 0.0, f"{t_add:.2f}",
                 add_per_cell * 1e6, add_per_cell * n / base, 1.0])  # fmt: skip
    table(["path", "best s", "build s", "write s", "all runs s", "us/cell", "vs raw", "add_row/this per cell"], rows)
    print(
        f"add_row extrapolated to {n} cells: {add_per_cell * n:.1f} s (table only, before any file write); "
        f"build_compartments alone: {best['ours']['build']:.3f} s = "
        f"{add_per_cell / (best['ours']['build'] / n):.0f}x faster per cell than add_row"
    )
    result("build_compartments", "(build_compartments + write) / raw h5py", best["ours"]["total"] / base, GOAL)


if __name__ == "__main__":
    main()
