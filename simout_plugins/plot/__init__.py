"""Plots: loading what a plot needs from NWB or SONATA files (``load``), drawing it with matplotlib (``draw``) and
both for one file, as ``simout plot`` does (``render``).

Used by ``simout plot`` and by the examples; matplotlib is imported only when something is drawn.
"""

from .draw import new_figure, plot_heatmap, plot_raster, plot_traces, save_figure
from .load import load_heatmap, load_spikes, load_traces
from .render import KINDS, plot_file

__all__ = [
    "new_figure",
    "plot_traces",
    "plot_heatmap",
    "plot_raster",
    "save_figure",
    "load_traces",
    "load_heatmap",
    "load_spikes",
    "plot_file",
    "KINDS",
]
