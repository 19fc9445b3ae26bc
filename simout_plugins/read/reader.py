"""h5py-level reader for CompartmentSeries files, libsonata-shaped: ``reader[series].get(node_ids, tstart, tstop)``.

Reads only the chunks a selection needs. Opens files written by this package (0.3.0), the seed layout
(table in ``acquisition``) and ndx-simulation-output 0.2.x (table under ``general/simulation``): the series'
``compartments`` link is followed wherever the table lives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb import ragged
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from .tables import COMPARTMENT_COLUMNS, CellTable, Selection, TableError, take, take_columns
from .validate import NUMERIC, check_length, check_plausible, guard, need_dataset, number_attr, open_file, steps_attr

__all__ = ["open_report", "ReportReader", "SeriesReader", "TraceFrame", "SpikeFrame", "Selection", "TableError"]


@dataclass(frozen=True)
class TraceFrame:
    """A selection of a CompartmentSeries.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_t,), seconds
    data : numpy.ndarray, shape (n_t, n_cols)
        SI units (``data * conversion``) unless read with ``scaled=False`` (then the stored values).
    node_ids : numpy.ndarray, shape (n_cols,), int64
        Node id (within its population) of each column's cell.
    number : numpy.ndarray, shape (n_cols,), int64
    position : numpy.ndarray or None, shape (n_cols,), float64
    label : numpy.ndarray or None, shape (n_cols,), str
    columns : dict of str to numpy.ndarray, each shape (n_cols,)
        Other per-column values (``population``, per-cell and per-compartment extra columns).
    unit : str
        Unit of ``data`` (e.g. ``"volts"``).
    population : numpy.ndarray or None, shape (n_cols,), str
        Population of each column's cell (None for files without populations).
    cell_ids : numpy.ndarray or None, shape (n_cols,), int64
        Global cell id (the table's ``id``) of each column's cell.
    """

    times: np.ndarray
    data: np.ndarray
    node_ids: np.ndarray
    number: np.ndarray
    position: np.ndarray | None
    label: np.ndarray | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    unit: str = ""
    population: np.ndarray | None = None
    cell_ids: np.ndarray | None = None


@dataclass(frozen=True)
class SpikeFrame:
    """Spikes from the ``Units`` table: one entry per spike, ordered by unit row then time.

    Attributes
    ----------
    node_ids : numpy.ndarray, shape (n_spikes,), int64
    times : numpy.ndarray, shape (n_spikes,), seconds
    population : numpy.ndarray or None, shape (n_spikes,), str
    cell_ids : numpy.ndarray or None, shape (n_spikes,), int64
        Global cell id (the Units ``id``) of each spike's cell.
    """

    node_ids: np.ndarray
    times: np.ndarray
    population: np.ndarray | None = None
    cell_ids: np.ndarray | None = None


class SeriesReader:
    """One CompartmentSeries of an open file (use ``open_report(path)[name]``)."""

    def __init__(self, group: h5py.Group, table: CellTable | None, *, path: str) -> None:
        self._group = group
        self._path = path
        self.name = group.name.rsplit("/", 1)[-1]
        self._data = need_dataset(path, group, "data", ndim=2, kinds=NUMERIC, what="(time, compartment)")
        self._table = table
        with guard(path, self._data.name):
            n_t, n_c = self._data.shape
            attrs = self._data.attrs
            self.unit = _str_attr(attrs.get("unit", ""))
        self.conversion = number_attr(path, self._data, "conversion", 1.0)
        self.offset = number_attr(path, self._data, "offset", 0.0)
        self.n_steps_written = steps_attr(path, self._data, STEPS_WRITTEN_ATTR, n_t)
        check_plausible(path, self._data, n_elements=max(n_t, self.n_steps_written * n_c))
        if table is not None and table.n_elements != n_c:
            raise FileFormatError(
                path, f"has {n_c} columns but its Compartments table {table.name} has {table.n_elements} compartments",
                dataset=self._data.name,
            )  # fmt: skip
        if "starting_time" in group:
            start = need_dataset(path, group, "starting_time", ndim=0, kinds=NUMERIC)
            with guard(path, start.name):
                self.starting_time = float(start[()])
            if not np.isfinite(self.starting_time):
                raise FileFormatError(path, f"must be finite, got {self.starting_time}", dataset=start.name)
            self.rate = number_attr(path, start, "rate", positive=True)
            self._timestamps = None
        elif "timestamps" in group:
            ts = need_dataset(path, group, "timestamps", ndim=1, kinds=NUMERIC)
            check_length(path, ts, n_t, of="data rows")
            with guard(path, ts.name):
                self._timestamps = ts[()].astype(np.float64)
            if not np.isfinite(self._timestamps).all() or (np.diff(self._timestamps) < 0).any():
                raise FileFormatError(path, "must be finite and non-decreasing", dataset=ts.name)
            self.starting_time = float(self._timestamps[0]) if self._timestamps.size else 0.0
            self.rate = float("nan")
        else:
            raise FileFormatError(path, "has neither starting_time nor timestamps", dataset=group.name)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape (n_times, n_compartments) of the stored data."""
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def chunks(self) -> tuple[int, ...] | None:
        """HDF5 chunk shape of the data (None when contiguous)."""
        return self._data.chunks

    @property
    def description(self) -> str:
        return _str_attr(self._group.attrs.get("description", ""))

    @property
    def comments(self) -> str:
        return _str_attr(self._group.attrs.get("comments", ""))

    @property
    def cells(self) -> CellTable:
        """The series' Compartments table (lazy columns: ``cell_ids``, ``node_ids``, ``population``, ``offsets``)."""
        if self._table is None:
            raise FileFormatError(self._path, f"series '{self.name}' has no compartments link",
                                  dataset=f"{self._group.name}/compartments")  # fmt: skip
        return self._table

    @property
    def node_ids(self) -> np.ndarray:
        """Node ids of the table's cells, in row order, shape (n_cells,)."""
        return self.cells.node_ids

    @property
    def cell_ids(self) -> np.ndarray:
        """Global cell ids (the table's ``id``), in row order, shape (n_cells,)."""
        return self.cells.cell_ids

    @property
    def population(self) -> np.ndarray | None:
        """Population of each row, shape (n_cells,), or None."""
        return self.cells.population

    @property
    def populations(self) -> list[str]:
        """Population names, sorted."""
        return self.cells.populations

    @property
    def times(self) -> np.ndarray:
        """Time of every stored sample, shape (n_times,), seconds."""
        if self._timestamps is not None:
            return self._timestamps
        return self.starting_time + np.arange(self._data.shape[0]) / self.rate

    def steps(self, tstart: float | None = None, tstop: float | None = None) -> tuple[int, int]:
        """Sample range ``[i0, i1)`` of the written samples within [tstart, tstop] (s, inclusive)."""
        n = min(self._data.shape[0], self.n_steps_written)
        if self._timestamps is not None:
            ts = self._timestamps[:n]
            i0 = 0 if tstart is None else int(np.searchsorted(ts, tstart, side="left"))
            i1 = n if tstop is None else int(np.searchsorted(ts, tstop, side="right"))
            return i0, max(i0, i1)
        eps = 1e-9
        i0 = 0 if tstart is None else max(0, int(np.ceil((tstart - self.starting_time) * self.rate - eps)))
        i1 = n if tstop is None else min(n, int(np.floor((tstop - self.starting_time) * self.rate + eps)) + 1)
        return min(i0, n), max(min(i0, n), i1)

    def select(self, *, population: str | None = None, node_ids: ArrayLike | None = None) -> Selection:
        """Cells by address (see :meth:`CellTable.select`); ``.cols`` are their data columns."""
        return self.cells.select(population=population, node_ids=node_ids)

    def compartment_columns(self, cols: ArrayLike) -> dict[str, np.ndarray]:
        """``number``, ``position``, ``label`` and extra per-compartment columns at data columns ``cols``."""
        out = {}
        for col in COMPARTMENT_COLUMNS + tuple(self.cells.extra_columns()[1]):
            ds = self.cells.element_dataset(col)
            if ds is not None:
                with guard(self._path, ds.name):
                    out[col] = take(ds, cols)
        if "number" in out:
            out["number"] = out["number"].astype(np.int64)
        if "position" in out:
            out["position"] = out["position"].astype(np.float64)
        return out

    def read(self, i0: int, i1: int, cols: ArrayLike | None = None, *, scaled: bool = False) -> np.ndarray:
        """Samples ``i0 .. i1 - 1`` of the given data columns (all when None), shape (i1 - i0, n_cols).

        Stored values (e.g. mV with ``conversion=1e-3``) unless ``scaled`` (SI: ``data * conversion + offset``).
        """
        with guard(self._path, self._data.name):
            if cols is None:
                data = self._data[i0:i1, :]
            else:
                data = take_columns(self._data, i0, i1, cols)
        if scaled:
            data = data * self.conversion + self.offset if self.offset else data * self.conversion
        return data

    def get(
        self,
        *,
        node_ids: ArrayLike | None = None,
        tstart: float | None = None,
        tstop: float | None = None,
        scaled: bool = True,
        population: str | None = None,
    ) -> TraceFrame:
        """Read the selected cells over [tstart, tstop] (seconds, both inclusive; None = from start / to end).

        Cells are selected by address: ``population`` and/or ``node_ids`` (node ids must be unambiguous without
        ``population``). Columns come cell by cell in the order of ``node_ids`` (default: table order), each
        cell's compartments in stored order. Only the chunks covering the selection are read.
        """
        if tstart is not None and tstop is not None and tstop < tstart:
            raise ValueError(f"tstop={tstop} s is before tstart={tstart} s")
        sel = self.select(population=population, node_ids=node_ids)
        i0, i1 = self.steps(tstart, tstop)
        data = self.read(i0, i1, sel.cols, scaled=scaled)
        comp = self.compartment_columns(sel.cols)
        per_row, _ = self.cells.extra_columns()
        columns = {}
        for k in per_row:
            ds = self.cells.row_dataset(k)
            with guard(self._path, ds.name):
                columns[k] = ragged.repeat_per_element(take(ds, sel.rows), sel.counts)
        pop_cols = None if sel.population is None else ragged.repeat_per_element(sel.population, sel.counts)
        if pop_cols is not None:
            columns = {"population": pop_cols, **columns}
        columns.update({k: v for k, v in comp.items() if k not in COMPARTMENT_COLUMNS})
        times = (
            self._timestamps[i0:i1]
            if self._timestamps is not None
            else self.starting_time + np.arange(i0, i1) / self.rate
        )
        return TraceFrame(
            times=times,
            data=data,
            node_ids=ragged.repeat_per_element(sel.node_ids, sel.counts),
            number=comp.get("number", np.zeros(sel.cols.size, np.int64)),
            position=comp.get("position"),
            label=comp.get("label"),
            columns=columns,
            unit=self.unit if scaled else f"{self.unit} / {self.conversion:g}",
            population=pop_cols,
            cell_ids=ragged.repeat_per_element(sel.cell_ids, sel.counts),
        )


class ReportReader:
    """An open NWB file with one or more CompartmentSeries (use :func:`open_report`).

    Tables are read lazily and once per file: the series of one table share it.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._file = open_file(self.path)
        self._series: dict[str, h5py.Group] = {}
        self._readers: dict[str, SeriesReader] = {}
        self._tables: dict[object, CellTable] = {}
        self._units: CellTable | None = None
        try:
            for where in ("acquisition", "processing", "stimulus/presentation"):
                with guard(self.path, f"/{where}"):
                    if where in self._file:
                        self._file[where].visititems(self._collect)
        except BaseException:
            self._file.close()
            raise

    def _collect(self, name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and _str_attr(obj.attrs.get("neurodata_type", "")) == "CompartmentSeries":
            self._series[name.rsplit("/", 1)[-1]] = obj

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    def __getitem__(self, name: str) -> SeriesReader:
        if name not in self._series:
            raise KeyError(f"no CompartmentSeries '{name}' in {self.path}; series: {self.series_names}")
        if name not in self._readers:
            group = self._series[name]
            table = None
            with guard(self.path, f"{group.name}/compartments"):
                if group.get("compartments", getlink=True) is not None:
                    tgroup = group.get("compartments")
                    if not isinstance(tgroup, h5py.Group):
                        raise FileFormatError(
                            self.path, "the link points to no table", dataset=f"{group.name}/compartments"
                        )
                    if tgroup.id not in self._tables:
                        self._tables[tgroup.id] = CellTable(tgroup, index="number_index", elements="number")
                    table = self._tables[tgroup.id]
            self._readers[name] = SeriesReader(group, table, path=self.path)
        return self._readers[name]

    def __contains__(self, name: str) -> bool:
        return name in self._series

    @property
    def units(self) -> CellTable | None:
        """The ``Units`` table (lazy), or None when the file has none."""
        if self._units is None:
            with guard(self.path, "/units"):
                group = self._file.get("units")
            if group is not None:
                if not isinstance(group, h5py.Group):
                    raise FileFormatError(self.path, "is not a group (a Units table)", dataset="/units")
                self._units = CellTable(group, index="spike_times_index", elements="spike_times")
        return self._units

    def spikes(self, *, population: str | None = None, node_ids: ArrayLike | None = None) -> SpikeFrame:
        """Spike times (s) from the ``units`` table, optionally of one population and / or some node ids.

        Node ids that have a Units row but no spikes give no entries; node ids without a row raise ValueError.
        """
        units = self.units
        times = None if units is None else units.element_dataset("spike_times")
        if times is None:
            return SpikeFrame(np.zeros(0, np.int64), np.zeros(0), None, np.zeros(0, np.int64))
        sel = units.select(population=population, node_ids=node_ids)
        with guard(self.path, times.name):
            if population is None and node_ids is None:
                times = times[()]
            else:
                times = take(times, sel.cols)
        return SpikeFrame(
            node_ids=ragged.repeat_per_element(sel.node_ids, sel.counts),
            times=np.asarray(times, dtype=np.float64),
            population=None if sel.population is None else ragged.repeat_per_element(sel.population, sel.counts),
            cell_ids=ragged.repeat_per_element(sel.cell_ids, sel.counts),
        )

    @property
    def attrs(self) -> dict[str, str]:
        """File-level text fields (session_description, identifier, source_script, notes, ...)."""
        out = {}
        with guard(self.path):
            for key in ("session_description", "identifier", "session_start_time"):
                if isinstance(self._file.get(key), h5py.Dataset):
                    out[key] = _str_attr(self._file[key][()])
            if isinstance(self._file.get("general"), h5py.Group):
                for key, obj in self._file["general"].items():
                    if isinstance(obj, h5py.Dataset) and obj.shape == ():
                        out[key] = _str_attr(obj[()])
        return out

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_report(path: str | os.PathLike) -> ReportReader:
    """Open an NWB file for reading its CompartmentSeries (context manager)."""
    return ReportReader(path)


def _str_attr(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _str_attr(value[()])
    return str(value)
