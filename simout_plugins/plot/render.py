"""``simout plot``: read a selection of an NWB / SONATA file (:mod:`simout_plugins.plot.load`) and draw it
(:mod:`simout_plugins.plot.draw`) as traces, a heatmap or a raster, with a title naming what is shown.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..read.formats import detect_format
from ..read.reader import SpikeFrame, open_report
from ..read.validate import guard, open_file
from .draw import _figure_class, plot_heatmap, plot_raster, plot_traces, save_figure
from .ecp import plot_ecp_file
from .load import load_heatmap, load_spikes, load_traces, pick_series, window_s

__all__ = ["KINDS", "plot_file"]

logger = logging.getLogger(__name__)

#: Plot kinds of :func:`plot_file` (and ``simout plot --kind``).
KINDS = ("traces", "heatmap", "raster", "ecp")


def plot_file(
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    series: str | None = None,
    population: str | None = None,
    node_ids: ArrayLike | None = None,
    tstart_ms: float | None = None,
    tstop_ms: float | None = None,
    max_cells: int = 3,
    output: str | os.PathLike | None = None,
    dpi: int = 120,
):
    """Read a selection of an NWB / SONATA file and plot it (``simout plot``).

    Parameters
    ----------
    path : str or os.PathLike
        NWB file, SONATA compartment report or SONATA spike file.
    kind : {"traces", "heatmap", "raster", "ecp"}, optional
        Default ``"traces"``, or ``"raster"`` for a file with spikes only.
    series, population, node_ids, tstart_ms, tstop_ms, max_cells
        Selection, see :func:`load_traces` (times in ms).
    output : str or os.PathLike, optional
        Save the figure there (see :func:`save_figure`).
    dpi : int
        Resolution of the saved image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    path = os.fspath(path)
    _figure_class()  # fail early, before reading, when matplotlib is missing
    fmt = detect_format(path)
    if kind is None:
        kind = "traces"
        if fmt == "sonata":
            with open_file(path) as f, guard(path, "/report"):
                kind = "traces" if "report" in f else "raster"
    if kind not in KINDS:
        raise ValueError(f"unknown plot kind '{kind}'; kinds: {list(KINDS)}")
    if kind == "ecp":  # an ElectricalSeries: channels x time by depth, and traces (plot/ecp.py)
        return plot_ecp_file(path, series=series, tstart_ms=tstart_ms, tstop_ms=tstop_ms, output=output, dpi=dpi)
    name = Path(path).name
    if fmt == "nwb" and kind != "raster":
        with open_report(path) as report:
            series = pick_series(report, series)
    what = f"series '{series}'" if fmt == "nwb" else "report"
    if population is not None:
        what += f", population '{population}'"
    window = ""
    if tstart_ms is not None or tstop_ms is not None:
        window = f", {'' if tstart_ms is None else f'{tstart_ms:g}'}..{'' if tstop_ms is None else f'{tstop_ms:g}'} ms"
    if kind == "traces":
        frame = load_traces(
            path,
            series=series,
            population=population,
            node_ids=node_ids,
            tstart_ms=tstart_ms,
            tstop_ms=tstop_ms,
            max_cells=max_cells,
        )
        fig = plot_traces(frame=frame, title=f"{name}: {what}{window}")
    elif kind == "heatmap":
        frame, note = load_heatmap(
            path, series=series, population=population, node_ids=node_ids, tstart_ms=tstart_ms, tstop_ms=tstop_ms
        )
        title = f"{name}: {what}, {frame.data.shape[1]} compartments{window}"
        fig = plot_heatmap(frame=frame, title=title + (f" ({note})" if note else ""))
    else:
        spikes = load_spikes(path, population=population, node_ids=node_ids)
        tstart_s, tstop_s = window_s(tstart_ms=tstart_ms, tstop_ms=tstop_ms)
        if tstart_s is not None or tstop_s is not None:
            t = np.asarray(spikes.times)
            keep = (t >= (-np.inf if tstart_s is None else tstart_s - 1e-9)) & (
                t <= (np.inf if tstop_s is None else tstop_s + 1e-9)
            )
            if not keep.any():
                raise ValueError(f"no spikes in the window{window} of '{path}'")
            pops = None if spikes.population is None else np.asarray(spikes.population)[keep]
            spikes = SpikeFrame(np.asarray(spikes.node_ids)[keep], t[keep], pops)
        pop = f", population '{population}'" if population is not None else ""
        fig = plot_raster(spikes=spikes, title=f"{name}: spikes{pop}{window}")
    if output is not None:
        save_figure(figure=fig, path=output, dpi=dpi)
    return fig
