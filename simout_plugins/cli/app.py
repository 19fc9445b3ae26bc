"""``simout`` command line: ``info`` (what a file holds), ``plot`` (traces, heatmap, raster), ``convert``,
``recover`` (a valid file from the partial file of a killed run).

Each subcommand is added by a ``register(subparsers)`` function listed in :data:`REGISTRARS`; its handler returns
the exit status. Exit status: 0 ok, 2 bad arguments or bad input (one line ``simout: error: ...`` on stderr naming
the file and what is wrong, no traceback). Anything else (a ``KeyError``, ``TypeError``, ... raised by a bug in this
package) is not caught: Python prints its full traceback and the status is 1. ``-v`` logs progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from ..errors import SimoutError
from ..plot.draw import check_image_path
from ..plot.render import KINDS, plot_file
from ..write.recover import recover
from ..write.repack import repack
from . import convert as cli_convert
from .info import describe_file, format_info

logger = logging.getLogger(__name__)

#: Errors that are the user's: the project's own (:class:`~simout_plugins.errors.SimoutError`: FileFormatError,
#: TableError, ConversionError, OutputWriteError), bad arguments (ValueError), the file system (FileNotFoundError,
#: PermissionError, ... : OSError) and a missing optional dependency (ImportError). One line on stderr, exit status 2.
#: Not here on purpose: KeyError, TypeError, IndexError, AttributeError, RuntimeError: from our own code they are
#: bugs (what h5py raises on a damaged file is already a FileFormatError, see ``read.validate.guard``).
USER_ERRORS: tuple[type[BaseException], ...] = (SimoutError, ValueError, OSError, ImportError)


class CommandError(Exception):
    """A user error tied to one file: printed as ``simout: error: <file>: <what>``."""

    def __init__(self, path: str, exc: BaseException) -> None:
        what = str(exc)
        message = what if path in what else f"{path}: {what}"
        super().__init__(message)


def _run_info(args: argparse.Namespace) -> int:
    infos = []
    for path in args.files:
        try:
            infos.append(describe_file(path))
        except USER_ERRORS as exc:
            raise CommandError(path, exc) from exc
    if args.json:
        doc = infos[0] if len(infos) == 1 else infos
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(format_info(info) for info in infos) + "\n")
    return 0


def register_info(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``simout info FILE... [--json]``."""
    p = subparsers.add_parser(
        "info",
        help="what an NWB or SONATA file holds: series / populations, cells, time, units, chunks, provenance",
        description="Describe NWB CompartmentSeries files, SONATA compartment reports and SONATA spike files. "
        "Reads ids, populations and index pointers only, never the data.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="NWB file, SONATA report or SONATA spike file")
    p.add_argument("--json", action="store_true", help="print one JSON object (a list for several files)")
    p.set_defaults(func=_run_info)
    return p


def _run_plot(args: argparse.Namespace) -> int:
    check_image_path(args.output)  # before reading the input: errors name the output
    try:
        plot_file(
            args.file,
            kind=args.kind,
            series=args.series,
            population=args.population,
            node_ids=args.node_ids,
            tstart_ms=args.tstart,
            tstop_ms=args.tstop,
            max_cells=args.max_cells,
            output=args.output,
            dpi=args.dpi,
        )
    except USER_ERRORS as exc:
        raise CommandError(args.file, exc) from exc
    return 0


def register_plot(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``simout plot FILE [--series] [--population] [--node-ids] [--tstart] [--tstop] [--kind] -o OUT``."""
    p = subparsers.add_parser(
        "plot",
        help="plot traces, a compartments x time heatmap or a spike raster of an NWB or SONATA file",
        description="Plot an NWB or SONATA file. Times are in ms, as in simulator configs. traces: the chosen "
        "cells' compartments (default: the first few cells of the first population); heatmap: compartments x "
        "time of many cells (capped, decimated in time); raster: spikes from Units or a SONATA spike file.",
    )
    p.add_argument("file", metavar="FILE", help="NWB file, SONATA report or SONATA spike file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="image to write (.png, .pdf, .svg)")
    p.add_argument("--kind", choices=KINDS, help="plot kind (default traces; raster for a spike file)")
    p.add_argument("--series", help="NWB CompartmentSeries (default v, else the first)")
    p.add_argument("--population", help="population of the cells (default: the first)")
    p.add_argument("--node-ids", type=int, nargs="+", metavar="ID", help="node ids within the population")
    p.add_argument("--tstart", type=float, metavar="MS", help="start of the window (ms)")
    p.add_argument("--tstop", type=float, metavar="MS", help="end of the window (ms)")
    p.add_argument("--max-cells", type=int, default=3, metavar="N", help="cells plotted without --node-ids")
    p.add_argument("--dpi", type=int, default=120, help="resolution of the image")
    p.set_defaults(func=_run_plot)
    return p


def _register_convert(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``simout convert IN OUT`` (:mod:`simout_plugins.cli.convert`)."""
    return cli_convert.register(subparsers)


def _run_recover(args: argparse.Namespace) -> int:
    try:
        report = recover(args.file, out=args.output, overwrite=args.overwrite)
    except (FileExistsError, IsADirectoryError) as exc:  # about the output: the message names it
        raise CommandError(str(args.output or exc), exc) from exc
    except USER_ERRORS as exc:
        raise CommandError(args.file, exc) from exc
    sys.stdout.write(report.summary() + "\n")
    return 0


def register_recover(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``simout recover FILE [-o OUT] [--overwrite]``."""
    p = subparsers.add_parser(
        "recover",
        help="make a valid NWB file of the partial file a killed or crashed run left (<stem>.partial.nwb)",
        description="Copy a partial file (<stem>.partial.nwb or <stem>.partial.<YYYYmmdd-HHMMSS>.nwb) and cut each "
        "series to the samples the run flushed (simout_steps_written); a Units table (spikes) that was not "
        "completely written is removed. FILE is never modified. A complete file is copied unchanged.",
    )
    p.add_argument("file", metavar="FILE", help="the partial NWB file")
    p.add_argument("-o", "--output", metavar="OUT", help="file to write (default: <stem>.recovered.nwb beside FILE)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_run_recover)
    return p


def _run_repack(args: argparse.Namespace) -> int:
    try:
        report = repack(args.file, out=args.output, overwrite=args.overwrite)
    except (FileExistsError, IsADirectoryError) as exc:  # about the output: the message names it
        raise CommandError(str(args.output or exc), exc) from exc
    except USER_ERRORS as exc:
        raise CommandError(args.file, exc) from exc
    sys.stdout.write(f"{report.output}: {len(report.series)} series stored cell by cell\n")
    return 0


def register_repack(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``simout repack FILE [-o OUT] [--overwrite]``."""
    p = subparsers.add_parser(
        "repack",
        help="copy an NWB file with its series' chunks stored cell by cell (fast one-cell reads from a server)",
        description="Copy an NWB file, storing each series' chunks one column of chunks after another, so that "
        "one cell's full trace is one or two HTTP range requests (DANDI, a lab server). Values, chunk shape and "
        "every other object are unchanged. FILE is never modified.",
    )
    p.add_argument("file", metavar="FILE", help="a complete NWB file")
    p.add_argument("-o", "--output", metavar="OUT", help="file to write (default: <stem>.repacked.nwb beside FILE)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_run_repack)
    return p


#: Subcommand registration functions, in the order ``simout --help`` lists them.
REGISTRARS: list[Callable[[argparse._SubParsersAction], argparse.ArgumentParser]] = [
    register_info,
    register_plot,
    _register_convert,
    register_recover,
    register_repack,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``simout`` argument parser with every subcommand of :data:`REGISTRARS`."""
    parser = argparse.ArgumentParser(
        prog="simout", description="Inspect, plot and convert NWB / SONATA simulation output files."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        p = register(sub)
        if p is not None and not any("--verbose" in a.option_strings for a in p._actions):
            # ``simout info -v FILE`` as well as ``simout -v info FILE``
            p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    """Argument checks argparse cannot express (ValueError: one line, exit status 2)."""
    tstart, tstop = getattr(args, "tstart", None), getattr(args, "tstop", None)
    if tstart is not None and tstop is not None and tstop < tstart:
        raise ValueError(f"--tstop {tstop:g} ms is before --tstart {tstart:g} ms")
    if getattr(args, "max_cells", 1) < 1:
        raise ValueError("--max-cells must be at least 1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simout`` console script; returns the exit status (0 ok, 2 bad arguments or input).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0, or 2 after one ``simout: error: ...`` line for a user error (:data:`USER_ERRORS`). Other exceptions (bugs)
        are raised, with their traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="simout: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        _check_args(args)
        return int(args.func(args))
    except CommandError as exc:
        sys.stderr.write(f"simout: error: {exc}\n")
        return 2
    except USER_ERRORS as exc:  # errors not tied to one input file (e.g. convert's output path)
        sys.stderr.write(f"simout: error: {exc}\n")
        return 2
    # anything else propagates: a bug, shown with its traceback (exit status 1)


if __name__ == "__main__":
    sys.exit(main())
