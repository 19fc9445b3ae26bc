"""``simout info`` of an NWB file: each CompartmentSeries (shape, dtype, chunks, time, steps written, cells per
population), the ``Units`` table (spikes per population) and the provenance, from ids, index pointers and
attributes only (no data, no label strings), through :func:`~simout_plugins.read.reader.open_report`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ..nwb import ragged
from ..nwb.columns import as_text
from ..nwb.provenance import read_provenance
from ..read.ecp import describe_ecp
from ..read.reader import open_report
from ..read.tables import take
from ..read.validate import guard, number_attr

__all__ = ["describe_nwb", "population_runs"]

logger = logging.getLogger(__name__)

#: Text fields of the provenance that ``simout info`` shows whatever their length.
_PROVENANCE_KEYS = ("simulator", "config_file_name", "experiment_description", "notes")


def population_runs(population: np.ndarray | None, n: int) -> list[tuple[str, np.ndarray]]:
    """Group row indices by population without sorting the strings (rows of one population are contiguous).

    Parameters
    ----------
    population : numpy.ndarray or None, shape (n,)
        Population of each row (str or bytes); None: every row is in population ``"default"``.
    n : int
        Number of rows.

    Returns
    -------
    list of (str, numpy.ndarray)
        Population name and its row indices, in order of first appearance.
    """
    if population is None or n == 0:
        return [("default", np.arange(n))] if n else []
    pops = np.asarray(population)
    starts = np.concatenate([[0], np.flatnonzero(pops[1:] != pops[:-1]) + 1])
    stops = np.concatenate([starts[1:], [n]])
    groups: dict[str, list[np.ndarray]] = {}
    for a, b in zip(starts, stops):
        groups.setdefault(as_text(pops[a]), []).append(np.arange(a, b))
    return [(name, np.concatenate(parts)) for name, parts in groups.items()]


def _table_populations(table) -> list[tuple[str, np.ndarray]]:
    """Rows of each population of a CellTable: from the writer's population runs (a few reads) when marked,
    else from the decoded column."""
    runs = table.population_runs() if table.has_population else None
    if runs is not None:
        groups: dict[str, list[np.ndarray]] = {}
        for name, a, b in runs:
            groups.setdefault(name, []).append(np.arange(a, b))
        return [(name, np.concatenate(parts)) for name, parts in groups.items()]
    return population_runs(table.population, table.n_rows)


def _cells_summary(series) -> dict[str, Any]:
    """Cells of a series' table counted by address (population, node id), from ids and offsets only."""
    cells = series.cells
    node_ids = np.asarray(cells.node_ids, dtype=np.int64)
    offsets = np.asarray(cells.offsets, dtype=np.int64)
    counts = np.diff(offsets)
    pops = []
    for name, rows in _table_populations(cells):
        ids = node_ids[rows]
        pops.append(
            {
                "population": name,
                "cells": int(rows.size),
                "node_ids": [int(ids.min()), int(ids.max())] if ids.size else None,
                "compartments": int(counts[rows].sum()),
            }
        )
    return {
        "cells": int(node_ids.size),
        "compartments": int(offsets[-1]) if offsets.size else 0,
        "cells_without_compartments": int((counts == 0).sum()),
        "populations": pops,
    }


def _series_summary(series) -> dict[str, Any]:
    shape = tuple(int(x) for x in series.shape)
    n_t = shape[0]
    written = min(int(series.n_steps_written), n_t)
    times = series.times
    rate = float(series.rate)
    dt = 1.0 / rate if np.isfinite(rate) and rate > 0 else None
    t0 = float(times[0]) if written else None
    t1 = float(times[written - 1]) if written else None
    chunks = getattr(series, "chunks", None)
    out: dict[str, Any] = {
        "name": series.name,
        "shape": list(shape),
        "dtype": str(series.dtype),
        "chunks": list(chunks) if chunks else None,
        "unit": series.unit,
        "conversion": float(series.conversion),
        **series.storage,
        "time_s": [t0, t1],
        "time_ms": [None if t0 is None else t0 * 1e3, None if t1 is None else t1 * 1e3],
        "dt_s": dt,
        "dt_ms": None if dt is None else dt * 1e3,
        "rate_hz": rate if np.isfinite(rate) else None,
        "steps_written": written,
        "steps_allocated": n_t,
    }
    try:
        out.update(_cells_summary(series))
    except ValueError as exc:  # no compartments link
        out["cells"] = None
        out["error"] = str(exc)
    return out


