"""``simout info`` of a SONATA file: each population of a compartment report (nodes, elements, index spelling,
time and the time base decided for it, data dtype, units) and of a spike file (spikes, cells, time range, sorting),
read through :mod:`simout_plugins.sonata.read` (mapping and spike arrays only, never the report data).
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ..nwb.columns import as_text
from ..nwb.ids import DEFAULT_POPULATION
from ..read.validate import guard, open_file
from ..sonata.read import ReportPopulation, decide_time_base, read_report, spike_arrays, spike_groups

__all__ = ["describe_sonata"]


def _describe_report_population(path: str, pop: ReportPopulation, data: h5py.Dataset) -> dict[str, Any]:
    with guard(path, data.name):
        shape, chunks, compression = data.shape, data.chunks, data.compression
    base, why = decide_time_base(pop, None)
    node_ids = np.asarray(pop.node_ids)
    return {
        "population": pop.name,
        "nodes": int(node_ids.size),
        "node_ids": [int(node_ids.min()), int(node_ids.max())] if node_ids.size else None,
        "elements": pop.n_elements,
        "index_pointers": int(np.asarray(pop.offsets).size),
        "index_names": list(pop.index_names),
        "element_pos": pop.element_pos is not None,
        "time": [float(x) for x in pop.time],
        "time_units": pop.time_units,
        "time_base": base,
        "time_base_reason": why,
        "steps": int(pop.n_rows),
        "shape": [int(x) for x in shape],
        "dtype": str(pop.dtype),
        "chunks": list(chunks) if chunks else None,
        "compression": compression,
        "units": pop.units,
        "assumed_units": None if pop.units else pop.assumed_units(),
        "variable": pop.variable,
    }


def _describe_spikes(population: str | None, group: h5py.Group, id_key: str) -> dict[str, Any]:
    """One population of a spike file (``population`` None: the pre-population ``/spikes/{gids,timestamps}``)."""
    path = group.file.filename
    node_ids, t = spike_arrays(path, group, id_key)
    with guard(path, f"{group.name}/timestamps"):
        ts = group["timestamps"]
        units, dtype, compression = ts.attrs.get("units"), ts.dtype, ts.compression
        sorting = None if population is None else group.attrs.get("sorting")
        sorting = None if sorting is None else _sorting_text(sorting, group)
    return {
        "population": population,
        "spikes": int(t.size),
        "cells_with_spikes": int(np.unique(node_ids).size),
        "node_ids": [int(node_ids.min()), int(node_ids.max())] if node_ids.size else None,
        "time": [float(t.min()), float(t.max())] if t.size else None,
        "units": None if units is None else as_text(units),
        "dtype": str(dtype),
        "sorting": sorting,
        "compression": compression,
    }


def describe_sonata(path: str) -> dict[str, Any]:
    """What ``simout info`` shows of a SONATA file: ``report`` (one entry per population) and / or ``spikes``."""
    out: dict[str, Any] = {}
    with open_file(path) as f:
        with guard(path, "/"):
            has_report, has_spikes = isinstance(f.get("report"), h5py.Group), isinstance(f.get("spikes"), h5py.Group)
        if has_report:
            pops = sorted(read_report(f, path), key=lambda p: p.name)
            out["report"] = [_describe_report_population(path, p, _dataset(f, p.data_path)) for p in pops]
        if has_spikes:
            groups = sorted(spike_groups(path, f, default_population=DEFAULT_POPULATION).items())
            out["spikes"] = [_describe_spikes(None if g.name == "/spikes" else k, g, key) for k, (g, key) in groups]
    return out


def _dataset(f: h5py.File, name: str) -> h5py.Dataset:
    with guard(f.filename, name):
        return f[name]


def _sorting_text(value, group: h5py.Group) -> str:
    """The ``sorting`` attribute as text (libsonata writes an HDF5 enum: by_id / by_time / none); reads the
    attribute's type (call it inside a guard)."""
    if isinstance(value, (bytes, str)):
        return as_text(value)
    enum = h5py.check_enum_dtype(group.attrs.get_id("sorting").dtype) if "sorting" in group.attrs else None
    if enum:
        names = {v: k for k, v in enum.items()}
        return names.get(int(value), str(value))
    return str(value)
