"""``simout convert IN OUT``: SONATA report and / or spikes → NWB, or NWB → SONATA; direction from IN's contents."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py

from ..nwb.compression import parse_compression, parse_precision
from ..nwb.ids import DEFAULT_POPULATION
from ..read.validate import guard
from ..sonata import file_kind, to_nwb, to_sonata
from ..sonata._common import check_output, open_h5
from ..sonata.read import read_spikes
from ..sonata.write import write_header, write_spikes
from .convert_ecp import add_arguments as add_ecp_arguments
from .convert_ecp import convert_ecp

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``convert`` subcommand to ``simout``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "convert",
        help="convert a SONATA report and / or spike file to NWB or an NWB file to SONATA",
        description="Convert between SONATA compartment reports / spike files and NWB. The direction follows "
        "IN's contents: NWB → SONATA; SONATA → NWB when OUT ends in .nwb, otherwise SONATA → SONATA (rewritten in the "
        "form libsonata and BMTK both read); --to forces it. IN may be a SONATA spike file alone (NWB: Units only).",
    )
    p.add_argument("input", metavar="IN", help="SONATA report or spike file (.h5), or NWB file")
    p.add_argument("output", metavar="OUT", help="output file")
    p.add_argument("--to", choices=("nwb", "sonata"), help="output format (default: the other one)")
    p.add_argument("--metadata", metavar="FILE", help="NWBFile fields as JSON or YAML (to NWB), e.g. subject")
    p.add_argument(
        "--spikes",
        metavar="FILE",
        help="to NWB: a SONATA spike file to put in Units; to SONATA: write the spikes to this file instead of OUT",
    )
    p.add_argument("--series", help="to SONATA: the CompartmentSeries to convert (when the file has several)")
    p.add_argument("--time-base", choices=("start", "end"), help="to NWB: row k is tstart + k*dt (start) or "
                   "tstart + (k+1)*dt (end, BMTK); default: decided from the file")  # fmt: skip
    p.add_argument("--resolution", type=float, metavar="MS", help="to NWB: Units.resolution (the simulation dt) in "
                   "ms; default: the report's dt (needed for a spike file alone)")  # fmt: skip
    p.add_argument("--keep-dtype", action="store_true", help="keep the source data type (default float32)")
    p.add_argument("--compression", metavar="CODEC", help="to NWB: lossless filter of the data: gzip (level 4), "
                   "gzip:<0-9> or lzf; default none")  # fmt: skip
    p.add_argument("--precision", type=int, metavar="DIGITS", help="to NWB: decimal digits kept in the report's "
                   "unit (3 for mV: 1 uV), stored as int32 counts; default none (floats)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_ecp_arguments(p)  # BMTK's extracellular report (ecp.h5) <-> NWB ElectricalSeries
    p.set_defaults(func=run)
    return p


def load_metadata(path: str | None) -> dict[str, Any] | None:
    """NWBFile fields from a JSON or YAML file (a mapping at top level)."""
    if path is None:
        return None
    text = Path(path).read_text()
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            meta = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"'{path}': not valid YAML: {exc}") from exc
    else:
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"'{path}': not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"'{path}': metadata must be a mapping of NWBFile fields, got {type(meta).__name__}")
    return meta


def run(args: argparse.Namespace) -> int:
    """Run ``simout convert``; user errors propagate as ValueError / OSError (exit status 2 in ``main``).

    What h5py raises while reading a damaged input becomes a FileFormatError naming the input.
    """
    for src in (args.input, args.spikes):
        if src is not None and not os.path.exists(src):
            raise FileNotFoundError(f"'{src}': no such file")
    with guard(args.input if args.spikes is None else f"{args.input} / {args.spikes}"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    compression = parse_compression(args.compression, where="simout convert", key="--compression")
    precision = parse_precision(args.precision, where="simout convert", key="--precision")
    if convert_ecp(args, load_metadata=load_metadata):
        logger.info("converted %s → %s", args.input, args.output)
        return 0
    kind = file_kind(args.input)
    check_output(args.output, inputs=[args.input], overwrite=args.overwrite, suffix=".h5")  # only the check
    to = args.to or ("sonata" if kind == "nwb" or Path(args.output).suffix.lower() != ".nwb" else "nwb")
    progress = not args.quiet and sys.stderr.isatty()
    if kind == "sonata-spikes" and args.spikes is not None:
        raise ValueError(f"'{args.input}' is a SONATA spike file; --spikes adds spikes to a report: give one of them")
    if to != "nwb" and (compression is not None or precision is not None):
        raise ValueError("--compression and --precision apply to NWB output; this conversion writes SONATA")
    if to == "nwb":
        if kind == "nwb":
            raise ValueError(f"'{args.input}' is already NWB; use --to sonata or give a SONATA report")
        report, spikes = (args.input, args.spikes) if kind == "sonata-report" else (None, args.input)
        to_nwb(
            report=report,
            out=args.output,
            spikes=spikes,
            metadata=load_metadata(args.metadata),
            time_base=args.time_base,
            keep_dtype=args.keep_dtype,
            overwrite=args.overwrite,
            resolution_ms=args.resolution,
            progress=progress,
            compression=compression,
            precision=precision,
        )
    elif kind == "nwb":
        to_sonata(
            nwb=args.input,
            out=args.output,
            series=args.series,
            spikes_out=args.spikes,
            keep_dtype=args.keep_dtype,
            overwrite=args.overwrite,
            progress=progress,
        )
    else:  # SONATA → SONATA: through NWB semantics, rewritten in the libsonata-readable form
        _sonata_to_sonata(args, kind, progress)
    logger.info("converted %s → %s", args.input, args.output)
    return 0


def _sonata_to_sonata(args: argparse.Namespace, kind: str, progress: bool) -> None:
    """Rewrite SONATA in the libsonata-readable form: a report through NWB (lossless), spikes copied directly.

    Spikes do not go through NWB (seconds) here, so their times come back bit for bit; ``--spikes`` adds a spike
    file's spikes under ``/spikes`` of the rewritten report.
    """
    target = check_output(args.output, inputs=[args.input, args.spikes], overwrite=args.overwrite, suffix=".h5")
    if kind == "sonata-spikes":
        with target.staged() as tmp:
            _copy_spikes(args.input, tmp, mode="w", default_population=DEFAULT_POPULATION)
        return
    with open_h5(args.input) as f:
        names = [k for k, g in f["report"].items() if isinstance(g, h5py.Group)]
    with (
        tempfile.TemporaryDirectory(dir=target.path.resolve().parent, prefix=".simout-") as mid_dir,
        target.staged() as tmp,
    ):
        mid = Path(mid_dir) / "report.nwb"
        to_nwb(report=args.input, out=mid, time_base=args.time_base, keep_dtype=True)
        to_sonata(nwb=mid, out=tmp, keep_dtype=args.keep_dtype, progress=progress)
        if args.spikes is not None:
            one = names[0] if len(names) == 1 else DEFAULT_POPULATION  # population of old /spikes/{gids, ...}
            _copy_spikes(args.spikes, tmp, mode="r+", default_population=one)


def _copy_spikes(src: str, dst: Path, *, mode: str, default_population: str) -> None:
    """Spikes of SONATA spike file ``src`` written under ``/spikes`` of ``dst`` (uncompressed, sorted by time)."""
    with open_h5(src) as f:
        spikes = read_spikes(src, f, default_population=default_population)
    with h5py.File(dst, mode) as h:
        if mode == "w":
            write_header(h)
        write_spikes(h, spikes)
