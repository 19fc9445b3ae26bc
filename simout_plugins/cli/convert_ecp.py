"""``simout convert`` for extracellular potentials: BMTK's ``ecp.h5`` → NWB, and an NWB ElectricalSeries → ``ecp.h5``
(:mod:`simout_plugins.sonata.ecp`). :func:`convert_ecp` is tried first; it returns False for every other file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import h5py

from ..nwb.discover import find_typed_groups
from ..read.formats import file_kind
from ..read.validate import open_file
from ..sonata.ecp import ecp_to_nwb, nwb_to_ecp

__all__ = ["add_arguments", "convert_ecp"]

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--electrodes`` (BMTK's electrode file, for the channel positions of an ``ecp.h5``)."""
    p.add_argument("--electrodes", metavar="CSV", help="ecp.h5 to NWB: BMTK's electrode file (channel positions, µm)")


def _has_only_ecp(path: str, series: str | None) -> bool:
    """An NWB file whose conversion is the ElectricalSeries: it has one and no CompartmentSeries, or ``series``
    names an ElectricalSeries."""
    with open_file(path) as f:
        ecp = [p.rsplit("/", 1)[-1] for p in find_typed_groups(f, "ElectricalSeries")]
        if series is not None:
            return series in ecp
        return bool(ecp) and not find_typed_groups(f, "CompartmentSeries")


def convert_ecp(args: argparse.Namespace, *, load_metadata) -> bool:
    """Convert when IN is BMTK's ``ecp.h5`` (→ NWB) or an NWB file of ElectricalSeries only (→ ``ecp.h5``).

    Returns
    -------
    bool
        True when the file was converted here; False: not an ECP conversion (the caller goes on).
    """
    electrodes = getattr(args, "electrodes", None)
    kind = _root_kind(args.input)
    ecp = kind is None or (kind == "nwb" and args.to != "sonata" and _has_only_ecp(args.input, args.series))
    filters = [f"--{key}" for key in ("compression", "precision") if getattr(args, key, None) is not None]
    if ecp and filters:
        raise ValueError(f"{' and '.join(filters)}: not available for extracellular reports (ecp.h5 <-> NWB "
                         "ElectricalSeries) yet; convert without them")  # fmt: skip
    if kind is None:  # an HDF5 file with /ecp: BMTK's extracellular report
        if args.to == "sonata":
            raise ValueError(f"'{args.input}' is BMTK's extracellular report: it converts to NWB only")
        ecp_to_nwb(ecp=args.input, out=args.output, electrodes=electrodes, metadata=load_metadata(args.metadata),
                   overwrite=args.overwrite)  # fmt: skip
        return True
    if ecp:
        if Path(args.output).suffix.lower() == ".nwb":
            raise ValueError(f"'{args.input}' is NWB already; give an .h5 OUT for BMTK's ecp.h5 form")
        nwb_to_ecp(nwb=args.input, out=args.output, series=args.series, overwrite=args.overwrite)
        return True
    if electrodes is not None:
        raise ValueError("--electrodes is for BMTK's extracellular report (ecp.h5) as IN")
    return False


def _root_kind(path: str) -> str | None:
    """:func:`file_kind`, or None for an HDF5 file it does not know (e.g. BMTK's ``ecp.h5``)."""
    from ..errors import FileFormatError

    try:
        return file_kind(path)
    except FileFormatError:
        with open_file(path) as f:
            if isinstance(f.get("ecp"), h5py.Group):
                return None
        raise
