"""BMTK report overhead: one network run with no report, BMTK's native membrane_report and the NWB report.

Every run is its own subprocess (``python -m bmtk_module run``), on 1 and on 2 MPI ranks; printed: the
``sim.run()`` wall time BMTK logs ("Simulation completed in ..."), its ratio to the no-report run, the report file
size and the peak RSS of the largest process (``ru_maxrss`` of the waited children).

    python bench/bmtk_overhead.py [--cells 100] [--tstop 500] [--work DIR]
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "bmtk_network"


def load_example():
    spec = importlib.util.spec_from_file_location("bmtk_example_network", EXAMPLE / "network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(config: Path, n_ranks: int) -> tuple[float, float]:
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(config)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    # a fresh grandchild per run, so ru_maxrss(CHILDREN) of the helper is this run's peak alone
    helper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stdout.write(r.stdout + r.stderr); "
        "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    result = subprocess.run([sys.executable, "-c", helper, *cmd], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    seconds = float(re.search(r"Simulation completed in ([0-9.]+) seconds", result.stdout).group(1))
    rss_mb = int(re.search(r"MAXRSS_KB (\d+)", result.stdout).group(1)) / 1024.0
    return seconds, rss_mb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="biophysical cells (cortex exc/inh + thalamus)")
    parser.add_argument("--tstop", type=float, default=500.0, help="ms (dt 0.1 ms)")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    example = load_example()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        mech = example.compile_mechanisms(work / "mechanisms")
        n_exc, n_inh = int(args.cells * 0.6), int(args.cells * 0.2)
        n_thal = args.cells - n_exc - n_inh
        net = example.build_network(work / "network", n_exc=n_exc, n_inh=n_inh, n_thalamus=n_thal, n_inputs=50)
        spikes = example.write_input_spikes(net / "inputs_spikes.h5", n_inputs=50, tstop_ms=args.tstop)
        reports = {
            "none": {},
            "native": {"r": {"module": "membrane_report", "variable_name": "v", "cells": "all", "sections": "all",
                             "file_name": "report.h5"}},
            "nwb": {"r": {"module": "nwb_compartment_report", "variable_name": "v", "cells": "all",
                          "sections": "all", "file_name": "report.nwb"}},
        }  # fmt: skip
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
                seconds, rss = run_one(config, n_ranks)
                files = list(out.glob("report.*"))
                size_mb = files[0].stat().st_size / 1e6 if files else 0.0
                base = seconds if kind == "none" else base
                rows.append((n_ranks, kind, seconds, seconds / base, size_mb, rss))
        print(f"\n{args.cells} cells, tstop {args.tstop} ms, dt 0.1 ms ({int(args.tstop / 0.1)} steps)")
        print(f"{'ranks':>5} {'report':>7} {'run s':>7} {'x none':>7} {'file MB':>8} {'peak RSS MB':>12}")
        for n_ranks, kind, seconds, ratio, size_mb, rss in rows:
            print(f"{n_ranks:>5} {kind:>7} {seconds:7.2f} {ratio:7.2f} {size_mb:8.1f} {rss:12.0f}")
        for n_ranks in (1, 2):
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            print(
                f"{n_ranks} rank(s): NWB/none {by['nwb'][3]:.2f}x, native/NWB {by['native'][2] / by['nwb'][2]:.1f}x, "
                f"NWB/native size {by['nwb'][4] / max(by['native'][4], 1e-9):.2f}, "
                f"NWB/native peak RSS {by['nwb'][5] / by['native'][5]:.2f}"
            )


if __name__ == "__main__":
    main()
