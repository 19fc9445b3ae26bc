"""A 1M-cell BMTK PointNet network (NEST ``iaf_psc_alpha``, Poisson input, sparse connectivity, 100 ms), every cell's
``V_m`` in one NWB file: sim time with and without the report, peak RSS, file size; NEST on 1 and 2 threads, and on
2 MPI processes with ``--mpi-python`` (the python of a venv whose NEST has MPI: ``make install-nestmpi``).

The network is SONATA, nodes built with bmtk's ``NetworkBuilder``. Edges are written straight to SONATA with h5py:
bmtk's builder calls a Python connection rule per (source, target) pair, 10^12 pairs at 1M cells. Input: a virtual
population of Poisson spike trains (bmtk's ``PoissonSpikeGenerator``), ``--k-in`` inputs per cell; recurrent: ``--k``
random excitatory sources per cell. The native ``multimeter_report`` (NEST's ascii backend, rank 0's conversion to
SONATA) is the anchor, at ``--native-cells`` (its text at 1M cells would be ~30 GB).

NEST's split: ``--split 1t,2t`` (threads, ``run.n_thread``) and ``2r`` (MPI processes, ``mpiexec -n 2`` of
``--mpi-python``; the PyPI ``nest-simulator`` wheel has no MPI). Each variant is a fresh process (NEST keeps global
state) that reports its sim time (``sim.run()`` wall time, which includes the report's file set-up and close) and its
peak RSS (``getrusage``; summed over the processes of an MPI run). No variant records spikes: BMTK's spike recorder
costs NEST ~30 KB per cell (docs/pointnet.md).

    python bench/pointnet_1m.py                      # 1M cells, 100 ms, 1 and 2 threads, native anchor at 20k
    python bench/pointnet_1m.py --cells 100000 --split 1t
    python bench/pointnet_1m.py --split 1t,2r --mpi-python .venv-nestmpi/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _util import evict, machine, result, scratch_dir, table  # noqa: E402

DT_MS = 0.1


def build(root: Path, *, n_cells: int, n_inputs: int, k: int, k_in: int, tstop_ms: float, seed: int = 1) -> None:
    """Nodes (bmtk's builder), edges (SONATA via h5py), Poisson input spikes, model parameter files."""
    import h5py
    from bmtk.builder import NetworkBuilder
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    rng = np.random.default_rng(seed)
    net_dir = root / "network"
    (root / "cells").mkdir(parents=True, exist_ok=True)
    (root / "synapses").mkdir(parents=True, exist_ok=True)
    (root / "cells" / "lif.json").write_text(json.dumps({"I_e": 300.0, "tau_m": 10.0, "V_th": -55.0}))
    (root / "synapses" / "static.json").write_text("{}")
    cortex = NetworkBuilder("cortex")
    cortex.add_nodes(N=n_cells, model_type="point_neuron", model_template="nest:iaf_psc_alpha",
                     dynamics_params="lif.json")  # fmt: skip
    cortex.build()
    cortex.save_nodes(output_dir=str(net_dir))
    inputs = NetworkBuilder("inputs")
    inputs.add_nodes(N=n_inputs, model_type="virtual")
    inputs.build()
    inputs.save_nodes(output_dir=str(net_dir))

    def edges(name: str, source: str, sources: np.ndarray, weight: float, delay: float) -> None:
        targets = np.repeat(np.arange(n_cells, dtype=np.uint64), sources.size // n_cells)
        (net_dir / f"{name}_edge_types.csv").write_text(
            "edge_type_id target_query source_query syn_weight delay dynamics_params model_template\n"
            f"100 * * {weight} {delay} static.json static_synapse\n"
        )
        with h5py.File(net_dir / f"{name}_edges.h5", "w") as f:
            g = f.create_group(f"edges/{name}")
            g.create_dataset("source_node_id", data=sources.astype(np.uint64)).attrs["node_population"] = source
            g.create_dataset("target_node_id", data=targets).attrs["node_population"] = "cortex"
            g.create_dataset("edge_type_id", data=np.full(targets.size, 100, np.uint32))
            g.create_dataset("edge_group_id", data=np.zeros(targets.size, np.uint32))
            g.create_dataset("edge_group_index", data=np.arange(targets.size, dtype=np.uint64))
            g.create_group("0")

    edges("cortex_cortex", "cortex", rng.integers(0, n_cells, n_cells * k), 20.0, 1.5)
    edges("inputs_cortex", "inputs", rng.integers(0, n_inputs, n_cells * k_in), 90.0, 1.0)
    psg = PoissonSpikeGenerator(population="inputs", seed=seed)
    psg.add(node_ids=list(range(n_inputs)), firing_rate=20.0, times=(0.0, tstop_ms / 1000.0))
    psg.to_sonata(str(net_dir / "inputs_spikes.h5"))


def config(root: Path, out: Path, *, report: str, tstop_ms: float, threads: int) -> Path:
    net_dir = root / "network"
    reports = {
        "none": {},
        "nwb": {"v": {"module": "nwb_compartment_report", "variable_name": "V_m", "cells": "cortex",
                      "sections": "soma", "file_name": "v.nwb"}},
        "native": {"v": {"module": "multimeter_report", "variable_name": "V_m", "cells": {"population": "cortex"},
                         "sections": "soma", "file_name": "v.h5"}},
    }[report]  # fmt: skip
    conf = {
        "target_simulator": "NEST",
        "run": {"tstop": tstop_ms, "dt": DT_MS, "n_thread": threads, "overwrite_output_dir": True},
        "inputs": {"poisson": {"input_type": "spikes", "module": "sonata", "node_set": "inputs",
                               "input_file": str(net_dir / "inputs_spikes.h5")}},
        # no spikes file: BMTK's spike recorder costs NEST ~30 KB per cell (30 GB at 1M cells; docs/pointnet.md)
        "output": {"output_dir": str(out), "log_file": "log.txt", "overwrite_output_dir": True,
                   "quiet_simulator": True},
        "components": {"point_neuron_models_dir": str(root / "cells"), "synaptic_models_dir": str(root / "synapses")},
        "networks": {
            "nodes": [{"nodes_file": f"{net_dir}/{p}_nodes.h5", "node_types_file": f"{net_dir}/{p}_node_types.csv"}
                      for p in ("cortex", "inputs")],
            "edges": [{"edges_file": f"{net_dir}/{e}_edges.h5", "edge_types_file": f"{net_dir}/{e}_edge_types.csv"}
                      for e in ("cortex_cortex", "inputs_cortex")],
        },
        "reports": reports,
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path = root / f"config_{out.name}.json"
    path.write_text(json.dumps(conf, indent=1))
    return path


def job(config_path: str, report: str) -> None:
    """One variant in this process: build, run, print one JSON line (sim time, build time, peak RSS, file size)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from bmtk.simulator import pointnet

    from bmtk_module.pointnet_runner import point_simulator_from_config

    t0 = time.perf_counter()
    conf = pointnet.Config.from_json(config_path)
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    sim = point_simulator_from_config(conf, net)  # every variant: BMTK's fileless spike recorder left out
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t1 = time.perf_counter()
    sim.run()
    t2 = time.perf_counter()
    out = Path(conf.output_dir)
    files = list(out.glob("v.*"))
    print("JOB " + json.dumps({
        "build_s": t1 - t0, "sim_s": t2 - t1, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_built_mb": rss_built, "file_mb": sum(f.stat().st_size for f in files) / 1e6,
    }), flush=True)  # fmt: skip


def run_variant(root: Path, *, report: str, tstop_ms: float, split: str, mpi_python: str, keep: bool = False) -> dict:
    """One variant in a fresh process (``split``: ``"<n>t"`` NEST threads or ``"<n>r"`` MPI processes)."""
    n, kind = int(split[:-1]), split[-1]
    out = root / f"out_{report}_{split}"
    path = config(root, out, report=report, tstop_ms=tstop_ms, threads=n if kind == "t" else 1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, __file__, "--job", str(path), report]
    if kind == "r":
        cmd = [str(Path(mpi_python).parent / "mpiexec"), "-n", str(n), mpi_python, __file__, "--job", str(path), report]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("JOB ")]
    if proc.returncode != 0 or len(lines) != (n if kind == "r" else 1):
        raise RuntimeError(f"{report} / {split} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = {**lines[0], "sim_s": max(r["sim_s"] for r in lines), "build_s": max(r["build_s"] for r in lines),
           "rss_mb": sum(r["rss_mb"] for r in lines),
           "rss_built_mb": sum(r["rss_built_mb"] for r in lines)}  # fmt: skip
    if keep and (out / "v.nwb").exists():
        res["read_ms"] = read_one_cell(out / "v.nwb")
    for f in out.glob("v.*"):
        f.unlink()  # keep the disk free for the next variant
    return res


def read_one_cell(path: Path, n_reads: int = 7) -> dict:
    """Cold reads of one cell's whole trace, random cells, the file evicted from the page cache before each.

    Returns the medians (ms) of: open + series + first ``get(node_ids=[k])`` + close ("first"), and of a further
    ``get`` of another cell in the same open file ("next"), the 1M-cell read goals' two figures (docs/performance.md).
    """
    from simout_plugins import open_report

    with open_report(path) as r:
        node_ids = r["V_m"].node_ids
    rng = np.random.default_rng(0)
    first, following = [], []
    for k, k2 in rng.choice(node_ids, (n_reads, 2), replace=False):
        evict(str(path))
        t0 = time.perf_counter()
        with open_report(path) as r:
            fr = r["V_m"].get(node_ids=[int(k)])
            t1 = time.perf_counter()
            fr2 = r["V_m"].get(node_ids=[int(k2)])
            t2 = time.perf_counter()
        first.append((t1 - t0) * 1000.0)
        following.append((t2 - t1) * 1000.0)
        assert fr.data.shape[1] == 1 and fr2.data.shape[1] == 1
    return {"first": float(np.median(first)), "next": float(np.median(following))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--native-cells", type=int, default=20_000, help="size of the native-report anchor runs")
    p.add_argument("--tstop", type=float, default=100.0, help="ms")
    p.add_argument("--split", default="1t,2t", help="NEST threads (1t, 2t) and MPI processes (2r), comma-separated")
    p.add_argument("--mpi-python", default=sys.executable, help="python of a venv whose NEST has MPI (for 'r')")
    p.add_argument("--k", type=int, default=10, help="recurrent sources per cell")
    p.add_argument("--k-in", type=int, default=5, help="Poisson inputs per cell")
    p.add_argument("--inputs", type=int, default=1000, help="virtual Poisson input nodes")
    p.add_argument("--job", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.job:
        job(*args.job)
        return
    print(machine())
    threads = args.split.split(",")
    if any(not (t[:-1].isdigit() and t[-1] in "tr") for t in threads):
        p.error(f"--split {args.split!r}: comma-separated '<n>t' (threads) or '<n>r' (MPI processes), e.g. 1t,2t,2r")
    rows, ratios, reads = [], {}, {}
    sizes = [(args.native_cells, ("none", "native", "nwb")), (args.cells, ("none", "nwb"))]
    for n_cells, variants in sizes:
        with scratch_dir(f"pointnet{n_cells}") as folder:
            root = Path(folder)
            t0 = time.perf_counter()
            build(root, n_cells=n_cells, n_inputs=args.inputs, k=args.k, k_in=args.k_in, tstop_ms=args.tstop)
            print(f"built {n_cells} cells in {time.perf_counter() - t0:.1f} s", flush=True)
            for n_thr in threads:
                res = {v: run_variant(root, report=v, tstop_ms=args.tstop, split=n_thr, mpi_python=args.mpi_python,
                                      keep=v == "nwb")
                       for v in variants}  # fmt: skip
                bare = res["none"]
                for v in variants:
                    r = res[v]
                    ratio, extra = r["sim_s"] / bare["sim_s"], r["rss_mb"] - bare["rss_mb"]
                    rows.append((f"{n_cells} cells, {n_thr}, {v}", r["build_s"], r["sim_s"], ratio, r["rss_mb"],
                                 extra, r["file_mb"]))  # fmt: skip
                    ratios[(n_cells, n_thr, v)] = (r["sim_s"] / bare["sim_s"], r["rss_mb"] - bare["rss_mb"])
                reads[(n_cells, n_thr)] = res["nwb"].get("read_ms", {"first": float("nan"), "next": float("nan")})
                print(f"done: {n_cells} cells, {n_thr}: {json.dumps(res)}", flush=True)
    for (n_cells, n_thr), ms in reads.items():
        print(f"one cell's trace, cold, {n_cells} cells, {n_thr}: open + first get median {ms['first']:.1f} ms, "
              f"next get {ms['next']:.1f} ms")  # fmt: skip
    table(["variant", "build s", "sim s", "x bare", "peak RSS MB", "RSS - bare", "file MB"], rows)
    worst = max(ratios[(args.cells, t, "nwb")][0] for t in threads)
    extra = max(ratios[(args.cells, t, "nwb")][1] for t in threads)
    result("pointnet_1m", f"NWB report overhead at {args.cells} cells (worst of {threads})", worst, 1.3)
    result("pointnet_1m", "peak RSS beyond the bare run", extra, 1000.0, unit=" MB")
    cold = [reads[(args.cells, t)] for t in threads]
    result("pointnet_1m", "cold open + first get of one cell (worst)", max(c["first"] for c in cold), 50.0, unit=" ms")
    result("pointnet_1m", "cold further get of one cell (worst)", max(c["next"] for c in cold), 10.0, unit=" ms")


if __name__ == "__main__":
    main()
