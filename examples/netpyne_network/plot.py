"""Plot an NWB file written by netpyne_module: somatic and dendritic V of a few cells, and the spike raster.

python examples/netpyne_network/plot.py output/netpyne_network.nwb -o output/traces.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simout_plugins import open_report


def plot(nwb: Path, png: Path, *, gids: tuple[int, ...] = (0, 1, 25)) -> Path:
    """Read only the selected cells' columns from ``nwb`` and save traces + raster to ``png``."""
    from simout_plugins.plot import new_figure, plot_raster, plot_traces, save_figure

    with open_report(nwb) as r:
        frame = r["v"].get(node_ids=list(gids))  # volts, only these cells' columns are read
        spikes = r.spikes()
    fig, (ax_v, ax_raster) = new_figure(nrows=2, figsize=(9, 7), sharex=True, height_ratios=[2, 1])
    plot_traces(frame=frame, ax=ax_v, title=nwb.name)
    ax_v.set_xlabel("")
    plot_raster(spikes=spikes, ax=ax_raster)
    png.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(figure=fig, path=png, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("nwb", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("traces.png"))
    args = parser.parse_args()
    print(plot(args.nwb, args.output))
