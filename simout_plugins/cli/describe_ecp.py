"""``simout info`` lines for the ElectricalSeries of an NWB file (simulated probes): shape, time base, probes,
channels and their extent; the data come from :func:`simout_plugins.read.ecp.describe_ecp`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ecp_lines"]


def _channels(ids: Sequence[int]) -> str:
    """``0..85`` for a contiguous run, else the first few ids."""
    if not ids:
        return "none"
    if list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}..{ids[-1]}" if len(ids) > 1 else str(ids[0])
    head = ", ".join(map(str, ids[:8]))
    return head + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")


def ecp_lines(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Text lines (indented like the rest of ``simout info``) for the ``ecp`` entries of :func:`describe_file`."""
    lines = []
    for e in items:
        rate = e["rate_hz"]
        dt = f"dt {1000.0 / rate:g} ms" if rate else "timestamps"
        lines.append(
            f"  ecp '{e['name']}': {e['n_steps']} times x {e['n_channels']} channels, unit {e['unit']} "
            f"(conversion {e['conversion']:g}), start {e['starting_time_s']:g} s, {dt}; steps written "
            f"{e['n_steps_written']}/{e['n_steps']}"
        )
        where = ", ".join(e["locations"]) or "location not stored"
        lines.append(f"    probe {', '.join(e['probes']) or '-'} ({where}); channels {_channels(e['channel_ids'])}")
        if e["extent_um"] is not None:
            lo, hi = e["extent_um"]
            span = ", ".join(f"{axis} {a:g}..{b:g}" for axis, a, b in zip("xyz", lo, hi))
            lines.append(f"    positions (µm): {span}")
    return lines
