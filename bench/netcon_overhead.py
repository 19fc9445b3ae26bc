"""BMTK synapse-report overhead: one network run with no report, BMTK's native netcon_report and nwb_netcon_report.

Every run is its own subprocess (``python -m bmtk_module run``, through ``bmtk_overhead.run_one``) on 1 rank;
printed: the ``sim.run()`` wall time BMTK logs ("Simulation completed in ..."), its ratio to the no-report run
measured in the same script, the CPU seconds over the same span and their ratio (less inflated by other jobs on the
cores), the peak RSS of the run and the report file size. The no-report and NWB runs alternate (none, nwb, none,
nwb, ...) and each keeps its best of ``--repeat`` (the machine is shared); the native report runs ``--native-repeat``
times (0: skipped). Both reports record ``g`` (or ``--variable``) of every Exp2Syn synapse of every cell at every
step (0.1 ms; the NWB report in its default float32). Where the native report ran, the NWB file's cells, synapse
ids and values are checked against the native file (values equal after rounding to float32).

The network is the example's cortex (``--exc`` / ``--inh`` cells) and its virtual inputs, without the thalamus:
BMTK 1.2's native netcon_report raises KeyError in its initialize (``_gid_lookup`` is keyed by ``node.gid`` without
the population offsets) when a run has more than one population of built cells. Ends with one ``RESULT`` line (goal
1.15x on 1 rank, the compartment report's goal in bmtk_overhead.py: both sample through the same step sampler).

    python bench/netcon_overhead.py [--exc 80] [--inh 20] [--tstop 500] [--repeat 3] [--native-repeat 1]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import h5py
import numpy as np
from _util import best_of_alternating, machine, result, scratch_dir
from bmtk_overhead import load_example, run_one

GOAL = 1.15


def cortex_only(net: Path) -> dict:
    """The ``networks`` section of the cortex population and its virtual inputs (no thalamus)."""
    nodes = [{"nodes_file": str(net / f"{p}_nodes.h5"), "node_types_file": str(net / f"{p}_node_types.csv")}
             for p in ("cortex", "inputs")]  # fmt: skip
    edges = [{"edges_file": str(net / f"{s}_{t}_edges.h5"), "edge_types_file": str(net / f"{s}_{t}_edge_types.csv")}
             for s, t in (("inputs", "cortex"), ("cortex", "cortex"))]  # fmt: skip
    return {"nodes": nodes, "edges": edges}


def measure(config: Path, *, out: Path, kind: str, cpu: dict, rss: dict, sizes: dict) -> float:
    """One run's sim.run() seconds; notes its best CPU seconds, largest peak RSS (MB) and report size (MB)."""
    seconds, cpu_s, peak = run_one(config, 1)
    cpu[kind] = min(cpu.get(kind, float("inf")), cpu_s)
    rss[kind] = max(rss.get(kind, 0.0), peak)
    files = list(out.glob("report.*"))
    sizes[kind] = files[0].stat().st_size / 1e6 if files else 0.0
    return seconds


