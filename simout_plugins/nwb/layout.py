"""CompartmentLayout: the value object saying which compartments are recorded, with validation.

A layout is the array form of a Compartments table: one row per cell, flat per-compartment columns. It is what
travels between ranks, what the writer orders, and what the builders turn into pynwb containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

from . import ragged
from .ids import DEFAULT_POPULATION, derive_cell_ids, factorize, repeated

#: How writers order the cells of a table: by (population, node id) — cells grouped by population, as BMTK's
#: populations reuse node ids — or by node id alone (NetPyNE gids are unique across populations).
CELL_ORDERS = ("population", "node_id")


@dataclass(frozen=True)
class CompartmentLayout:
    """Recorded compartments of a set of cells, in array form.

    Attributes
    ----------
    node_ids : numpy.ndarray, shape (n_cells,), int64
        Node id of each cell within its population (SONATA address; NetPyNE: the gid).
    counts : numpy.ndarray, shape (n_cells,), int64
        Number of recorded compartments of each cell (zero allowed).
    number : numpy.ndarray, shape (n_compartments,), int64
        Compartment (segment / element) id of each recorded compartment.
    position : numpy.ndarray or None, shape (n_compartments,), float64
        Position in [0, 1] along the section (0 = soma end), or None.
    label : numpy.ndarray or None, shape (n_compartments,), object (str)
        Label of each compartment (e.g. section name), or None.
    population : numpy.ndarray or None, shape (n_cells,), object (str)
        Population of each cell, or None.
    cell_columns : dict of str to numpy.ndarray, each shape (n_cells,)
        Extra per-cell columns (e.g. cell type).
    compartment_columns : dict of str to numpy.ndarray, each shape (n_compartments,)
        Extra per-compartment columns (e.g. the recording's trace key).
    cell_ids : numpy.ndarray or None, shape (n_cells,), int64
        Global cell id of each cell (the table's ``id``: BMTK / NetPyNE gid), unique; None = derived by
        :func:`simout_plugins.nwb.ids.derive_cell_ids` when written.
    """

    node_ids: np.ndarray
    counts: np.ndarray
    number: np.ndarray
    position: np.ndarray | None = None
    label: np.ndarray | None = None
    population: np.ndarray | None = None
    cell_columns: dict[str, np.ndarray] = field(default_factory=dict)
    compartment_columns: dict[str, np.ndarray] = field(default_factory=dict)
    cell_ids: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return int(self.node_ids.size)

    @property
    def n_compartments(self) -> int:
        return int(self.number.size)

    @property
    def offsets(self) -> np.ndarray:
        """CSR starts, shape (n_cells + 1,)."""
        return ragged.counts_to_offsets(self.counts)

    def sort_order(self, by: str = "population") -> np.ndarray:
        """Row permutation (n_cells,) ordering cells by (population, node_id) or, with ``by="node_id"``, node id."""
        if by not in CELL_ORDERS:
            raise ValueError(f"cell order must be one of {CELL_ORDERS}, got {by!r}")
        if self.population is None or by == "node_id":
            if _non_decreasing(self.node_ids):  # the common case (one rank, simulator order): no sort
                return np.arange(self.n_cells)
            return np.argsort(self.node_ids, kind="stable")
        return np.lexsort((self.node_ids, factorize(self.population)[1]))

    def take_rows(self, rows: ArrayLike) -> tuple[CompartmentLayout, np.ndarray]:
        """Return the layout of the given rows (in that order) and the flat compartment indices it takes.

        Returns
        -------
        layout : CompartmentLayout
        flat : numpy.ndarray, shape (new n_compartments,), int64
            Column j of the new layout is column ``flat[j]`` of this one.
        """
        rows = np.asarray(rows, dtype=np.int64)
        flat = ragged.rows_to_flat(self.offsets, rows)
        new = CompartmentLayout(
            node_ids=self.node_ids[rows],
            counts=self.counts[rows],
            number=self.number[flat],
            position=None if self.position is None else self.position[flat],
            label=None if self.label is None else self.label[flat],
            population=None if self.population is None else self.population[rows],
            cell_columns={k: v[rows] for k, v in self.cell_columns.items()},
            compartment_columns={k: v[flat] for k, v in self.compartment_columns.items()},
            cell_ids=None if self.cell_ids is None else self.cell_ids[rows],
        )
        return new, flat

    def sorted(
        self, by: str = "population", *, order: np.ndarray | None = None
    ) -> tuple[CompartmentLayout, np.ndarray | None]:
        """The layout in file order (see :meth:`sort_order`) and the column permutation (see :meth:`take_rows`).

        ``order`` is ``sort_order(by)`` when the caller has it already. The permutation is None when the rows are
        already in order; the layout is then returned as is (no copy).
        """
        order = self.sort_order(by) if order is None else order
        if _non_decreasing(order):
            return self, None
        return self.take_rows(order)


def with_addresses(layout: CompartmentLayout, *, offsets: Mapping[str, int] | None = None) -> CompartmentLayout:
    """The layout with global ``cell_ids``: given ones are kept, others derived.

    Derived ids follow :func:`simout_plugins.nwb.ids.derive_cell_ids` with ``offsets`` (default: from this layout's
    cells); cells without a population count as population ``"default"`` (which is not stored).
    """
    if layout.cell_ids is not None:
        return layout
    if layout.population is None:  # all in population "default"
        offset = 0 if offsets is None else offsets.get(DEFAULT_POPULATION)
        if offset is None:
            raise ValueError(f"no id offset for population '{DEFAULT_POPULATION}'")
        return replace(layout, cell_ids=layout.node_ids + offset if offset else layout.node_ids)
    ids = derive_cell_ids(population=layout.population, node_ids=layout.node_ids, offsets=offsets)
    return replace(layout, cell_ids=ids)


def concat_layouts(layouts: Sequence[CompartmentLayout], *, what: str = "compartments") -> CompartmentLayout:
    """Concatenate layouts (e.g. one per MPI rank, rank-major); they must carry the same optional columns.

    Uniqueness of the result is the caller's check (:func:`check_unique`), made once in the order it writes.
    """
    if not layouts:
        raise ValueError(f"{what}: no layouts to concatenate")
    if len(layouts) == 1:
        return layouts[0]
    first = layouts[0]
    for i, lay in enumerate(layouts[1:], start=1):
        for attr in ("position", "label", "population", "cell_ids"):
            if (getattr(lay, attr) is None) != (getattr(first, attr) is None):
                raise ValueError(
                    f"{what}: rank {i} {'has' if getattr(lay, attr) is not None else 'lacks'} the '{attr}' column "
                    f"but rank 0 {'has' if getattr(first, attr) is not None else 'lacks'} it; every rank must pass "
                    "the same columns"
                )
        for attr in ("cell_columns", "compartment_columns"):
            if set(getattr(lay, attr)) != set(getattr(first, attr)):
                raise ValueError(
                    f"{what}: rank {i} has {attr} {sorted(getattr(lay, attr))} but rank 0 has "
                    f"{sorted(getattr(first, attr))}; every rank must pass the same columns"
                )

    def cat(attr):
        if getattr(first, attr) is None:
            return None
        return np.concatenate([getattr(lay, attr) for lay in layouts])

    out = CompartmentLayout(
        node_ids=cat("node_ids"),
        counts=cat("counts"),
        number=cat("number"),
        position=cat("position"),
        label=cat("label"),
        population=cat("population"),
        cell_columns={k: concat_parts([lay.cell_columns[k] for lay in layouts]) for k in first.cell_columns},
        compartment_columns={
            k: concat_parts([lay.compartment_columns[k] for lay in layouts]) for k in first.compartment_columns
        },
        cell_ids=cat("cell_ids"),
    )
    return out


def concat_parts(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate ranks' pieces of one column; empty pieces do not decide the dtype.

    A rank with no cells passes ``[]`` for an extra column, which numpy makes float64: concatenated as is, it would
    turn every rank's integers (or text) into float64, and the file's dtype would depend on the rank split.
    """
    full = [p for p in parts if p.size]
    return np.concatenate(full) if full else np.concatenate(parts)


def check_unique(
    layout: CompartmentLayout, *, what: str = "compartments", by: str = "population", order: np.ndarray | None = None
) -> None:
    """Raise ValueError naming duplicates: a repeated (population, node_id) pair, or node id with by="node_id".

    ``order`` is ``layout.sort_order(by)`` when the caller has it already (duplicates are adjacent in it).
    """
    if layout.n_cells < 2:
        return
    order = layout.sort_order(by) if order is None else order
    ids = layout.node_ids[order]
    same = ids[1:] == ids[:-1]
    if layout.population is not None and by == "population":
        codes = factorize(layout.population)[1][order]
        same &= codes[1:] == codes[:-1]
    if same.any():
        dup = np.unique(ids[1:][same])[:10]
        raise ValueError(
            f"{what}: duplicate node_ids {dup.tolist()}; every cell must appear once"
            + (" per population" if layout.population is not None and by == "population" else "")
            + " (under MPI: each rank passes only the cells it owns)"
        )
    dup = [] if layout.cell_ids is None else repeated(layout.cell_ids)
    if dup:
        raise ValueError(f"{what}: duplicate cell_ids {dup}; global cell ids must be unique")


def make_layout(
    *,
    node_ids: ArrayLike,
    counts: ArrayLike,
    number: ArrayLike,
    position: ArrayLike | None = None,
    label: ArrayLike | None = None,
    population: str | ArrayLike | None = None,
    cell_columns: Mapping[str, ArrayLike] | None = None,
    compartment_columns: Mapping[str, ArrayLike] | None = None,
    cell_ids: ArrayLike | None = None,
    what: str = "build_compartments",
) -> CompartmentLayout:
    """Validate user arrays and return a :class:`CompartmentLayout` (see its attributes for shapes and units).

    Raises
    ------
    ValueError
        Lengths that do not add up, negative counts, duplicate node ids, non-integer ``number``, bad positions.
    """
    node_ids_a = _as_int_array(node_ids, name="node_ids", what=what)
    counts_a = _as_int_array(counts, name="counts", what=what)
    if node_ids_a.ndim != 1 or counts_a.ndim != 1:
        raise ValueError(f"{what}: node_ids and counts must be 1-D, got shapes {node_ids_a.shape}, {counts_a.shape}")
    if node_ids_a.size != counts_a.size:
        raise ValueError(
            f"{what}: node_ids has {node_ids_a.size} entries but counts has {counts_a.size}; give one count per cell"
        )
    if (counts_a < 0).any():
        bad = np.flatnonzero(counts_a < 0)[:5]
        raise ValueError(
            f"{what}: negative counts {counts_a[bad].tolist()} for node_ids {node_ids_a[bad].tolist()}; "
            "counts must be >= 0"
        )
    n_comp = int(counts_a.sum())
    number_a = _as_int_array(number, name="number", what=what)
    _check_len(number_a, n_comp, "number", what)
    position_a = None
    if position is not None:
        position_a = np.asarray(position, dtype=np.float64)
        _check_len(position_a, n_comp, "position", what)
        # fmin/fmax skip NaN without a masked copy (NaN marks "no position", as in the seed example)
        lo = np.fmin.reduce(position_a) if position_a.size else np.nan
        hi = np.fmax.reduce(position_a) if position_a.size else np.nan
        if lo < 0 or hi > 1 or np.isinf(lo) or np.isinf(hi):
            raise ValueError(
                f"{what}: position values must lie in [0, 1] (0 = soma end) or be NaN; got min {lo}, max {hi}"
            )
    label_a = None
    if label is not None:
        label_a = np.asarray(label, dtype=object)
        _check_len(label_a, n_comp, "label", what)
    population_a = None
    if population is not None:
        if isinstance(population, str):
            population_a = np.full(node_ids_a.size, population, dtype=object)
        else:
            population_a = np.asarray(population, dtype=object)
            _check_len(population_a, node_ids_a.size, "population", what, per="cell")
    cells = {}
    for key, values in (cell_columns or {}).items():
        cells[key] = np.asarray(values)
        _check_len(cells[key], node_ids_a.size, f"cell_columns['{key}']", what, per="cell")
    comps = {}
    for key, values in (compartment_columns or {}).items():
        comps[key] = np.asarray(values)
        _check_len(comps[key], n_comp, f"compartment_columns['{key}']", what)
    cell_ids_a = None
    if cell_ids is not None:
        cell_ids_a = _as_int_array(cell_ids, name="cell_ids", what=what)
        _check_len(cell_ids_a, node_ids_a.size, "cell_ids", what, per="cell")
    reserved = {"number", "position", "label", "population", "id", "node_id"}
    clash = reserved & (set(cells) | set(comps))
    if clash or set(cells) & set(comps):
        raise ValueError(f"{what}: extra column names {sorted(clash or set(cells) & set(comps))} are taken")
    layout = CompartmentLayout(
        node_ids=node_ids_a,
        counts=counts_a,
        number=number_a,
        position=position_a,
        label=label_a,
        population=population_a,
        cell_columns=cells,
        compartment_columns=comps,
        cell_ids=cell_ids_a,
    )
    check_unique(layout, what=what)
    return layout


def _as_int_array(values: ArrayLike, *, name: str, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return arr.astype(np.int64).reshape(arr.shape)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    bad = arr.ravel()[:5].tolist()
    raise ValueError(f"{what}: {name} must hold integers, got dtype {arr.dtype} (first values {bad})")


def _check_len(arr: np.ndarray, expected: int, name: str, what: str, *, per: str = "compartment") -> None:
    if arr.ndim != 1 or arr.size != expected:
        basis = "sum(counts)" if per == "compartment" else "len(node_ids)"
        raise ValueError(f"{what}: {name} has shape {arr.shape} but {basis} is {expected}; give one value per {per}")


def _non_decreasing(values: np.ndarray) -> bool:
    return bool(values.size < 2 or np.all(values[1:] >= values[:-1]))
