"""Analyse a report the way a notebook would: xarray for traces, pandas for spikes, dask for whole-file reductions.

Opens a file (a path, or an ``https://`` URL such as a DANDI asset's S3 link), selects one population, and saves
one figure with three panels:

1. one cell's compartments over time, plotted from an ``xarray.DataArray`` (``TraceFrame.to_xarray()``);
2. the spike raster of the population, from a ``pandas.DataFrame`` (``SpikeFrame.to_pandas()``);
3. the mean potential over every compartment of the file at every time step, computed by dask chunk by chunk
   (``SeriesReader.to_dask()``), so memory stays bounded by a few chunks whatever the file size.

Each cell of a notebook is one block below. Needs the ``analysis`` and ``plot`` extras.

    python examples/analyse_report.py output/v_report.nwb --out-dir output
    python examples/analyse_report.py https://dandiarchive.s3.amazonaws.com/blobs/... --population cortex
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dask

from simout_plugins import open_report


def analyse(source: str, *, population: str | None, out_dir: Path, series: str = "v") -> dict[str, object]:
    """Read, reduce and plot; returns what was computed (for a test, or to print)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open_report(source) as report:
        s = report[series]
        population = population or (s.populations[0] if s.populations else None)
        # one cell's compartments as an xarray DataArray: dims (time, compartment), coords node_id, label, ...
        cells = s.select(population=population)
        first = int(cells.node_ids[0])
        trace = s.get(population=population, node_ids=[first]).to_xarray(name=series)
        # the population's spikes as a pandas DataFrame: one row per spike
        spikes = report.spikes().to_pandas()
        if population is not None and "population" in spikes:
            spikes = spikes[spikes["population"] == population]
        # the mean over every compartment at every step, chunk by chunk: memory bounded by a few chunks
        lazy = s.to_dask()
        with dask.config.set(scheduler="threads", num_workers=2):
            mean = lazy.mean(axis=1).compute()
        times = s.times[: mean.size]

    fig, (ax_v, ax_raster, ax_mean) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    trace.plot.line(x="time", hue="compartment", ax=ax_v, add_legend=False)
    ax_v.set_title(
        f"{population or ''} node {first}: {trace.sizes['compartment']} compartments ({trace.attrs['unit']})"
    )
    ax_raster.plot(spikes["time"], spikes["node_id"], "|", markersize=4)
    ax_raster.set_ylabel("node id")
    ax_raster.set_title(f"{len(spikes)} spikes")
    ax_mean.plot(times, mean)
    ax_mean.set_xlabel("time (s)")
    ax_mean.set_ylabel(f"mean ({trace.attrs['unit']})")
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "analysis.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return {"png": png, "node_id": first, "trace": trace, "spikes": spikes, "mean": mean, "population": population}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="NWB file: a path or an http(s) URL")
    parser.add_argument("--population", default=None, help="default: the first population of the series")
    parser.add_argument("--series", default="v")
    parser.add_argument("--out-dir", type=Path, default=Path("output"))
    args = parser.parse_args()
    done = analyse(args.source, population=args.population, out_dir=args.out_dir, series=args.series)
    print(f"{done['png']}: node {done['node_id']}, {len(done['spikes'])} spikes, mean over {done['mean'].size} steps")
