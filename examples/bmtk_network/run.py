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

import numpy as np

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
    """Soma, dendrite and apical traces of one cell per population, and the raster, with simout_plugins.plot.draw."""
    from simout_plugins import open_report
    from simout_plugins.plot import new_figure, plot_raster, plot_traces, save_figure

    fig, axes = new_figure(nrows=3, figsize=(9, 8), sharex=True)
    with open_report(nwb_path) as report:
        v = report["v"]
        for ax, (pop, node_id) in zip(axes[:2], [("cortex", 0), ("thalamus", 1)]):
            frame = v.get(node_ids=[node_id], population=pop)
            # the middle segment of three sections
            cols = [np.flatnonzero(frame.label == label) for label in ("soma[0]", "dend[1]", "apic[2]")]
            plot_traces(frame=frame, columns=[c[c.size // 2] for c in cols], ax=ax, title=f"{pop} node {node_id}")
            ax.set_xlabel("")
        plot_raster(spikes=report.spikes(), ax=axes[2], title="spikes (Units table)")
    return save_figure(figure=fig, path=png_path, dpi=120)


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
