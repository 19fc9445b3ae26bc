"""Writing one >= 1 GB report on 1 rank, on 2 ranks gathering to rank 0, and on 2 ranks with MPI-IO.

Cells are dealt round-robin to ranks (as BMTK and NetPyNE deal them), so every rank's columns are scattered over
the file. Each rank writes 100-step float32 blocks taken from one preallocated random buffer (generation is not
measured); every run is a fresh ``mpiexec`` job measured with ``time.perf_counter`` from the writer's creation to
its close, and each rank reports its peak RSS (``ru_maxrss``). Baseline in the same run: raw h5py writing the same
blocks into the same chunked dataset from one process.

Variants: ``raw`` (h5py, 1 process), ``1 rank``, ``gather`` (2 ranks, blocks gathered to rank 0), ``mpio``
(2 ranks, Alltoallv to contiguous column ranges, then one collective hyperslab per rank), ``mpio-selection``
(2 ranks, one collective write of each rank's scattered column runs). MPI-IO variants need h5py with parallel
HDF5 (``make install-mpio``; run this script with ``.venv-mpio/bin/python``); they are skipped otherwise.

Goals (issue 8): MPI-IO rank 0 peak RSS <= 1.25x the other rank's; MPI-IO time no worse than gather.

    .venv-mpio/bin/python bench/mpi_write.py                       # 1.08 GB
    .venv-mpio/bin/python bench/mpi_write.py --cells 400 --steps 1000  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from _util import machine, result, scratch_dir, table

PER = 50
BLOCK = 100


def _layout(n_cells: int, rank: int, size: int):
    mine = np.arange(n_cells)[rank::size]
    return mine, np.concatenate([np.arange(c * PER, (c + 1) * PER) for c in mine]) if mine.size else np.zeros(0, int)


def child(variant: str, path: str, n_cells: int, n_steps: int) -> None:
    from simout_plugins import CompartmentSeriesWriter, build_compartments

    comm = None
    rank, size = 0, 1
    if variant != "1 rank":
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
    mine, cols = _layout(n_cells, rank, size)
    comps = build_compartments(node_ids=mine, counts=np.full(mine.size, PER), number=np.tile(np.arange(PER), mine.size))
    rng = np.random.default_rng(rank)
    pool = rng.standard_normal(BLOCK * cols.size + 4096).astype(np.float32)
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    sink = {"1 rank": "auto", "gather": "gather"}.get(variant, variant)
    with CompartmentSeriesWriter(
        path, compartments=comps, n_steps=n_steps, dt_ms=0.1, block_steps=BLOCK, comm=comm, sink=sink
    ) as w:
        for b, step0 in enumerate(range(0, n_steps, BLOCK)):
            n = min(BLOCK, n_steps - step0)
            off = (b * 7919) % 4096
            w.write_block(step0, pool[off : off + n * cols.size].reshape(n, cols.size))
    took = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if comm is not None:
        rsss = comm.gather(rss, root=0)
        took = comm.allreduce(took, op=MPI.MAX)
    else:
        rsss = [rss]
    if rank == 0:
        print(json.dumps({"time": took, "rss": rsss}))


def raw(path: str, n_cells: int, n_steps: int) -> dict:
    from simout_plugins.nwb.chunking import choose_chunks

    n_comp = n_cells * PER
    pool = np.random.default_rng(0).standard_normal(BLOCK * n_comp + 4096).astype(np.float32)
    chunks = choose_chunks(n_steps=n_steps, n_compartments=n_comp, itemsize=4, block_steps=BLOCK)
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", shape=(n_steps, n_comp), dtype="f4", chunks=chunks, fillvalue=np.nan)
        for b, step0 in enumerate(range(0, n_steps, BLOCK)):
            n = min(BLOCK, n_steps - step0)
            off = (b * 7919) % 4096
            ds[step0 : step0 + n] = pool[off : off + n * n_comp].reshape(n, n_comp)
            f.flush()
    return {"time": time.perf_counter() - t0, "rss": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=2700)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], help="variants to leave out (e.g. mpio-selection)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.cells, args.steps)
        return
    print(machine())
    gb = args.cells * PER * args.steps * 4 / 1e9
    print(f"{args.cells} cells x {PER} compartments x {args.steps} steps float32 = {gb:.2f} GB, {BLOCK}-step blocks")
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    variants = ["raw", "1 rank", "gather"]
    if h5py.get_config().mpi:
        variants += ["mpio", "mpio-selection"]
    else:
        print("h5py has no MPI: MPI-IO variants skipped (run with .venv-mpio/bin/python)")
    variants = [v for v in variants if v not in args.skip]
    best: dict[str, dict] = {}
    with scratch_dir("mpi-write") as folder:
        for _ in range(args.repeats):
            for variant in variants:
                path = os.path.join(folder, f"{variant.replace(' ', '_')}.nwb")
                if variant == "raw":
                    out = raw(path.replace(".nwb", ".h5"), args.cells, args.steps)
                else:
                    n = 1 if variant == "1 rank" else 2
                    cmd = [mpiexec, "-n", str(n)] if n > 1 else []
                    cmd += [sys.executable, __file__, "--cells", str(args.cells), "--steps", str(args.steps)]
                    cmd += ["--child", variant, path]
                    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
                    out = json.loads(done.stdout.strip().splitlines()[-1])
                if variant not in best or out["time"] < best[variant]["time"]:
                    best[variant] = out
                for p in Path(folder).iterdir():
                    p.unlink()
    base = best["raw"]["time"]
    rows = []
    for variant, out in best.items():
        rss = out["rss"]
        rows.append(
            (
                variant,
                out["time"],
                out["time"] / base,
                gb / out["time"],
                rss[0],
                rss[1] if len(rss) > 1 else float("nan"),
                rss[0] / rss[1] if len(rss) > 1 else float("nan"),
            )
        )
    table(["variant", "s", "x raw", "GB/s", "RSS r0 MB", "RSS r1 MB", "r0/r1"], rows)
    if "mpio" in best:
        fastest = min((v for v in ("mpio", "mpio-selection") if v in best), key=lambda v: best[v]["time"])
        rss = best[fastest]["rss"]
        result("mpi_write", f"{fastest} rank 0 / rank 1 peak RSS", rss[0] / rss[1], 1.25)
        result("mpi_write", f"{fastest} time / gather time", best[fastest]["time"] / best["gather"]["time"], 1.0)


if __name__ == "__main__":
    main()
