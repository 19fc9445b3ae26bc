"""Parse ``cfg.saveNWB`` (``True`` or a dict of options) into a frozen :class:`NWBOptions`.

Nothing here touches NEURON, MPI or the file system beyond resolving the output path; every error names the
offending value and the fix, and is raised before the network is simulated.

File names are only ever used as paths, never handed to a shell: spaces, quotes, ``;``, ``$(...)``, backticks and
non-ASCII letters end up literally in the file name. The output folder is ``cfg.saveFolder`` (relative to the
working directory, as in NetPyNE); the name NetPyNE puts in it (``cfg.simLabel`` or ``cfg.filename``), when
relative, must stay inside it once ``..`` and symlinks are resolved. ``cfg.saveNWB['filename']`` and, without a
``saveFolder``, ``cfg.filename`` are the user's own output path (relative to the working directory) and may
point anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simout_plugins.nwb import CompressionSpec, check_nwb_metadata, parse_compression, parse_precision, plain_data

#: Keys accepted in the ``cfg.saveNWB`` dict, with their meaning (used in error messages and the docs).
OPTION_KEYS = {
    "filename": "output path ending in .nwb (default: <cfg.saveFolder>/<cfg.filename>.nwb, simLabel as in NetPyNE)",
    "dtype": "'float32' (default) or 'float64'",
    "spikes": "write spike times to the Units table (default True)",
    "traces": "'all' (default) or a list of cfg.recordTraces keys to write",
    "intervalMs": "simulated time between two blocks written to the file, in ms (default 100.0)",
    "gatherTraces": "also gather traces to rank 0 into sim.allSimData: True, False or None (default: only when "
    "another save* flag or a plotTraces analysis needs them)",
    "overwrite": "replace an existing file (default True; the old file survives a failed run either way)",
    "metadata": "dict of NWBFile fields (session_description, experimenter, institution, lab, keywords, "
    "subject as a dict of pynwb Subject fields, ...); checked with pynwb before the run",
    "compression": "lossless filter of the traces: 'gzip', 'gzip:<0-9>', 'lzf' or {'codec': 'gzip', 'level': 4} "
    "(default None: fastest)",
    "precision": "decimal digits kept in each trace's unit, e.g. 3 (1 uV for mV): int32 counts (default None: floats)",
    "provenance": "store simConfig and netParams as JSON in the file (default True)",
}

#: NetPyNE's native save flags; when one is set, NetPyNE's own files need the traces in sim.allSimData.
NATIVE_SAVE_FLAGS = ("savePickle", "saveJson", "saveMat", "saveCSV", "saveDpk", "saveHDF5", "saveDat")


@dataclass(frozen=True)
class NWBOptions:
    """Validated NWB output options of one run.

    Attributes
    ----------
    path : pathlib.Path
        Output file (ends in ``.nwb``).
    dtype : str
        ``"float32"`` or ``"float64"``.
    spikes : bool
        Write the ``Units`` table.
    traces : tuple of str or None
        Trace keys to write (``None`` = every ``cfg.recordTraces`` key).
    interval_ms : float
        Simulated time between two written blocks, ms.
    gather_traces : bool
        Let NetPyNE gather the traces to rank 0 (``sim.allSimData``) as usual.
    overwrite : bool
        Replace an existing output file.
    metadata : dict
        NWBFile keyword arguments.
    compression : CompressionSpec or None
        Lossless filter of the trace data.
    precision : int or None
        Decimal digits kept in each trace's recorded unit (int32 counts); None: floats.
    provenance : bool
        Store simConfig / netParams JSON in the file.
    metadata_issues : tuple of str
        What nwbinspector's DANDI checks say about ``metadata`` (missing subject, age not ISO 8601, ...), when
        metadata was given and nwbinspector is installed; logged as warnings before the run.
    """

    path: Path
    dtype: str = "float32"
    spikes: bool = True
    traces: tuple[str, ...] | None = None
    interval_ms: float = 100.0
    gather_traces: bool = False
    overwrite: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    compression: CompressionSpec | None = None
    precision: int | None = None
    provenance: bool = True
    metadata_issues: tuple[str, ...] = ()


def is_enabled(cfg: Any) -> bool:
    """True when ``cfg.saveNWB`` asks for NWB output (``True`` or a dict without ``'enabled': False``)."""
    value = getattr(cfg, "saveNWB", False)
    if isinstance(value, Mapping):
        return bool(value.get("enabled", True))
    return value is True


def default_path(cfg: Any) -> Path:
    """The default NWB file: ``cfg.filename + ".nwb"`` in ``cfg.saveFolder``.

    As in NetPyNE's own ``saveData``, ``cfg.simLabel`` replaces ``cfg.filename`` when both ``saveFolder`` and
    ``simLabel`` are set; unlike it, no ``_data`` suffix is added.
    """
    filename = getattr(cfg, "filename", None) or "model_output"
    folder = getattr(cfg, "saveFolder", "") or ""
    name = (getattr(cfg, "simLabel", "") or filename) if folder else filename
    name = name[: -len(".nwb")] if name.endswith(".nwb") else name
    return Path(folder) / f"{name}.nwb" if folder else Path(f"{name}.nwb")


def parse_save_nwb(cfg: Any) -> NWBOptions:
    """Validate ``cfg.saveNWB`` and the related simConfig settings.

    Parameters
    ----------
    cfg : netpyne.specs.SimConfig
        The simulation configuration (only read).

    Returns
    -------
    NWBOptions

    Raises
    ------
    TypeError
        ``cfg.saveNWB`` is neither a bool nor a dict, or an option has the wrong type.
    ValueError
        Unknown option keys, bad values, a trace key missing from ``cfg.recordTraces``, no traces to write, or a
        recording mode NWB cannot represent (``recordStep='adaptive'``, variable time step).
    """
    value = getattr(cfg, "saveNWB", False)
    if isinstance(value, bool):
        opts: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        opts = dict(value)
        opts.pop("enabled", None)
    else:
        raise TypeError(
            f"cfg.saveNWB must be True/False or a dict of options, got {type(value).__name__} {value!r}; "
            f"e.g. cfg.saveNWB = {{'dtype': 'float64'}}"
        )
    unknown = sorted(set(opts) - set(OPTION_KEYS))
    if unknown:
        allowed = "; ".join(f"'{k}': {v}" for k, v in OPTION_KEYS.items())
        raise ValueError(f"cfg.saveNWB has unknown keys {unknown}. Allowed keys: {allowed}")

    path = _path(opts.get("filename"), cfg)
    dtype = opts.get("dtype", "float32")
    if str(dtype) not in ("float32", "float64"):
        raise ValueError(f"cfg.saveNWB['dtype'] must be 'float32' or 'float64', got {dtype!r}")
    interval = opts.get("intervalMs", 100.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise ValueError(f"cfg.saveNWB['intervalMs'] must be a positive number of ms, got {interval!r}")
    for key in ("spikes", "overwrite", "provenance"):
        if key in opts and not isinstance(opts[key], bool):
            raise TypeError(f"cfg.saveNWB['{key}'] must be True or False, got {opts[key]!r}")
    gather = opts.get("gatherTraces")
    if gather is not None and not isinstance(gather, bool):
        raise TypeError(f"cfg.saveNWB['gatherTraces'] must be True, False or None, got {gather!r}")
    if gather is None:
        analysis = getattr(cfg, "analysis", {}) or {}
        gather = any(getattr(cfg, f, False) for f in NATIVE_SAVE_FLAGS) or any(
            k in analysis for k in ("plotTraces", "iplotTraces")
        )
    metadata = opts.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"cfg.saveNWB['metadata'] must be a dict of NWBFile fields, got {metadata!r}")
    metadata = plain_data(metadata)
    # the adapter adds source_script (provenance) under a user's source_script_file_name
    standin = {"source_script": "{}"} if opts.get("provenance", True) is not False else {}
    issues = check_nwb_metadata(metadata={**standin, **metadata}, where="cfg.saveNWB['metadata']")
    compression = parse_compression(opts.get("compression"), where="cfg.saveNWB", key="'compression'")
    precision = parse_precision(opts.get("precision"), where="cfg.saveNWB", key="'precision'")
    if precision is not None:  # the block buffer: counts are rounded from NEURON's float64 values
        dtype = "float64"

    record_traces = dict(getattr(cfg, "recordTraces", {}) or {})
    traces = _traces(opts.get("traces", "all"), record_traces)
    _check_recording(cfg)
    return NWBOptions(
        path=path,
        dtype=str(dtype),
        spikes=opts.get("spikes", True),
        traces=traces,
        interval_ms=float(interval),
        gather_traces=bool(gather),
        overwrite=opts.get("overwrite", True),
        metadata=dict(metadata),
        compression=compression,
        precision=precision,
        provenance=opts.get("provenance", True),
        metadata_issues=tuple(issues) if metadata else (),
    )


def _path(filename: Any, cfg: Any) -> Path:
    if filename is None:
        return _checked_default_path(cfg)
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"cfg.saveNWB['filename'] must be a path string, got {filename!r}")
    if "\0" in os.fspath(filename):
        raise ValueError(f"cfg.saveNWB['filename'] {filename!r} contains a NUL character, which no file name can hold")
    path = Path(filename)
    if path.suffix != ".nwb":
        raise ValueError(f"cfg.saveNWB['filename'] must end in '.nwb', got '{path}'; e.g. '{path.with_suffix('.nwb')}'")
    return path


def _checked_default_path(cfg: Any) -> Path:
    """:func:`default_path`, refusing a relative name that leaves ``cfg.saveFolder`` (``..`` or a symlink)."""
    folder = getattr(cfg, "saveFolder", "") or ""
    key = "cfg.simLabel" if folder and getattr(cfg, "simLabel", "") else "cfg.filename"
    name = getattr(cfg, "simLabel", "") if key == "cfg.simLabel" else getattr(cfg, "filename", None)
    for what, value in ((key, name), ("cfg.saveFolder", folder)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what} must be a string, got {value!r}")
        if value is not None and "\0" in value:
            raise ValueError(f"{what} {value!r} contains a NUL character, which no file name can hold")
    path = default_path(cfg)
    if not folder or os.path.isabs(name or ""):
        return path
    try:
        root, target = Path(folder).resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop, name too long
        raise ValueError(f"the NWB output path '{path}' ({key} {name!r}) cannot be resolved: {exc}") from exc
    if root not in target.parents:
        raise ValueError(
            f"{key} {name!r} is relative, so the NWB file '{path}' must stay inside cfg.saveFolder '{root}', but it "
            f"resolves to '{target}'; to write outside cfg.saveFolder give an absolute path, e.g. "
            f"cfg.saveNWB = {{'filename': '{target}'}}, otherwise drop the '..' or symlink that leaves it"
        )
    return path


def _traces(selection: Any, record_traces: Mapping[str, Any]) -> tuple[str, ...] | None:
    if not record_traces:
        raise ValueError(
            "cfg.saveNWB needs at least one cfg.recordTraces entry (and cfg.recordCells) to write; e.g. "
            "cfg.recordTraces = {'V_soma': {'sec': 'soma', 'loc': 0.5, 'var': 'v'}}; cfg.recordCells = ['all']"
        )
    if selection == "all":
        return None
    if isinstance(selection, str) or not all(isinstance(k, str) for k in selection):
        raise TypeError(f"cfg.saveNWB['traces'] must be 'all' or a list of trace keys, got {selection!r}")
    missing = [k for k in selection if k not in record_traces]
    if missing:
        raise ValueError(
            f"cfg.saveNWB['traces'] lists {missing}, which are not cfg.recordTraces keys {list(record_traces)}"
        )
    if not selection:
        raise ValueError("cfg.saveNWB['traces'] is empty; list at least one cfg.recordTraces key or use 'all'")
    return tuple(selection)


def _check_recording(cfg: Any) -> None:
    step = getattr(cfg, "recordStep", 0.1)
    if isinstance(step, str) or not np.isfinite(float(step)) or float(step) <= 0:
        raise ValueError(
            f"cfg.saveNWB needs a fixed sampling step, but cfg.recordStep = {step!r}; set e.g. cfg.recordStep = 0.1"
        )
    if getattr(cfg, "use_local_dt", False):
        raise ValueError("cfg.saveNWB does not support cfg.use_local_dt = True (traces have no common time base)")
    duration = float(getattr(cfg, "duration", 0.0))
    if not duration > 0:
        raise ValueError(f"cfg.duration must be positive to write NWB traces, got {duration!r}")
