"""NWB → SONATA: one report population per NWB population, spikes from ``Units``, streamed in time blocks.

Files converted from SONATA carry a JSON sidecar (attribute ``simout_sonata`` on the series' ``data``) with what
NWB does not hold: the original ``mapping/time`` triple, units, dtypes and which datasets existed. With it the
report is written back unchanged; without it (files written by the simulator adapters) ``mapping/time`` is
[t0, t0 + n·dt, dt] with t0 the first sample's time, the libsonata convention (row k = tstart + k·dt).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .. import ragged
from ..tables import decode_text
from ..units import unit_and_conversion
from ._common import (
    SIDECAR_ATTR,
    ConversionError,
    _attr_str,
    check_output,
    choose_block_steps,
    open_h5,
    progress_bar,
    staged,
)
from .write import create_report_population, write_spikes

logger = logging.getLogger(__name__)
_SONATA_UNITS = ("mV", "V", "nA", "pA", "A", "uS", "nS", "S", "ms", "s")


@dataclass
class _Population:
    name: str
    rows: np.ndarray  # table rows, in SONATA node order
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
        NWB file with CompartmentSeries (and/or a ``Units`` table).
    out : str or os.PathLike
        SONATA output (``/report/<population>/...``; ``/spikes`` too unless ``spikes_out`` is given).
    series : str, optional
        Which CompartmentSeries; required when the file has several.
    spikes_out : str or os.PathLike, optional
        Separate SONATA spike file; default: the spikes go into ``out``.
    dtype : str or numpy.dtype
        Data type of ``data`` (float32, which libsonata requires).
    keep_dtype : bool
        Keep the NWB data's dtype instead (lossless round trip).
    overwrite : bool
        Replace existing outputs.
    block_steps : int, optional
        Time rows per block (default about 64 MB).
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = check_output(out, inputs=[nwb], overwrite=overwrite)
    if spikes_out is not None and Path(spikes_out).resolve() == out.resolve():
        spikes_out = None  # the same file: spikes go under /spikes of the report
    spikes_path = None if spikes_out is None else check_output(spikes_out, inputs=[nwb, out], overwrite=overwrite)
    with open_h5(nwb) as f, staged(out, suffix=".h5") as tmp:
        group = _find_series(nwb, f, series)
        units_group = f.get("units")
        if group is None and not isinstance(units_group, h5py.Group):
            raise ConversionError(nwb, "holds no CompartmentSeries and no Units table: nothing to convert")
        with h5py.File(tmp, "w") as h:
            h.attrs["magic"] = np.uint32(0x0A7A)
            h.attrs["version"] = np.array([0, 1], dtype=np.uint32)
            if group is not None:
                _write_report(nwb, group, h, dtype=dtype, keep_dtype=keep_dtype, steps=block_steps, progress=progress)
            spikes = _units_spikes(nwb, units_group) if isinstance(units_group, h5py.Group) else {}
            if spikes and spikes_path is None:
                write_spikes(h, spikes)
        if spikes and spikes_path is not None:
            with staged(spikes_path, suffix=".h5") as tmp_spikes, h5py.File(tmp_spikes, "w") as h:
                write_spikes(h, spikes)
    return out


def _find_series(path, f: h5py.File, name: str | None) -> h5py.Group | None:
    found: dict[str, h5py.Group] = {}

    def visit(key: str, obj) -> None:
        if isinstance(obj, h5py.Group) and _attr_str(obj.attrs.get("neurodata_type")) == "CompartmentSeries":
            found[key.rsplit("/", 1)[-1]] = obj

    for where in ("acquisition", "processing"):
        if isinstance(f.get(where), h5py.Group):
            f[where].visititems(visit)
    if name is not None:
        if name not in found:
            raise ConversionError(path, f"no CompartmentSeries '{name}'; series: {sorted(found)}")
        return found[name]
    if len(found) > 1:
        raise ConversionError(path, f"holds several CompartmentSeries {sorted(found)}; choose one (series=, --series)")
    return next(iter(found.values()), None)


def _write_report(path, group: h5py.Group, h: h5py.File, *, dtype, keep_dtype, steps, progress) -> None:
    data = group.get("data")
    if not isinstance(data, h5py.Dataset) or data.ndim != 2:
        raise ConversionError(path, "missing or not 2-D (time, compartment)", dataset=f"{group.name}/data")
    table = group.get("compartments")
    if not isinstance(table, h5py.Group):
        raise ConversionError(path, "the series has no Compartments link", dataset=f"{group.name}/compartments")
    if "starting_time" not in group:
        raise ConversionError(
            path, "irregular timestamps cannot go into SONATA's [tstart, tstop, dt]", dataset=f"{group.name}/timestamps"
        )
    sidecar = json.loads(_attr_str(data.attrs.get(SIDECAR_ATTR)) or "{}")
    side_pops = sidecar.get("populations", {})
    n_rows = int(min(data.shape[0], data.attrs.get("simout_steps_written", data.shape[0])))
    t0_ms = float(group["starting_time"][()]) * 1000.0
    dt_ms = 1000.0 / float(group["starting_time"].attrs["rate"])
    unit, scale = _sonata_units(_attr_str(data.attrs.get("unit")) or "", float(data.attrs.get("conversion", 1.0)))
    store = np.dtype(data.dtype if keep_dtype else dtype)
    cols_info = _table_populations(path, table, data.shape[1])
    datasets = []
    for pop in cols_info["populations"]:
        side = side_pops.get(pop.name, {})
        time, base = np.array([t0_ms, t0_ms + n_rows * dt_ms, dt_ms]), "start"
        if side.get("time") is not None and side.get("n_rows") == n_rows:
            time, base = np.asarray(side["time"], dtype=np.float64), sidecar.get("time_base", "start")
        extra_keys = side.get("extra", [])
        datasets.append(
            create_report_population(
                h,
                name=pop.name,
                node_ids=cols_info["node_ids"][pop.rows],
                offsets=pop.offsets,
                element_ids=cols_info["number"][pop.cols],
                element_pos=None
                if cols_info["position"] is None or not side.get("element_pos", True)
                else cols_info["position"][pop.cols],
                time=time,
                time_base=base,
                n_rows=n_rows,
                dtype=store,
                units=side.get("units") or unit,
                variable=side.get("variable"),
                dtypes=side.get("dtypes"),
                extra={k: _read(table, k)[pop.cols] for k in extra_keys if k in table},
            )
        )
    n_cols = data.shape[1]
    chunk_t = data.chunks[0] if data.chunks else 1
    steps = steps or choose_block_steps(n_rows=max(n_rows, 1), row_bytes=n_cols * data.dtype.itemsize, align=chunk_t)
    buf = np.empty((min(steps, max(n_rows, 1)), n_cols), dtype=data.dtype)
    spans = [_span(p.cols) for p in cols_info["populations"]]
    with progress_bar(total=n_rows, desc="NWB → SONATA", enabled=progress) as bar:
        for i0 in range(0, n_rows, steps):
            n = min(steps, n_rows - i0)
            try:
                data.read_direct(buf, np.s_[i0 : i0 + n, :], np.s_[0:n, :])
            except OSError as exc:
                raise ConversionError(path, f"rows {i0}..{i0 + n - 1} cannot be read (truncated file?): {exc}",
                                      dataset=data.name) from exc  # fmt: skip
            block = buf[:n] if scale == 1.0 else buf[:n] * scale
            for ds, pop, span in zip(datasets, cols_info["populations"], spans):
                part = block[:, span] if span is not None else block[:, pop.cols]
                ds[i0 : i0 + n, :] = part.astype(store, copy=False)
            bar.update(n)


def _span(cols: np.ndarray) -> slice | None:
    """``cols`` as a slice when it is one ascending run (no fancy-index copy needed), else None."""
    if cols.size == 0:
        return slice(0, 0)
    if cols[-1] - cols[0] + 1 == cols.size and (cols.size == 1 or (np.diff(cols) == 1).all()):
        return slice(int(cols[0]), int(cols[-1]) + 1)
    return None


def _read(table: h5py.Group, key: str) -> np.ndarray:
    return table[key][()]


def _table_populations(path, table: h5py.Group, n_cols: int) -> dict:
    """Node ids, element columns and per-population row / column selections of a Compartments group."""
    where = table.name
    if "number" not in table:
        raise ConversionError(path, "has no 'number' column", dataset=where)
    number = table["number"][()].astype(np.int64)
    n_cells = table["id"].shape[0]
    if "number_index" in table:
        offsets = ragged.nwb_index_to_offsets(table["number_index"][()])
    else:
        offsets = np.arange(n_cells + 1, dtype=np.int64)
    problem = ragged.offsets_problem(offsets, n_rows=n_cells, n_elements=number.size)
    if problem or number.size != n_cols:
        raise ConversionError(
            path,
            problem or f"{number.size} compartments but the data has {n_cols} columns",
            dataset=f"{where}/number_index",
        )
    node_ids = table["node_id" if "node_id" in table else "id"][()].astype(np.int64)
    population = decode_text(table["population"][()]) if "population" in table else None
    if population is None:
        population = np.full(n_cells, "default", dtype=object)
        logger.info("'%s': no population column; writing population 'default'", path)
    order_in_pop = table["sonata_index"][()].astype(np.int64) if "sonata_index" in table else None
    pops = []
    names, inverse = np.unique(population.astype(str), return_inverse=True)
    for k, name in enumerate(names):
        rows = np.flatnonzero(inverse == k)
        if order_in_pop is not None:
            rows = rows[np.argsort(order_in_pop[rows], kind="stable")]
        counts = offsets[rows + 1] - offsets[rows]
        pops.append(_Population(str(name), rows, ragged.rows_to_flat(offsets, rows), ragged.counts_to_offsets(counts)))
    position = table["position"][()].astype(np.float64) if "position" in table else None
    return {"populations": pops, "node_ids": node_ids, "number": number, "position": position}


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


def _units_spikes(path, units: h5py.Group) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{population: (node_ids, times_ms)}`` from an NWB ``Units`` group."""
    if "spike_times" not in units or "spike_times_index" not in units:
        return {}
    ids = units["node_id" if "node_id" in units else "id"][()].astype(np.int64)
    counts = ragged.nwb_index_to_counts(units["spike_times_index"][()])
    if counts.size != ids.size or counts.sum() != units["spike_times"].shape[0]:
        raise ConversionError(path, "spike_times_index does not match id / spike_times", dataset=units.name)
    times_ms = units["spike_times"][()].astype(np.float64) * 1000.0
    pops = decode_text(units["population"][()]) if "population" in units else np.full(ids.size, "default", object)
    spike_ids = ragged.repeat_per_element(ids, counts)
    spike_pops = ragged.repeat_per_element(pops.astype(str), counts)
    return {str(p): (spike_ids[spike_pops == p], times_ms[spike_pops == p]) for p in np.unique(spike_pops)}
