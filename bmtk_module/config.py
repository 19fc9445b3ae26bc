"""The ``"nwb_compartment_report"`` entry of a BMTK simulation config: defaults, static checks, a frozen spec.

Keys and meanings are those of BMTK's native ``membrane_report`` (``variable_name`` string or list, ``cells``
node-set name or dict, ``sections``, ``file_name`` relative to the output dir, ``start_time`` / ``end_time`` /
``dt`` in ms, ``enabled``) plus ``dtype`` (``"float32"`` default) and ``spikes`` (also write the run's spikes into
the file's ``Units`` table) and ``nwb_metadata`` (NWBFile fields for the file), ``compression`` (a lossless filter:
``"gzip"``, ``"lzf"``, ``{"codec": "gzip", "level": 4}``; default none) and ``precision`` (decimal digits kept in the
recorded unit, e.g. 3 for mV: stored as int32 counts of 1 uV; default none: floats as recorded), both checked by
:mod:`simout_plugins.nwb.compression`. Checks that need the built network
(node sets, variables, run window) live in :mod:`bmtk_module.report_mod`.

``file_name`` is only ever used as a path, never handed to a shell: spaces, quotes, ``;``, ``$(...)``, backticks and
non-ASCII letters end up literally in the file name. A relative ``file_name`` must stay inside the output folder
once ``..`` and symlinks are resolved (an error before the run otherwise); an absolute one may point anywhere but its
folder must exist. Missing sub-folders inside the output folder are created once BMTK has created that folder.

NWB file metadata: a top-level ``"nwb_metadata"`` section of the config applies to every NWB report of the run, a
report's own ``"nwb_metadata"`` entry to that report; the report's keys win, key by key (shallow), except
``subject``, whose fields merge key by key too (the report's ``subject`` fields win). BMTK's config parsing accepts
the extra top-level section and substitutes manifest variables (``$BASE_DIR``, ``${configdir}``) in its strings.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simout_plugins.nwb import CompressionSpec, check_nwb_metadata, parse_compression, parse_precision, plain_data

from ._compat import report_base

logger = logging.getLogger(__name__)

REPORT_MODULE = "nwb_compartment_report"
#: Name of the config's top-level section (and of a report's key) holding NWBFile metadata.
METADATA_KEY = "nwb_metadata"
# stands for the provenance fields the runner adds (a user's source_script_file_name needs a source_script)
_PROVENANCE_STANDIN = {"source_script": "{}", "source_script_file_name": "config.json", "notes": "{}"}

# Section names accepted in "sections" -> SWC type code; the same table as BMTK's native membrane_report
# (bmtk/simulator/bionet/modules/record_cellvars.py ``swc_type_maps``), minus its misspelled "apical denrite".
SECTION_TYPES: dict[str, int] = {
    "soma": 1, "somatic": 1,
    "axon": 2, "axonal": 2,
    "dend": 3, "basal": 3, "basal dendrite": 3, "(basal) dendrite": 3,
    "apic": 4, "apical": 4, "apical dendrite": 4,
}  # fmt: skip

_KNOWN_KEYS = {
    "module", "variable_name", "cells", "sections", "file_name", "start_time", "end_time", "dt", "enabled",
    "dtype", "spikes", METADATA_KEY, "compression", "precision",
}  # fmt: skip
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SimReport = report_base()  # BMTK's report base class, checked for the hooks used below (bmtk_module._compat)


class NWBCompartmentReport(SimReport):
    """BMTK ``SimReport`` for ``"module": "nwb_compartment_report"`` (defaults, ``enabled``, like native reports).

    Registered with ``SimReport.register_module`` by :func:`register_report_module`, so BMTK's own config parsing
    (``bmtk.simulator.utils.simulation_reports.from_config``) builds it, applies the defaults and drops disabled
    entries. ``BioSimulator.from_config`` still skips it ("Unrecognized module"); :func:`bmtk_module.add_nwb_reports`
    attaches it.
    """

    @staticmethod
    def avail_modules() -> str:
        return REPORT_MODULE

    def _get_defaults(self) -> list[tuple[str, Any]]:
        # the native membrane_report's defaults (cells "biophysical", sections "all", file "<report name>.h5"),
        # with an .nwb file name; plus our own keys
        return [
            ("cells", "biophysical"),
            ("sections", "all"),
            ("file_name", f"{self.report_name}.nwb"),
            ("dtype", "float32"),
            ("spikes", False),
        ]


def register_report_module() -> None:
    """Register ``nwb_compartment_report`` in BMTK's report registry (idempotent)."""
    if SimReport.registry.get(REPORT_MODULE) is not NWBCompartmentReport:
        if REPORT_MODULE in SimReport.registry:
            raise ValueError(f"another BMTK report class is already registered as '{REPORT_MODULE}'")
        SimReport.register_module(NWBCompartmentReport)