def _units_summary(report) -> dict[str, Any] | None:
    """Rows and spikes of the ``Units`` table per population, read from ids, populations and the index only."""
    units = report.units
    if units is None:
        return None
    offsets = np.asarray(units.offsets, dtype=np.int64)
    counts = np.diff(offsets)
    times = units.element_dataset("spike_times")
    per_pop = []
    t_all: list[float] = []
    for name, rows in _table_populations(units):
        n_spikes = int(counts[rows].sum())
        entry: dict[str, Any] = {
            "population": name,
            "cells": int(rows.size),
            "cells_with_spikes": int((counts[rows] > 0).sum()),
            "spikes": n_spikes,
            "time_s": None,
        }
        if n_spikes and times is not None:
            # rows of a population are contiguous in the files we write: read the span of their spikes
            lo, hi = int(rows.min()), int(rows.max())
            with guard(units.path, times.name):
                if rows.size == hi - lo + 1:
                    t = times[int(offsets[lo]) : int(offsets[hi + 1])]
                else:
                    t = take(times, ragged.rows_to_flat(offsets, rows))
            entry["time_s"] = [float(t.min()), float(t.max())]
            t_all += entry["time_s"]
        per_pop.append(entry)
    resolution = number_attr(units.path, units.group, "resolution", float("inf"))
    return {
        "cells": int(units.n_rows),
        "spikes": int(counts.sum()),
        "time_s": [min(t_all), max(t_all)] if t_all else None,
        "resolution_s": None if resolution == float("inf") else resolution,
        "populations": per_pop,
    }


def _summarise_provenance(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar provenance fields worth a line each; nested objects (configs) are named, not printed."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, Mapping):
            if "version" in key.lower() or key.lower() == "versions":
                out[key] = {k: v for k, v in value.items() if isinstance(v, (str, int, float))}
            else:
                out.setdefault("not_shown", []).append(key)
        elif isinstance(value, list) and key == "command":
            out[key] = " ".join(map(str, value))
        elif value is None or isinstance(value, (int, float, bool)):
            out[key] = value
        elif isinstance(value, str) and (key in _PROVENANCE_KEYS or len(value) <= 300):
            out[key] = value
        else:
            out.setdefault("not_shown", []).append(key)
    return out


def _provenance(path: str, f: h5py.File) -> dict[str, Any]:
    """Provenance summary (simulator, versions, command, config name and size), never the config itself."""
    with guard(path, "/general"):
        doc = read_provenance(f)
    if doc.get("layout") is None:
        doc.pop("layout", None)
    notes = doc.get("notes")
    if isinstance(notes, str) and len(notes) > 200:
        doc["notes"] = notes[:200] + "..."
    return _summarise_provenance(doc)


def describe_nwb(path: str) -> dict[str, Any]:
    """What ``simout info`` shows of an NWB file: file-level text fields, each CompartmentSeries (shape, time,
    cells per population), the ``Units`` table and the provenance summary (JSON types only)."""
    with open_report(path) as report:
        attrs = report.attrs
        out: dict[str, Any] = {
            key: attrs[key] for key in ("session_description", "identifier", "session_start_time") if key in attrs
        }
        out["series"] = []
        for name in report:
            logger.info("series '%s'", name)
            out["series"].append(_series_summary(report[name]))
        logger.info("units table")
        out["units"] = _units_summary(report)
        out["ecp"] = describe_ecp(report.h5file, path=report.path)
        out["provenance"] = _provenance(report.path, report.h5file)
    return out
