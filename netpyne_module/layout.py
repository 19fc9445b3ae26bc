"""Which compartments NetPyNE recorded: ``cfg.recordTraces`` x this rank's cells -> one plan per quantity.

A *quantity* is what one CompartmentSeries holds: membrane ``v`` (every ``{'sec', 'loc', 'var': 'v'}`` key), a
density-mechanism variable (``mech`` + ``var``, e.g. ``hh_m``), a synaptic-mechanism, point-process or stimulus
variable (``exc_g``, ``IClamp0_i``), or a point-neuron state variable. Several trace keys of the same quantity
share one series; each column keeps its trace key.

Mapping of one recording (NEURON knowledge lives here and nowhere else):

- ``number`` = segment index ``min(int(loc * nseg), nseg - 1)``; ``position`` = ``loc``; ``label`` = section name.
- ``loc`` 0 or 1 of ``v`` or of a point process is the zero-area end node of the section, not a segment: its
  column gets ``number`` of the nearest segment, its exact ``position`` (0 or 1) and ``end_node = True``.
  Density-mechanism variables have no end nodes (NEURON returns the nearest segment's value): ``end_node`` False.
- point neurons (no sections): ``number`` 0, ``position`` 0.5, ``label`` = the cell model (e.g. ``Izhi2007b``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simout_plugins import Compartments, build_compartments
from simout_plugins.mpi import raise_if_any

from . import _compat

logger = logging.getLogger(__name__)

#: Spike generators have no state variable to record; NetPyNE "records" nothing from them without a word.
ARTIFICIAL_CELL_MODELS = ("NetStim", "VecStim")


@dataclass
class SeriesPlan:
    """This rank's columns of one CompartmentSeries, in file-row order (cells by gid).

    Attributes
    ----------
    name, unit, description : str
        Series name (e.g. ``"v"``), NEURON unit of the recorded values (e.g. ``"mV"``), description.
    node_ids, counts : numpy.ndarray, shape (n_cells,), int64
        Gid of each recorded cell (ascending) and its number of columns.
    pop, cell_type : numpy.ndarray, shape (n_cells,), str
        NetPyNE ``pop`` and ``cellType`` tags of each cell.
    number : numpy.ndarray, shape (n_columns,), int64
        Segment index of each column.
    position : numpy.ndarray, shape (n_columns,), float64
        ``loc`` of each column (0..1, dimensionless).
    label, trace_key : numpy.ndarray, shape (n_columns,), str
        Section name and ``cfg.recordTraces`` key of each column.
    end_node : numpy.ndarray, shape (n_columns,), bool
        True where the column is a zero-area section end node (loc 0 or 1).
    vectors : list of neuron.hoc.HocObject, length n_columns
        The ``h.Vector`` NetPyNE records each column into (``sim.simData[key]['cell_<gid>']``).
    """

    name: str
    unit: str
    description: str
    node_ids: np.ndarray
    counts: np.ndarray
    pop: np.ndarray
    cell_type: np.ndarray
    number: np.ndarray
    position: np.ndarray
    label: np.ndarray
    trace_key: np.ndarray
    end_node: np.ndarray
    vectors: list = field(repr=False, default_factory=list)

    @property
    def n_columns(self) -> int:
        return int(self.number.size)

    def compartments(self) -> Compartments:
        """This rank's Compartments table of the series (named ``compartments_<series>``)."""
        return build_compartments(
            node_ids=self.node_ids,
            counts=self.counts,
            number=self.number,
            position=self.position,
            label=self.label,
            population=self.pop,
            cell_columns={"cell_type": self.cell_type},
            compartment_columns={"trace_key": self.trace_key, "end_node": self.end_node},
            name=f"compartments_{self.name}",
            description=(
                f"Compartments recorded for series '{self.name}': one row per NetPyNE cell (id = gid, columns "
                "population and cell_type from the cell tags); number = segment index, position = loc, "
                "label = section name, trace_key = the cfg.recordTraces key, "
                "end_node = zero-area section end (loc 0 or 1)."
            ),
        )


@dataclass
class _Column:
    gid: int
    key: str
    number: int
    position: float
    label: str
    end_node: bool
    vector: Any


@dataclass
class _Quantity:
    name: str
    unit: str
    description: str
    columns: list[_Column] = field(default_factory=list)
    first_key: int = 0  # index in `keys` of the first key recording this quantity (orders the series)


