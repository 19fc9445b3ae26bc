"""Peak memory (RSS) while writing a report bigger than 4 GB: CompartmentSeriesWriter against raw h5py.

Default: 20,000 cells x 50 compartments (1M columns) x 1100 steps float32 = 4.4 GB, in blocks of 100 steps
(one block = 100 x 1M x 4 B = 400 MB; ``block_steps=100`` given to the writer). Block data is one preallocated
buffer of block size (+ a few values); block b is the contiguous view starting at offset b, so every block differs
but nothing is generated while writing.

Each variant runs in its own worker process, started by its own measuring process that reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the worker exits (so the peaks of different variants
never mix):

- ``baseline``: imports (numpy, h5py, pynwb, simout_plugins) + the block buffer, nothing written;
- ``raw h5py``: ``h5py.File`` (default chunk cache), dataset with the writer's chunk shape, ``dset[a:b] = block``
  + flush per block;
- ``writer``: ``build_compartments`` + ``CompartmentSeriesWriter`` + ``write_block`` per block + ``close``.

Refuses to run with less than 10 GB free where the temporary folder lives (``shutil.disk_usage``). Goal: writer
peak RSS <= 1 GB (10^9 bytes). MB below are 10^6 bytes.

    python bench/peak_rss.py
    python bench/peak_rss.py --cells 2000 --steps 300       # quick (0.12 GB)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

GOAL_MB = 1000.0
MIN_FREE_GB = 10.0


def _vm(key: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def work(args: argparse.Namespace) -> dict:
    """Runs in the worker process."""
    import h5py
    import numpy as np

    from simout_plugins import CompartmentSeriesWriter, build_compartments
    from simout_plugins.nwb.chunking import choose_chunks

    n_cells, per, n_steps, bs = args.cells, args.compartments, args.steps, args.block_steps
    n_comp = n_cells * per
    n_blocks = -(-n_steps // bs)
    flat = np.empty(bs * n_comp + n_blocks, dtype=np.float32)
    src = np.random.default_rng(0).standard_normal(1 << 20, dtype=np.float32)
    for i in range(0, flat.size, src.size):  # fill in place: no temporary as big as the buffer
        flat[i : i + src.size] = src[: flat.size - i]

    def block(b: int) -> np.ndarray:
        n = min(bs, n_steps - b * bs)
        return flat[b : b + n * n_comp].reshape(n, n_comp)

    rss_ready = _vm("VmRSS")
    t0 = time.perf_counter()
    if args.work == "raw h5py":
        chunks = choose_chunks(n_steps=n_steps, n_compartments=n_comp, itemsize=4, block_steps=bs)
        with h5py.File(args.path, "w") as f:
            d = f.create_dataset("data", shape=(n_steps, n_comp), dtype="f4", chunks=chunks, fillvalue=np.nan)
            for b in range(n_blocks):
                d[b * bs : b * bs + block(b).shape[0]] = block(b)
                f.flush()
    elif args.work == "writer":
        comps = build_compartments(
            node_ids=np.arange(n_cells), counts=np.full(n_cells, per), number=np.tile(np.arange(per), n_cells)
        )
        with CompartmentSeriesWriter(
            args.path, compartments=comps, name="v", n_steps=n_steps, dt_ms=0.1, block_steps=bs
        ) as w:
            for b in range(n_blocks):
                w.write_block(b * bs, block(b))
        with h5py.File(args.path, "r") as f:
            chunks = f["acquisition/v/data"].chunks
    else:
        chunks = None
    elapsed = time.perf_counter() - t0
    size = os.path.getsize(args.path) if os.path.exists(args.path) else 0
    return {"rss_ready": rss_ready, "hwm_self": _vm("VmHWM"), "elapsed": elapsed, "size": size, "chunks": chunks}


def child_argv(args: argparse.Namespace, mode: str, variant: str, path: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), f"--{mode}", variant, "--path", path,
            "--cells", str(args.cells), "--compartments", str(args.compartments), "--steps", str(args.steps),
            "--block-steps", str(args.block_steps)]  # fmt: skip


def measure(args: argparse.Namespace) -> dict:
    """Runs in the measuring process: start the worker, wait, read the children's peak RSS."""
    proc = subprocess.run(child_argv(args, "work", args.measure, args.path), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker '{args.measure}' failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["ru_maxrss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--compartments", type=int, default=50, help="compartments per cell")
    parser.add_argument("--steps", type=int, default=1100)
    parser.add_argument("--block-steps", type=int, default=100)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        print(json.dumps(work(args)))
        return
    if args.measure:
        print(json.dumps(measure(args)))
        return

    from _util import machine, result, scratch_dir, table

    n_comp = args.cells * args.compartments
    data_gb = args.steps * n_comp * 4 / 1e9
    block_mb = args.block_steps * n_comp * 4 / 1e6
    free_gb = shutil.disk_usage(tempfile.gettempdir()).free / 1e9
    if free_gb < MIN_FREE_GB:
        raise SystemExit(
            f"peak_rss: only {free_gb:.1f} GB free in {tempfile.gettempdir()}; this benchmark writes a "
            f"{data_gb:.1f} GB file and needs at least {MIN_FREE_GB:g} GB free (set TMPDIR to a bigger disk)"
        )
    print(f"peak_rss: {args.cells} cells x {args.compartments} compartments x {args.steps} steps float32 = "
          f"{data_gb:.2f} GB, blocks of {args.block_steps} steps = {block_mb:.0f} MB; {free_gb:.0f} GB free; "
          f"{machine()}")  # fmt: skip
    rows, peaks = [], {}
    with scratch_dir("peak-rss") as folder:
        for variant in ("baseline", "raw h5py", "writer"):
            path = os.path.join(folder, "report.nwb")
            proc = subprocess.run(child_argv(args, "measure", variant, path), capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"variant '{variant}' failed:\n{proc.stderr}")
            m = json.loads(proc.stdout.strip().splitlines()[-1])
            if os.path.exists(path):
                os.unlink(path)
            peaks[variant] = m["ru_maxrss"] / 1e6
            rows.append([variant, peaks[variant], m["rss_ready"] / 1e6, peaks[variant] - m["rss_ready"] / 1e6,
                         peaks[variant] / block_mb, m["size"] / 1e9, m["elapsed"],
                         "-" if m["chunks"] is None else "x".join(map(str, m["chunks"]))])  # fmt: skip
    table(["variant", "peak MB", "before write MB", "growth MB", "peak/block", "file GB", "write s", "chunks"], rows)
    w, r, b = peaks["writer"], peaks["raw h5py"], peaks["baseline"]
    print(f"writer peak - raw h5py peak = {w - r:.0f} MB; writer peak - baseline = {w - b:.0f} MB "
          f"(block = {block_mb:.0f} MB); writer / raw h5py = {w / r:.2f}x")  # fmt: skip
    result("peak_rss", "writer peak RSS", w, GOAL_MB, " MB")


if __name__ == "__main__":
    main()
