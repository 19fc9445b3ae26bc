"""Reading what :mod:`simout_plugins.plot.draw` draws: a selection (cells, ms window) of an NWB or SONATA file.

:func:`load_traces`, :func:`load_heatmap`, :func:`load_spikes` read an NWB file (through
:func:`~simout_plugins.read.reader.open_report`) or a SONATA report / spike file (through
:mod:`simout_plugins.sonata.read` and h5py), reading only the selected columns; :func:`plot_file` reads and draws
(what ``simout plot`` calls).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb import ids as _ids
from ..nwb import ragged
from ..read.formats import detect_format
from ..read.reader import SpikeFrame, TraceFrame, open_report
from ..read.tables import take_columns
from ..read.validate import guarded, open_file
from ..sonata.read import decide_time_base, read_report, read_spikes
from .draw import _figure_class, plot_heatmap, plot_raster, plot_traces, save_figure

__all__ = ["KINDS", "load_traces", "load_heatmap", "load_spikes", "plot_file"]

logger = logging.getLogger(__name__)

#: Plot kinds of :func:`plot_file` (and ``simout plot --kind``).
KINDS = ("traces", "heatmap", "raster")


def _window_s(tstart_ms: float | None, tstop_ms: float | None) -> tuple[float | None, float | None]:
    if tstart_ms is not None and tstop_ms is not None and tstop_ms < tstart_ms:
        raise ValueError(f"tstop {tstop_ms:g} ms is before tstart {tstart_ms:g} ms")
    return (None if tstart_ms is None else tstart_ms / 1e3, None if tstop_ms is None else tstop_ms / 1e3)


def _step_range(path, times_s: np.ndarray, tstart_s: float | None, tstop_s: float | None) -> tuple[int, int]:
    """Samples with tstart <= t <= tstop (1 ns tolerance); a file without samples is a FileFormatError."""
    if not times_s.size:
        raise FileFormatError(path, "holds no samples (no time steps written)")
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
            raise FileFormatError(
                f.filename, "has no /report group (a spike file? use --kind raster)", dataset="/report"
            )
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
        return take_columns(self._data, i0, i1, cols)


def _pick_series(report, series: str | None) -> str:
    names = report.series_names
    if not names:
        raise FileFormatError(report.path, "has no CompartmentSeries", dataset="/acquisition")
    if series is None:
        return "v" if "v" in names else names[0]
    if series not in names:
        raise ValueError(f"no series '{series}' in '{report.path}'; series: {names}")
    return series


@guarded
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
            _step_range(path, s.times[: s.n_steps_written], tstart_s, tstop_s)
            logger.info("reading %s cells of series '%s'", len(node_ids), s.name)
            return s.get(population=population, node_ids=node_ids, tstart=tstart_s, tstop=tstop_s)
    with open_file(path) as f:
        rep = _SonataReport(f, population)
        rows = rep.rows(node_ids)[: None if node_ids is not None else max_cells]
        cols, counts = rep.columns(rows)
        i0, i1 = _step_range(path, rep.times, tstart_s, tstop_s)
        number, position = rep.element_info(cols)
        return TraceFrame(
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


@guarded
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
    with open_file(path) if detect_format(path) == "sonata" else open_report(path) as handle:
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
        i0, i1 = _step_range(path, times, tstart_s, tstop_s)
        stride = max(1, math.ceil((i1 - i0) / max_times))
        if stride > 1:
            notes.append(f"every {stride}th of {i1 - i0} steps")
        logger.info("reading %d compartments x %d steps", cols.size, len(range(i0, i1, stride)))
        data = _strided_read(read, i0, i1, stride, cols)
        col_counts = counts[:keep]
        frame = TraceFrame(
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


@guarded
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
        raise FileFormatError(
            path, f"has no spikes{what}", dataset="/units" if detect_format(path) == "nwb" else "/spikes"
        )
    return spikes


def _sonata_spikes(path, population: str | None, node_ids: ArrayLike | None) -> SpikeFrame:
    with open_file(path) as f:
        if not isinstance(f.get("spikes"), h5py.Group):
            raise FileFormatError(path, "has no spikes (no /spikes group)", dataset="/spikes")
        per_pop = read_spikes(path, f, default_population=_ids.DEFAULT_POPULATION, population=population)
    per_pop = dict(sorted(per_pop.items()))
    node = np.concatenate([ids for ids, _ in per_pop.values()] or [np.zeros(0, np.int64)])
    times = np.concatenate([t_ms for _, t_ms in per_pop.values()] or [np.zeros(0)]) * 1e-3
    pops = np.concatenate(
        [np.full(ids.size, k, dtype=object) for k, (ids, _) in per_pop.items()] or [np.zeros(0, object)]
    )
    if node_ids is not None:
        keep = np.isin(node, np.asarray(node_ids, dtype=np.int64))
        node, times, pops = node[keep], times[keep], pops[keep]
    return SpikeFrame(node, times, pops)


@guarded
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
            with open_file(path) as f:
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
