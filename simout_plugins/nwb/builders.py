"""Whole-column construction of Compartments tables (never per-row ``add_row``) and their inverse."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
from numpy.typing import ArrayLike

from . import ragged
from .columns import decode_text
from .ids import derive_cell_ids
from .layout import CompartmentLayout, make_layout
from .schema import Compartments

_DOCS = {
    "number": "Compartment (segment / element) id of each recorded compartment, in data column order.",
    "position": "Position of the recording along its section: 0 is the end closest to the soma, 1 the far end.",
    "label": "Label of each recorded compartment (the section name).",
    "population": "Population (cell group) of each cell.",
    "node_id": "Node id of each cell within its population (the simulator's address, as in SONATA).",
}


def build_compartments(
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
    name: str = "compartments",
    description: str = "Recorded compartments: one row per cell, one entry per data column.",
) -> Compartments:
    """Build a Compartments table column by column.

    Parameters
    ----------
    node_ids : array-like of int, shape (n_cells,)
        Node id of each cell within its population (column ``node_id``); unique per population.
    counts : array-like of int, shape (n_cells,)
        Number of recorded compartments of each cell; zero is allowed.
    number : array-like of int, shape (sum(counts),)
        Compartment id (segment index / SONATA element id) of each recorded compartment.
    position : array-like of float, shape (sum(counts),), optional
        Position along the section in [0, 1] (dimensionless; 0 = soma end).
    label : array-like of str, shape (sum(counts),), optional
        Label of each compartment, e.g. the section name ``"dend[3]"``.
    population : str or array-like of str, shape (n_cells,), optional
        Population of each cell (one string for all). Stored as the per-cell column ``population``.
    cell_columns : dict of str to array-like, each shape (n_cells,), optional
        Extra per-cell columns (e.g. ``{"cell_type": [...]}``).
    compartment_columns : dict of str to array-like, each shape (sum(counts),), optional
        Extra per-compartment (ragged) columns (e.g. ``{"trace_key": [...]}``).
    cell_ids : array-like of int, shape (n_cells,), optional
        Global cell id of each cell (the table's ``id``, e.g. the simulator's gid); unique. Default:
        ``offset[population] + node_id`` (see :mod:`simout_plugins.nwb.ids`; equal to ``node_ids`` with one
        population).
    name, description : str
        Name and description of the table.

    Returns
    -------
    Compartments
        Rows in the order given. Writers store cells ordered by (population, node_id).

    Raises
    ------
    ValueError
        Lengths that do not add up, negative counts, duplicate node ids, non-integer ``number``.
    """
    layout = make_layout(
        node_ids=node_ids,
        counts=counts,
        number=number,
        position=position,
        label=label,
        population=population,
        cell_columns=cell_columns,
        compartment_columns=compartment_columns,
        cell_ids=cell_ids,
    )
    return compartments_from_layout(layout, name=name, description=description)


# Layouts validated by build_compartments, keyed by id() of the container they built (containers are unhashable):
# the writer reuses them instead of reading the columns back and validating again. The entry goes with the
# container (weakref.finalize), and the stored weak reference guards against a reused id().
_BUILT: dict[int, tuple[weakref.ref, CompartmentLayout, int, int]] = {}


def compartments_from_layout(
    layout: CompartmentLayout,
    *,
    name: str = "compartments",
    description: str = "Recorded compartments: one row per cell, one entry per data column.",
    column_io: Callable[[str, np.ndarray], Any] | None = None,
) -> Compartments:
    """Turn a :class:`CompartmentLayout` into a Compartments container (whole columns, no copies of big arrays).

    ``column_io(dataset_name, array)`` (writers only) may replace each column's data, e.g. by an empty
    ``H5DataIO`` that the writer fills with h5py after pynwb has written the structure
    (:class:`simout_plugins.write.skeleton.DeferredColumns`).
    """
    nwb_index = ragged.counts_to_nwb_index(layout.counts)
    # hdmf stores VectorIndex as the smallest uint that fits; give it that dtype up front (no rescan later)
    nwb_index = nwb_index.astype(ragged.smallest_uint(int(nwb_index[-1]) if nwb_index.size else 0))
    columns: list = []

    def io(dataset: str, data: np.ndarray):
        return data if column_io is None else column_io(dataset, data)

    def ragged_column(col_name: str, data: np.ndarray, doc: str) -> None:
        target = VectorData(name=col_name, description=doc, data=io(col_name, data))
        index = f"{col_name}_index"
        columns.extend([target, VectorIndex(name=index, data=io(index, nwb_index), target=target)])

    ragged_column("number", layout.number, _DOCS["number"])
    if layout.position is not None:
        ragged_column("position", layout.position, _DOCS["position"])
    if layout.label is not None:
        ragged_column("label", _as_text(layout.label), _DOCS["label"])
    if layout.population is not None:
        columns.append(
            VectorData(
                name="population", description=_DOCS["population"], data=io("population", _as_text(layout.population))
            )
        )
    columns.append(VectorData(name="node_id", description=_DOCS["node_id"], data=io("node_id", layout.node_ids)))
    for key, values in layout.cell_columns.items():
        columns.append(VectorData(name=key, description=f"Per-cell column '{key}'.", data=io(key, _as_column(values))))
    for key, values in layout.compartment_columns.items():
        ragged_column(key, _as_column(values), f"Per-compartment column '{key}'.")
    table = Compartments(
        name=name,
        description=description,
        id=ElementIdentifiers(name="id", data=io("id", _cell_ids(layout))),
        columns=columns,
    )
    _BUILT[id(table)] = (weakref.ref(table), layout, layout.n_cells, layout.n_compartments)
    weakref.finalize(table, _BUILT.pop, id(table), None)
    return table


def layout_from_compartments(table: Compartments) -> CompartmentLayout:
    """Read a Compartments container (in memory or from a file) back into a :class:`CompartmentLayout`."""
    built = _BUILT.get(id(table))
    if built is not None and built[0]() is table:
        _, layout, n_cells, n_comp = built
        # still the table that was built (rows may have been added with add_row since)
        if len(table.id.data) == n_cells and len(table["number"].target.data) == n_comp:
            return layout
    colnames = set(table.colnames)
    if "number" not in colnames:
        raise ValueError(f"Compartments table '{table.name}' has no 'number' column")
    number_col = table["number"]
    if isinstance(number_col, VectorIndex):
        counts = ragged.nwb_index_to_counts(number_col.data[:])
        number = np.asarray(number_col.target.data[:])
    else:  # one compartment per cell, no index
        number = np.asarray(number_col.data[:])
        counts = np.ones(number.size, dtype=np.int64)
    ids = np.asarray(table.id.data[:], dtype=np.int64)
    cell_cols: dict[str, np.ndarray] = {}
    comp_cols: dict[str, np.ndarray] = {}
    for key in table.colnames:
        if key in ("number", "node_id"):
            continue
        col = table[key]
        if isinstance(col, VectorIndex):
            comp_cols[key] = decode_text(col.target.data[:])
        else:
            cell_cols[key] = decode_text(col.data[:])
    has_node_id = "node_id" in colnames
    return make_layout(
        node_ids=np.asarray(table["node_id"].data[:], dtype=np.int64) if has_node_id else ids,
        cell_ids=ids if has_node_id else None,
        counts=counts,
        number=number,
        position=comp_cols.pop("position", None),
        label=comp_cols.pop("label", None),
        population=cell_cols.pop("population", None),
        cell_columns=cell_cols,
        compartment_columns=comp_cols,
        what=f"Compartments table '{table.name}'",
    )


def _cell_ids(layout: CompartmentLayout) -> np.ndarray:
    if layout.cell_ids is not None:
        return layout.cell_ids
    if layout.population is None:
        return layout.node_ids
    return derive_cell_ids(population=layout.population, node_ids=layout.node_ids)


def _as_text(values: np.ndarray) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object) if values.dtype != object else values


def _as_column(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "US":
        return values.astype(object)
    return values
