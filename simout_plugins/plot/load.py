"""Reading what :mod:`simout_plugins.plot.draw` draws: a selection (cells, ms window) of an NWB or SONATA file.

:func:`load_traces`, :func:`load_heatmap` and :func:`load_spikes` read an NWB file (through
:func:`~simout_plugins.read.reader.open_report`) or a SONATA report / spike file (through
:mod:`simout_plugins.sonata.read`), reading only the selected columns, and return the reader's frames. The window
rule is :func:`simout_plugins.nwb.window.sample_range`, the same as the reader's; drawing a file is
:mod:`simout_plugins.plot.render`.
"""

from __future__ import annotations

import logging
import math
import os

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb import ids as _ids
from ..nwb.window import sample_range
from ..read.formats import detect_format
from ..read.reader import ReportReader, SpikeFrame, TraceFrame, open_report
from ..read.validate import guard, open_file
from ..sonata.read import ReportPopulation, choose_population, decide_time_base, read_columns, read_report, read_spikes

__all__ = ["load_traces", "load_heatmap", "load_spikes", "pick_series", "window_s", "window_steps"]

logger = logging.getLogger(__name__)


def window_s(*, tstart_ms: float | None, tstop_ms: float | None) -> tuple[float | None, float | None]:
    """A window given in ms (as in simulator configs and ``simout plot``) in seconds, checked (tstart <= tstop)."""
    if tstart_ms is not None and tstop_ms is not None and tstop_ms < tstart_ms:
        raise ValueError(f"tstop {tstop_ms:g} ms is before tstart {tstart_ms:g} ms")
    return (None if tstart_ms is None else tstart_ms / 1e3, None if tstop_ms is None else tstop_ms / 1e3)


def window_steps(
    path: str | os.PathLike,
    *,
    times_s: np.ndarray,
    tstart_s: float | None,
    tstop_s: float | None,
    steps=None,
) -> tuple[int, int]:
    """The samples ``[i0, i1)`` of a plot's window; a plot of nothing is an error.

    Parameters
    ----------
    path : str or os.PathLike
        The file (for messages).
    times_s : numpy.ndarray, shape (n_t,), seconds
        Time of every sample that may be plotted.
    tstart_s, tstop_s : float, optional
        Window in seconds, inclusive.
    steps : callable, optional
        ``steps(tstart, tstop) -> (i0, i1)`` of a series (:meth:`SeriesReader.steps`, the same rule over its
        grid); default :func:`~simout_plugins.nwb.window.sample_range` over ``times_s``.

    Raises
    ------
    FileFormatError
        The file holds no samples.
    ValueError
        No sample in the window.
    """
    if not times_s.size:
        raise FileFormatError(path, "holds no samples (no time steps written)")
    if steps is None:
        i0, i1 = sample_range(n_samples=times_s.size, tstart=tstart_s, tstop=tstop_s, timestamps=times_s)
    else:
        i0, i1 = steps(tstart_s, tstop_s)
    if i1 <= i0:
        raise ValueError(
            f"no samples in the window [{_ms(tstart_s)}, {_ms(tstop_s)}] ms; the file holds "
            f"{times_s[0] * 1e3:g} .. {times_s[-1] * 1e3:g} ms"
        )
    return i0, i1


def _ms(t_s: float | None) -> str:
    return "-" if t_s is None else f"{t_s * 1e3:g}"


def _sonata_population(f: h5py.File, population: str | None) -> tuple[ReportPopulation, np.ndarray]:
    """One population of a SONATA report and the time of its rows (s), as :mod:`simout_plugins.sonata.read` reads
    them."""
    with guard(f.filename, "/report"):
        has_report = isinstance(f.get("report"), h5py.Group)
    if not has_report:
        raise FileFormatError(f.filename, "has no /report group (a spike file? use --kind raster)", dataset="/report")
    pop = choose_population(read_report(f, f.filename), population, path=f.filename)
    base, why = decide_time_base(pop, None)
    logger.info("population '%s': time base '%s' (%s)", pop.name, base, why)
    if not pop.units:
        logger.info("population '%s': no units attribute, assuming %s", pop.name, pop.assumed_units())
    return pop, pop.times_ms(base) / 1e3