def plan_series(*, sim: Any, keys: Sequence[str], comm: Any | None = None) -> list[SeriesPlan]:
    """Map the recorded ``h.Vector``s of this rank to one :class:`SeriesPlan` per quantity.

    Call after ``sim.setupRecording()`` (i.e. after ``sim.create``), before the run. Collective under MPI.

    Parameters
    ----------
    sim : module
        ``netpyne.sim`` (or an object with the same ``cfg``, ``net``, ``simData`` attributes).
    keys : sequence of str
        ``cfg.recordTraces`` keys to write, in order.
    comm : mpi4py communicator, optional
        Used to decide globally which keys matched no cell and to log skipped cells once (rank 0).

    Returns
    -------
    list of SeriesPlan
        In order of first appearance of each quantity in ``keys``; the same names on every rank.

    Raises
    ------
    ValueError
        A trace key recorded no cell on any rank (wrong section / mechanism / variable name, or no recorded cell).
    """
    cfg = sim.cfg
    cells = sorted(sim.net.cells, key=lambda c: c.gid)
    expected = {c.gid for c in sim.getCellsList(list(cfg.recordCells))} if cfg.recordCells else set()
    quantities: dict[str, _Quantity] = {}  # insertion order = first appearance in `keys`
    skipped: dict[str, list[int]] = {key: [] for key in keys}
    found: dict[str, int] = {key: 0 for key in keys}
    error = None
    try:
        _collect(sim, cells, keys, expected, quantities, skipped, found)
    except (ValueError, RuntimeError) as exc:  # this rank's cells only: every rank must reach the collectives below
        error = exc
    raise_if_any(comm, error)
    _check_found(found, skipped, cfg, comm)
    names = _global_names(quantities, comm)
    return [_plan(quantities.get(name) or _empty_quantity(name, parts), sim) for name, parts in names]


def _collect(
    sim: Any,
    cells: list[Any],
    keys: Sequence[str],
    expected: set[int],
    quantities: dict[str, _Quantity],
    skipped: dict[str, list[int]],
    found: dict[str, int],
) -> None:
    """Fill ``quantities`` with this rank's columns, ``skipped`` / ``found`` with what each key recorded."""
    for key in keys:
        params = sim.cfg.recordTraces[key]
        for cell in cells:
            entry = _compat.trace_entry(sim=sim, key=key, gid=cell.gid)
            if entry is None:
                if _should_have(cell, params, expected):
                    skipped[key].append(cell.gid)
                continue
            for column, quantity in _columns(sim, cell, key, params, entry):
                quantity.first_key = keys.index(key)
                q = quantities.setdefault(quantity.name, quantity)
                if q.unit != quantity.unit:
                    raise ValueError(f"series '{q.name}': unit '{quantity.unit}' of '{key}' differs from '{q.unit}'")
                q.columns.append(column)
                found[key] += 1


def _should_have(cell: Any, params: Mapping[str, Any], expected: set[int]) -> bool:
    if cell.gid not in expected or cell.tags.get("cellModel") in ARTIFICIAL_CELL_MODELS:
        return False
    conds = params.get("conds")
    return not conds or bool(cell.checkConditions(conds))


def _columns(sim: Any, cell: Any, key: str, params: Mapping[str, Any], entry: Any) -> list[tuple[_Column, _Quantity]]:
    """The columns (and their quantity) of one cell's recording of one key; ``entry`` as in ``sim.simData``."""
    secs = _compat.sections(cell)
    sec_name = params.get("sec")
    if isinstance(entry, Mapping):  # {'synMech': ...} without 'sec': every synapse of that label, any section
        places = _compat.synapse_places(cell, params["synMech"])
        quantity = _quantity(sim, cell, params)
        out = []
        for sec_loc, vec in entry.items():
            if sec_loc not in places:
                raise _compat.unsupported(f"synaptic traces keyed '<section>_<loc>' (found {sec_loc!r})")
            name, loc = places[sec_loc]
            number, end = _segment(_compat.section_object(cell, name), loc, point=True)
            out.append((_Column(cell.gid, key, number, loc, name, end, vec), quantity))
        return out
    if sec_name is not None and sec_name in secs:
        loc = float(params.get("loc", 0.5))
        # end nodes hold v and point processes only; density variables there read the nearest segment
        at_node = (
            params["var"] == "v" and "mech" not in params or any(k in params for k in ("synMech", "pointp", "stim"))
        )
        number, end = _segment(_compat.section_object(cell, sec_name), loc, point=at_node)
        column = _Column(cell.gid, key, number, loc, sec_name, end, entry)
    else:  # point neuron: the cell's own point process
        model = str(cell.tags.get("cellModel", "") or "point_cell")
        column = _Column(cell.gid, key, 0, 0.5, model, False, entry)
    return [(column, _quantity(sim, cell, params))]


def _segment(sec: Any, loc: float, *, point: bool) -> tuple[int, bool]:
    """Segment index of ``loc`` in a section and whether ``loc`` is a zero-area end node."""
    nseg = int(sec.nseg)
    return min(int(loc * nseg), nseg - 1), bool(point and loc in (0.0, 1.0))


def _quantity(sim: Any, cell: Any, params: Mapping[str, Any]) -> _Quantity:
    quantity = _describe(sim, cell, params)
    quantity.name = re.sub(r"[^A-Za-z0-9_.]+", "_", quantity.name)  # e.g. stim 'clamp->E' -> 'clamp_E_i'
    return quantity


