"""Plot an NWB file written by netpyne_module: somatic and dendritic V of a few cells, and the spike raster.

python examples/netpyne_network/plot.py output/netpyne_network.nwb -o output/traces.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from simout_plugins import open_report


def plot(nwb: Path, png: Path, *, gids: tuple[int, ...] = (0, 1, 25)) -> Path:
    """Read only the selected cells' columns from ``nwb`` and save a figure to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open_report(nwb) as r:
        frame = r["v"].get(node_ids=list(gids))  # volts, only these cells' columns are read
        spikes = r.spikes()
    fig, (ax_v, ax_raster) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, height_ratios=[2, 1])
    for j in range(frame.data.shape[1]):
        ax_v.plot(
            frame.times * 1e3,
            frame.data[:, j] * 1e3,
            lw=0.8,
            label=f"gid {frame.node_ids[j]} ({frame.columns['population'][j]}) {frame.label[j]}({frame.position[j]:g})",
        )
    ax_v.set_ylabel("V (mV)")
    ax_v.legend(fontsize=7, loc="upper right")
    pops = spikes.population if spikes.population is not None else np.full(spikes.node_ids.size, "")
    for pop, color in zip(sorted(set(pops)), ("tab:red", "tab:blue", "tab:green")):
        sel = pops == pop
        ax_raster.scatter(spikes.times[sel] * 1e3, spikes.node_ids[sel], s=4, color=color, label=pop)
    ax_raster.set_xlabel("time (ms)")
    ax_raster.set_ylabel("gid")
    ax_raster.legend(fontsize=7, loc="upper right")
    fig.suptitle(nwb.name)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("nwb", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("traces.png"))
    args = parser.parse_args()
    print(plot(args.nwb, args.output))
