"""The same NetPyNE run saved with savePickle, saveJson and saveNWB: save time, whole-run time and file size.

Model: 200 cells (2 populations, soma hh + 3-segment pas dendrite), NetStim input, 6 recorded trace kinds on
every cell (V soma / dend / dend tip, hh m / h / n), 500 ms at recordStep 0.1 ms: 200 x 6 x 5000 = 6M values.
Each variant runs in a fresh process (NetPyNE's ``sim`` is global state).

    python bench/netpyne_save.py                       # files in a temporary folder, removed afterwards
    python bench/netpyne_save.py --out-dir /tmp/bench --cells 200 --duration 500 --repeat 3

"save" is the time spent writing the output: NetPyNE's own ``saveTime`` for pickle / JSON (after its gather);
for NWB the time spent inside the writer during and after the run (every interval's block, the spikes, close).
"whole" is the wall time of ``sim.createSimulateAnalyze`` in the worker, "gather" NetPyNE's ``gatherTime``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "savePickle": {"savePickle": True},
    "saveJson": {"saveJson": True},
    "saveNWB float32": {"saveNWB": {"dtype": "float32"}},
    "saveNWB float64": {"saveNWB": {"dtype": "float64"}},
}


def build(n_cells: int, duration_ms: float, folder: str, flags: dict):
    from netpyne import specs

    net = specs.NetParams()
    net.popParams["E"] = {"cellType": "PYR", "numCells": n_cells * 4 // 5}
    net.popParams["I"] = {"cellType": "BAS", "numCells": n_cells - n_cells * 4 // 5}
    for label, diam in (("PYR", 18.8), ("BAS", 12.0)):
        net.cellParams[label] = {
            "conds": {"cellType": label},
            "secs": {
                "soma": {"geom": {"diam": diam, "L": diam, "Ra": 123.0}, "mechs": {"hh": {}}},
                "dend": {
                    "geom": {"diam": 3.0, "L": 200.0, "Ra": 150.0, "nseg": 3},
                    "topol": {"parentSec": "soma", "parentX": 1.0, "childX": 0},
                    "mechs": {"pas": {"g": 0.0000357, "e": -70}},
                },
            },
        }
    net.synMechParams["exc"] = {"mod": "Exp2Syn", "tau1": 0.1, "tau2": 5.0, "e": 0}
    net.stimSourceParams["bkg"] = {"type": "NetStim", "rate": 30, "noise": 0.5}
    net.stimTargetParams["bkg->all"] = {"source": "bkg", "conds": {"pop": ["E", "I"]}, "weight": 0.01,
                                        "delay": 1, "synMech": "exc"}  # fmt: skip
    net.connParams["E->all"] = {"preConds": {"pop": "E"}, "postConds": {"pop": ["E", "I"]}, "probability": 0.05,
                                "weight": 0.002, "delay": 3, "synMech": "exc"}  # fmt: skip
    cfg = specs.SimConfig()
    cfg.duration, cfg.dt, cfg.recordStep = duration_ms, 0.025, 0.1
    cfg.verbose, cfg.printRunTime, cfg.timing = False, False, True
    cfg.recordCells = ["all"]
    cfg.recordTraces = {
        "V_soma": {"sec": "soma", "loc": 0.5, "var": "v"},
        "V_dend": {"sec": "dend", "loc": 0.5, "var": "v"},
        "V_tip": {"sec": "dend", "loc": 1.0, "var": "v"},
        "m": {"sec": "soma", "loc": 0.5, "mech": "hh", "var": "m"},
        "h": {"sec": "soma", "loc": 0.5, "mech": "hh", "var": "h"},
        "n": {"sec": "soma", "loc": 0.5, "mech": "hh", "var": "n"},
    }
    cfg.saveFolder, cfg.simLabel, cfg.analysis = folder, "bench", {}
    for key, value in flags.items():
        setattr(cfg, key, value)
    return net, cfg


def worker(args: argparse.Namespace) -> None:
    from netpyne import sim

    import netpyne_module

    spent = {"nwb": 0.0}

    def timed(cls, name):
        original = getattr(cls, name)

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                spent["nwb"] += time.perf_counter() - t0

        setattr(cls, name, wrapper)

    for name in ("__init__", "on_interval", "finish_traces", "add_spikes", "__exit__"):
        timed(netpyne_module.NWBRecorder, name)
    net, cfg = build(args.cells, args.duration, args.folder, VARIANTS[args.variant])
    netpyne_module.install()
    t0 = time.perf_counter()
    sim.createSimulateAnalyze(net, cfg)
    whole = time.perf_counter() - t0
    files = [p for p in Path(args.folder).iterdir() if p.suffix in (".pkl", ".json", ".nwb")]
    save = spent["nwb"] if "NWB" in args.variant else sim.timingData.get("saveTime", float("nan"))
    result = {
        "whole_s": whole,
        "save_s": save,
        "run_s": sim.timingData.get("runTime", float("nan")),
        "gather_s": sim.timingData.get("gatherTime", float("nan")),
        "size_mb": sum(p.stat().st_size for p in files) / 1e6,
        "files": [p.name for p in files],
    }
    Path(args.result).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--duration", type=float, default=500.0, help="ms")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (best is reported)")
    parser.add_argument("--out-dir", default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    root = Path(args.out_dir) if args.out_dir else Path(tempfile.mkdtemp(prefix="netpyne_save_"))
    rows = {}
    try:
        for variant in VARIANTS:
            best = None
            for i in range(args.repeat):
                folder = root / f"{variant.replace(' ', '_')}_{i}"
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                result_file = folder.with_suffix(".result.json")
                subprocess.run(
                    [sys.executable, __file__, "--worker", "--variant", variant, "--folder", str(folder),
                     "--result", str(result_file), "--cells", str(args.cells), "--duration", str(args.duration)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                res = json.loads(result_file.read_text())
                best = res if best is None or res["whole_s"] < best["whole_s"] else best
            rows[variant] = best
    finally:
        if not args.out_dir:
            shutil.rmtree(root, ignore_errors=True)
    n_values = args.cells * 6 * int(round(args.duration / 0.1))
    print(f"{args.cells} cells, 6 trace kinds, {args.duration:g} ms at 0.1 ms: {n_values / 1e6:.1f}M values; "
          f"best of {args.repeat}")  # fmt: skip
    print(f"{'variant':<18}{'save s':>9}{'gather s':>10}{'whole s':>9}{'size MB':>9}{'save/pkl':>10}{'size/pkl':>10}")
    ref = rows["savePickle"]
    for variant, r in rows.items():
        print(
            f"{variant:<18}{r['save_s']:>9.3f}{r['gather_s']:>10.3f}{r['whole_s']:>9.2f}{r['size_mb']:>9.1f}"
            f"{r['save_s'] / ref['save_s']:>10.3f}{r['size_mb'] / ref['size_mb']:>10.3f}"
        )


if __name__ == "__main__":
    main()
