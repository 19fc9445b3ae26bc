"""Lazy, h5py-level access to one cell table of a file (a Compartments table or ``Units``).

Nothing is read until asked for, and then only once per file. In tables the writer marked as ordered
(``simout_row_order``), a selection of a few cells reads a few small windows of the columns (see
:mod:`simout_plugins.read.rowsearch`): the population runs, then each cell's row, id and index entries, so the
reads per cell do not grow with the number of rows. Otherwise ids and node ids (integers) are read whole and
populations decoded once. Per-compartment columns (``number``, ``position``, ``label``, ...) are read only at the
selected columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError, SimoutError
from ..nwb import ragged
from ..nwb.attrs import ROW_ORDER_ATTR
from ..nwb.columns import as_text, decode_text, take, take_columns
from ..nwb.ids import DEFAULT_POPULATION
from .rowsearch import SortedColumn, direct
from .rowsearch import population_runs as find_runs
from .validate import INTEGER, NUMERIC, TEXT, check_bounds, check_length, check_offsets, check_table, guard
from .validate import need_dataset as _need

__all__ = ["CellTable", "Selection", "TableError", "decode_text", "take", "take_columns"]

#: Columns with a meaning of their own; every other column of a table is an "extra" column.
ADDRESS_COLUMNS = ("population", "node_id")
COMPARTMENT_COLUMNS = ("number", "position", "label")


#: Dtype kinds of the per-element columns with a meaning (validate.NUMERIC, TEXT).
_ELEMENT_KINDS = {"number": INTEGER, "position": NUMERIC, "label": TEXT, "spike_times": NUMERIC}

#: Up to this many rows, a selection reads column values at its rows only instead of loading whole columns.
_FEW = 256


def _rows_in(ranges: list[tuple[int, int]] | np.ndarray) -> np.ndarray:
    if isinstance(ranges, np.ndarray):
        return ranges
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges] or [np.zeros(0, np.int64)])


class TableError(SimoutError, ValueError):
    """A selection a table cannot satisfy (unknown population or node id, ambiguous node ids); names the file."""


@dataclass(frozen=True)
class Selection:
    """Rows of a table and their flat (ragged) element indices.

    Attributes
    ----------
    rows : numpy.ndarray, shape (n_sel,), int64
        Selected rows, in selection order.
    counts : numpy.ndarray, shape (n_sel,), int64
        Elements (compartments / spikes) of each selected row.
    cols : numpy.ndarray, shape (counts.sum(),), int64
        Flat element indices of the rows, row after row (data columns of a series).
    cell_ids, node_ids : numpy.ndarray, shape (n_sel,), int64
    population : numpy.ndarray or None, shape (n_sel,), object (str)
    """

    rows: np.ndarray
    counts: np.ndarray
    cols: np.ndarray
    cell_ids: np.ndarray
    node_ids: np.ndarray
    population: np.ndarray | None


class CellTable:
    """One row per cell: ``id`` (global cell id), ``population``, ``node_id`` and ragged element columns.

    Parameters
    ----------
    group : h5py.Group
        The table's group (Compartments or Units).
    index : str
        Name of the VectorIndex that makes rows ragged (``"number_index"`` or ``"spike_times_index"``); a table
        without it has one element per row.
    elements : str, optional
        Name of the column ``index`` points into (``"number"``, ``"spike_times"``): its length is the number of
        elements.

    Raises
    ------
    FileFormatError
        Missing ``id``, columns of the wrong rank, dtype or length, an index whose last entry is not the number of
        elements (checked from metadata and one index entry; the whole index is checked when it is read whole).
    """

    def __init__(self, group: h5py.Group, *, index: str, elements: str | None = None) -> None:
        self.group = group
        self.name = group.name
        self.path = group.file.filename
        self._index = index
        self._cache: dict[str, np.ndarray] = {}
        self._runs: list[tuple[str, int, int]] | None = None
        self._codes: np.ndarray | None = None
        self._names: list[str] | None = None
        self._datasets: dict[str, h5py.Dataset | None] = {}
        self._checked: set[tuple[str, str]] = set()
        self._extra: tuple[list[str], list[str]] | None = None
        self._sorted: dict[str, SortedColumn] = {}
        self._order: str | None = None
        with guard(self.path, self.name):
            colnames = group.attrs.get("colnames", [])
            self.colnames = [str(c) for c in decode_text(np.atleast_1d(colnames))]
        self._n_rows, self.n_elements = check_table(self.path, group, self.colnames, index=index, elements=elements)

    def _where(self) -> str:
        return f"{self.name} of '{self.path}'"

    def dataset(self, name: str) -> h5py.Dataset | None:
        """The table's dataset ``name`` (handle kept: h5py lookups cost ~30 us each), or None when absent."""
        if name not in self._datasets:
            with guard(self.path, f"{self.name}/{name}"):
                self._datasets[name] = direct(self.group, name) if name in self.group else None
        return self._datasets[name]

    def element_dataset(self, name: str) -> h5py.Dataset | None:
        """A per-element column (``number``, ``position``, ``label``, ``spike_times``, ...), checked: 1-D, one entry
        per element, numbers / text where the schema says so; None when absent."""
        ds = self.dataset(name)
        if ds is not None and ("element", name) not in self._checked:
            kinds = _ELEMENT_KINDS.get(name)
            check_length(self.path, _need(self.path, self.group, name, ndim=1, kinds=kinds), self.n_elements,
                         of="elements:")  # fmt: skip
            self._checked.add(("element", name))
        return ds

    def row_dataset(self, name: str) -> h5py.Dataset | None:
        """A per-row column, checked: 1-D, one entry per row; None when absent."""
        ds = self.dataset(name)
        if ds is not None and ("row", name) not in self._checked:
            check_length(self.path, _need(self.path, self.group, name, ndim=1), self._n_rows, of="rows (id):")
            self._checked.add(("row", name))
        return ds

    # ------------------------------------------------------------------ per-row arrays
    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def cell_ids(self) -> np.ndarray:
        """Global cell id of every row (the table's ``id``), shape (n_rows,), int64."""
        return self._load("id")

    @property
    def node_ids(self) -> np.ndarray:
        """Node id of every row (``node_id`` column; ``id`` in files written before it existed), shape (n_rows,)."""
        return self._load("node_id") if "node_id" in self.group else self.cell_ids

    @property
    def has_population(self) -> bool:
        return self.dataset("population") is not None

    @property
    def populations(self) -> list[str]:
        """Population names, sorted (``["default"]`` when the table has no population column)."""
        if not self.has_population:
            return [DEFAULT_POPULATION]
        runs = self.population_runs()
        if runs is not None:
            return sorted(name for name, _, _ in runs)
        self._population_codes()
        return sorted(self._names)

    @property
    def population(self) -> np.ndarray | None:
        """Population of every row, shape (n_rows,), object (str); None without a population column."""
        if not self.has_population:
            return None
        codes = self._population_codes()
        return np.asarray(self._names, dtype=object)[codes]

    @property
    def offsets(self) -> np.ndarray:
        """CSR starts of the rows' elements, shape (n_rows + 1,), int64."""
        if "offsets" not in self._cache:
            index = self.dataset(self._index)
            if index is not None:
                with guard(self.path, index.name):
                    offsets = ragged.nwb_index_to_offsets(index[()])
                check_offsets(self.path, offsets, n_rows=self.n_rows, n_elements=self.n_elements, dataset=index.name)
                self._cache["offsets"] = offsets
            else:
                self._cache["offsets"] = np.arange(self.n_rows + 1, dtype=np.int64)
        return self._cache["offsets"]

    def _load(self, column: str) -> np.ndarray:
        if column not in self._cache:
            with guard(self.path, f"{self.name}/{column}"):
                self._cache[column] = self.dataset(column)[()].astype(np.int64)
        return self._cache[column]

    def _population_codes(self) -> np.ndarray:
        if self._codes is not None:
            return self._codes
        n = self.n_rows
        runs = self.population_runs()
        if runs is not None:
            names = sorted({name for name, _, _ in runs})
            code_of = {name: i for i, name in enumerate(names)}
            codes = np.empty(n, dtype=np.int32)
            for name, a, b in runs:
                codes[a:b] = code_of[name]
        else:
            with guard(self.path, f"{self.name}/population"):
                values = self.dataset("population")[()]
                uniq, codes = np.unique(values, return_inverse=True)
                names = decode_text(uniq).tolist()
            codes = codes.astype(np.int32).ravel()
        self._names, self._codes = names, codes
        return codes

    def _row_order(self) -> str:
        if self._order is None:
            with guard(self.path, self.name):
                self._order = as_text(self.group.attrs.get(ROW_ORDER_ATTR, ""))
        return self._order

    def _sorted_column(self, name: str) -> SortedColumn:
        if name not in self._sorted:
            self._sorted[name] = SortedColumn(self.dataset(name))
        return self._sorted[name]

    def population_runs(self) -> list[tuple[str, int, int]] | None:
        """``[(population, start_row, stop_row), ...]`` when the rows are grouped by population, else None.

        Only tables marked ``simout_row_order = "population"`` by the writer are read this way: a few
        single-element reads per population (see :func:`simout_plugins.read.rowsearch.population_runs`).
        """
        if self._runs is not None:
            return self._runs
        if self._row_order() != "population" or not self.has_population:
            return None
        ds = self.dataset("population")
        names: dict[int, str] = {}

        def at(i: int) -> str:
            if i not in names:
                names[i] = as_text(ds[i])
            return names[i]

        nodes = self._sorted_column("node_id").value if self.dataset("node_id") is not None else None
        with guard(self.path, ds.name):
            runs = find_runs(self.n_rows, at, nodes)
        if len({name for name, _, _ in runs}) != len(runs):
            raise FileFormatError(
                self.path, f"rows are marked as grouped by population ({ROW_ORDER_ATTR}) but a population comes back "
                f"after another one: {[name for name, _, _ in runs][:10]}", dataset=ds.name,
            )  # fmt: skip
        self._runs = runs
        return runs

    # ------------------------------------------------------------------ selection
    def select(self, *, population: str | None = None, node_ids: ArrayLike | None = None) -> Selection:
        """Rows by simulator address: a population, node ids (within it), or both; None = all.

        Rows come in the order of ``node_ids`` when given, else in table order. In tables whose rows are ordered
        by (population, node id) or by node id, a few node ids are found in small windows of the node id column
        (interpolation, then bisection), so a selection in a big file reads kilobytes, not whole columns.

        Raises
        ------
        TableError
            Unknown population or node id; node ids present in several populations with ``population=None``.
        """
        wanted = None if node_ids is None else np.asarray(node_ids, dtype=np.int64).ravel()
        with guard(self.path, self.name):
            return self._select(population, wanted)

    def _select(self, population: str | None, node_ids: np.ndarray | None) -> Selection:
        ranges = self._candidate_ranges(population)
        if node_ids is None:
            rows = _rows_in(ranges)
            nodes = None
        else:
            wanted = np.asarray(node_ids, dtype=np.int64).ravel()
            rows = self._rows_of_nodes(wanted, ranges, population)
            nodes = wanted
        starts, stops = self._row_bounds(rows)
        counts = stops - starts
        pops = None
        if self.has_population and self._runs is not None:  # the population of each row from the runs
            first = np.array([a for _, a, _ in self._runs], dtype=np.int64)
            names = np.array([name for name, _, _ in self._runs] or [""], dtype=object)
            pops = names[np.searchsorted(first, rows, side="right") - 1] if rows.size else names[:0]
        elif self.has_population:
            codes = self._population_codes()
            pops = np.asarray(self._names, dtype=object)[codes[rows]]
        return Selection(
            rows=rows,
            counts=counts,
            cols=ragged.runs_to_flat(starts, counts),
            cell_ids=self._at("id", rows),
            node_ids=nodes if nodes is not None else self._at("node_id" if self.dataset("node_id") else "id", rows),
            population=pops,
        )

    def _at(self, column: str, rows: np.ndarray) -> np.ndarray:
        """Integer column values at rows: from the cache, or read at those rows only when few."""
        if column in self._cache or rows.size > _FEW:
            return self._load(column)[rows]
        return take(self.dataset(column), rows).astype(np.int64)

    def _row_bounds(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and past-the-end element of each row, each shape (n_sel,)."""
        if "offsets" in self._cache or rows.size > _FEW or self.dataset(self._index) is None:
            offsets = self.offsets
            return offsets[rows], offsets[rows + 1]
        index = self.dataset(self._index)
        both = take(index, np.concatenate([rows, np.maximum(rows - 1, 0)])).astype(np.int64)
        starts, stops = np.where(rows > 0, both[rows.size :], 0), both[: rows.size]
        check_bounds(self.path, starts, stops, n_elements=self.n_elements, dataset=index.name)
        return starts, stops

    def _candidate_ranges(self, population: str | None) -> list[tuple[int, int]] | np.ndarray:
        """Rows to search: ranges [a, b) (a population is one range in population-ordered tables), or rows."""
        runs = self.population_runs() if self.has_population else None
        if population is None:
            if runs is not None:
                return [(a, b) for _, a, b in runs]
            return [(0, self.n_rows)]
        if not self.has_population:
            if population == DEFAULT_POPULATION:  # cells written without a population
                return [(0, self.n_rows)]
            raise TableError(
                f"population '{population}' is not in {self._where()} (it has no population column: every cell is "
                f"in population '{DEFAULT_POPULATION}')"
            )
        if runs is not None:
            if population not in {name for name, _, _ in runs}:
                raise TableError(f"population '{population}' is not in {self._where()}; populations: "
                                 f"{self.populations}")  # fmt: skip
            return [(a, b) for name, a, b in runs if name == population]
        codes = self._population_codes()
        if population not in self._names:
            raise TableError(f"population '{population}' is not in {self._where()}; populations: {self.populations}")
        return np.flatnonzero(codes == self._names.index(population)).astype(np.int64)

    def _rows_of_nodes(
        self, wanted: np.ndarray, ranges: list[tuple[int, int]] | np.ndarray, population: str | None
    ) -> np.ndarray:
        # node ids ascend within each range: in each population's rows (population order), or over the table
        # (node id order, no population column: node ids are the cells' addresses)
        ordered = self._runs is not None or (self._row_order() == "node_id" and not self.has_population)
        if ordered and isinstance(ranges, list) and wanted.size <= _FEW and "node_id" not in self._cache:
            column = self._sorted_column("node_id" if self.dataset("node_id") is not None else "id")
            hits = []
            for a, b in ranges:
                found = np.array([column.find(int(k), a, b) for k in wanted.tolist()], dtype=np.int64)
                hits.append((found[:, 0], found[:, 1]) if found.size else (found, found))
        else:
            cand = _rows_in(ranges)
            nodes = self.node_ids[cand]
            order = np.argsort(nodes, kind="stable")
            srt = nodes[order]
            lo = np.searchsorted(srt, wanted, side="left")
            hi = np.searchsorted(srt, wanted, side="right")
            hits = [(np.where(hi > lo, cand[order[np.minimum(lo, max(srt.size - 1, 0))]], -1), hi - lo)]
        found = np.zeros(wanted.size, dtype=np.int64)
        rows = np.full(wanted.size, -1, dtype=np.int64)
        for row, n in hits:
            found += n
            rows = np.where(n > 0, row, rows)
        if (found == 0).any():
            where = self._where() if population is None else f"population '{population}' of {self._where()}"
            raise TableError(f"node_ids {wanted[found == 0][:10].tolist()} are not in {where}")
        if (found > 1).any():
            amb = wanted[found > 1][:10].tolist()
            raise TableError(
                f"node_ids {amb} are in several populations of {self._where()} ({self.populations}); pass population="
            )
        return rows

    def extra_columns(self) -> tuple[list[str], list[str]]:
        """Names of the extra per-row and per-element columns (not id, address or compartment columns)."""
        if self._extra is not None:
            return self._extra
        per_row, per_elem = [], []
        for col in self.colnames:
            if col in ADDRESS_COLUMNS or col in COMPARTMENT_COLUMNS or self.dataset(col) is None:
                continue
            if col.endswith("_index") or col in ("spike_times", "obs_intervals", "electrodes", "waveforms"):
                continue
            (per_elem if self.dataset(f"{col}_index") is not None else per_row).append(col)
        self._extra = (per_row, per_elem)
        return self._extra
