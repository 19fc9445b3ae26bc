"""BMTK example: build a small network, compile its mechanisms, run it with NWB reports, plot a few traces.

    python examples/bmtk_network/run.py            # one process
    python examples/bmtk_network/run.py --np 2     # mpiexec -n 2

Steps (each skipped when already done): ``nrnivmodl`` on ``components/mechanisms/modfiles`` (BMTK's virtual
spike-train cells need VecStim), ``network.py`` builds ``network/`` with bmtk.builder, then
``python -m bmtk_module run config.json`` writes ``output/v_report.nwb`` (every segment's v and the spikes) and
``output/soma.nwb`` (v and ina at the excitatory somata, 100-400 ms), and a PNG of a few traces is drawn from
``output/v_report.nwb`` with ``simout_plugins.open_report``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import network  # noqa: E402  (the example's set-up helpers, next to this file)


def simulate(n_ranks: int) -> None:
    env = dict(os.environ)
    env.setdefault("MPI_LIB_NRN_PATH", str(Path(sys.prefix) / "lib" / "libmpi.so.12"))
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(HERE / "config.json")]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    print("$", " ".join(cmd))
    subprocess.run(cmd, env=env, check=True, cwd=HERE)


def plot(nwb_path: Path, png_path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simout_plugins import open_report

    with open_report(nwb_path) as report:
        v = report["v"]
        spikes = report.spikes()
        fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
        for ax, (pop, node_id) in zip(axes[:2], [("cortex", 0), ("thalamus", 1)]):
            frame = v.get(node_ids=[node_id], population=pop)
            for label in ("soma[0]", "dend[1]", "apic[2]"):
                cols = [i for i, lab in enumerate(frame.label) if lab == label]
                col = cols[len(cols) // 2]
                ax.plot(
                    frame.times * 1e3, frame.data[:, col] * 1e3, lw=0.8, label=f"{label} x={frame.position[col]:.2f}"
                )
            ax.set_ylabel("v (mV)")
            ax.set_title(f"{pop} node {node_id}")
            ax.legend(loc="upper right", fontsize=8)
        pops = sorted(set(spikes.population))
        for k, pop in enumerate(pops):
            sel = spikes.population == pop
            offset = 0 if k == 0 else max(spikes.node_ids[spikes.population == pops[0]]) + 2
            axes[2].plot(spikes.times[sel] * 1e3, spikes.node_ids[sel] + offset, "|", label=pop)
        axes[2].set_ylabel("cell")
        axes[2].set_xlabel("time (ms)")
        axes[2].legend(loc="upper right", fontsize=8)
        axes[2].set_title("spikes (Units table)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--np", type=int, default=1, help="number of MPI ranks (mpiexec -n NP)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the network even when it exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    network.compile_mechanisms(HERE / "components" / "mechanisms")
    net_dir = HERE / "network"
    if args.rebuild or not (net_dir / "inputs_spikes.h5").exists():
        network.build_network(net_dir)
        network.write_input_spikes(net_dir / "inputs_spikes.h5", tstop_ms=500.0)
    simulate(args.np)
    png = plot(HERE / "output" / "v_report.nwb", HERE / "output" / "traces.png")
    print(f"wrote {HERE / 'output' / 'v_report.nwb'}, {HERE / 'output' / 'soma.nwb'} and {png}")
    return png


if __name__ == "__main__":
    main()
