"""``simout info``: what a file holds, as a plain dict (JSON-ready, :func:`describe_file`) and as the text the command
prints (:func:`format_info`). NWB CompartmentSeries files are described by :mod:`.describe_nwb`, SONATA
compartment reports (``/report/<population>/...``) and spike files (``/spikes/<population>/...``) by
:mod:`.describe_sonata`; which one is the file-kind rule of :mod:`simout_plugins.read.formats`.

Only ids, populations, index pointers and attributes are read: no data, no label strings, so a 1M-cell file is
described in about a second.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..read.formats import detect_format
from ..read.remote import is_url, source_size
from ..write.outputs import PARTIAL_NAME
from .describe_ecp import ecp_lines
from .describe_nwb import describe_nwb
from .describe_sonata import describe_sonata

__all__ = ["describe_file", "format_info"]

logger = logging.getLogger(__name__)


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
    path = path if is_url(path) else os.fspath(path)
    kind = detect_format(path)
    logger.info("describing %s (%s)", path, kind)
    out: dict[str, Any] = {"file": path, "format": kind, "size_bytes": source_size(path)}
    out.update(describe_nwb(path) if kind == "nwb" else describe_sonata(path))
    return out


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
        if not info["series"] and not info.get("ecp"):
            lines.append("  no CompartmentSeries")
        for s in info["series"]:
            lines.append(
                f"  series '{s['name']}': {s['shape'][0]} times x {s['shape'][1]} compartments, {s['dtype']}, "
                f"chunks {tuple(s['chunks']) if s['chunks'] else '-'}, unit {s['unit']} "
                f"(conversion {s['conversion']:g}){_storage(s)}"
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
        lines.extend(ecp_lines(info.get("ecp", [])))
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


def _storage(s: dict) -> str:
    """What follows the conversion for a compressed / counts series (e.g. ``, gzip-4 + shuffle, precision 3``)."""
    out = ""
    if s.get("compression"):
        level = f"-{s['level']}" if s.get("level") is not None else ""
        out += f", {s['compression']}{level}{' + shuffle' if s.get('shuffle') else ''}"
    if s.get("precision") is not None:
        out += f", precision {s['precision']} (counts of {s['conversion']:g} {s['unit']})"
    return out