def _describe(sim: Any, cell: Any, params: Mapping[str, Any]) -> _Quantity:
    var = params["var"]
    secs = _compat.sections(cell)
    if "mech" in params:
        mech = params["mech"]
        return _Quantity(f"{mech}_{var}", _units(f"{var}_{mech}"), f"'{var}' of density mechanism '{mech}'")
    if "synMech" in params:
        label = params["synMech"]
        mod = sim.net.params.synMechParams.get(label, {}).get("mod", label)
        return _Quantity(f"{label}_{var}", _units(f"{mod}.{var}"), f"'{var}' of synaptic mechanism '{label}' ({mod})")
    if "pointp" in params:
        label = params["pointp"]
        mod = _compat.point_process_mod(cell, params.get("sec"), label)
        return _Quantity(f"{label}_{var}", _units(f"{mod}.{var}"), f"'{var}' of point process '{label}' ({mod})")
    if "stim" in params:
        label = params["stim"]
        mod = _compat.stimulus_type(cell, label)
        return _Quantity(f"{label}_{var}", _units(f"{mod}.{var}"), f"'{var}' of stimulus '{label}' ({mod})")
    if params.get("sec") in secs:
        what = "membrane potential" if var == "v" else f"section variable '{var}'"
        return _Quantity(var, _units(var), f"{what} of the recorded segments")
    model = str(cell.tags.get("cellModel", "") or "point_cell")
    return _Quantity(f"{model}_{var}", _units(f"{model}.{var}"), f"'{var}' of point neuron model '{model}'")


@functools.cache
def _units(symbol: str) -> str:
    """NEURON's unit string of a symbol (``h.units``); ``'n/a'`` when NEURON declares none or does not know it."""
    from neuron import h

    try:
        unit = str(h.units(symbol))
    except RuntimeError:  # unknown symbol (NEURON also prints a hoc error line)
        unit = ""
    return unit or "n/a"


def _check_found(found: dict[str, int], skipped: dict[str, list[int]], cfg: Any, comm: Any | None) -> None:
    if comm is not None:
        found = {k: comm.allreduce(v) for k, v in found.items()}
        parts = comm.gather(skipped, root=0)
        skipped = {k: sorted(g for part in parts for g in part[k]) for k in skipped} if parts else {}
    empty = [k for k, n in found.items() if n == 0]
    if empty:
        specs = {k: dict(cfg.recordTraces[k]) for k in empty}
        raise ValueError(
            f"cfg.recordTraces keys {empty} recorded no cell ({specs}); NetPyNE skips a trace whose section, "
            "mechanism or variable a cell lacks. Fix the 'sec'/'mech'/'synMech'/'var' names, cfg.recordCells "
            f"(currently {list(cfg.recordCells)!r}), or drop the keys from cfg.saveNWB['traces']"
        )
    lines = [f"{k}: gids {v}" for k, v in skipped.items() if v]
    if lines:
        logger.warning(
            "NetPyNE did not record these trace keys from some cells in cfg.recordCells (the cell lacks the "
            "section / mechanism / variable); they have no column in the NWB file: %s",
            "; ".join(lines),
        )


def _global_names(quantities: dict[str, _Quantity], comm: Any | None) -> list[tuple[str, tuple[str, str]]]:
    """Series names (with unit, description), the union over ranks, ordered by first trace key then name."""
    local = [(q.first_key, name, (q.unit, q.description)) for name, q in quantities.items()]
    parts = [local] if comm is None else comm.allgather(local)
    merged: dict[str, tuple[int, tuple[str, str]]] = {}
    for part in parts:
        for first, name, meta in part:
            if name not in merged or first < merged[name][0]:
                merged[name] = (first, meta)
    return [(name, meta) for name, (_, meta) in sorted(merged.items(), key=lambda item: (item[1][0], item[0]))]


def _empty_quantity(name: str, meta: tuple[str, str]) -> _Quantity:
    return _Quantity(name, meta[0], meta[1])


def _plan(q: _Quantity, sim: Any) -> SeriesPlan:
    tags = {c.gid: c.tags for c in sim.net.cells}
    cols = sorted(q.columns, key=lambda c: c.gid)  # stable: keeps recordTraces key order within a cell
    gids = np.array([c.gid for c in cols], dtype=np.int64)
    node_ids, counts = np.unique(gids, return_counts=True)
    return SeriesPlan(
        name=q.name,
        unit=q.unit,
        description=f"NetPyNE trace: {q.description}.",
        node_ids=node_ids,
        counts=counts.astype(np.int64),
        pop=np.array([str(tags[g].get("pop", "")) for g in node_ids], dtype=object),
        cell_type=np.array([str(tags[g].get("cellType", "")) for g in node_ids], dtype=object),
        number=np.array([c.number for c in cols], dtype=np.int64),
        position=np.array([c.position for c in cols], dtype=np.float64),
        label=np.array([c.label for c in cols], dtype=object),
        trace_key=np.array([c.key for c in cols], dtype=object),
        end_node=np.array([c.end_node for c in cols], dtype=bool),
        vectors=[c.vector for c in cols],
    )
