"""What ``simout info`` reports about a file, as a plain dict (JSON-ready): NWB CompartmentSeries files, SONATA
compartment reports (``/report/<population>/...``) and SONATA spike files (``/spikes/<population>/...``).

Only ids, populations, index pointers and attributes are read: no data, no label strings, so a 1M-cell file is
described in about a second.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ..nwb import ragged
from ..nwb.ids import DEFAULT_POPULATION
from ..nwb.provenance import read_provenance
from ..read.formats import detect_format
from ..read.reader import _str_attr as _text
from ..read.reader import open_report
from ..read.tables import take
from ..read.validate import guard, number_attr, open_file
from ..sonata.read import ReportPopulation, decide_time_base, read_report, spike_arrays, spike_groups
from ..write.outputs import PARTIAL_NAME

__all__ = [
    "describe_file",
    "format_info",
    "population_runs",
]

logger = logging.getLogger(__name__)

#: Text fields of the provenance that ``simout info`` shows whatever their length.
_PROVENANCE_KEYS = ("simulator", "config_file_name", "experiment_description", "notes")


def describe_file(path: str | os.PathLike) -> dict[str, Any]:
    """Describe an NWB or SONATA file (see the module docstring); the dict holds only JSON types.

    Parameters
    ----------
    path : str or os.PathLike
        NWB file, SONATA compartment report or SONATA spike file.

    Returns
    -------
    dict
        ``{"file", "format", "size_bytes", ...}``; NWB: ``series`` (list), ``units``, ``provenance``;
        SONATA: ``report`` and/or ``spikes`` (lists of populations).
    """
    path = os.fspath(path)
    kind = detect_format(path)
    logger.info("describing %s (%s)", path, kind)
    out: dict[str, Any] = {"file": path, "format": kind, "size_bytes": os.path.getsize(path)}
    with guard(path):
        out.update(_describe_nwb(path) if kind == "nwb" else _describe_sonata(path))
    return out


# ---------------------------------------------------------------------------------------------------- NWB


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
        groups.setdefault(_text(pops[a]), []).append(np.arange(a, b))
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


def _provenance(path: str) -> dict[str, Any]:
    """Provenance summary (simulator, versions, command, config name and size), never the config itself."""
    with guard(path, "/general"):
        doc = read_provenance(path)
    if doc.get("layout") is None:
        doc.pop("layout", None)
    notes = doc.get("notes")
    if isinstance(notes, str) and len(notes) > 200:
        doc["notes"] = notes[:200] + "..."
    return _summarise_provenance(doc)


def _describe_nwb(path: str) -> dict[str, Any]:
    with open_report(path) as report:
        attrs = report.attrs
        out: dict[str, Any] = {
            key: attrs[key] for key in ("session_description", "identifier", "session_start_time") if key in attrs
        }
        out["series"] = []
        for name in report.series_names:
            logger.info("series '%s'", name)
            out["series"].append(_series_summary(report[name]))
        logger.info("units table")
        out["units"] = _units_summary(report)
    out["provenance"] = _provenance(path)
    return out


# ---------------------------------------------------------------------------------------------------- SONATA


def _describe_report_population(pop: ReportPopulation, data: h5py.Dataset) -> dict[str, Any]:
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
        "shape": [int(x) for x in data.shape],
        "dtype": str(pop.dtype),
        "chunks": list(data.chunks) if data.chunks else None,
        "compression": data.compression,
        "units": pop.units,
        "assumed_units": None if pop.units else pop.assumed_units(),
        "variable": pop.variable,
    }


def _describe_spikes(population: str | None, group: h5py.Group, id_key: str) -> dict[str, Any]:
    """One population of a spike file (``population`` None: the pre-population ``/spikes/{gids,timestamps}``)."""
    node_ids, t = spike_arrays(group.file.filename, group, id_key)
    ts = group["timestamps"]
    units = ts.attrs.get("units")
    sorting = None if population is None else group.attrs.get("sorting")
    return {
        "population": population,
        "spikes": int(t.size),
        "cells_with_spikes": int(np.unique(node_ids).size),
        "node_ids": [int(node_ids.min()), int(node_ids.max())] if node_ids.size else None,
        "time": [float(t.min()), float(t.max())] if t.size else None,
        "units": None if units is None else _text(units),
        "dtype": str(ts.dtype),
        "sorting": None if sorting is None else _sorting_text(sorting, group),
        "compression": ts.compression,
    }


def _describe_sonata(path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with open_file(path) as f:
        report = f.get("report")
        if isinstance(report, h5py.Group):
            pops = sorted(read_report(f, path), key=lambda p: p.name)
            out["report"] = [_describe_report_population(p, f[p.data_path]) for p in pops]
        if isinstance(f.get("spikes"), h5py.Group):
            groups = sorted(spike_groups(path, f, default_population=DEFAULT_POPULATION).items())
            out["spikes"] = [_describe_spikes(None if g.name == "/spikes" else k, g, key) for k, (g, key) in groups]
    return out


# ---------------------------------------------------------------------------------------------------- text


def _fmt_range(r, unit: str = "") -> str:
    if not r or r[0] is None:  # [None, None]: a series with no step written
        return "-"
    return f"{r[0]:g} .. {r[1]:g}{unit}"


def _fmt_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _fmt_pops(pops: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{p['population']} {p['cells']}" + (f" (node ids {_fmt_range(p['node_ids'])})" if p.get("node_ids") else "")
        for p in pops
    )


def format_info(info: Mapping[str, Any]) -> str:
    """Human-readable text of one :func:`describe_file` result (what ``simout info`` prints)."""
    lines = [f"{info['file']}  ({info['format'].upper()}, {_fmt_size(info['size_bytes'])})"]
    if info["format"] == "nwb" and PARTIAL_NAME.match(os.path.basename(info["file"])):
        valid = ", ".join(f"'{s['name']}' {s['steps_written']}/{s['steps_allocated']}" for s in info["series"])
        lines.append(f"  PARTIAL file of a run that did not finish; valid steps: {valid}")
        lines.append(f"  make a complete NWB file of it with: simout recover {info['file']}")
    if info["format"] == "nwb":
        for key in ("session_description", "identifier", "session_start_time"):
            if key in info:
                lines.append(f"  {key}: {info[key]}")
        if not info["series"]:
            lines.append("  no CompartmentSeries")
        for s in info["series"]:
            lines.append(
                f"  series '{s['name']}': {s['shape'][0]} times x {s['shape'][1]} compartments, {s['dtype']}, "
                f"chunks {tuple(s['chunks']) if s['chunks'] else '-'}, unit {s['unit']} "
                f"(conversion {s['conversion']:g})"
            )
            dt = f"dt {s['dt_ms']:g} ms" if s["dt_ms"] is not None else "timestamps"
            lines.append(
                f"    time {_fmt_range(s['time_s'], ' s')} ({_fmt_range(s['time_ms'], ' ms')}), {dt}; "
                f"steps written {s['steps_written']}/{s['steps_allocated']}"
            )
            if s.get("cells") is None:
                lines.append(f"    {s.get('error', 'no compartments table')}")
            else:
                empty = s["cells_without_compartments"]
                lines.append(
                    f"    cells {s['cells']} ({_fmt_pops(s['populations'])}), compartments {s['compartments']}"
                    + (f", {empty} cells without compartments" if empty else "")
                )
        u = info.get("units")
        if u:
            per = ", ".join(f"{p['population']} {p['cells']} cells / {p['spikes']} spikes" for p in u["populations"])
            lines.append(f"  units: {u['cells']} cells, {u['spikes']} spikes, time {_fmt_range(u['time_s'], ' s')}")
            if per:
                lines.append(f"    {per}")
        else:
            lines.append("  units: none")
        prov = info.get("provenance") or {}
        if prov:
            lines.append("  provenance:")
            for key, value in prov.items():
                if isinstance(value, Mapping):
                    value = ", ".join(f"{k} {v}" for k, v in value.items())
                elif isinstance(value, list):
                    value = ", ".join(map(str, value))
                lines.append(f"    {key.replace('_', ' ')}: {value}")
    else:
        for p in info.get("report", []):
            tu = p["time_units"] or "units not stored"
            lines.append(
                f"  report population '{p['population']}': {p['nodes']} nodes "
                f"(node ids {_fmt_range(p['node_ids'])}), {p['elements']} elements"
            )
            lines.append(
                f"    time [tstart, tstop, dt] = {p['time']} ({tu}), {p['steps']} steps, row k at "
                + ("tstart + k*dt" if p["time_base"] == "start" else "tstart + (k+1)*dt")
                + f" ({p['time_base_reason']})"
            )
            lines.append(
                f"    data {p['dtype']}, "
                f"units {p['units'] or 'not stored (assumed ' + str(p['assumed_units']) + ')'}, "
                f"chunks {tuple(p['chunks']) if p['chunks'] else '-'}, {' + '.join(p['index_names'])}"
                + ("" if p["element_pos"] else ", no element_pos")
            )
        for p in info.get("spikes", []):
            lines.append(
                f"  spikes population '{p['population']}': {p['spikes']} spikes from {p['cells_with_spikes']} "
                f"cells (node ids {_fmt_range(p['node_ids'])}), time {_fmt_range(p['time'])} "
                f"{p['units'] or '(units not stored)'}" + (f", sorting {p['sorting']}" if p["sorting"] else "")
            )
    return "\n".join(lines)


def _sorting_text(value, group: h5py.Group) -> str:
    """The ``sorting`` attribute as text (libsonata writes an HDF5 enum: by_id / by_time / none)."""
    if isinstance(value, (bytes, str)):
        return _text(value)
    enum = h5py.check_enum_dtype(group.attrs.get_id("sorting").dtype) if "sorting" in group.attrs else None
    if enum:
        names = {v: k for k, v in enum.items()}
        return names.get(int(value), str(value))
    return str(value)