@dataclass(frozen=True)
class ReportSpec:
    """One checked ``nwb_compartment_report`` entry.

    Attributes
    ----------
    name : str
        Report name (its key in ``"reports"``).
    variables : tuple of str
        NEURON range variables to record (e.g. ``("v",)``, ``("cai", "ica")``); one CompartmentSeries each.
    cells : str or dict or list
        Node set: a name from ``"node_sets"`` (or a population name), or an inline node-set dict / node-id list.
    sections : tuple of str
        Lower-case section names from :data:`SECTION_TYPES`, or ``("all",)``.
    section_types : frozenset of int
        SWC type codes of ``sections``.
    path : pathlib.Path
        Output ``.nwb`` file (``file_name`` joined to the output dir when relative; then it resolves inside it).
    start_time_ms, end_time_ms, dt_ms : float or None
        Recording window and sampling interval in ms; None means the run's tstart / tstop / dt.
    dtype : numpy.dtype
        Floating-point storage type (float64 with ``precision``: the type of the values rounded to counts).
    spikes : bool
        Also write the run's spikes (this rank's cells) into the file's ``Units`` table.
    compression : CompressionSpec or None
        Lossless filter of the data (None: none).
    precision : int or None
        Decimal digits kept in the recorded unit (int32 counts); None: floats as recorded.
    params : dict
        The entry as BMTK parsed it (defaults applied), kept for provenance.
    nwb_metadata : dict
        The user's NWBFile metadata for this file: the config's top-level ``"nwb_metadata"`` merged with the
        entry's (see :func:`merge_nwb_metadata`); checked with pynwb.
    metadata_issues : tuple of str
        What nwbinspector's DANDI checks say about that metadata (missing subject, age not ISO 8601, ...), when
        metadata was given and nwbinspector is installed; logged as warnings by :func:`bmtk_module.add_nwb_reports`.
    """

    name: str
    variables: tuple[str, ...]
    cells: Any
    sections: tuple[str, ...]
    section_types: frozenset[int]
    path: Path
    start_time_ms: float | None
    end_time_ms: float | None
    dt_ms: float | None
    dtype: np.dtype
    spikes: bool
    params: dict
    nwb_metadata: dict = field(default_factory=dict)
    metadata_issues: tuple[str, ...] = ()
    compression: CompressionSpec | None = None
    precision: int | None = None


def parse_reports(
    *, reports: Mapping[str, Any], output_dir: str | os.PathLike, nwb_metadata: Mapping[str, Any] | None = None
) -> list[ReportSpec]:
    """Check every enabled ``nwb_compartment_report`` entry of a config's ``"reports"`` section.

    Parameters
    ----------
    reports : dict
        The config's ``"reports"`` section (other modules are ignored).
    output_dir : str or os.PathLike
        The run's output folder. Relative ``file_name`` values are joined to it and must resolve inside it
        (``..`` and symlinks followed); when the folder exists, missing sub-folders of those files are created.
    nwb_metadata : dict, optional
        The config's top-level ``"nwb_metadata"`` section: NWBFile fields for every NWB report (a report's own
        ``nwb_metadata`` keys win). Checked even when no report is enabled.

    Returns
    -------
    list of ReportSpec
        In config order; disabled entries (``"enabled": false``) are left out.

    Raises
    ------
    ValueError, TypeError
        Naming the report, the key and the bad value (e.g. a relative ``file_name`` leaving the output folder, an
        absolute one in a missing folder).
    """
    register_report_module()
    top = _top_metadata(nwb_metadata)
    specs = []
    for name, params in reports.items():
        if not isinstance(params, Mapping) or params.get("module") != REPORT_MODULE:
            continue
        if not params.get("enabled", True):
            logger.info("report '%s' is disabled", name)
            continue
        report = SimReport.build(name, dict(params))
        specs.append(_spec_from(name, report.params, Path(output_dir), top))
    paths = [_resolve(s.path) for s in specs]
    for i, path in enumerate(paths):
        if path in paths[:i]:
            other = specs[paths.index(path)].name
            raise ValueError(
                f"reports '{other}' and '{specs[i].name}' both write '{path}'; give each its own file_name "
                "(or record several variables in one report with a variable_name list)"
            )
    _make_report_folders(specs, Path(output_dir))
    return specs


