"""One CompartmentSeries of an open file (:class:`SeriesReader`, what ``open_report(path)[name]`` returns): its
metadata checked on open, its time base, and ``get`` / ``read`` of a selection reading only the chunks it needs.
"""

from __future__ import annotations

import warnings
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb import ragged
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.columns import as_text
from ..nwb.compression import PRECISION_ATTR
from ..nwb.window import sample_range
from .chunkfetch import read_chunked
from .frames import TraceFrame
from .smallread import read_small
from .tables import COMPARTMENT_COLUMNS, CellTable, Selection, take, take_columns
from .validate import NUMERIC, check_length, check_plausible, guard, need_dataset, number_attr, steps_attr

__all__ = ["SeriesReader"]


class SeriesReader:
    """One CompartmentSeries of an open file (use ``open_report(path)[name]``)."""

    def __init__(self, group: h5py.Group, table: CellTable | None, *, path: str, remote: Any = None) -> None:
        self._group = group
        self._path = path
        self._remote = remote  # the fsspec file object of a URL (see read.chunkfetch), else None
        self.name = group.name.rsplit("/", 1)[-1]
        self._data = need_dataset(path, group, "data", ndim=2, kinds=NUMERIC, what="(time, compartment)")
        self._table = table
        with guard(path, self._data.name):
            n_t, n_c = self._data.shape
            attrs = self._data.attrs
            self.unit = as_text(attrs.get("unit", ""))
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
        with guard(self._path, self._data.name):
            return self._data.chunks

    @property
    def storage(self) -> dict[str, object]:
        """How the data is stored: ``compression`` (HDF5 filter name, e.g. ``"gzip"``, or None), ``level``,
        ``shuffle``, and ``precision`` (decimal digits in the recorded unit of integer-count data, else None)."""
        with guard(self._path, self._data.name):
            d = self._data
            precision = d.attrs.get(PRECISION_ATTR)
            return {"compression": d.compression, "level": d.compression_opts, "shuffle": bool(d.shuffle),
                    "precision": None if precision is None else int(precision)}  # fmt: skip

    @property
    def description(self) -> str:
        with guard(self._path, self._group.name):
            return as_text(self._group.attrs.get("description", ""))

    @property
    def comments(self) -> str:
        with guard(self._path, self._group.name):
            return as_text(self._group.attrs.get("comments", ""))

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
        """Sample range ``[i0, i1)`` of the written samples within [tstart, tstop] (s, inclusive; the rule of
        :func:`simout_plugins.nwb.window.sample_range`)."""
        return sample_range(
            n_samples=min(self._data.shape[0], self.n_steps_written),
            tstart=tstart,
            tstop=tstop,
            starting_time=self.starting_time,
            rate=None if self._timestamps is not None else self.rate,
            timestamps=self._timestamps,
        )

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

    def read(
        self, i0: int, i1: int, cols: ArrayLike | None = None, *, scaled: bool | None = None, step: int = 1
    ) -> np.ndarray:
        """Samples ``i0, i0 + step, ... < i1`` of the given data columns (all when None), shape
        (len(range(i0, i1, step)), n_cols).

        ``scaled=True``: SI units (``data * conversion + offset``, e.g. volts), as :meth:`get`; ``scaled=False``: the
        stored values (e.g. mV with ``conversion=1e-3``). Not given: the stored values with a DeprecationWarning
        (the default becomes ``True``, as in :meth:`get` and the plot loaders, in the next release).
        """
        if scaled is None:
            warnings.warn(
                "SeriesReader.read() without scaled= returns the stored values; its default becomes scaled=True "
                "(SI units, as get()) in the next release: pass scaled=False to keep the stored values",
                DeprecationWarning,
                stacklevel=2,
            )
            scaled = False
        with guard(self._path, self._data.name):
            data = None
            if self._remote is not None:  # a URL: the chunks at once, one request per run of adjacent chunks
                every = np.arange(self._data.shape[1]) if cols is None else np.asarray(cols)
                data = read_chunked(self._data, self._remote, i0, i1, every, step=step)
            if data is None and cols is not None:  # a few samples of a local file: only their bytes
                data = read_small(self._data, i0, i1, np.asarray(cols), step=step)
            if data is None and cols is None:
                data = self._data[i0:i1:step, :] if step > 1 else self._data[i0:i1, :]
            elif data is None:
                data = take_columns(self._data, i0, i1, cols, step=step)
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
        tstride: int = 1,
    ) -> TraceFrame:
        """Read the selected cells over a time window; only the chunks covering the selection are read.

        Cells are selected by address: ``population`` and/or ``node_ids`` (node ids must be unambiguous without
        ``population``). Columns come cell by cell in the order of ``node_ids`` (default: table order), each
        cell's compartments in stored order.

        Parameters
        ----------
        node_ids : array-like of int, shape (n_sel,), optional
            Cells (node ids within ``population``); default every cell of the table (of ``population``).
        tstart, tstop : float, optional
            Window in seconds, both inclusive (see :func:`simout_plugins.nwb.window.sample_range`); None: from the
            first / to the last written sample.
        scaled : bool
            True (default): data in SI units (``data * conversion + offset``, e.g. volts); False: as stored.
        population : str, optional
            Population of ``node_ids``.
        tstride : int
            Every ``tstride``-th sample of the window, from its first (as libsonata's ``tstride``); HDF5 reads only
            the chunks that hold one of them.

        Returns
        -------
        TraceFrame
            ``times`` (n_t,) in s, ``data`` (n_t, n_cols) and the per-column address and compartment columns.

        Raises
        ------
        ValueError
            ``tstop < tstart``; :class:`TableError` for unknown or ambiguous cells.
        """
        if isinstance(tstride, bool) or not isinstance(tstride, int | np.integer) or tstride < 1:
            raise ValueError(f"tstride must be a positive whole number of samples, got {tstride!r}")
        i0, i1 = self.steps(tstart, tstop)
        sel = self.select(population=population, node_ids=node_ids)
        data = self.read(i0, i1, sel.cols, scaled=scaled, step=int(tstride))
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
            self._timestamps[i0:i1:tstride]
            if self._timestamps is not None
            else self.starting_time + np.arange(i0, i1, tstride) / self.rate
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

    def to_dask(self, *, scaled: bool = True):
        """The whole series (its written steps) as a lazy ``dask.array``, shape (n_steps_written, n_compartments),
        chunked as on disk; nothing is read until it is computed. ``scaled`` as in :meth:`get`. Needs the
        ``analysis`` extra (dask); see :func:`simout_plugins.read.views.series_to_dask`."""
        from .views import series_to_dask

        return series_to_dask(self, self._data, scaled=scaled)
