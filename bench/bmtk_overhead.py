"""BMTK report overhead: one network run with no report, BMTK's native membrane_report and the NWB report.

Every run is its own subprocess (``python -m bmtk_module run``), on 1 and on 2 MPI ranks; printed: the
``sim.run()`` wall time BMTK logs ("Simulation completed in ..."), its ratio to the no-report run, the report file
size, the CPU seconds of the busiest rank over the same span (less inflated by other jobs on the cores) and the
peak RSS of the largest process (``ru_maxrss`` of the waited children). The no-report and NWB runs
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


# ``python -m bmtk_module run CONFIG`` plus each rank's CPU seconds over what BMTK times ("Simulation completed in"):
# from the end of the last module's initialize to the end of finalize. CPU time is less inflated than wall time when
# other jobs share the cores (it still counts MPI's busy waiting).
CHILD = """
import sys, time
from bmtk_module import mpi, runner
rank, n_ranks = mpi.init_neuron_mpi()
runner.init_neuron_mpi = lambda: (rank, n_ranks)
from bmtk.simulator.bionet import biosimulator
plain_run = biosimulator.BioSimulator.run
def run(self):
    start = [time.process_time()]
    if self._sim_mods:
        last, init = self._sim_mods[-1], self._sim_mods[-1].initialize
        def initialize(*args):
            init(*args)
            start[0] = time.process_time()
        last.initialize = initialize
    plain_run(self)
    print("RUN_CPU_S", rank, time.process_time() - start[0], flush=True)
biosimulator.BioSimulator.run = run
sys.exit(__import__("bmtk_module.__main__", fromlist=["main"]).main(["run", sys.argv[1]]))
"""


def run_one(config: Path, n_ranks: int) -> tuple[float, float, float]:
    """sim.run() wall seconds (BMTK's log), the largest rank's CPU seconds over the same span, peak RSS (MB)."""
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-c", CHILD, str(config)]
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
    cpu = max(float(x) for x in re.findall(r"RUN_CPU_S \d+ ([0-9.]+)", result.stdout))
    return seconds, cpu, rss_mb


def measure(config: Path, n_ranks: int, *, out: Path, kind: str, rss: dict, sizes: dict, cpu: dict) -> float:
    """One run's sim.run() seconds; notes its peak RSS (largest so far), report size (MB) and best CPU seconds."""
    seconds, cpu_s, peak = run_one(config, n_ranks)
    cpu[kind] = min(cpu.get(kind, float("inf")), cpu_s)
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
            rss, sizes, runs, cpu = {}, {}, {}, {}
            for kind, rep in reports.items():
                out = work / f"out_{kind}_{n_ranks}"
                conf = example.make_config(
                    network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes, reports=rep,
                    tstop_ms=args.tstop, n_exc=n_exc,
                )  # fmt: skip
                config = work / f"config_{kind}_{n_ranks}.json"
                config.write_text(json.dumps(conf))
                runs[kind] = functools.partial(measure, config, n_ranks, out=out, kind=kind, rss=rss, sizes=sizes,
                                               cpu=cpu)  # fmt: skip
            native = runs.pop("native", None)
            best = best_of_alternating(runs, args.repeat)
            if native is not None:
                best["native"] = best_of_alternating({"native": native}, args.native_repeat)["native"]
            for kind in reports:
                rows.append((n_ranks, kind, best[kind], best[kind] / best["none"], cpu[kind],
                             cpu[kind] / cpu["none"], sizes[kind], rss[kind]))  # fmt: skip
        print(f"\n{args.cells} cells, tstop {args.tstop} ms, dt 0.1 ms ({int(args.tstop / 0.1)} steps), "
              f"{sys.prefix}, best of {args.repeat} alternating (native: {args.native_repeat})")  # fmt: skip
        print(f"{'ranks':>5} {'report':>7} {'run s':>7} {'x none':>7} {'cpu s':>7} {'x none':>7} {'file MB':>8} "
              f"{'peak RSS MB':>12}")  # fmt: skip
        for n_ranks, kind, seconds, ratio, cpu_s, cpu_ratio, size_mb, peak in rows:
            print(f"{n_ranks:>5} {kind:>7} {seconds:7.2f} {ratio:7.2f} {cpu_s:7.2f} {cpu_ratio:7.2f} {size_mb:8.1f} "
                  f"{peak:12.0f}")  # fmt: skip
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            if "native" in by:
                print(
                    f"{n_ranks} rank(s): NWB/none {by['nwb'][3]:.2f}x, native/none {by['native'][3]:.2f}x, "
                    f"native/NWB {by['native'][2] / by['nwb'][2]:.1f}x, "
                    f"NWB/native size {by['nwb'][6] / max(by['native'][6], 1e-9):.2f}, "
                    f"NWB/native peak RSS {by['nwb'][7] / by['native'][7]:.2f}"
                )
        for n_ranks in args.ranks:
            by = {r[1]: r for r in rows if r[0] == n_ranks}
            goal = 1.15 if n_ranks == 1 else 1.3
            print(f"{n_ranks} rank(s): CPU time NWB/none {by['nwb'][5]:.2f}x (goal {goal}x)")
            result(f"bmtk_overhead {n_ranks} rank(s)", "NWB report / no report (run time)", by["nwb"][3], goal)


if __name__ == "__main__":
    main()