def pick_series(report: ReportReader, series: str | None) -> str:
    """The series a plot shows: ``series`` when given (checked), else ``"v"`` when present, else the first."""
    names = report.series_names
    if not names:
        raise FileFormatError(report.path, "has no CompartmentSeries", dataset="/acquisition")
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
    scaled: bool = True,
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
    scaled : bool
        NWB: True (default, as the reader's ``get``) SI units (volts), False the stored values. SONATA data has no
        conversion and comes as stored (its ``units``) either way.

    Returns
    -------
    TraceFrame
        ``times`` (n_t,) in s, ``data`` (n_t, n_cols).
    """
    tstart_s, tstop_s = window_s(tstart_ms=tstart_ms, tstop_ms=tstop_ms)
    if detect_format(path) == "nwb":
        with open_report(path) as report:
            s = report[pick_series(report, series)]
            if population is None and node_ids is None:
                population = s.populations[0] if s.populations else None
            if node_ids is None:
                node_ids = s.select(population=population).node_ids[:max_cells]
            window_steps(path, times_s=s.times[: s.n_steps_written], tstart_s=tstart_s, tstop_s=tstop_s, steps=s.steps)
            logger.info("reading %s cells of series '%s'", len(node_ids), s.name)
            return s.get(population=population, node_ids=node_ids, tstart=tstart_s, tstop=tstop_s, scaled=scaled)
    with open_file(path) as f:
        pop, times = _sonata_population(f, population)
        rows = pop.rows_of(node_ids)[: None if node_ids is not None else max_cells]
        cols, counts = pop.columns_of(rows)
        i0, i1 = window_steps(path, times_s=times, tstart_s=tstart_s, tstop_s=tstop_s)
        return TraceFrame(
            times=times[i0:i1],
            data=read_columns(f, pop, i0, i1, cols),
            node_ids=np.repeat(pop.node_ids[rows], counts),
            number=np.asarray(pop.element_ids)[cols].astype(np.int64),
            position=None if pop.element_pos is None else np.asarray(pop.element_pos)[cols].astype(np.float64),
            label=None,
            columns={"population": np.full(cols.size, pop.name, dtype=object)},
            unit=pop.assumed_units(),
        )


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
    scaled: bool = True,
) -> tuple[TraceFrame, str]:
    """Read many cells' compartments for a heatmap, capping what is read.

    At most ``max_columns`` compartments (the first cells of the selection, whole cells) and at most ``max_times``
    samples (every k-th step of the window) are read.

    Parameters
    ----------
    path : str or os.PathLike
        NWB file or SONATA compartment report.
    series, population, node_ids, tstart_ms, tstop_ms, scaled
        As in :func:`load_traces`; default every cell of every population (NWB) or of the first population (SONATA).
    max_columns : int
        Cap on compartments read.
    max_times : int
        Cap on time samples read.

    Returns
    -------
    (TraceFrame, str)
        The frame (``times`` (n_t,) s, ``data`` (n_t, n_cols), ``number`` all 0) and a note saying what was capped
        (empty when nothing was).
    """
    tstart_s, tstop_s = window_s(tstart_ms=tstart_ms, tstop_ms=tstop_ms)
    notes = []
    with open_file(path) if detect_format(path) == "sonata" else open_report(path) as handle:
        steps = None
        if isinstance(handle, h5py.File):
            pop, times = _sonata_population(handle, population)
            rows = pop.rows_of(node_ids)
            sel_node_ids = pop.node_ids[rows]
            counts = pop.offsets[rows + 1] - pop.offsets[rows]
            unit = pop.assumed_units()
            pops = np.full(rows.size, pop.name, dtype=object)

            def read(i0, i1, cols, step):
                return read_columns(handle, pop, i0, i1, cols, step=step)

            def cols_of(n):
                return pop.columns_of(rows[:n])[0]
        else:
            s = handle[pick_series(handle, series)]
            sel = s.select(population=population, node_ids=node_ids)
            sel_node_ids, counts = np.asarray(sel.node_ids), np.asarray(sel.counts)
            times, steps = s.times[: s.n_steps_written], s.steps
            unit = s.unit if scaled else f"{s.unit} / {s.conversion:g}"
            cell_pop = s.cells.population
            pops = None if cell_pop is None else np.asarray(cell_pop)[np.asarray(sel.rows)]

            def read(i0, i1, cols, step):
                return s.read(i0, i1, cols=cols, scaled=scaled, step=step)

            def cols_of(n):
                return np.asarray(sel.cols)[: int(np.sum(counts[:n]))]

        n_cells = sel_node_ids.size
        cum = np.cumsum(counts)
        keep = max(1, int(np.searchsorted(cum, max_columns, side="right"))) if n_cells else 0
        keep = min(keep, n_cells)
        if keep < n_cells:
            notes.append(f"first {keep} of {n_cells} cells")
        cols = cols_of(keep)
        i0, i1 = window_steps(path, times_s=times, tstart_s=tstart_s, tstop_s=tstop_s, steps=steps)
        stride = max(1, math.ceil((i1 - i0) / max_times))
        if stride > 1:
            notes.append(f"every {stride}th of {i1 - i0} steps")
        logger.info("reading %d compartments x %d steps", cols.size, len(range(i0, i1, stride)))
        data = read(i0, i1, cols, stride)  # a strided read: only the chunks holding a kept sample
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
        NWB file (its ``Units`` table) or SONATA spike file.
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
        with guard(path, "/spikes"):
            has_spikes = isinstance(f.get("spikes"), h5py.Group)
        if not has_spikes:
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
