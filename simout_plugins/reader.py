"""h5py-level reader for CompartmentSeries files, libsonata-shaped: ``reader[series].get(node_ids, tstart, tstop)``.

Reads only the chunks a selection needs. Opens files written by this package (0.3.0), the seed layout
(table in ``acquisition``) and ndx-simulation-output 0.2.x (table under ``general/simulation``): the series'
``compartments`` link is followed wherever the table lives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np
from numpy.typing import ArrayLike

from . import ragged

__all__ = ["open_report", "ReportReader", "SeriesReader", "TraceFrame", "SpikeFrame"]


@dataclass(frozen=True)
class TraceFrame:
    """A selection of a CompartmentSeries.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_t,), seconds
    data : numpy.ndarray, shape (n_t, n_cols)
        SI units (``data * conversion``) unless read with ``scaled=False`` (then the stored values).
    node_ids : numpy.ndarray, shape (n_cols,), int64
        Node id of each column's cell.
    number : numpy.ndarray, shape (n_cols,), int64
    position : numpy.ndarray or None, shape (n_cols,), float64
    label : numpy.ndarray or None, shape (n_cols,), str
    columns : dict of str to numpy.ndarray, each shape (n_cols,)
        Other per-column values (``population``, per-cell and per-compartment extra columns).
    unit : str
        Unit of ``data`` (e.g. ``"volts"``).
    """

    times: np.ndarray
    data: np.ndarray
    node_ids: np.ndarray
    number: np.ndarray
    position: np.ndarray | None
    label: np.ndarray | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    unit: str = ""


@dataclass(frozen=True)
class SpikeFrame:
    """Spikes from the ``Units`` table: one entry per spike, ordered by unit row then time.

    Attributes
    ----------
    node_ids : numpy.ndarray, shape (n_spikes,), int64
    times : numpy.ndarray, shape (n_spikes,), seconds
    population : numpy.ndarray or None, shape (n_spikes,), str
    """

    node_ids: np.ndarray
    times: np.ndarray
    population: np.ndarray | None = None


def decode_text(values: np.ndarray) -> np.ndarray:
    """Stored HDF5 text (bytes or str) as an object array of str; other dtypes are returned unchanged."""
    values = np.asarray(values)
    if values.dtype.kind in "SO":
        return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values


class _Table:
    """Columns of one Compartments group, loaded once (they are small next to the data)."""

    def __init__(self, group: h5py.Group) -> None:
        self.name = group.name
        self.node_ids = group["id"][()].astype(np.int64)
        if "number_index" in group:
            self.offsets = ragged.nwb_index_to_offsets(group["number_index"][()])
        else:
            self.offsets = np.arange(self.node_ids.size + 1, dtype=np.int64)
        self.number = group["number"][()].astype(np.int64)
        self.position = group["position"][()].astype(np.float64) if "position" in group else None
        self.label = decode_text(group["label"][()]) if "label" in group else None
        self.per_cell: dict[str, np.ndarray] = {}
        self.per_comp: dict[str, np.ndarray] = {}
        colnames = [c.decode() if isinstance(c, bytes) else c for c in group.attrs.get("colnames", [])]
        for col in colnames:
            if col in ("number", "position", "label") or col not in group:
                continue
            values = decode_text(group[col][()])
            if f"{col}_index" in group:
                self.per_comp[col] = values
            else:
                self.per_cell[col] = values
        self.population = self.per_cell.get("population")

    def rows_for(self, node_ids: ArrayLike | None, population: str | None) -> np.ndarray:
        mask = np.ones(self.node_ids.size, dtype=bool)
        if population is not None:
            if self.population is None:
                raise ValueError(f"{self.name} has no population column; call get() without population")
            mask &= self.population.astype(str) == population
            if not mask.any():
                raise ValueError(
                    f"population '{population}' not in {self.name}; populations: "
                    f"{sorted(set(self.population.astype(str)))}"
                )
        if node_ids is None:
            return np.flatnonzero(mask)
        wanted = np.asarray(node_ids, dtype=np.int64).ravel()
        candidates = np.flatnonzero(mask)
        order = np.argsort(self.node_ids[candidates], kind="stable")
        sorted_ids = self.node_ids[candidates][order]
        pos = np.searchsorted(sorted_ids, wanted)
        found = (pos < sorted_ids.size) & (sorted_ids[np.minimum(pos, sorted_ids.size - 1)] == wanted)
        if not found.all():
            raise ValueError(f"node_ids {wanted[~found][:10].tolist()} are not in {self.name}")
        rows = candidates[order[pos]]
        if population is None and self.population is not None:
            dup = np.isin(self.node_ids, wanted).sum() > wanted.size
            if dup:
                raise ValueError(f"node_ids are ambiguous across populations in {self.name}; pass population=")
        return rows


class SeriesReader:
    """One CompartmentSeries of an open file."""

    def __init__(self, group: h5py.Group) -> None:
        self._group = group
        self.name = group.name.rsplit("/", 1)[-1]
        self._data = group["data"]
        self._table = _Table(group["compartments"]) if "compartments" in group else None
        attrs = self._data.attrs
        self.unit = _str_attr(attrs.get("unit", ""))
        self.conversion = float(attrs.get("conversion", 1.0))
        self.offset = float(attrs.get("offset", 0.0))
        self.n_steps_written = int(attrs.get("simout_steps_written", self._data.shape[0]))
        if "starting_time" in group:
            self.starting_time = float(group["starting_time"][()])
            self.rate = float(group["starting_time"].attrs["rate"])
            self._timestamps = None
        else:
            self._timestamps = group["timestamps"][()]
            self.starting_time = float(self._timestamps[0]) if self._timestamps.size else 0.0
            self.rate = float("nan")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape (n_times, n_compartments) of the stored data."""
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def node_ids(self) -> np.ndarray:
        """Node ids of the table's cells, in row order, shape (n_cells,)."""
        return self._require_table().node_ids

    @property
    def population(self) -> np.ndarray | None:
        return self._require_table().population

    @property
    def times(self) -> np.ndarray:
        """Time of every stored sample, shape (n_times,), seconds."""
        if self._timestamps is not None:
            return self._timestamps
        return self.starting_time + np.arange(self._data.shape[0]) / self.rate

    def _require_table(self) -> _Table:
        if self._table is None:
            raise ValueError(f"series '{self.name}' has no compartments link")
        return self._table

    def _steps(self, tstart: float | None, tstop: float | None) -> tuple[int, int]:
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

        Columns come cell by cell in the order of ``node_ids`` (default: table order), each cell's compartments
        in stored order. Only the chunks covering the selection are read.
        """
        if tstart is not None and tstop is not None and tstop < tstart:
            raise ValueError(f"tstop={tstop} s is before tstart={tstart} s")
        table = self._require_table()
        rows = table.rows_for(node_ids, population)
        cols = ragged.rows_to_flat(table.offsets, rows)
        i0, i1 = self._steps(tstart, tstop)
        data = self._read(i0, i1, cols)
        if scaled:
            data = data * self.conversion + self.offset if self.offset else data * self.conversion
        counts = table.offsets[rows + 1] - table.offsets[rows]
        columns = {k: ragged.repeat_per_element(v[rows], counts) for k, v in table.per_cell.items()}
        columns.update({k: v[cols] for k, v in table.per_comp.items()})
        return TraceFrame(
            times=self.times[i0:i1],
            data=data,
            node_ids=ragged.repeat_per_element(table.node_ids[rows], counts),
            number=table.number[cols],
            position=None if table.position is None else table.position[cols],
            label=None if table.label is None else table.label[cols],
            columns=columns,
            unit=self.unit if scaled else f"{self.unit} / {self.conversion:g}",
        )

    def _read(self, i0: int, i1: int, cols: np.ndarray) -> np.ndarray:
        out = np.empty((i1 - i0, cols.size), dtype=self._data.dtype)
        if cols.size == 0 or i1 == i0:
            return out
        # read each run of consecutive columns as one hyperslab; the cells of a selection are contiguous runs
        breaks = np.flatnonzero(np.diff(cols) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [cols.size]])
        if starts.size == 1:
            self._data.read_direct(out, np.s_[i0:i1, cols[0] : cols[-1] + 1])
            return out
        for a, b in zip(starts, stops):
            out[:, a:b] = self._data[i0:i1, cols[a] : cols[b - 1] + 1]
        return out


class ReportReader:
    """An open NWB file with one or more CompartmentSeries (use :func:`open_report`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file: '{self.path}'")
        self._file = h5py.File(self.path, "r")
        self._series: dict[str, h5py.Group] = {}
        for where in ("acquisition", "processing", "stimulus/presentation"):
            if where in self._file:
                self._file[where].visititems(self._collect)

    def _collect(self, name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and _str_attr(obj.attrs.get("neurodata_type", "")) == "CompartmentSeries":
            self._series[name.rsplit("/", 1)[-1]] = obj

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    def __getitem__(self, name: str) -> SeriesReader:
        if name not in self._series:
            raise KeyError(f"no CompartmentSeries '{name}' in {self.path}; series: {self.series_names}")
        return SeriesReader(self._series[name])

    def __contains__(self, name: str) -> bool:
        return name in self._series

    def spikes(self, *, node_ids: Sequence[int] | None = None) -> SpikeFrame:
        """Spike times (s) from the ``units`` table, optionally restricted to some node ids."""
        if "units" not in self._file:
            return SpikeFrame(np.zeros(0, np.int64), np.zeros(0), None)
        units = self._file["units"]
        ids = units["id"][()].astype(np.int64)
        counts = ragged.nwb_index_to_counts(units["spike_times_index"][()]) if "spike_times_index" in units else None
        times = units["spike_times"][()] if "spike_times" in units else np.zeros(0)
        if counts is None:
            counts = np.zeros(ids.size, dtype=np.int64)
        spike_ids = ragged.repeat_per_element(ids, counts)
        pops = decode_text(units["population"][()]) if "population" in units else None
        spike_pops = None if pops is None else ragged.repeat_per_element(pops, counts)
        if node_ids is not None:
            keep = np.isin(spike_ids, np.asarray(node_ids, dtype=np.int64))
            spike_ids, times = spike_ids[keep], times[keep]
            spike_pops = None if spike_pops is None else spike_pops[keep]
        return SpikeFrame(spike_ids, times, spike_pops)

    @property
    def attrs(self) -> dict[str, str]:
        """File-level text fields (session_description, identifier, source_script, notes, ...)."""
        out = {}
        for key in ("session_description", "identifier", "session_start_time"):
            if key in self._file:
                out[key] = _str_attr(self._file[key][()])
        if "general" in self._file:
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
