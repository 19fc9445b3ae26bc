"""Drawing traces, compartments × time heatmaps and spike rasters (reading the files: :mod:`simout_plugins.plot.load`).

matplotlib is imported inside the functions (``pip install 'simout_plugins[plot]'``) and used without pyplot: every
figure is a ``matplotlib.figure.Figure`` rendered by the Agg canvas, so nothing here touches the user's backend or
keeps figures alive. Times are shown in ms, membrane potentials in mV (files store seconds and volts).

:func:`plot_traces`, :func:`plot_heatmap`, :func:`plot_raster` draw a :class:`~simout_plugins.read.reader.TraceFrame` /
:class:`~simout_plugins.read.reader.SpikeFrame` on an axes (a new figure when ``ax`` is None) and return the figure;
:func:`new_figure` and :func:`save_figure` around them. :func:`simout_plugins.plot.load.plot_file` reads a selection
of a file and draws it (what ``simout plot`` calls).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..nwb import ids as _ids
from ..read.reader import SpikeFrame, TraceFrame

__all__ = [
    "new_figure",
    "plot_traces",
    "plot_heatmap",
    "plot_raster",
    "save_figure",
    "check_image_path",
    "display_unit",
]

logger = logging.getLogger(__name__)


_INSTALL_HINT = "plotting needs matplotlib: pip install 'simout_plugins[plot]'"

# stored unit -> (factor applied to the frame's values, unit shown)
_DISPLAY = {
    "volts": (1e3, "mV"),
    "V": (1e3, "mV"),
    "mV": (1.0, "mV"),
    "amperes": (1e9, "nA"),
    "A": (1e9, "nA"),
    "nA": (1.0, "nA"),
    "siemens": (1e6, "µS"),
    "S": (1e6, "µS"),
    "uS": (1.0, "µS"),
    "seconds": (1e3, "ms"),
}


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return Figure


def new_figure(
    *,
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] = (9.0, 5.0),
    sharex: bool = False,
    height_ratios: Sequence[float] | None = None,
):
    """A new matplotlib Figure (Agg canvas, no pyplot) and its axes.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    figsize : tuple of float
        Size in inches.
    sharex : bool
        Share the x axis between the axes (e.g. traces above a raster).
    height_ratios : sequence of float, optional
        Relative heights of the rows.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes or numpy.ndarray of Axes)
        ``axes`` is one Axes for a 1 × 1 grid, else an array (squeezed like ``plt.subplots``).

    Raises
    ------
    ImportError
        matplotlib is not installed (the message names ``pip install 'simout_plugins[plot]'``).
    """
    fig = _figure_class()(figsize=figsize, layout="constrained")
    gridspec_kw = {"height_ratios": list(height_ratios)} if height_ratios is not None else None
    axes = fig.subplots(nrows, ncols, sharex=sharex, gridspec_kw=gridspec_kw, squeeze=True)
    return fig, axes


def _axes(ax, figsize: tuple[float, float]):
    if ax is not None:
        return ax.figure, ax
    return new_figure(figsize=figsize)


def display_unit(unit: str) -> tuple[float, str]:
    """Factor and unit used to show values stored in ``unit`` (volts → ×1000, mV; amperes → nA; others as is).

    Parameters
    ----------
    unit : str
        Unit of the values (a TraceFrame's ``unit``: SI name such as ``"volts"`` or the stored string).

    Returns
    -------
    (float, str)
        Multiply the values by the factor to show them in the returned unit.
    """
    return _DISPLAY.get(unit, (1.0, unit or "unit not stored"))


def _column_population(frame) -> np.ndarray | None:
    pops = getattr(frame, "population", None)
    if pops is None:
        pops = (getattr(frame, "columns", None) or {}).get("population")
    return None if pops is None else np.asarray(pops)


def _column_labels(frame) -> list[str]:
    """One legend label per column: ``pop node_id label/number`` (label left out when the file has none)."""
    n = frame.data.shape[1]
    pops = _column_population(frame)
    label = getattr(frame, "label", None)
    number = getattr(frame, "number", None)
    out = []
    for j in range(n):
        cell = f"{pops[j]} {frame.node_ids[j]}" if pops is not None else f"cell {frame.node_ids[j]}"
        parts = [cell]
        if label is not None:
            parts.append(f"{label[j]}/{number[j]}" if number is not None else str(label[j]))
        elif number is not None:
            parts.append(f"#{number[j]}")
        out.append(" ".join(parts))
    return out


def plot_traces(
    *,
    frame: TraceFrame,
    ax=None,
    title: str | None = None,
    columns: ArrayLike | None = None,
    legend_max: int = 12,
    linewidth: float = 0.8,
):
    """Draw columns of ``frame`` as lines: x in ms, y in mV for volts (other units see :func:`display_unit`).

    Parameters
    ----------
    frame : TraceFrame
        Selection from ``open_report(path)[series].get(...)`` (times in s, data SI-scaled) or :func:`load_traces`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        Axes title.
    columns : array-like of int, optional
        Indices of the frame's columns to draw (e.g. each cell's soma); default every column.
    legend_max : int
        Label every line when there are at most this many; otherwise one legend entry per cell (first ``legend_max``).
    linewidth : float
        Line width.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``; its axes hold one line per drawn column, in column order.
    """
    fig, ax = _axes(ax, (9.0, 5.0))
    factor, unit = display_unit(frame.unit)
    t_ms = np.asarray(frame.times, dtype=np.float64) * 1e3
    idx = np.arange(np.shape(frame.data)[1]) if columns is None else np.asarray(columns, dtype=np.int64).ravel()
    data = np.asarray(frame.data)[:, idx]
    all_labels = _column_labels(frame)
    labels = [all_labels[j] for j in idx]
    n = data.shape[1]
    if n > legend_max:
        # colour by cell, one legend entry per cell
        pops = _column_population(frame)
        node_ids = np.asarray(frame.node_ids)[idx]
        cell_key = list(zip(pops[idx], node_ids)) if pops is not None else list(node_ids)
        colors: dict = {}
        n_comp: dict = {}
        for key in cell_key:
            colors.setdefault(key, f"C{len(colors) % 10}")
            n_comp[key] = n_comp.get(key, 0) + 1
        labelled: set = set()
        for j in range(n):
            key = cell_key[j]
            label = "_nolegend_"
            if key not in labelled and len(labelled) < legend_max:
                labelled.add(key)
                cell = f"{key[0]} {key[1]}" if isinstance(key, tuple) else f"cell {key}"
                label = f"{cell} ({n_comp[key]} compartments)"
            ax.plot(t_ms, data[:, j] * factor, lw=linewidth, color=colors[key], label=label)
    else:
        for j in range(n):
            ax.plot(t_ms, data[:, j] * factor, lw=linewidth, label=labels[j])
    _label(ax, ylabel=unit, title=title, legend=n > 0)
    return fig


def plot_heatmap(
    *,
    frame: TraceFrame,
    ax=None,
    title: str | None = None,
    cmap: str = "viridis",
):
    """Draw ``frame`` as a compartments × time image (rows = columns of the frame in file order, x in ms).

    Parameters
    ----------
    frame : TraceFrame
        Many cells' compartments, e.g. from :func:`load_heatmap` (time possibly decimated).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        Axes title (say there what was decimated).
    cmap : str
        Colour map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (10.0, 6.0))
    factor, unit = display_unit(frame.unit)
    t_ms = np.asarray(frame.times, dtype=np.float64) * 1e3
    data = np.asarray(frame.data, dtype=np.float64) * factor
    n_t, n_c = data.shape
    if n_t and n_c:
        dt = (t_ms[-1] - t_ms[0]) / (n_t - 1) if n_t > 1 else 1.0
        extent = (t_ms[0] - dt / 2, t_ms[-1] + dt / 2, n_c - 0.5, -0.5)
        image = ax.imshow(data.T, aspect="auto", interpolation="nearest", extent=extent, cmap=cmap)
        fig.colorbar(image, ax=ax, label=unit)
        pops = _column_population(frame)
        if pops is not None and n_c > 1:
            # population boundaries and names
            change = np.flatnonzero(pops[1:] != pops[:-1]) + 1
            for c in change:
                ax.axhline(c - 0.5, color="white", lw=0.8)
            starts = np.concatenate([[0], change])
            stops = np.concatenate([change, [n_c]])
            ax.set_yticks((starts + stops - 1) / 2, [str(pops[s]) for s in starts])
    _label(ax, ylabel="compartment (cells in file order)", title=title)
    return fig


