"""Spikes for the writer: validate each rank's spikes, gather them to rank 0, build and write the Units table."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike
from pynwb import NWBHDF5IO
from pynwb.misc import Units

from .. import mpi
from ..nwb.attrs import ROW_ORDER_ATTR
from ..nwb.chunking import TABLE_CHUNK_BYTES
from ..nwb.ids import DEFAULT_POPULATION, derive_cell_ids, extend_offsets, repeated
from ..nwb.layout import concat_parts
from ..nwb.nwbfile import build_units
from .space import reserve


class SpikeCollector:
    """This rank's spikes and Units rows until the writer closes (see ``CompartmentSeriesWriter.add_spikes``)."""

    def __init__(self) -> None:
        self._local: dict[str, Any] | None = None

    def add(
        self,
        *,
        node_ids: ArrayLike,
        times_ms: ArrayLike,
        population: str | ArrayLike | None = None,
        units_node_ids: ArrayLike | None = None,
        units_population: str | ArrayLike | None = None,
        unit_columns: Mapping[str, ArrayLike] | None = None,
        resolution_ms: float | None = None,
        units_cell_ids: ArrayLike | None = None,
    ) -> None:
        """Validate and keep this rank's spikes (shapes as in ``CompartmentSeriesWriter.add_spikes``)."""
        if self._local is not None:
            raise ValueError("add_spikes: call it once, with all spikes of this rank")
        ids = np.asarray(node_ids, dtype=np.int64).ravel()
        times = np.asarray(times_ms, dtype=np.float64).ravel()
        if ids.size != times.size:
            raise ValueError(f"add_spikes: {ids.size} node_ids but {times.size} times_ms; give one node id per spike")
        if not np.isfinite(times).all():
            raise ValueError("add_spikes: times_ms holds NaN or infinite values")
        u_ids = None if units_node_ids is None else np.asarray(units_node_ids, dtype=np.int64).ravel()
        u_cids = None if units_cell_ids is None else np.asarray(units_cell_ids, dtype=np.int64).ravel()
        if u_cids is not None and (u_ids is None or u_cids.shape != u_ids.shape):
            raise ValueError("add_spikes: units_cell_ids needs units_node_ids of the same length (one per unit)")
        extra = {k: np.asarray(v).ravel() for k, v in (unit_columns or {}).items()}
        if extra and u_ids is None:
            raise ValueError("add_spikes: unit_columns needs units_node_ids (the rows they describe)")
        for key, values in extra.items():
            if values.shape != u_ids.shape:
                raise ValueError(f"add_spikes: unit_columns['{key}'] has shape {values.shape}, expected {u_ids.shape}")
        if (population is None) != (units_population is None) and u_ids is not None:
            raise ValueError("add_spikes: give population and units_population together (or neither)")
        if resolution_ms is not None and not (np.isfinite(resolution_ms) and resolution_ms > 0):
            raise ValueError(f"add_spikes: resolution_ms must be a positive number of ms, got {resolution_ms!r}")
        self._local = {
            "resolution_ms": resolution_ms,
            "ids": ids,
            "times": times,
            "pops": _per_item(population, ids.size, "population"),
            "u_ids": u_ids,
            "u_pops": None if u_ids is None else _per_item(units_population, u_ids.size, "units_population"),
            "u_cids": u_cids,
            "extra": extra,
        }

    def gather_units(
        self,
        comm: Any | None,
        *,
        order: str | None = None,
        id_offsets: Mapping[str, int] | None = None,
        id_end: int = 0,
    ) -> Units | None:
        """Collective: gather every rank's spikes to rank 0 and build the Units table there (None elsewhere).

        Rows are ordered by (population, node id), or by node id when ``order="node_id"``. Cells given without a
        population are in population ``"default"``. Units without ``units_cell_ids`` get global ids from
        ``id_offsets`` (those of the Compartments tables, extended by :func:`simout_plugins.nwb.ids.extend_offsets`;
        ``id_end`` = first unused id), so one cell has one id in every table of the file.
        """
        parts = mpi.gather(comm, self._local)
        if parts is None or all(p is None for p in parts):
            return None
        if any(p is None for p in parts):
            raise ValueError("add_spikes was called on some ranks only; call it on every rank (collective)")
        ids = np.concatenate([p["ids"] for p in parts])
        times = np.concatenate([p["times"] for p in parts])
        with_pop = any(p["pops"] is not None for p in parts)
        if with_pop:
            pops = _merged(parts, lambda p: p["pops"], lambda p: p["ids"], "population")
        else:
            pops = np.full(ids.size, DEFAULT_POPULATION)
        u_cids = None
        if any(p["u_ids"] is not None for p in parts):
            u_ids = _merged(parts, lambda p: p["u_ids"], lambda p: p["ids"], "units_node_ids")
            if any(p["u_pops"] is not None for p in parts):
                u_pops = _merged(parts, lambda p: p["u_pops"], lambda p: p["u_ids"], "units_population")
            else:
                u_pops = np.full(u_ids.size, DEFAULT_POPULATION)
            extra = {
                key: _merged(parts, lambda p, k=key: p["extra"].get(k), lambda p: p["u_ids"], f"unit_columns['{key}']")
                for key in sorted({k for p in parts for k in p["extra"]})
            }
            if any(p["u_cids"] is not None for p in parts):
                u_cids = _merged(parts, lambda p: p["u_cids"], lambda p: p["u_ids"], "units_cell_ids")
        else:
            keys = np.unique(np.stack([pops.astype(str), ids.astype(str)], axis=1), axis=0).reshape(-1, 2)
            u_ids, u_pops, extra = keys[:, 1].astype(np.int64), keys[:, 0].astype(object), {}
        u_pops = u_pops.astype(str).astype(object)
        if u_cids is None and order == "node_id":  # node ids are global (e.g. NetPyNE gids): they are the ids
            u_cids = u_ids.copy()
        elif u_cids is None:
            offsets = extend_offsets(id_offsets or {}, end=id_end, population=u_pops, node_ids=u_ids)
            u_cids = derive_cell_ids(population=u_pops, node_ids=u_ids, offsets=offsets)
        order = np.argsort(u_ids, kind="stable") if order == "node_id" else np.lexsort((u_ids, u_pops.astype(str)))
        u_ids, u_pops, u_cids = u_ids[order], u_pops[order], u_cids[order]
        _check_unique_units(u_ids, u_pops, u_cids)
        columns = {"node_id": u_ids, **{k: v[order] for k, v in extra.items()}}
        if with_pop or any(p["u_pops"] is not None for p in parts):  # "default" (none given) is not stored
            columns = {"population": u_pops, **columns}
        rows = _rows_of(u_ids, u_pops, ids, pops)
        given = sorted({p["resolution_ms"] for p in parts if p["resolution_ms"] is not None})
        if len(given) > 1:
            raise ValueError(f"add_spikes: ranks give different resolution_ms {given}; give the same on every rank")
        resolution = given[0] if given else None
        return build_units(
            unit_ids=u_cids,
            spike_unit_rows=rows,
            spike_times_s=times / 1000.0,
            columns=columns,
            resolution_s=None if resolution is None else resolution / 1000.0,
            chunk_bytes=TABLE_CHUNK_BYTES,
        )


