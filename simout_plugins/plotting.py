"""The package's one plotting module: traces, compartments × time heatmaps and spike rasters of NWB and SONATA files.

matplotlib is imported inside the functions (``pip install 'simout_plugins[plot]'``) and used without pyplot: every
figure is a ``matplotlib.figure.Figure`` rendered by the Agg canvas, so nothing here touches the user's backend or
keeps figures alive. Times are shown in ms, membrane potentials in mV (files store seconds and volts).

Two layers:

- drawing: :func:`plot_traces`, :func:`plot_heatmap`, :func:`plot_raster` draw a
  :class:`~simout_plugins.reader.TraceFrame` / :class:`~simout_plugins.reader.SpikeFrame` on an axes (a new
  figure when ``ax`` is None) and return the figure; :func:`new_figure` and :func:`save_figure` around them.
- loading: :func:`load_traces`, :func:`load_heatmap`, :func:`load_spikes` read a selection (cells, ms window) of
  an NWB file (through :func:`~simout_plugins.reader.open_report`) or a SONATA report / spike file (h5py), reading
  only the selected columns; :func:`plot_file` does both (what ``simout plot`` calls).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from . import ids as _ids
from . import ragged
from .describe import detect_format
from .reader import SpikeFrame, TraceFrame, open_report
from .sonata.read import decide_time_base, read_report

__all__ = [
    "KINDS",
    "new_figure",
    "plot_traces",
    "plot_heatmap",
    "plot_raster",
    "save_figure",
    "check_image_path",
    "load_traces",
    "load_heatmap",
    "load_spikes",
    "plot_file",
    "display_unit",
]

logger = logging.getLogger(__name__)

#: Plot kinds of :func:`plot_file` (and ``simout plot --kind``).
KINDS = ("traces", "heatmap", "raster")

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


# ---------------------------------------------------------------------------------------------------- drawing


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
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{unit}")
    if n:
        _legend(ax)
    if title:
        ax.set_title(title, fontsize=9)
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
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("compartment (cells in file order)")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_raster(
    *,
    spikes: SpikeFrame,
    ax=None,
    title: str | None = None,
    markersize: float = 6.0,
):
    """Draw a spike raster: x = time (ms), y = cell, populations stacked (y = population offset + node id).

    Offsets follow the package's global-id rule (:mod:`simout_plugins.ids`: populations in name order, each after
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
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("cell (population offset + node id)" if several else "node id")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if offsets:
        _legend(ax)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _legend(ax) -> None:
    """Legend outside the axes, right of them (never hides data)."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


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


# ---------------------------------------------------------------------------------------------------- loading


def _frame(**fields: Any) -> TraceFrame:
    """A TraceFrame from the given fields (fields this version of TraceFrame lacks go to ``columns``)."""
    names = {f.name for f in dataclasses.fields(TraceFrame)}
    columns = dict(fields.pop("columns", {}) or {})
    for key in list(fields):
        if key not in names:
            value = fields.pop(key)
            if value is not None:
                columns[key] = value
    return TraceFrame(**fields, columns=columns)


def _window_s(tstart_ms: float | None, tstop_ms: float | None) -> tuple[float | None, float | None]:
    if tstart_ms is not None and tstop_ms is not None and tstop_ms < tstart_ms:
        raise ValueError(f"tstop {tstop_ms:g} ms is before tstart {tstart_ms:g} ms")
    return (None if tstart_ms is None else tstart_ms / 1e3, None if tstop_ms is None else tstop_ms / 1e3)


def _step_range(times_s: np.ndarray, tstart_s: float | None, tstop_s: float | None) -> tuple[int, int]:
    """Samples with tstart <= t <= tstop (1 ns tolerance)."""
    eps = 1e-9
    i0 = 0 if tstart_s is None else int(np.searchsorted(times_s, tstart_s - eps, side="left"))
    i1 = times_s.size if tstop_s is None else int(np.searchsorted(times_s, tstop_s + eps, side="right"))
    if i1 <= i0:
        raise ValueError(
            f"no samples in the window [{_ms(tstart_s)}, {_ms(tstop_s)}] ms; the file holds "
            + (f"{times_s[0] * 1e3:g} .. {times_s[-1] * 1e3:g} ms" if times_s.size else "no samples")
        )
    return i0, i1


def _ms(t_s: float | None) -> str:
    return "-" if t_s is None else f"{t_s * 1e3:g}"


class _SonataReport:
    """One population of a SONATA compartment report (mapping read and validated by :mod:`simout_plugins.sonata`)."""

    def __init__(self, f: h5py.File, population: str | None) -> None:
        if not isinstance(f.get("report"), h5py.Group):
            raise ValueError(f"'{f.filename}' has no /report group (a spike file? use --kind raster)")
        pops = {p.name: p for p in read_report(f, f.filename)}
        names = sorted(pops)
        if population is None:
            population = names[0]
        elif population not in pops:
            raise ValueError(f"population '{population}' not in /report of '{f.filename}'; populations: {names}")
        pop = pops[population]
        self.population = population
        self.populations = names
        self._data = f[pop.data_path]
        self._pop = pop
        self.node_ids = np.asarray(pop.node_ids, dtype=np.int64)
        self.offsets = np.asarray(pop.offsets, dtype=np.int64)
        base, why = decide_time_base(pop, None)
        logger.info("population '%s': time base '%s' (%s)", population, base, why)
        tstart, _tstop, dt = (float(x) for x in pop.time)
        self.times = (tstart + (np.arange(pop.n_rows) + (1 if base == "end" else 0)) * dt) / 1e3
        self.unit = pop.assumed_units()
        if not pop.units:
            logger.info("population '%s': no units attribute, assuming %s", population, self.unit)

    def rows(self, node_ids: ArrayLike | None) -> np.ndarray:
        if node_ids is None:
            return np.arange(self.node_ids.size)
        wanted = np.asarray(node_ids, dtype=np.int64).ravel()
        order = np.argsort(self.node_ids, kind="stable")
        sorted_ids = self.node_ids[order]
        pos = np.searchsorted(sorted_ids, wanted)
        found = np.zeros(wanted.size, dtype=bool)
        if sorted_ids.size:
            pos = np.minimum(pos, sorted_ids.size - 1)
            found = sorted_ids[pos] == wanted
        if not found.all():
            raise ValueError(
                f"node ids {wanted[~found][:10].tolist()} not in population '{self.population}' of {self._data.name}"
            )
        return order[pos]

    def columns(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = self.offsets[rows + 1] - self.offsets[rows]
        return ragged.rows_to_flat(self.offsets, rows).astype(np.int64), counts

    def element_info(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        number = np.asarray(self._pop.element_ids)[cols].astype(np.int64)
        pos = self._pop.element_pos
        return number, None if pos is None else np.asarray(pos)[cols].astype(np.float64)

    def read(self, i0: int, i1: int, cols: np.ndarray) -> np.ndarray:
        return _read_runs(self._data, i0, i1, cols)


def _read_runs(ds: h5py.Dataset, i0: int, i1: int, cols: np.ndarray) -> np.ndarray:
    """Rows i0:i1 of the given columns, one hyperslab per run of consecutive columns."""
    out = np.empty((i1 - i0, cols.size), dtype=ds.dtype)
    if not cols.size or i1 <= i0:
        return out
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    for a, b in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [cols.size]])):
        out[:, a:b] = ds[i0:i1, cols[a] : cols[b - 1] + 1]
    return out


def _pick_series(report, series: str | None) -> str:
    names = report.series_names
    if not names:
        raise ValueError(f"'{report.path}' has no CompartmentSeries")
    if series is None:
        return "v" if "v" in names else names[0]
    if series not in names:
        raise ValueError(f"no series '{series}' in '{report.path}'; series: {names}")
    return series


def load_traces(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    population: str | None = None,
    node_ids: ArrayLike | None = None,
    tstart_ms: float | None = None,
    tstop_ms: float | None = None,
    max_cells: int = 3,
) -> TraceFrame:
    """Read chosen cells' compartments over a window from an NWB file or a SONATA report.

    Parameters
    ----------
    path : str or os.PathLike
        NWB file or SONATA compartment report.
    series : str, optional
        NWB series name (default ``"v"`` when present, else the first); ignored for SONATA.
    population : str, optional
        Population of ``node_ids``; default the first population.
    node_ids : array-like of int, optional
        Cells to read; default the first ``max_cells`` cells of the population.
    tstart_ms, tstop_ms : float, optional
        Window in ms (inclusive); default the whole recording.
    max_cells : int
        Number of cells read when ``node_ids`` is not given.

    Returns
    -------
    TraceFrame
        Times in s; NWB data SI-scaled (volts), SONATA data as stored (its ``units``).
    """
    tstart_s, tstop_s = _window_s(tstart_ms, tstop_ms)
    if detect_format(path) == "nwb":
        with open_report(path) as report:
            s = report[_pick_series(report, series)]
            if population is None and node_ids is None:
                population = s.populations[0] if s.populations else None
            if node_ids is None:
                node_ids = s.select(population=population).node_ids[:max_cells]
            _step_range(s.times[: s.n_steps_written], tstart_s, tstop_s)
            logger.info("reading %s cells of series '%s'", len(node_ids), s.name)
            return s.get(population=population, node_ids=node_ids, tstart=tstart_s, tstop=tstop_s)
    with h5py.File(path, "r") as f:
        rep = _SonataReport(f, population)
        rows = rep.rows(node_ids)[: None if node_ids is not None else max_cells]
        cols, counts = rep.columns(rows)
        i0, i1 = _step_range(rep.times, tstart_s, tstop_s)
        number, position = rep.element_info(cols)
        return _frame(
            times=rep.times[i0:i1],
            data=rep.read(i0, i1, cols),
            node_ids=np.repeat(rep.node_ids[rows], counts),
            number=number,
            position=position,
            label=None,
            columns={"population": np.full(cols.size, rep.population, dtype=object)},
            unit=rep.unit,
        )


def _strided_read(read, i0: int, i1: int, stride: int, cols: np.ndarray, block: int = 4096) -> np.ndarray:
    """Rows i0, i0 + stride, ... < i1 of ``cols``: contiguous blocks subsampled for small strides, row by row
    for large ones (each row then lies in its own chunks anyway)."""
    steps = np.arange(i0, i1, stride)
    if stride == 1:
        return read(i0, i1, cols)
    if stride >= 64:
        return np.concatenate([read(int(i), int(i) + 1, cols) for i in steps], axis=0)
    parts = []
    for a in range(i0, i1, block * stride):
        b = min(i1, a + block * stride)
        parts.append(read(a, b, cols)[::stride])
    return np.concatenate(parts, axis=0)


def load_heatmap(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    population: str | None = None,
    node_ids: ArrayLike | None = None,
    tstart_ms: float | None = None,
    tstop_ms: float | None = None,
    max_columns: int = 2000,
    max_times: int = 2000,
) -> tuple[TraceFrame, str]:
    """Read many cells' compartments for a heatmap, capping what is read.

    At most ``max_columns`` compartments (the first cells of the selection, whole cells) and at most ``max_times``
    samples (every k-th step of the window) are read.

    Parameters
    ----------
    path : str or os.PathLike
        NWB file or SONATA compartment report.
    series, population, node_ids, tstart_ms, tstop_ms
        As in :func:`load_traces`; default every cell of every population (NWB) or of the first population (SONATA).
    max_columns : int
        Cap on compartments read.
    max_times : int
        Cap on time samples read.

    Returns
    -------
    (TraceFrame, str)
        The frame and a note saying what was capped (empty when nothing was).
    """
    tstart_s, tstop_s = _window_s(tstart_ms, tstop_ms)
    notes = []
    with h5py.File(path, "r") if detect_format(path) == "sonata" else open_report(path) as handle:
        if isinstance(handle, h5py.File):
            rep = _SonataReport(handle, population)
            rows = rep.rows(node_ids)
            sel_node_ids = rep.node_ids[rows]
            counts = rep.offsets[rows + 1] - rep.offsets[rows]
            times, unit = rep.times, rep.unit
            pops = np.full(rows.size, rep.population, dtype=object)
            read = rep.read

            def cols_of(n):
                return rep.columns(rows[:n])[0]
        else:
            s = handle[_pick_series(handle, series)]
            sel = s.select(population=population, node_ids=node_ids)
            sel_node_ids, counts = np.asarray(sel.node_ids), np.asarray(sel.counts)
            times, unit = s.times[: s.n_steps_written], s.unit
            cell_pop = s.cells.population
            pops = None if cell_pop is None else np.asarray(cell_pop)[np.asarray(sel.rows)]
            conversion, offset = s.conversion, getattr(s, "offset", 0.0)

            def read(i0, i1, cols):
                return s.read(i0, i1, cols=cols) * conversion + offset

            def cols_of(n):
                return np.asarray(sel.cols)[: int(np.sum(counts[:n]))]

        n_cells = sel_node_ids.size
        cum = np.cumsum(counts)
        keep = max(1, int(np.searchsorted(cum, max_columns, side="right"))) if n_cells else 0
        keep = min(keep, n_cells)
        if keep < n_cells:
            notes.append(f"first {keep} of {n_cells} cells")
        cols = cols_of(keep)
        i0, i1 = _step_range(times, tstart_s, tstop_s)
        stride = max(1, math.ceil((i1 - i0) / max_times))
        if stride > 1:
            notes.append(f"every {stride}th of {i1 - i0} steps")
        logger.info("reading %d compartments x %d steps", cols.size, len(range(i0, i1, stride)))
        data = _strided_read(read, i0, i1, stride, cols)
        col_counts = counts[:keep]
        frame = _frame(
            times=times[i0:i1:stride],
            data=data,
            node_ids=np.repeat(sel_node_ids[:keep], col_counts),
            number=np.zeros(cols.size, dtype=np.int64),
            position=None,
            label=None,
            columns={} if pops is None else {"population": np.repeat(pops[:keep], col_counts)},
            unit=unit,
        )
    return frame, ", ".join(notes)


def load_spikes(
    path: str | os.PathLike,
    *,
    population: str | None = None,
    node_ids: ArrayLike | None = None,
) -> SpikeFrame:
    """Spikes of an NWB file's ``Units`` table or of a SONATA spike file (``/spikes/<population>/...``).

    Parameters
    ----------
    path : str or os.PathLike
    population : str, optional
        Only this population.
    node_ids : array-like of int, optional
        Only these cells (of ``population`` when given).

    Returns
    -------
    SpikeFrame
        Times in s.

    Raises
    ------
    ValueError
        The file has no spikes (of that population / those cells), or ``population`` is unknown.
    """
    if detect_format(path) == "nwb":
        with open_report(path) as report:
            spikes = report.spikes(population=population, node_ids=node_ids)
    else:
        spikes = _sonata_spikes(path, population, node_ids)
    if not np.asarray(spikes.times).size:
        what = f" of population '{population}'" if population else ""
        raise ValueError(f"no spikes{what} in '{path}'")
    return spikes


def _sonata_spikes(path, population: str | None, node_ids: ArrayLike | None) -> SpikeFrame:
    with h5py.File(path, "r") as f:
        group = f.get("spikes")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"no spikes in '{path}' (no /spikes group)")
        if "timestamps" in group and isinstance(group["timestamps"], h5py.Dataset):
            ids_key = "node_ids" if "node_ids" in group else "gids"
            parts = {_ids.DEFAULT_POPULATION: group}
            key_of = {_ids.DEFAULT_POPULATION: ids_key}
        else:
            parts = {k: v for k, v in sorted(group.items()) if isinstance(v, h5py.Group)}
            key_of = dict.fromkeys(parts, "node_ids")
        if population is not None:
            if population not in parts:
                raise ValueError(f"population '{population}' not in /spikes of '{path}'; populations: {list(parts)}")
            parts = {population: parts[population]}
        nid, t, pop = [], [], []
        for name, g in parts.items():
            if "timestamps" not in g or key_of[name] not in g:
                raise ValueError(f"{g.name} in '{path}' has no timestamps or node_ids")
            ts = g["timestamps"][()].astype(np.float64)
            ids_ = g[key_of[name]][()].astype(np.int64)
            if ts.shape != ids_.shape:
                raise ValueError(f"{g.name} in '{path}': timestamps and node_ids differ in length")
            units = g["timestamps"].attrs.get("units", "ms")
            units = units.decode() if isinstance(units, bytes) else str(units)
            scale = {"ms": 1e-3, "s": 1.0}.get(units)
            if scale is None:
                raise ValueError(f"{g.name}/timestamps in '{path}': unknown units '{units}' (expected ms or s)")
            nid.append(ids_)
            t.append(ts * scale)
            pop.append(np.full(ts.size, name, dtype=object))
    node = np.concatenate(nid) if nid else np.zeros(0, np.int64)
    times = np.concatenate(t) if t else np.zeros(0)
    pops = np.concatenate(pop) if pop else np.zeros(0, dtype=object)
    if node_ids is not None:
        keep = np.isin(node, np.asarray(node_ids, dtype=np.int64))
        node, times, pops = node[keep], times[keep], pops[keep]
    return SpikeFrame(node, times, pops)


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
    kind : {"traces", "heatmap", "raster"}, optional
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
            with h5py.File(path, "r") as f:
                kind = "traces" if "report" in f else "raster"
    if kind not in KINDS:
        raise ValueError(f"unknown plot kind '{kind}'; kinds: {list(KINDS)}")
    name = Path(path).name
    if fmt == "nwb" and kind != "raster":
        with open_report(path) as report:
            series = _pick_series(report, series)
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
        tstart_s, tstop_s = _window_s(tstart_ms, tstop_ms)
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
