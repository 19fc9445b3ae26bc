"""BMTK report overhead: one network run with no report, BMTK's native membrane_report and the NWB report.

Every run is its own subprocess (``python -m bmtk_module run``), on 1 and on 2 MPI ranks; printed: the
``sim.run()`` wall time BMTK logs ("Simulation completed in ..."), its ratio to the no-report run, the report file
size and the peak RSS of the largest process (``ru_maxrss`` of the waited children). The no-report and NWB runs
alternate (none, nwb, none, nwb, ...) and each keeps its best of ``--repeat`` (the machine is shared); the native
report, 8-14x slower, runs ``--native-repeat`` times (0: skipped). Both reports record v of all sections of every cell
(float32 for the NWB one). The environment is the interpreter's: run it with ``.venv-mpio/bin/python`` for MPI-IO
(its ``mpiexec`` and system MPICH). Ends with one ``RESULT`` line per rank count (goals: 1.15x on 1 rank, 1.3x on 2).

    python bench/bmtk_overhead.py [--cells 100] [--tstop 500] [--ranks 1 2] [--repeat 3] [--native-repeat 1]
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

from _util import best_of_alternating, result

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


def measure(config: Path, n_ranks: int, *, out: Path, kind: str, rss: dict, sizes: dict) -> float:
    """One run's sim.run() seconds; notes its peak RSS (largest so far) and report size (MB) under ``kind``."""
    seconds, peak = run_one(config, n_ranks)
    rss[kind] = max(rss.get(kind, 0.0), peak)
    files = list(out.glob("report.*"))
    sizes[kind] = files[0].stat().st_size / 1e6 if files else 0.0
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="biophysical cells (cortex exc/inh + thalamus)")
    parser.add_argument("--tstop", type=float, default=500.0, help="ms (dt 0.1 ms)")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="MPI rank counts to run")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds of none / nwb; best kept")
    parser.add_argument("--native-repeat", type=int, default=1, help="runs of the native report (0: skip)")
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
        if args.native_repeat <= 0:
            del reports["native"]
        rows = []
        for n_ranks in args.ranks:
            rss, sizes, runs = {}, {}, {}
            for kind, rep in reports.items():
                out = work / f"out_{kind}_{n_ranks}"
                conf = example.make_config(
                    network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes, reports=rep,
                    tstop_ms=args.tstop, n_exc=n_exc,
                )  # fmt: skip
                config = work / f"config_{kind}_{n_ranks}.json"
                config.write_text(json.dumps(conf))
                runs[kind] = functools.partial(measure, config, n_ranks, out=out, kind=kind, rss=rss, sizes=sizes)
            native = runs.pop("native", None)
            best = best_of_alternating(runs, args.repeat)
            if native is not None:
                best["native"] = best_of_alternating({"native": native}, args.native_repeat)["native"]
            for kind in reports:
                rows.append((n_ranks, kind, best[kind], best[kind] / best["none"], sizes[kind], rss[kind]))
        print(f"\n{args.cells} cells, tstop {args.tstop} ms, dt 0.1 ms ({int(args.tstop / 0.1)} steps), "
              f"{sys.prefix}, best of {args.repeat} alternating (native: {args.native_repeat})")  # fmt: skip
        print(f"{'ranks':>5} {'report':>7} {'run s':>7} {'x none':>7} {'file MB':>8} {'peak RSS MB':>12}")
        for n_ranks, kind, seconds, ratio, size_mb, rss in rows:
            print(f"{n_ranks:>5} {kind:>7} {seconds:7.2f} {ratio:7.2f} {size_mb:8.1f} {rss:12.0f}")
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            if "native" in by:
                print(
                    f"{n_ranks} rank(s): NWB/none {by['nwb'][3]:.2f}x, native/none {by['native'][3]:.2f}x, "
                    f"native/NWB {by['native'][2] / by['nwb'][2]:.1f}x, "
                    f"NWB/native size {by['nwb'][4] / max(by['native'][4], 1e-9):.2f}, "
                    f"NWB/native peak RSS {by['nwb'][5] / by['native'][5]:.2f}"
                )
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            result(f"bmtk_overhead {n_ranks} rank(s)", "NWB report / no report", by["nwb"][3],
                   1.15 if n_ranks == 1 else 1.3)  # fmt: skip


if __name__ == "__main__":
    main()
