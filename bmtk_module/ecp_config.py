"""The ``"nwb_ecp_report"`` entry of a BMTK simulation config: BMTK's ``extracellular`` keys, checked before the run.

Keys (native meaning, see ``bmtk/simulator/bionet/modules/ecp.py``):

- ``electrode_positions`` (required): BMTK's electrode file, space-separated with a header, columns ``x_pos``,
  ``y_pos``, ``z_pos`` (µm) and optionally ``channel`` (the channel numbers; default the row numbers). A relative
  path is read from the working directory, as BMTK does.
- ``electrode_channels``: channel numbers to keep (default all, which is what BMTK's native module records).
- ``cells``: node set (default ``"all"``); cells without sections (virtual / point cells) are skipped, as BMTK
  does, and the log says how many.
- ``variable_name``: accepted for compatibility; the potential is always computed from ``i_membrane_``.
- ``minimum_distance``: BMTK's lower bound on the electrode-segment distance (µm, or ``"auto"`` = segment radius).
- ``contributions_dir``: a folder (relative: in the output folder) that gets one NWB file per recorded cell,
  ``<population>_<node_id>.nwb``, holding that cell's contribution (BMTK's native module writes ``<gid>.h5``).

Ours: ``file_name`` (``.nwb``, default ``<report name>.nwb``, relative to the output folder), ``dtype`` (``"float32"``
default, ``"float64"`` for values equal to BMTK's ``ecp.h5``), ``location`` (brain area of the channels, default
``"simulated"``), ``nwb_metadata``, ``enabled``.

File rule: an ECP report writes its own file. Two NWB reports (ECP or compartment) naming the same file are a config
error: every report's file is moved into place atomically at the end of the run, so they cannot share one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simout_plugins.nwb import Probe, check_nwb_metadata, make_probe, plain_data

from ._compat import report_base
from .config import _PROVENANCE_STANDIN, METADATA_KEY, REPORT_MODULE, _report_path, _top_metadata, merge_nwb_metadata

logger = logging.getLogger(__name__)

ECP_MODULE = "nwb_ecp_report"
#: BMTK's transfer resistance (``RecXElectrode.calc_transfer_resistance``): line source in a homogeneous medium
METHOD = (
    "Computed as BMTK's extracellular module does: the membrane current of every segment (NEURON i_membrane_, "
    "cvode.use_fast_imem) times line-source transfer resistances (homogeneous medium, sigma = 0.3 S/m), summed "
    "over the recorded cells."
)
_KNOWN_KEYS = {
    "module", "electrode_positions", "electrode_channels", "cells", "variable_name", "contributions_dir",
    "minimum_distance", "file_name", "dtype", "location", "enabled", METADATA_KEY,
}  # fmt: skip
_POSITION_COLUMNS = ("x_pos", "y_pos", "z_pos")

SimReport = report_base()


class NWBEcpReport(SimReport):
    """BMTK ``SimReport`` for ``"module": "nwb_ecp_report"`` (BMTK's parsing applies the defaults and ``enabled``)."""

    @staticmethod
    def avail_modules() -> str:
        return ECP_MODULE

    def _get_defaults(self) -> list[tuple[str, Any]]:
        return [
            ("cells", "all"),
            ("variable_name", "v"),
            ("file_name", f"{self.report_name}.nwb"),
            ("dtype", "float32"),
        ]


def register_ecp_module() -> None:
    """Register ``nwb_ecp_report`` in BMTK's report registry (idempotent)."""
    if SimReport.registry.get(ECP_MODULE) is not NWBEcpReport:
        if ECP_MODULE in SimReport.registry:
            raise ValueError(f"another BMTK report class is already registered as '{ECP_MODULE}'")
        SimReport.register_module(NWBEcpReport)


@dataclass(frozen=True)
class EcpSpec:
    """One checked ``nwb_ecp_report`` entry.

    Attributes
    ----------
    name : str
        Report name; also the probe's ElectrodeGroup and ElectricalSeries name.
    path : pathlib.Path
        Output ``.nwb`` file.
    probe : simout_plugins.nwb.Probe
        The kept channels (positions in µm, channel numbers, method, location).
    channel_rows : numpy.ndarray, shape (n_channels,), int
        Rows of the electrode file the channels come from.
    cells : str or dict or list
        Node set.
    minimum_distance : float or str or None
        BMTK's ``minimum_distance`` (µm), ``"auto"`` or None (no bound).
    contributions_dir : pathlib.Path or None
        Folder of the per-cell files, or None.
    dtype : numpy.dtype
    params : dict
        The entry as BMTK parsed it (defaults applied), for provenance.
    nwb_metadata : dict
    metadata_issues : tuple of str
    """

    name: str
    path: Path
    probe: Probe
    channel_rows: np.ndarray
    cells: Any
    minimum_distance: float | str | None
    contributions_dir: Path | None
    dtype: np.dtype
    params: dict
    nwb_metadata: dict = field(default_factory=dict)
    metadata_issues: tuple[str, ...] = ()


def parse_ecp_reports(
    *, reports: Mapping[str, Any], output_dir: str | os.PathLike, nwb_metadata: Mapping[str, Any] | None = None
) -> list[EcpSpec]:
    """Check every enabled ``nwb_ecp_report`` entry (electrode file read here, before the network is built).

    Parameters
    ----------
    reports : dict
        The config's ``"reports"`` section (other modules are ignored, except that their NWB files must differ).
    output_dir : str or os.PathLike
        The run's output folder.
    nwb_metadata : dict, optional
        The config's top-level ``"nwb_metadata"`` section.

    Raises
    ------
    ValueError, TypeError
        Naming the report, the key and the value: electrode file missing or malformed, positions not numbers,
        channels not in the file, an unknown key, a file name shared with another NWB report, ...
    """
    register_ecp_module()
    top = _top_metadata(nwb_metadata)
    out = Path(output_dir)
    specs, taken = [], {}
    for name, params in reports.items():
        if not isinstance(params, Mapping) or not params.get("enabled", True):
            continue
        if params.get("module") == REPORT_MODULE and isinstance(params.get("file_name", f"{name}.nwb"), str):
            taken[_report_path(f"report '{name}'", params.get("file_name", f"{name}.nwb"), out).resolve()] = name
    for name, params in reports.items():
        if not isinstance(params, Mapping) or params.get("module") != ECP_MODULE:
            continue
        if not params.get("enabled", True):
            logger.info("report '%s' is disabled", name)
            continue
        spec = _spec_from(name, dict(SimReport.build(name, dict(params)).params), out, top)
        where = spec.path.resolve()
        if where in taken:
            raise ValueError(
                f"reports '{taken[where]}' and '{name}' both write '{spec.path}'; an {ECP_MODULE} writes its own "
                "file: give it another file_name"
            )
        taken[where] = name
        specs.append(spec)
    for spec in specs:  # sub-folders inside the output folder, once BMTK has created it (as for compartment reports)
        if out.is_dir() and out.resolve() in spec.path.resolve().parents:
            spec.path.parent.mkdir(parents=True, exist_ok=True)
    return specs


def _spec_from(name: str, params: dict, output_dir: Path, top: Mapping[str, Any]) -> EcpSpec:
    where = f"report '{name}'"
    unknown = sorted(set(params) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; '{ECP_MODULE}' accepts {sorted(_KNOWN_KEYS)}")
    contributions = params.get("contributions_dir")
    if contributions is not None:
        if not isinstance(contributions, str) or not contributions or "\0" in contributions:
            raise TypeError(f"{where}: contributions_dir must be a folder name, got {contributions!r}")
        contributions = Path(contributions) if os.path.isabs(contributions) else output_dir / contributions
        if contributions.exists() and not contributions.is_dir():
            raise ValueError(f"{where}: contributions_dir '{contributions}' is a file, not a folder")
    if not isinstance(params["variable_name"], str):
        raise TypeError(f"{where}: variable_name must be a string, got {params['variable_name']!r}")
    if params["variable_name"] not in ("v", "i_membrane_", "i_membrane"):
        logger.info("%s: variable_name %r ignored: the potential is computed from i_membrane_", where,
                    params["variable_name"])  # fmt: skip
    cells = params["cells"]
    if not isinstance(cells, (str, dict, list)):
        raise TypeError(f"{where}: cells must be a node-set name, a node-set dict or a node-id list, got {cells!r}")
    file_name = params["file_name"]
    if not isinstance(file_name, str) or not file_name.endswith(".nwb"):
        raise ValueError(f"{where}: file_name must be a string ending in '.nwb', got {file_name!r}")
    path = _report_path(where, file_name, output_dir)
    try:
        dtype = np.dtype(params["dtype"])
    except TypeError as exc:
        raise ValueError(
            f"{where}: dtype {params['dtype']!r} is not a numpy dtype; use 'float32' or 'float64'"
        ) from exc
    if dtype.kind != "f":
        raise ValueError(f"{where}: dtype must be 'float32' or 'float64', got {params['dtype']!r}")
    location = params.get("location")
    if location is not None and (not isinstance(location, str) or not location.strip()):
        raise TypeError(f"{where}: location must be a brain-area name (a non-empty string), got {location!r}")
    probe, rows = read_electrodes(
        where=where, name=name, path=params.get("electrode_positions"), channels=params.get("electrode_channels"),
        location=location,
    )  # fmt: skip
    entry_meta = params.get(METADATA_KEY)
    if entry_meta is not None and not isinstance(entry_meta, Mapping):
        raise TypeError(f"{where}: {METADATA_KEY} must be a dict of NWBFile fields, got {entry_meta!r}")
    metadata = merge_nwb_metadata(config=top, report=plain_data(entry_meta))
    issues = check_nwb_metadata(metadata={**_PROVENANCE_STANDIN, **metadata}, where=f"{where}: {METADATA_KEY}")
    return EcpSpec(
        name=name,
        path=path,
        probe=probe,
        channel_rows=rows,
        cells=cells,
        minimum_distance=_minimum_distance(where, params.get("minimum_distance")),
        contributions_dir=contributions,
        dtype=dtype,
        params=dict(params),
        nwb_metadata=metadata,
        metadata_issues=tuple(issues) if metadata else (),
    )


def _minimum_distance(where: str, value: Any) -> float | str | None:
    """BMTK's rule: ``"auto"``, a number (clipped at 0) or nothing; here a non-number is an error, not 0."""
    if value is None or value is False or value == 0:
        return None
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise TypeError(f"{where}: minimum_distance must be a number of µm or 'auto', got {value!r}")
    return max(float(value), 0.0) or None


def read_electrodes(
    *, where: str, name: str, path: Any, channels: Any = None, location: str | None = None
) -> tuple[Probe, np.ndarray]:
    """Read BMTK's electrode file and keep the selected channels.

    Parameters
    ----------
    where : str
        The report, for messages.
    name : str
        Probe name.
    path : str or os.PathLike
        The ``electrode_positions`` file (space-separated, header ``channel x_pos y_pos z_pos``; ``channel``
        optional).
    channels : list of int, "all" or None
        Channel numbers to keep (``electrode_channels``), in the file's order.
    location : str, optional
        Brain area of the channels.

    Returns
    -------
    probe : simout_plugins.nwb.Probe
        Positions (n_channels, 3) in µm, channel numbers (n_channels,).
    rows : numpy.ndarray, shape (n_channels,), int
        Rows of the file kept.
    """
    import pandas as pd

    key = "electrode_positions"
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{where}: {key} must name BMTK's electrode file (csv), got {path!r}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{where}: {key} '{path}' does not exist (resolved from '{Path.cwd()}')")
    try:
        table = pd.read_csv(file, sep=r"\s+", engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"{where}: {key} '{path}' is not a space-separated electrode file: {exc}") from exc
    missing = [c for c in _POSITION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{where}: {key} '{path}' lacks the column(s) {missing} (header found: {list(table.columns)}); BMTK's "
            "electrode file has a header 'channel x_pos y_pos z_pos' and one line per channel, space-separated"
        )
    positions = table[list(_POSITION_COLUMNS)].to_numpy()
    try:
        positions = positions.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {key} '{path}': positions (x_pos, y_pos, z_pos) must be numbers: {exc}") from exc
    ids = table["channel"].to_numpy() if "channel" in table.columns else np.arange(len(table))
    rows = np.arange(len(table))
    if channels is not None and channels != "all":
        if (
            not isinstance(channels, (list, tuple))
            or not channels
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in channels)
        ):
            raise TypeError(f"{where}: electrode_channels must be 'all' or a list of channel numbers, got {channels!r}")
        unknown = sorted(set(channels) - set(ids.tolist()))
        if unknown:
            raise ValueError(
                f"{where}: electrode_channels {unknown} are not channels of '{path}' (it has channels "
                f"{ids.min()}..{ids.max()}, {ids.size} in all)"
                if ids.size and ids.dtype.kind in "iu"
                else f"{where}: electrode_channels {unknown} are not channels of '{path}'"
            )
        rows = rows[np.isin(ids, list(channels))]
    try:
        probe = make_probe(
            name=name, positions_um=positions[rows], channel_ids=ids[rows], method=METHOD, location=location,
            description=f"Electrodes of BMTK's electrode file {file.name}",
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"{where}: {key} '{path}': {exc}") from exc
    return probe, rows
