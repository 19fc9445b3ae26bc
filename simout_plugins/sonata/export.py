"""NWB → SONATA: one report population per NWB population, spikes from ``Units``, streamed in time blocks.

The NWB side is read through the core reader (:func:`simout_plugins.open_report`): the Compartments table
(node ids, populations, CSR offsets, number / position and extra columns) and the Units spikes come from its
:class:`~simout_plugins.read.tables.CellTable`, the data from :meth:`SeriesReader.read` one time block at a time.

Files converted from SONATA carry a JSON sidecar (attribute ``simout_sonata`` on the series' ``data``) with what
NWB does not hold: the original ``mapping/time`` triple, units, dtypes and which datasets existed. With it the
report is written back unchanged; without it (files written by the simulator adapters) ``mapping/time`` is
[t0, t0 + n·dt, dt] with t0 the first sample's time, the libsonata convention (row k = tstart + k·dt).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..nwb import ragged
from ..nwb.columns import as_text
from ..nwb.compression import PRECISION_ATTR
from ..nwb.units import unit_and_conversion
from ..read.formats import file_kind
from ..read.reader import ReportReader, SeriesReader, open_report
from ._common import SIDECAR_ATTR, ConversionError, check_output, choose_block_steps, progress_bar
from .write import create_report_population, write_header, write_spikes

logger = logging.getLogger(__name__)
_SONATA_UNITS = ("mV", "V", "nA", "pA", "A", "uS", "nS", "S", "ms", "s")


@dataclass
class _Population:
    name: str
    node_ids: np.ndarray  # in SONATA node order
    cols: np.ndarray  # flat data columns, in SONATA element order
    offsets: np.ndarray


def to_sonata(
    *,
    nwb: str | os.PathLike,
    out: str | os.PathLike,
    series: str | None = None,
    spikes_out: str | os.PathLike | None = None,
    dtype: str | np.dtype = "float32",
    keep_dtype: bool = False,
    overwrite: bool = False,
    block_steps: int | None = None,
    progress: bool = False,
) -> Path:
    """Convert an NWB CompartmentSeries (and the file's ``Units``) to a SONATA report libsonata and BMTK read.

    Parameters
    ----------
    nwb : str or os.PathLike
        NWB file with CompartmentSeries and/or a ``Units`` table (a spikes-only file gives a SONATA spike file).
    out : str or os.PathLike
        SONATA output (``/report/<population>/...``; ``/spikes`` too unless ``spikes_out`` is given).
    series : str, optional
        Which CompartmentSeries; required when the file has several.
    spikes_out : str or os.PathLike, optional
        Separate SONATA spike file; default: the spikes go into ``out``. Not allowed for a file without
        CompartmentSeries (its spikes are the whole output).
    dtype : str or numpy.dtype
        Data type of ``data`` (float32, which libsonata requires).
    keep_dtype : bool
        Keep the NWB data's dtype instead (lossless round trip); int32 counts of a series written with ``precision``
        always go out as ``dtype`` floats in the report's unit (e.g. mV).
    overwrite : bool
        Replace existing outputs (default False, as everywhere in this package).
    block_steps : int, optional
        Time rows per block (default about 64 MB).
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ConversionError
        Bad input (names the file and, where it applies, the dataset).
    FileExistsError, IsADirectoryError, FileNotFoundError, PermissionError
        Output path problems (:meth:`simout_plugins.write.outputs.OutputPath.check`).
    """
    target = check_output(out, inputs=[nwb], overwrite=overwrite, suffix=".h5")
    out = target.path
    if spikes_out is not None and Path(spikes_out).resolve() == out.resolve():
        spikes_out = None  # the same file: spikes go under /spikes of the report
    spikes_target = (
        None if spikes_out is None else check_output(spikes_out, inputs=[nwb, out], overwrite=overwrite, suffix=".h5")
    )
    spikes_path = None if spikes_target is None else spikes_target.path
    with _open_nwb(nwb) as r, target.staged() as tmp:
        s = _find_series(nwb, r, series)
        spikes = _units_spikes(nwb, r)
        if s is None:
            if r.units is None:
                raise ConversionError(nwb, "holds no CompartmentSeries and no Units table: nothing to convert")
            if not spikes:
                raise ConversionError(nwb, "holds no CompartmentSeries and no spike times: nothing to convert",
                                      dataset="/units/spike_times")  # fmt: skip
            if spikes_path is not None:
                raise ConversionError(nwb, "holds spikes only (no CompartmentSeries): they are the output itself; "
                                      "drop spikes_out (--spikes)")  # fmt: skip
        with h5py.File(tmp, "w") as h:
            write_header(h)
            if s is not None:
                _write_report(nwb, s, h, dtype=dtype, keep_dtype=keep_dtype, steps=block_steps, progress=progress)
            if spikes and spikes_path is None:
                write_spikes(h, spikes)
        if spikes and spikes_path is not None:
            with spikes_target.staged() as tmp_spikes, h5py.File(tmp_spikes, "w") as h:
                write_spikes(h, spikes)
    return out


@contextlib.contextmanager
def _open_nwb(path) -> Iterator[ReportReader]:
    """The core reader on ``path``, after checking it is NWB (not HDF5 / truncated / SONATA → ConversionError)."""
    kind = file_kind(path)
    if kind != "nwb":
        raise ConversionError(path, f"is a SONATA {kind.split('-')[1]} file, not NWB; convert it with to_nwb")
    try:
        reader = open_report(path)
    except OSError as exc:
        raise ConversionError(path, f"cannot be read as NWB (truncated or damaged file?): {exc}") from exc
    with reader:
        yield reader


def _find_series(path, r: ReportReader, name: str | None) -> SeriesReader | None:
    names = r.series_names
    if name is None:
        if len(names) > 1:
            raise ConversionError(path, f"holds several CompartmentSeries {sorted(names)}; choose one (--series)")
        if not names:
            return None
        name = names[0]
    elif name not in r:
        raise ConversionError(path, f"no CompartmentSeries '{name}'; series: {sorted(names)}")
    try:
        return r[name]
    except (KeyError, OSError) as exc:  # the reader needs data and starting_time (or timestamps)
        raise ConversionError(path, f"CompartmentSeries '{name}' cannot be read: {exc}") from exc


def _series_group(s: SeriesReader) -> h5py.Group:
    """The series' HDF5 group, for the sidecar attribute and error paths (SeriesReader has no public handle)."""
    return s._group


def _write_report(path, s: SeriesReader, h: h5py.File, *, dtype, keep_dtype, steps, progress) -> None:
    where = _series_group(s).name
    if len(s.shape) != 2:
        raise ConversionError(path, f"must be 2-D (time, compartment), got shape {s.shape}", dataset=f"{where}/data")
    try:
        s.cells  # noqa: B018  (raises when the series has no table)
    except ValueError:
        raise ConversionError(path, "the series has no Compartments link", dataset=f"{where}/compartments") from None
    if np.isnan(s.rate):
        raise ConversionError(
            path, "irregular timestamps cannot go into SONATA's [tstart, tstop, dt]", dataset=f"{where}/timestamps"
        )
    sidecar = json.loads(as_text(_series_group(s)["data"].attrs.get(SIDECAR_ATTR)) or "{}")
    side_pops = sidecar.get("populations", {})
    _, n_rows = s.steps()  # the samples written (a crashed run's file holds NaN after them)
    t0_ms, dt_ms = s.starting_time * 1000.0, 1000.0 / s.rate
    # counts (precision p) hold 10**-p of the recorded unit: find that unit from conversion * 10**p, scale back
    precision = _series_group(s)["data"].attrs.get(PRECISION_ATTR)
    digits = 0 if precision is None else int(precision)
    unit, scale = _sonata_units(s.unit, s.conversion * 10**digits)
    scale /= 10**digits
    store = np.dtype(s.dtype if keep_dtype and precision is None else dtype)  # counts go out as floats
    pops = _table_populations(path, s)
    datasets = []
    for pop in pops:
        side = side_pops.get(pop.name, {})
        time, base = np.array([t0_ms, t0_ms + n_rows * dt_ms, dt_ms]), "start"
        if side.get("time") is not None and side.get("n_rows") == n_rows:
            time, base = np.asarray(side["time"], dtype=np.float64), sidecar.get("time_base", "start")
        comp = s.compartment_columns(pop.cols)
        datasets.append(
            create_report_population(
                h,
                name=pop.name,
                node_ids=pop.node_ids,
                offsets=pop.offsets,
                element_ids=comp["number"],
                element_pos=comp.get("position") if side.get("element_pos", True) else None,
                time=time,
                time_base=base,
                n_rows=n_rows,
                dtype=store,
                units=side.get("units") or unit,
                variable=side.get("variable"),
                dtypes=side.get("dtypes"),
                extra={k: comp[k] for k in side.get("extra", []) if k in comp},
            )
        )
    chunk_t = s.chunks[0] if s.chunks else 1
    steps = steps or choose_block_steps(n_rows=max(n_rows, 1), row_bytes=s.shape[1] * s.dtype.itemsize, align=chunk_t)
    spans = [_span(p.cols) for p in pops]
    by_population = all(span is not None for span in spans)  # each population one column range: read it alone
    with progress_bar(total=n_rows, desc="NWB → SONATA", enabled=progress) as bar:
        for i0 in range(0, n_rows, steps):
            i1 = min(i0 + steps, n_rows)
            try:
                block = None if by_population else s.read(i0, i1, scaled=False)
                for ds, pop in zip(datasets, pops):
                    if pop.cols.size == 0:
                        continue
                    part = s.read(i0, i1, pop.cols, scaled=False) if block is None else block[:, pop.cols]
                    ds[i0:i1, :] = (part if scale == 1.0 else part * scale).astype(store, copy=False)
            except OSError as exc:
                raise ConversionError(path, f"rows {i0}..{i1 - 1} cannot be read (truncated file?): {exc}",
                                      dataset=f"{where}/data") from exc  # fmt: skip
            bar.update(i1 - i0)


def _span(cols: np.ndarray) -> slice | None:
    """``cols`` as a slice when it is one ascending run, else None."""
    if cols.size == 0:
        return slice(0, 0)
    if cols[-1] - cols[0] + 1 == cols.size and (cols.size == 1 or (np.diff(cols) == 1).all()):
        return slice(int(cols[0]), int(cols[-1]) + 1)
    return None


def _table_populations(path, s: SeriesReader) -> list[_Population]:
    """Per population (sorted by name): node ids, data columns and CSR offsets in SONATA node order.

    Nodes come in table order (node id order), or in their original SONATA order when the table has the
    ``sonata_index`` column the converter adds for reports whose node ids were not ascending.
    """
    cells = s.cells
    number = cells.dataset("number")
    if number is None:
        raise ConversionError(path, "has no 'number' column", dataset=cells.name)
    n_cols = s.shape[1]
    offsets = cells.offsets
    problem = ragged.offsets_problem(offsets, n_rows=cells.n_rows, n_elements=number.shape[0])
    if problem or number.shape[0] != n_cols:
        raise ConversionError(
            path, problem or f"{number.shape[0]} compartments but the data has {n_cols} columns",
            dataset=f"{cells.name}/number_index",
        )  # fmt: skip
    order_ds = cells.dataset("sonata_index")
    order_in_pop = None if order_ds is None else order_ds[()].astype(np.int64)
    names = cells.populations
    if not names:
        logger.info("'%s': no population column; writing population 'default'", path)
    pops = []
    for name in names or [None]:
        sel = s.select(population=name)
        node_ids, cols, counts = sel.node_ids, sel.cols, sel.counts
        if order_in_pop is not None:
            k = np.argsort(order_in_pop[sel.rows], kind="stable")
            node_ids, counts = node_ids[k], counts[k]
            cols = ragged.rows_to_flat(offsets, sel.rows[k])
        pops.append(_Population(name or "default", node_ids, cols, ragged.counts_to_offsets(counts)))
    return pops


def _sonata_units(unit: str, conversion: float) -> tuple[str, float]:
    """SONATA ``units`` for NWB (unit, conversion), and the factor to apply to the stored values (1.0: none)."""
    for cand in _SONATA_UNITS:
        u, c = unit_and_conversion(cand)
        if u == unit and np.isclose(c, conversion, rtol=1e-12, atol=0):
            return cand, 1.0
    if conversion == 1.0 and unit:
        return unit, 1.0
    logger.warning("unit '%s' with conversion %g has no SONATA name; writing values in '%s'", unit, conversion, unit)
    return unit or "unknown", conversion


def _units_spikes(path, r: ReportReader) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{population: (node_ids, times_ms)}`` from the file's ``Units`` table ({} without spike times)."""
    units = r.units
    spike_times = None if units is None else units.dataset("spike_times")
    if spike_times is None:
        return {}
    problem = ragged.offsets_problem(units.offsets, n_rows=units.n_rows, n_elements=spike_times.shape[0])
    if problem:
        raise ConversionError(path, f"does not match id / spike_times: {problem}",
                              dataset=f"{units.name}/spike_times_index")  # fmt: skip
    frame = r.spikes()
    times_ms = frame.times * 1000.0
    if frame.population is None:
        return {"default": (frame.node_ids, times_ms)} if times_ms.size else {}
    names, inverse = np.unique(frame.population.astype(str), return_inverse=True)
    return {str(p): (frame.node_ids[inverse == k], times_ms[inverse == k]) for k, p in enumerate(names)}
