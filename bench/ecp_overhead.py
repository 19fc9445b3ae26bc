"""Extracellular-potential overhead: one BMTK network run with no report, BMTK's native ``extracellular`` module and
``nwb_ecp_report`` (float64), on 1 and 2 MPI ranks; the two reports' values compared.

Every run is its own ``python -m bmtk_module run`` subprocess; the figure is BMTK's own timing ("Simulation
completed in": the run loop and every module's finalize, after the modules' initialize). No report and NWB
alternate (none, nwb, none, nwb, ...) and each keeps its best of ``--repeat`` (the machine is shared); the native
module (about 100x the bare run here) runs ``--native-repeat`` times (0: skipped). Printed: each figure, its ratio
to the no-report run, and the largest difference between the NWB series and BMTK's ``ecp.h5`` of the same
configuration (separate runs: the native module inserts NEURON's ``extracellular`` mechanism into every cell, ours
leaves the model unchanged, so the two runs differ by that). Ends with one ``RESULT`` line per rank count (goal:
1.3x).

    python bench/ecp_overhead.py [--cells 100] [--channels 86] [--tstop 500] [--ranks 1 2] [--repeat 3]
                                 [--native-repeat 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from _util import best_of_alternating, machine, result

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "bmtk_network"


def load_example():
    spec = importlib.util.spec_from_file_location("bmtk_example_network", EXAMPLE / "network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(config: Path, n_ranks: int) -> float:
    """BMTK's 'Simulation completed in' seconds ("N minutes, S seconds" past a minute)."""
    env = dict(os.environ)
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    env["MPI_LIB_NRN_PATH"] = str(lib)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(config)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = re.search(r"Simulation completed in (?:([0-9]+) minutes?, )?([0-9.]+) seconds", done.stdout + done.stderr)
    return 60.0 * float(found.group(1) or 0) + float(found.group(2))


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
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds of none / nwb; best kept")
    parser.add_argument("--native-repeat", type=int, default=1, help="runs of the native module (0: skipped)")
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
        if args.native_repeat <= 0:
            del reports["native"]
        rows, diffs = [], {}
        for n_ranks in args.ranks:
            runs = {}
            for kind, rep in reports.items():
                out = work / f"out_{kind}_{n_ranks}"
                conf = example.make_config(
                    network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes, reports=rep,
                    tstop_ms=args.tstop, n_exc=n_exc,
                )  # fmt: skip
                config = work / f"config_{kind}_{n_ranks}.json"
                config.write_text(json.dumps(conf))
                runs[kind] = functools.partial(run_one, config, n_ranks)
            native = runs.pop("native", None)
            best = best_of_alternating(runs, args.repeat)
            if native is not None:
                best["native"] = best_of_alternating({"native": native}, args.native_repeat)["native"]
                with (
                    h5py.File(work / f"out_native_{n_ranks}" / "ecp.h5", "r") as a,
                    h5py.File(work / f"out_nwb_{n_ranks}" / "ecp.nwb", "r") as b,
                ):
                    native_data, ours = a["ecp/data"][()], b["acquisition/e/data"][()]
                diffs[n_ranks] = float(np.nanmax(np.abs(native_data - ours)) / np.nanmax(np.abs(native_data)))
            rows.extend((n_ranks, kind, best[kind], best[kind] / best["none"]) for kind in reports)
        print(f"\n{args.cells} cells, {args.channels} channels, tstop {args.tstop} ms, dt 0.1 ms; best of "
              f"{args.repeat} alternating (native: {args.native_repeat}); {machine()}")  # fmt: skip
        print(f"{'ranks':>5} {'report':>7} {'run s':>8} {'x none':>7}")
        for n_ranks, kind, seconds, ratio in rows:
            print(f"{n_ranks:>5} {kind:>7} {seconds:8.2f} {ratio:7.2f}")
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            if "native" in by:
                print(f"{n_ranks} rank(s): native/none {by['native'][3]:.1f}x, native/nwb "
                      f"{by['native'][2] / by['nwb'][2]:.1f}x, max |nwb - native| / max |native| = "
                      f"{diffs[n_ranks]:.2e} (separate runs)")  # fmt: skip
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            result(f"ecp_overhead {n_ranks} rank(s)", "nwb_ecp_report / no report", by["nwb"][3], 1.3)


if __name__ == "__main__":
    main()