def plot_raster(
    *,
    spikes: SpikeFrame,
    ax=None,
    title: str | None = None,
    markersize: float = 6.0,
):
    """Draw a spike raster: x = time (ms), y = cell, populations stacked (y = population offset + node id).

    Offsets follow the package's global-id rule (:mod:`simout_plugins.nwb.ids`: populations in name order, each after
    the previous one's largest node id), so cells of different populations never share a row.

    Parameters
    ----------
    spikes : SpikeFrame
        From ``open_report(path).spikes(...)`` or :func:`load_spikes` (times in s).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        Axes title.
    markersize : float
        Size of the tick marks.

    Returns
    -------
    matplotlib.figure.Figure
        One line artist (markers only) per population.
    """
    fig, ax = _axes(ax, (9.0, 5.0))
    t_ms = np.asarray(spikes.times, dtype=np.float64) * 1e3
    node_ids = np.asarray(spikes.node_ids, dtype=np.int64)
    pops = spikes.population
    pops = np.full(node_ids.size, _ids.DEFAULT_POPULATION, dtype=object) if pops is None else np.asarray(pops)
    pops = pops.astype(str)
    cell_ids = getattr(spikes, "cell_ids", None)
    if cell_ids is not None:  # the file's own global ids (same rule, over all its cells)
        y = np.asarray(cell_ids, dtype=np.int64)
        offsets = {name: int((y - node_ids)[pops == name].min()) for name in sorted(set(pops.tolist()))}
    else:
        offsets = _ids.population_offsets(population=pops, node_ids=node_ids)
        y = node_ids + np.asarray([offsets[p] for p in pops], dtype=np.int64) if pops.size else node_ids
    several = len(offsets) > 1
    for name, offset in offsets.items():
        sel = pops == name
        ax.plot(t_ms[sel], y[sel], "|", markersize=markersize, label=f"{name} ({int(sel.sum())} spikes)")
        if several and offset:
            ax.axhline(offset - 0.5, color="0.8", lw=0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _label(ax, ylabel="cell (population offset + node id)" if several else "node id", title=title, legend=bool(offsets))
    return fig


def _label(ax, *, ylabel: str, title: str | None, legend: bool = False) -> None:
    """x label (ms), y label, the legend outside the axes, right of them (never hides data), a small title."""
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)


def check_image_path(path: str | os.PathLike) -> Path:
    """Check that an image can be written at ``path`` (before reading anything); return it as a Path.

    Raises
    ------
    ValueError
        ``path`` is a directory, its folder does not exist, or its extension is not a format matplotlib writes.
    ImportError
        matplotlib is not installed.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output '{path}' is a directory")
    if not path.parent.exists():
        raise ValueError(f"output folder '{path.parent}' does not exist")
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    ext = path.suffix.lstrip(".").lower()
    if ext not in formats:
        raise ValueError(f"output '{path}': unknown image format '{ext or '(none)'}'; use one of {sorted(formats)}")
    return path


def save_figure(*, figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``figure`` to ``path`` (format from the extension, e.g. ``.png``); the parent folder must exist.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : str or os.PathLike
        Output file; an existing file is replaced.
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        ``path`` is a directory, its folder does not exist, or its extension is not a format matplotlib writes.
    """
    path = check_image_path(path)
    figure.savefig(path, dpi=dpi)
    logger.info("wrote %s", path)
    return path
