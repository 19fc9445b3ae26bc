"""Compressed BMTK reports: size, run time and read time of the NWB report against the uncompressed one.

One BMTK network (the example's builder, as ``bench/bmtk_overhead.py``), every run its own subprocess
(``python -m bmtk_module run``), the report variants alternated ``--repeat`` times (best of them kept):
no report, the uncompressed NWB report (float32), gzip level 4, lzf, and ``precision`` 3 (int32 µV counts) + gzip 4
or gzip 1.
Printed per variant: the ``sim.run()`` wall time BMTK logs (best), its ratio to the uncompressed report's (best over
best, and the median of the ratios taken within each round: "paired"), the data's
stored size and its ratio, the time to read the whole series (``open_report(...)["v"].get()``, SI) and one cell's
trace, and the max error against the uncompressed report (mV).

    python bench/compression.py [--cells 100] [--tstop 500] [--repeat 3] [--ranks 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "bmtk_network"
sys.path.insert(0, str(REPO))

from simout_plugins import open_report  # noqa: E402

VARIANTS = {
    "none": None,
    "float32": {},
    "gzip-4": {"compression": {"codec": "gzip", "level": 4}},
    "lzf": {"compression": "lzf"},
    "prec3+gzip-4": {"compression": {"codec": "gzip", "level": 4}, "precision": 3},
    "prec3+gzip-1": {"compression": {"codec": "gzip", "level": 1}, "precision": 3},
}


def load_example():
    spec = importlib.util.spec_from_file_location("bmtk_example_network", EXAMPLE / "network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bmtk(config: Path, n_ranks: int) -> float:
    """``sim.run()`` seconds as BMTK logs them."""
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(config)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return float(re.search(r"Simulation completed in ([0-9.]+) seconds", result.stdout + result.stderr).group(1))


def read_times(path: Path) -> tuple[float, float, np.ndarray]:
    """Seconds to read the whole series and one cell (node 0 of the first population); the series in mV."""
    t0 = time.perf_counter()
    with open_report(path) as r:
        data = r["v"].get().data
    t_all = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open_report(path) as r:
        s = r["v"]
        s.get(population=s.cells.populations[0], node_ids=[0])
    return t_all, time.perf_counter() - t0, data * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="biophysical cells (cortex exc/inh + thalamus)")
    parser.add_argument("--tstop", type=float, default=500.0, help="ms (dt 0.1 ms)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs per variant (best kept)")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    example = load_example()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        mech = example.compile_mechanisms(work / "mechanisms")
        n_exc, n_inh = int(args.cells * 0.6), int(args.cells * 0.2)
        net = example.build_network(
            work / "network", n_exc=n_exc, n_inh=n_inh, n_thalamus=args.cells - n_exc - n_inh, n_inputs=50
        )
        spikes = example.write_input_spikes(net / "inputs_spikes.h5", n_inputs=50, tstop_ms=args.tstop)
        runs: dict[str, list[float]] = {kind: [] for kind in VARIANTS}
        for _ in range(args.repeat):
            for kind, extra in VARIANTS.items():
                entry = {"module": "nwb_compartment_report", "variable_name": "v", "cells": "all", "sections": "all",
                         "file_name": "report.nwb", **(extra or {})}  # fmt: skip
                out = work / f"out_{kind}"
                conf = example.make_config(
                    network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes,
                    reports={} if extra is None else {"r": entry}, tstop_ms=args.tstop, n_exc=n_exc,
                )  # fmt: skip
                config = work / f"config_{kind}.json"
                config.write_text(json.dumps(conf))
                runs[kind].append(run_bmtk(config, args.ranks))
        best = {kind: min(times) for kind, times in runs.items()}
        # pair by pair (the same round): the machine's speed drifts less within a round than across rounds
        paired = {kind: float(np.median(np.divide(times, runs["float32"]))) for kind, times in runs.items()}
        rows, ref = [], None
        for kind, extra in VARIANTS.items():
            if extra is None:
                continue
            path = work / f"out_{kind}" / "report.nwb"
            with h5py.File(path) as f:
                ds = f["acquisition/v/data"]
                stored, shape = ds.id.get_storage_size(), ds.shape
            reads = [read_times(path) for _ in range(args.repeat)]
            t_all, t_cell = min(r[0] for r in reads), min(r[1] for r in reads)
            ref = reads[0][2] if ref is None else ref
            rows.append((kind, best[kind], stored, t_all, t_cell, float(np.abs(reads[0][2] - ref).max())))
        base_run, base_size, base_read = rows[0][1], rows[0][2], rows[0][3]
        print(f"\n{args.cells} cells, {shape[1]} compartments x {shape[0]} steps (tstop {args.tstop} ms, dt 0.1 ms), "
              f"{args.ranks} rank(s), best of {args.repeat}; no report: run {best['none']:.2f} s")  # fmt: skip
        print(f"{'variant':>13} {'run s':>6} {'x f32':>6} {'paired':>6} {'data MB':>8} {'x f32':>6} {'read s':>7} "
              f"{'x f32':>6} {'cell ms':>8} {'max err mV':>11}")  # fmt: skip
        for kind, run_s, stored, t_all, t_cell, err in rows:
            print(f"{kind:>13} {run_s:6.2f} {run_s / base_run:6.2f} {paired[kind]:6.2f} {stored / 1e6:8.1f} "
                  f"{stored / base_size:6.2f} {t_all:7.3f} {t_all / base_read:6.2f} {t_cell * 1e3:8.1f} "
                  f"{err:11.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