def check_values(nwb_path: Path, native_path: Path, variable: str) -> int:
    """Assert the NWB report holds the native report's cells, synapse ids and values; returns the synapse count."""
    from simout_plugins import open_report

    n_cols = 0
    with open_report(nwb_path) as r, h5py.File(native_path, "r") as nat:
        series = r[variable]
        for pop in sorted(nat["report"]):
            g = nat["report"][pop]
            fr = series.get(population=pop, scaled=False)
            offsets = g["mapping/index_pointer"][()].astype(np.int64)
            np.testing.assert_array_equal(np.repeat(g["mapping/node_ids"][()], np.diff(offsets)), fr.node_ids)
            np.testing.assert_array_equal(fr.number, g["mapping/element_ids"][()])
            expected = g["data"][()]
            assert fr.data.shape == expected.shape, (fr.data.shape, expected.shape)
            np.testing.assert_array_equal(fr.data, expected.astype(fr.data.dtype))
            n_cols += expected.shape[1]
        assert n_cols == series.get(scaled=False).data.shape[1]
    return n_cols


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exc", type=int, default=80, help="excitatory cortex cells (biophysical)")
    parser.add_argument("--inh", type=int, default=20, help="inhibitory cortex cells (biophysical)")
    parser.add_argument("--tstop", type=float, default=500.0, help="ms (dt 0.1 ms)")
    parser.add_argument("--variable", default="g", help="Exp2Syn variable recorded by both reports")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds of none / nwb; best kept")
    parser.add_argument("--native-repeat", type=int, default=1, help="runs of the native report (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    args = parser.parse_args(argv)
    print(machine())
    example = load_example()
    with scratch_dir("netcon", keep=args.keep) as tmp:
        work = Path(tmp)
        mech = example.compile_mechanisms(work / "mechanisms")
        net = example.build_network(work / "network", n_exc=args.exc, n_inh=args.inh)
        spikes = example.write_input_spikes(net / "inputs_spikes.h5", tstop_ms=args.tstop)
        entry = {"variable_name": args.variable, "cells": "all", "sections": "all", "syn_type": "Exp2Syn"}
        reports = {
            "none": {},
            "native": {"r": {**entry, "module": "netcon_report", "file_name": "report.h5"}},
            "nwb": {"r": {**entry, "module": "nwb_netcon_report", "file_name": "report.nwb"}},
        }
        if args.native_repeat <= 0:
            del reports["native"]
        cpu, rss, sizes, runs = {}, {}, {}, {}
        for kind, rep in reports.items():
            out = work / f"out_{kind}"
            conf = example.make_config(
                network_dir=net, mechanisms_dir=mech, output_dir=out, spikes_file=spikes, reports=rep,
                tstop_ms=args.tstop, n_exc=args.exc,
            )  # fmt: skip
            conf["networks"] = cortex_only(net)
            config = work / f"config_{kind}.json"
            config.write_text(json.dumps(conf))
            runs[kind] = functools.partial(measure, config, out=out, kind=kind, cpu=cpu, rss=rss, sizes=sizes)
        native = runs.pop("native", None)
        best = best_of_alternating(runs, args.repeat)
        if native is not None:
            best["native"] = best_of_alternating({"native": native}, args.native_repeat)["native"]
            n_syn = check_values(work / "out_nwb" / "report.nwb", work / "out_native" / "report.h5", args.variable)
            checked = "values equal to the native report's (float32)"
        else:
            with h5py.File(work / "out_nwb" / "report.nwb", "r") as f:
                n_syn = f[f"acquisition/{args.variable}/data"].shape[1]
            checked = "values not checked (no native run)"
        print(f"\n{args.exc + args.inh} cortex cells, {n_syn} Exp2Syn synapses, '{args.variable}', tstop {args.tstop} "
              f"ms, dt 0.1 ms ({int(args.tstop / 0.1)} steps), 1 rank, {sys.prefix}, best of {args.repeat} "
              f"alternating (native: {args.native_repeat}); {checked}")  # fmt: skip
        print(f"{'report':>7} {'run s':>7} {'x none':>7} {'cpu s':>7} {'x none':>7} {'file MB':>8} {'peak RSS MB':>12}")
        for kind in reports:
            print(f"{kind:>7} {best[kind]:7.2f} {best[kind] / best['none']:7.2f} {cpu[kind]:7.2f} "
                  f"{cpu[kind] / cpu['none']:7.2f} {sizes[kind]:8.1f} {rss[kind]:12.0f}")  # fmt: skip
        if "native" in best:
            print(f"native/NWB run time {best['native'] / best['nwb']:.2f}x, "
                  f"NWB/native size {sizes['nwb'] / max(sizes['native'], 1e-9):.2f}, "
                  f"NWB/native peak RSS {rss['nwb'] / rss['native']:.2f}")  # fmt: skip
        print(f"CPU time NWB/none {cpu['nwb'] / cpu['none']:.2f}x (goal {GOAL}x)")
        result("netcon_overhead 1 rank", "NWB netcon report / no report (run time)", best["nwb"] / best["none"], GOAL)


if __name__ == "__main__":
    main()
