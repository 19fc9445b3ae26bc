"""Reading over HTTP: requests and bytes for ``simout info`` and for one cell's full trace, against a local read.

The file (default 1000 cells x 50 compartments x 5000 steps float32, 1 GB, written in 100-step blocks with the
writer's chunk policy) is served by a small range-request server on 127.0.0.1 that counts requests and bytes
(``tests/remote_server.py``), so the figures are what a DANDI / S3 / lab-server read costs in round trips, with
no network noise. Each remote read starts from a new process state (no cached blocks).

Printed: requests and bytes of ``simout info --json URL``; of ``open_report(URL)["v"].get(node_ids=[k])`` for a
few cells (open included), beside the bytes of the data chunks that hold the cell; wall times remote vs local;
and that the values equal the local read; then the same cells from the file after ``simout repack`` (chunks
stored cell by cell). Goals (issue 14): info <= 10 requests; one cell <= 10 requests and <= 4x the bytes of its
chunks.

    python bench/remote_read.py
    python bench/remote_read.py --cells 200 --steps 2000      # quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time

import h5py
import numpy as np
from _util import machine, result, scratch_dir, table

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report  # noqa: E402
from simout_plugins.cli.app import main as simout  # noqa: E402
from simout_plugins.read.remote import forget_remote_files  # noqa: E402
from simout_plugins.write.repack import repack  # noqa: E402
from tests.remote_server import serve  # noqa: E402


def write(path: str, n_cells: int, per: int, n_steps: int, block: int) -> None:
    comps = build_compartments(
        node_ids=np.arange(n_cells),
        counts=np.full(n_cells, per),
        number=np.tile(np.arange(per), n_cells),
        position=np.tile((np.arange(per) + 0.5) / per, n_cells),
        label=np.tile(np.array(["soma"] + ["dend"] * (per - 1), dtype=object), n_cells),
    )
    cols = np.arange(n_cells * per, dtype=np.float32)
    with CompartmentSeriesWriter(
        path, compartments=comps, name="v", n_steps=n_steps, dt_ms=0.1, unit="mV", block_steps=block
    ) as w:
        for s0 in range(0, n_steps, block):
            steps = np.arange(s0, min(n_steps, s0 + block), dtype=np.float32)
            w.write_block(s0, steps[:, None] * 1e-3 + cols[None, :])
        rng = np.random.default_rng(0)
        w.add_spikes(node_ids=rng.integers(0, n_cells, 5000), times_ms=rng.random(5000) * n_steps * 0.1)


def chunk_bytes(path: str, node_id: int, per: int) -> int:
    with h5py.File(path, "r") as f:
        d = f["acquisition/v/data"]
        t, c = d.chunks
        c0, c1 = node_id * per, (node_id + 1) * per
        return -(-d.shape[0] // t) * ((c1 - 1) // c - c0 // c + 1) * t * c * d.dtype.itemsize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--per-cell", type=int, default=50)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--reads", type=int, default=3, help="cells read (each from a fresh remote state)")
    args = ap.parse_args()
    print(machine())
    with scratch_dir("remote") as folder:
        path = os.path.join(folder, "big.nwb")
        t0 = time.perf_counter()
        write(path, args.cells, args.per_cell, args.steps, args.block)
        size = os.path.getsize(path)
        with h5py.File(path) as f:
            chunks = f["acquisition/v/data"].chunks
        print(f"file: {size / 1e9:.2f} GB, chunks {chunks}, written in {time.perf_counter() - t0:.1f} s")
        rows = []
        worst = {"info": 0, "cell": 0, "ratio": 0.0}
        with serve(folder) as server:
            url = server.url(path)
            forget_remote_files()
            server.reset()
            with contextlib.redirect_stdout(io.StringIO()):
                assert simout(["info", "--json", url]) == 0
            rows.append(["simout info --json", server.stats.n_requests, f"{server.stats.bytes / 1e6:.2f}", "", ""])
            worst["info"] = server.stats.n_requests
            t0 = time.perf_counter()
            repacked = os.path.join(folder, "repacked.nwb")
            repack(path, out=repacked)
            t_repack = time.perf_counter() - t0
            rng = np.random.default_rng(1)
            cells = rng.choice(args.cells, args.reads, replace=False)
            for label, served in (("as written", path), ("repacked", repacked)):
                for k in cells:
                    t_local = time.perf_counter()
                    with open_report(served) as r:  # the local read of the same file
                        local = r["v"].get(node_ids=[int(k)])
                    t_local = time.perf_counter() - t_local
                    forget_remote_files()
                    server.reset()
                    t_remote = time.perf_counter()
                    with open_report(server.url(served)) as r:
                        remote = r["v"].get(node_ids=[int(k)])
                    t_remote = time.perf_counter() - t_remote
                    assert np.array_equal(local.data, remote.data), k
                    held = chunk_bytes(path, int(k), args.per_cell)
                    ratio = server.stats.bytes / held
                    key = "cell" if label == "repacked" else "cell as written"
                    worst[key] = max(worst.get(key, 0), server.stats.n_requests)
                    worst["ratio"] = max(worst["ratio"], ratio)
                    rows.append(
                        [
                            f"{label}: open + get([{k}])",
                            server.stats.n_requests,
                            f"{server.stats.bytes / 1e6:.2f}",
                            f"{ratio:.2f}x of {held / 1e6:.1f} MB",
                            f"{t_remote * 1e3:.0f} / {t_local * 1e3:.0f}",
                        ]
                    )
        table(["read", "requests", "MB", "bytes / chunk bytes", "ms remote / local"], rows)
        print("values: remote == local for every cell read")
        print(f"simout repack: {t_repack:.1f} s for {size / 1e9:.2f} GB (local disk)")
        print(f"as written, one cell: {worst['cell as written']} requests (one per chunk row, all in flight at once)")
        result("remote info", "requests", worst["info"], 10, unit="")
        result("remote one cell (repacked)", "requests", worst["cell"], 10, unit="")
        result("remote one cell", "bytes / chunk bytes", worst["ratio"], 4)


if __name__ == "__main__":
    main()