def merge_nwb_metadata(*, config: Mapping[str, Any] | None, report: Mapping[str, Any] | None) -> dict[str, Any]:
    """A report's NWBFile metadata: the config's top-level section with the report's entry on top.

    Shallow per key (the report's value replaces the config's), except ``subject``: when both are dicts their
    fields merge, the report's fields winning.

    Parameters
    ----------
    config : dict or None
        The config's top-level ``"nwb_metadata"`` section.
    report : dict or None
        The report entry's ``"nwb_metadata"``.

    Returns
    -------
    dict
        A new dict (the inputs are not changed).
    """
    merged = dict(config or {})
    for key, value in (report or {}).items():
        if key == "subject" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _top_metadata(value: Any) -> dict[str, Any]:
    where = f'the config\'s top-level "{METADATA_KEY}" section'
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict of NWBFile fields, got {value!r}")
    value = plain_data(value)
    check_nwb_metadata(metadata={**_PROVENANCE_STANDIN, **value}, where=where)
    return value


def _spec_from(name: str, params: dict, output_dir: Path, top_metadata: Mapping[str, Any] | None = None) -> ReportSpec:
    where = f"report '{name}'"
    unknown = sorted(set(params) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; '{REPORT_MODULE}' accepts {sorted(_KNOWN_KEYS)}")
    variables = _variables(where, params.get("variable_name"))
    sections = params["sections"]
    sections = [sections] if isinstance(sections, str) else sections
    if not isinstance(sections, (list, tuple)) or not all(isinstance(s, str) for s in sections) or not sections:
        raise TypeError(f"{where}: sections must be a section name or a list of them, got {params['sections']!r}")
    sections = tuple(s.lower() for s in sections)
    bad = [s for s in sections if s != "all" and s not in SECTION_TYPES]
    if bad:
        raise ValueError(f"{where}: unknown section name(s) {bad}; use 'all' or any of {sorted(SECTION_TYPES)}")
    types = frozenset(SECTION_TYPES.values()) if "all" in sections else frozenset(SECTION_TYPES[s] for s in sections)
    cells = params["cells"]
    if not isinstance(cells, (str, dict, list)):
        raise TypeError(f"{where}: cells must be a node-set name, a node-set dict or a node-id list, got {cells!r}")
    file_name = params["file_name"]
    if not isinstance(file_name, str) or not file_name.endswith(".nwb"):
        raise ValueError(f"{where}: file_name must be a string ending in '.nwb', got {file_name!r}")
    path = _report_path(where, file_name, output_dir)
    times = {key: _time(where, key, params.get(key)) for key in ("start_time", "end_time", "dt")}
    if times["dt"] is not None and times["dt"] <= 0:
        raise ValueError(f"{where}: dt must be a positive number of ms, got {params['dt']!r}")
    if times["start_time"] is not None and times["end_time"] is not None and times["start_time"] >= times["end_time"]:
        raise ValueError(
            f"{where}: start_time ({times['start_time']} ms) must be less than end_time ({times['end_time']} ms)"
        )
    try:
        dtype = np.dtype(params["dtype"])
    except TypeError as exc:
        raise ValueError(
            f"{where}: dtype {params['dtype']!r} is not a numpy dtype; use 'float32' or 'float64'"
        ) from exc
    if dtype.kind != "f":
        raise ValueError(f"{where}: dtype must be a float type ('float32' or 'float64'), got {params['dtype']!r}")
    compression = parse_compression(params.get("compression"), where=where)
    precision = parse_precision(params.get("precision"), where=where)
    if precision is not None:  # the block buffer: counts are rounded from the values as NEURON holds them
        dtype = np.dtype("float64")
    if not isinstance(params["spikes"], bool):
        raise TypeError(f"{where}: spikes must be true or false, got {params['spikes']!r}")
    entry_meta = params.get(METADATA_KEY)
    if entry_meta is not None and not isinstance(entry_meta, Mapping):
        raise TypeError(f"{where}: {METADATA_KEY} must be a dict of NWBFile fields, got {entry_meta!r}")
    metadata = merge_nwb_metadata(config=top_metadata, report=plain_data(entry_meta))
    issues = check_nwb_metadata(metadata={**_PROVENANCE_STANDIN, **metadata}, where=f"{where}: {METADATA_KEY}")
    return ReportSpec(
        name=name,
        variables=variables,
        cells=cells,
        sections=sections,
        section_types=types,
        path=path,
        start_time_ms=times["start_time"],
        end_time_ms=times["end_time"],
        dt_ms=times["dt"],
        dtype=dtype,
        spikes=params["spikes"],
        params=dict(params),
        nwb_metadata=metadata,
        metadata_issues=tuple(issues) if metadata else (),
        compression=compression,
        precision=precision,
    )


def _resolve(path: Path) -> Path:
    """``path`` made absolute, symlinks of its existing part followed, ``..`` applied (POSIX order)."""
    return path.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return folder in path.parents


def _report_path(where: str, file_name: str, output_dir: Path) -> Path:
    """The report's output file; a relative ``file_name`` must stay inside the output folder.

    The name is only ever used as a path (never passed to a shell), so spaces, quotes, ``;``, ``$(...)`` and
    non-ASCII letters are written literally. A relative name is joined to the output folder and resolved (``..``
    and symlinks already in the output folder followed): resolving outside the folder is an error; an absolute
    name may point anywhere (its folder must exist).
    """
    if "\0" in file_name:
        raise ValueError(f"{where}: file_name {file_name!r} contains a NUL character, which no file name can hold")
    if os.path.isabs(file_name):
        path = Path(file_name)
        target = _resolve_or_raise(where, file_name, path)
        if not _inside(target, _resolve_or_raise(where, file_name, output_dir)) and not target.parent.is_dir():
            raise ValueError(
                f"{where}: file_name {file_name!r}: folder '{target.parent}' does not exist; create it first "
                "(only folders inside the output folder are created for you)"
            )
        return path
    path = output_dir / file_name
    root = _resolve_or_raise(where, file_name, output_dir)
    target = _resolve_or_raise(where, file_name, path)
    if not _inside(target, root):
        raise ValueError(
            f"{where}: file_name {file_name!r} is relative, so it must stay inside the output folder '{root}', "
            f"but it resolves to '{target}'; to write outside the output folder give an absolute file_name "
            f"(e.g. '{target}'), otherwise drop the '..' or symlink that leaves it"
        )
    return path


def _resolve_or_raise(where: str, file_name: str, path: Path) -> Path:
    try:
        return _resolve(path)
    except (OSError, RuntimeError) as exc:  # symlink loop, name too long
        raise ValueError(f"{where}: file_name {file_name!r} cannot be resolved to a file path: {exc}") from exc


def _make_report_folders(specs: list[ReportSpec], output_dir: Path) -> None:
    """Create missing folders of report files inside the output folder, once BMTK has created that folder.

    BMTK creates (and with ``overwrite_output_dir`` empties) the output folder in ``conf.build_env()``, so a
    sub-folder named in ``file_name`` (``"v/v_report.nwb"``) is created here, when the entries are attached
    after ``build_env``; while the output folder does not exist yet (the runner's early check), nothing is
    created. Folders outside the output folder (absolute names) are never created.
    """
    if not output_dir.is_dir():
        return
    root = _resolve(output_dir)
    for spec in specs:
        folder = _resolve(spec.path).parent
        if folder == root or not _inside(folder, root) or folder.is_dir():
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"report '{spec.name}': file_name {spec.params['file_name']!r}: cannot create the folder "
                f"'{folder}' inside the output folder ({exc.strerror or exc}); choose another file_name"
            ) from exc


def _variables(where: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{where}: variable_name must be a variable name or a non-empty list of them, got {value!r}")
    bad = [v for v in values if not _VARIABLE.match(v)]
    if bad:
        raise ValueError(f"{where}: variable_name {bad} are not NEURON variable names (e.g. 'v', 'cai', 'ina')")
    if len(set(values)) != len(values):
        raise ValueError(f"{where}: variable_name lists a variable twice: {list(values)}")
    return tuple(values)


def _time(where: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise TypeError(f"{where}: {key} must be a number of ms, got {value!r}")
    return float(value)
