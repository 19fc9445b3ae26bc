"""The cross-rank column plan: where every rank's columns go in the file, known to every rank.

Simulators deal cells to ranks (round-robin, usually) while the file lists cells by (population, node id), so a
rank's columns are scattered over the file. Rank 0 gathers the layouts once, orders the cells, gives every cell
its global id (:mod:`simout_plugins.nwb.ids`), and sends each rank the file column of each of its local columns. The
gather sink needs rank 0's view (columns per rank + one permutation); the MPI-IO sink needs each rank's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import mpi
from ..nwb.ids import DEFAULT_POPULATION, factorize, population_offsets, repeated
from ..nwb.layout import CELL_ORDERS, CompartmentLayout, check_unique, concat_layouts, with_addresses


@dataclass(frozen=True)
class ColumnPlan:
    """One table's columns across ranks.

    Attributes
    ----------
    n_columns : int
        Columns of the table in the file (all ranks).
    file_cols : numpy.ndarray or None, shape (n_local,), int64
        File column of each of this rank's columns, in this rank's (block) order (None in a single process,
        where only the gather sink's ``perm`` is used).
    order_by : str
        Row order of the file table: ``"population"`` (population, node id) or ``"node_id"``.
    col_counts : numpy.ndarray or None, shape (n_ranks,), int64
        Columns of each rank (rank 0 only).
    perm : numpy.ndarray or None, shape (n_columns,), int64
        Rank-major column shown in each file column (rank 0 only; None = identity).
    layout : CompartmentLayout or None
        The whole table in file order, with populations and global cell ids (rank 0 only).
    """

    n_columns: int
    file_cols: np.ndarray | None
    order_by: str
    col_counts: np.ndarray | None = None
    perm: np.ndarray | None = None
    layout: CompartmentLayout | None = None


@dataclass(frozen=True)
class IdSpace:
    """Global cell ids handed out so far (rank 0): population offsets and the first unused id."""

    offsets: dict[str, int]
    end: int


def plan_tables(
    comm: Any | None, layouts: Sequence[CompartmentLayout], *, names: Sequence[str], cell_order: str | None
) -> tuple[list[ColumnPlan], IdSpace | None]:
    """Collective: plan every table of a file from each rank's local layouts (one gather, one scatter).

    Parameters
    ----------
    layouts : sequence of CompartmentLayout
        This rank's cells of each table.
    names : sequence of str
        Table names (for error messages).
    cell_order : {"population", "node_id"} or None
        Row order; None = by (population, node id) when the tables have populations, else by node id.

    Returns
    -------
    plans : list of ColumnPlan
        One per table (every rank; rank-0-only fields None elsewhere).
    ids : IdSpace or None
        The id offsets used (rank 0), for cells that get ids later (``Units``).

    Raises
    ------
    ValueError
        Duplicate cells, or ranks passing different columns; raised on every rank.
    """
    rank, size = mpi.rank_size(comm)
    gathered = mpi.gather(comm, list(layouts))
    result, error = None, None
    if rank == 0:
        try:
            result = _plan_on_root(gathered, names=names, cell_order=cell_order)
        except ValueError as exc:
            error = exc
    error = mpi.bcast(comm, error)
    if error is not None:
        raise error
    if comm is None:
        plans, ids, per_rank = result
        return [_with_cols(p, per_rank[k][0]) for k, p in enumerate(plans)], ids
    if rank == 0:
        plans, ids, per_rank = result
        shares = [
            [(plans[k].n_columns, plans[k].order_by, per_rank[k][r]) for k in range(len(plans))] for r in range(size)
        ]
    else:
        shares = None
    mine = comm.scatter(shares, root=0)
    if rank == 0:
        return [_with_cols(p, cols) for p, (_, _, cols) in zip(plans, mine)], ids
    return [ColumnPlan(n_columns=n, file_cols=cols, order_by=by) for n, by, cols in mine], None


def _with_cols(plan: ColumnPlan, cols: np.ndarray) -> ColumnPlan:
    return ColumnPlan(
        n_columns=plan.n_columns,
        file_cols=cols,
        order_by=plan.order_by,
        col_counts=plan.col_counts,
        perm=plan.perm,
        layout=plan.layout,
    )


def _plan_on_root(
    gathered: list[list[CompartmentLayout]], *, names: Sequence[str], cell_order: str | None
) -> tuple[list[ColumnPlan], IdSpace, list[list[np.ndarray]]]:
    if cell_order is not None and cell_order not in CELL_ORDERS:
        raise ValueError(f"cell_order must be one of {CELL_ORDERS}, got {cell_order!r}")
    plans, per_rank = [], []
    for k, name in enumerate(names):
        parts = [rank_layouts[k] for rank_layouts in gathered]
        what = f"Compartments table '{name}'"
        col_counts = np.array([lay.n_compartments for lay in parts], dtype=np.int64)
        merged = concat_layouts(parts, what=what)
        by = cell_order if cell_order is not None else ("population" if merged.population is not None else "node_id")
        order = merged.sort_order(by)
        check_unique(merged, what=what, by=by, order=order)
        ordered, perm = merged.sorted(by, order=order)
        # file column of each rank-major column, split per rank (a single process needs none)
        if col_counts.size > 1:
            file_of = np.arange(ordered.n_compartments, dtype=np.int64)
            if perm is not None:
                file_of[perm] = np.arange(perm.size, dtype=np.int64)
            bounds = np.concatenate([[0], np.cumsum(col_counts)])
            per_rank.append([file_of[bounds[r] : bounds[r + 1]] for r in range(col_counts.size)])
        else:
            per_rank.append([None])
        plans.append(
            ColumnPlan(
                n_columns=ordered.n_compartments,
                file_cols=np.zeros(0, np.int64),
                order_by=by,
                col_counts=col_counts,
                perm=perm,
                layout=ordered,
            )
        )
    plans, ids = _assign_cell_ids(plans, names=names, cell_order=cell_order)
    return plans, ids, per_rank


def _assign_cell_ids(
    plans: list[ColumnPlan], *, names: Sequence[str], cell_order: str | None
) -> tuple[list[ColumnPlan], IdSpace]:
    """Populations for every cell ("default" when none) and global cell ids, one id space over all tables."""
    lays = [p.layout for p in plans]
    if not lays:
        return plans, IdSpace(offsets={}, end=0)
    if all(lay.population is None for lay in lays):  # one population: ids = node ids
        offsets = {DEFAULT_POPULATION: 0}
    else:
        pops = np.concatenate(
            [lay.population if lay.population is not None else np.full(lay.n_cells, DEFAULT_POPULATION) for lay in lays]
        )
        if cell_order == "node_id":  # node ids are global (e.g. NetPyNE gids): they are the ids
            offsets = dict.fromkeys(factorize(pops)[0], 0)
        else:
            offsets = population_offsets(population=pops, node_ids=np.concatenate([lay.node_ids for lay in lays]))
    end = 0
    out = []
    for plan, name in zip(plans, names):
        lay = with_addresses(plan.layout, offsets=offsets)
        dup = repeated(lay.cell_ids)
        if dup:
            raise ValueError(f"Compartments table '{name}': duplicate cell_ids {dup}")
        if lay.cell_ids.size:
            end = max(end, int(lay.cell_ids.max()) + 1)
        out.append(
            ColumnPlan(
                n_columns=plan.n_columns,
                file_cols=plan.file_cols,
                order_by=plan.order_by,
                col_counts=plan.col_counts,
                perm=plan.perm,
                layout=lay,
            )
        )
    return out, IdSpace(offsets=offsets, end=end)