def reserve_units_space(path: str | os.PathLike, units: Units) -> None:
    """Reserve, at the end of the file, the bytes the Units table will take (generously), before HDF5 writes it.

    A Units table half-written for lack of space leaves a file HDF5 may not open again (and with it every block of
    the run); reserved first, a full disk is a plain ``OSError`` here and the file is untouched
    (:mod:`simout_plugins.write.space`).
    """
    n_units = len(units.id)
    n_spikes = len(units["spike_times"].target.data) if "spike_times" in units.colnames else 0
    need = (1 << 20) + 128 * n_units * (1 + len(units.colnames)) + 16 * n_spikes
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        reserve(f.fileno(), offset=end, length=need, path=path, what="the spikes (Units table)")


def write_units(path: str | os.PathLike, units: Units, *, order: str) -> None:
    """Add a Units table to a written NWB file (rank 0) and mark its row order for readers."""
    with NWBHDF5IO(str(path), "a") as io:
        nwbfile = io.read()
        nwbfile.units = units
        io.write(nwbfile)
    with h5py.File(path, "r+") as h5:
        h5["units"].attrs[ROW_ORDER_ATTR] = order


def _merged(
    parts: list[dict], get: Callable[[dict], np.ndarray | None], count: Callable[[dict], np.ndarray | None], name: str
) -> np.ndarray:
    """Every rank's ``get(part)`` concatenated. A rank that did not give it contributes nothing, and must have no
    items to describe (``count(part)`` empty or None): collective arguments must agree across ranks."""
    values = [get(p) for p in parts]
    lacking = [r for r, (v, p) in enumerate(zip(values, parts)) if v is None and count(p) is not None and count(p).size]
    if lacking:
        given = [r for r, v in enumerate(values) if v is not None]
        raise ValueError(
            f"add_spikes: {name} is given on rank(s) {given} but not on rank(s) {lacking}; give it on every rank"
        )
    like = next((v for v in values if v is not None and v.size), next(v for v in values if v is not None))
    return concat_parts([v if v is not None else like[:0] for v in values])


def _per_item(values: str | ArrayLike | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, str):
        return np.full(n, values, dtype=object)
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size != n:
        raise ValueError(f"add_spikes: {name} has {arr.size} entries, expected {n}")
    return arr


def _check_unique_units(node_ids: np.ndarray, pops: np.ndarray, cell_ids: np.ndarray) -> None:
    key = np.char.add(np.char.add(pops.astype(str), "/"), node_ids.astype(str))
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"add_spikes: units listed twice: {uniq[counts > 1][:10].tolist()} (population/node id)")
    dup = repeated(cell_ids)
    if dup:
        raise ValueError(f"add_spikes: duplicate units_cell_ids {dup}")


def _rows_of(u_ids: np.ndarray, u_pops: np.ndarray | None, ids: np.ndarray, pops: np.ndarray | None) -> np.ndarray:
    """Row in the Units table of every spike's cell; raise when a spike's cell has no row."""
    if u_pops is None:
        keys_u, keys_s = u_ids, ids
    else:
        keys_u = np.char.add(np.char.add(u_pops.astype(str), "/"), u_ids.astype(str))
        keys_s = np.char.add(np.char.add(pops.astype(str), "/"), ids.astype(str))
    if keys_s.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys_u, kind="stable")
    sorted_keys = keys_u[order]
    pos = np.clip(np.searchsorted(sorted_keys, keys_s), 0, max(order.size - 1, 0))
    if order.size == 0 or not np.array_equal(sorted_keys[pos], keys_s):
        missing = keys_s[(order.size == 0) | (sorted_keys[pos] != keys_s)][:5] if order.size else keys_s[:5]
        raise ValueError(
            f"add_spikes: spikes of cells {[str(m) for m in missing]} have no row in "
            "units_node_ids; list every spiking cell there"
        )
    return order[pos]
