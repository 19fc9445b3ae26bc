"""Extracellular-potential overhead: one BMTK network run with no report, BMTK's native ``extracellular`` module and
``nwb_ecp_report`` (float64), on 1 and 2 MPI ranks; the two reports' values compared.

Every run is its own ``python -m bmtk_module run`` subprocess. Printed per run: BMTK's own timing ("Simulation
completed in": the run loop and every module's finalize, after the modules' initialize), the subprocess wall time
(network build and set-up included), their ratios to the no-report run, and the largest difference between the NWB
series and BMTK's ``ecp.h5`` of the same configuration (separate runs: the native module inserts NEURON's
``extracellular`` mechanism into every cell, ours leaves the model unchanged, so the two runs differ by that).

    python bench/ecp_overhead.py [--cells 100] [--channels 86] [--tstop 500] [--work DIR]
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


def load_example():
    spec = importlib.util.spec_from_file_location("bmtk_example_network", EXAMPLE / "network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(config: Path, n_ranks: int) -> tuple[float, float]:
    """(BMTK's 'Simulation completed in' seconds, subprocess wall seconds)."""
    env = dict(os.environ)
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    env["MPI_LIB_NRN_PATH"] = str(lib)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(config)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    seconds = float(re.search(r"Simulation completed in ([0-9.]+) seconds", result.stdout + result.stderr).group(1))
    return seconds, wall


def write_probe(path: Path, n: int) -> Path:
    """A linear probe along y beside the somata, 20 µm pitch (BMTK's electrode file format). Not on a segment's axis:
    there the line-source formula divides by zero (native and ours both give NaN)."""
    lines = ["channel x_pos y_pos z_pos"] + [f"{i} 10.0 {-(n // 2) * 20.0 + 20.0 * i} 5.0" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="biophysical cells (cortex exc/inh + thalamus)")
    parser.add_argument("--channels", type=int, default=86)
    parser.add_argument("--tstop", type=float, default=500.0, help="ms (dt 0.1 ms)")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    example = load_example()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        mech = example.compile_mechanisms(work / "mechanisms")
        n_exc, n_inh = int(args.cells * 0.6), int(args.cells * 0.2)
        n_thal = args.cells - n_exc - n_inh
        net = example.build_network(work / "network", n_exc=n_exc, n_inh=n_inh, n_thalamus=n_thal, n_inputs=50)
        spikes = example.write_input_spikes(net / "inputs_spikes.h5", n_inputs=50, tstop_ms=args.tstop)
        probe = write_probe(work / "electrodes.csv", args.channels)
        entry = {"electrode_positions": str(probe), "cells": "all"}
        reports = {
            "none": {},
            "native": {"e": {"module": "extracellular", "file_name": "ecp.h5", **entry}},
            "nwb": {"e": {"module": "nwb_ecp_report", "file_name": "ecp.nwb", "dtype": "float64", **entry}},
        }
        rows = []
        for n_ranks in (1, 2):
            base = None
            for kind, rep in reports.items():
                out = work / f"out_{kind}_{n_ranks}"
                conf = example.make_config(
                    network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes, reports=rep,
                    tstop_ms=args.tstop, n_exc=n_exc,
                )  # fmt: skip
                config = work / f"config_{kind}_{n_ranks}.json"
                config.write_text(json.dumps(conf))
                seconds, wall = run_one(config, n_ranks)
                base = (seconds, wall) if kind == "none" else base
                rows.append((n_ranks, kind, seconds, seconds / base[0], wall, wall / base[1]))
            with (
                h5py.File(work / f"out_native_{n_ranks}" / "ecp.h5", "r") as a,
                h5py.File(work / f"out_nwb_{n_ranks}" / "ecp.nwb", "r") as b,
            ):
                native, ours = a["ecp/data"][()], b["acquisition/e/data"][()]
            rel = float(np.nanmax(np.abs(native - ours)) / np.nanmax(np.abs(native)))
            rows.append((n_ranks, "diff", rel, float("nan"), float("nan"), float("nan")))
        print(f"\n{args.cells} cells, {args.channels} channels, tstop {args.tstop} ms, dt 0.1 ms")
        print(f"{'ranks':>5} {'report':>7} {'run s':>7} {'x none':>7} {'wall s':>7} {'x none':>7}")
        for n_ranks, kind, seconds, ratio, wall, wratio in rows:
            if kind == "diff":
                print(f"{n_ranks:>5}   max |nwb - native| / max |native| = {seconds:.2e} (separate runs)")
                continue
            print(f"{n_ranks:>5} {kind:>7} {seconds:7.2f} {ratio:7.2f} {wall:7.2f} {wratio:7.2f}")
        for n_ranks in (1, 2):
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            print(
                f"{n_ranks} rank(s): nwb/none {by['nwb'][3]:.2f}x, native/none {by['native'][3]:.2f}x, "
                f"native/nwb {by['native'][2] / by['nwb'][2]:.1f}x (BMTK's timing)"
            )


if __name__ == "__main__":
    main()
