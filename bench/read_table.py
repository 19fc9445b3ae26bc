"""Reading at the seed's scale: 1M cells x 10 compartments, two populations, a label column.

The file (written once with ``CompartmentSeriesWriter``: population ``a`` node ids 0..n/2-1, population ``b`` the
same node ids, labels ``soma``/``dend[k]``, few time steps since only the table matters here) is read in fresh
processes, each measuring with ``time.perf_counter``:

- ``first get, cold``: ``open_report`` + ``r["v"]`` + ``get(population="b", node_ids=[k])`` with the file evicted
  from the page cache first (fsync + POSIX_FADV_DONTNEED).
- ``first get, warm``: the same with the file cached.
- ``next get``: median of 50 further ``get`` calls of random cells (reader open).
- ``spikes``: ``r.spikes(population="b", node_ids=[k])`` on a Units table with one row per cell.

Goal (issue 9): first get <= 50 ms cold, each further get <= 10 ms.

    python bench/read_table.py                  # 1M cells
    python bench/read_table.py --cells 100000   # quick
"""

from __future__ import annotations

import argparse
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
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=STEPS, dt_ms=0.1, block_steps=STEPS) as w:
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


def child(path: str, n_cells: int, seed: int) -> dict:
    from simout_plugins import open_report

    rng = np.random.default_rng(seed)
    half = n_cells - n_cells // 2
    k = int(rng.integers(half))
    t0 = time.perf_counter()
    r = open_report(path)
    s = r["v"]
    frame = s.get(population="b", node_ids=[k])
    first = time.perf_counter() - t0
    expected = (n_cells // 2 + k) * PER + np.arange(PER)
    assert np.allclose(frame.data[0] * 1e3, expected, rtol=1e-6), "wrong values"
    assert list(frame.label) == ["soma"] + [f"dend[{j}]" for j in range(PER - 1)]
    nexts = []
    for _ in range(50):
        pop = "a" if rng.integers(2) else "b"
        kk = int(rng.integers(n_cells // 2))
        t1 = time.perf_counter()
        s.get(population=pop, node_ids=[kk])
        nexts.append(time.perf_counter() - t1)
    t2 = time.perf_counter()
    r.spikes(population="b", node_ids=[k])
    spikes = time.perf_counter() - t2
    r.close()
    return {"first": first, "next": statistics.median(nexts), "spikes": spikes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    print(machine())
    with scratch_dir("read-table") as folder:
        path = os.path.join(folder, "big.nwb")
        took = write_file(path, args.cells)
        size = os.path.getsize(path) / 1e6
        print(f"{args.cells} cells x {PER} compartments, 2 populations, labels: written in {took:.1f} s, {size:.0f} MB")
        runs = {"cold": [], "warm": []}
        for seed in range(3):
            for mode in ("cold", "warm"):
                if mode == "cold":
                    evict(path)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", path, str(args.cells), str(seed)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[mode].append(json.loads(out.stdout))
        rows = []
        for mode, values in runs.items():
            rows.append(
                (
                    mode,
                    1000 * statistics.median(v["first"] for v in values),
                    1000 * statistics.median(v["next"] for v in values),
                    1000 * statistics.median(v["spikes"] for v in values),
                )
            )
        table(["file", "open+[v]+get ms", "next get ms", "spikes(pop, ids) ms"], rows)
        result("read_table", "first get cold", rows[0][1], 50.0, " ms")
        result("read_table", "next get", max(rows[0][2], rows[1][2]), 10.0, " ms")


if __name__ == "__main__":
    main()
