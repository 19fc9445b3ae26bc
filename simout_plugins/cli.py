"""``simout`` command line: ``simout info FILE`` lists series, shapes, cells, time range and units."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import numpy as np

from .reader import open_report

logger = logging.getLogger(__name__)


def describe(path: str) -> str:
    """Return the text ``simout info`` prints for one file."""
    lines = [f"{path}"]
    with open_report(path) as report:
        attrs = report.attrs
        for key in ("session_description", "identifier", "session_start_time", "institution"):
            if key in attrs:
                lines.append(f"  {key}: {attrs[key]}")
        if not report.series_names:
            lines.append("  no CompartmentSeries")
        for name in report.series_names:
            s = report[name]
            n_t, n_c = (s.shape + (1,))[:2]
            times = s.times
            t_end = times[s.n_steps_written - 1] if s.n_steps_written else float("nan")
            try:
                node_ids = s.node_ids
                pops = s.population
                cells = (
                    f"{node_ids.size} cells (node ids {node_ids.min()}..{node_ids.max()})"
                    if node_ids.size
                    else "0 cells"
                )
                if pops is not None:
                    names, counts = np.unique(pops.astype(str), return_counts=True)
                    cells += " in " + ", ".join(f"{p} ({c})" for p, c in zip(names, counts))
            except ValueError:
                cells = "no compartments table"
            lines.append(f"  series '{name}': shape ({n_t} times, {n_c} compartments) {s.dtype}, {cells}")
            rate = f"{s.rate:g} Hz" if np.isfinite(s.rate) else "timestamps"
            lines.append(
                f"    time {s.starting_time:g} .. {t_end:g} s ({rate}); {s.n_steps_written}/{n_t} steps written; "
                f"unit {s.unit} (conversion {s.conversion:g})"
            )
        spikes = report.spikes()
        if spikes.node_ids.size:
            lines.append(
                f"  units: {np.unique(spikes.node_ids).size} cells with {spikes.node_ids.size} spikes, "
                f"{spikes.times.min():g} .. {spikes.times.max():g} s"
            )
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    for path in args.files:
        sys.stdout.write(describe(path) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simout", description="Inspect NWB simulation output files.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="list series, shapes, cells, time range and units")
    info.add_argument("files", nargs="+", help="NWB file(s)")
    info.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simout`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"simout: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
