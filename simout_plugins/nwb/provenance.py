"""One provenance layout for every file simout_plugins writes (BMTK, NetPyNE, plain NEURON, converted SONATA).

Where a run's provenance goes in the NWB file (core NWBFile fields, readable by any NWB tool):

``source_script``
    The simulator configuration as JSON text: BMTK's simulation config (after its variable substitution), NetPyNE's
    ``{"simConfig": ..., "netParams": ...}``, a converter's options. Absent when there is no config.
``source_script_file_name``
    The config's file name (e.g. ``config.json``) or a descriptive name (``netpyne_config.json``).
``notes``
    A JSON object: ``{"simout_provenance": 1, "simulator": "bmtk.bionet", "versions": {"bmtk": ..., "neuron": ...,
    "simout_plugins": ..., "pynwb": ..., "python": ...}, "command": [...], "mpi_ranks": N, ...}`` plus any extra keys
    the writer adds (e.g. ``"report"``, ``"config_file"``). ``simout_provenance`` is the layout version.
``experiment_description``
    One human sentence ("Simulated with BMTK 1.2.0 and NEURON 9.0.2 on 2 MPI ranks; written by simout_plugins ...").

:func:`provenance_fields` builds these fields; :func:`merge_metadata` combines them with the user's NWBFile
metadata (the user's keys win); :func:`read_provenance` reads them back (also from files written before this
layout).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Version of the provenance layout stored in ``notes`` (key ``simout_provenance``).
PROVENANCE_LAYOUT = 1
#: NWBFile fields :func:`provenance_fields` fills.
PROVENANCE_KEYS = ("source_script", "source_script_file_name", "notes", "experiment_description")

# simulator name -> how it is named in the human sentence
_DISPLAY_NAMES = {
    "bmtk.bionet": "BMTK (bionet)",
    "bmtk": "BMTK",
    "netpyne": "NetPyNE",
    "neuron": "NEURON",
    "sonata-conversion": "a SONATA report converted by simout_plugins",
}


def package_version(package: str) -> str:
    """Installed version of a distribution, or ``"unknown"``."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def neuron_version() -> str | None:
    """NEURON's version string (``neuron.__version__``), or None when NEURON is not importable."""
    try:
        import neuron
    except ImportError:
        return None
    return str(getattr(neuron, "__version__", "unknown"))


def current_command() -> list[str]:
    """This process's command line: ``sys.argv`` with the script's base name, or ``python -m <module> ...``."""
    argv = list(sys.argv) or [""]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = getattr(spec, "name", None)
    if module:  # started as ``python -m module``
        return ["python", "-m", module.removesuffix(".__main__"), *argv[1:]]
    return [os.path.basename(argv[0]) or "python", *argv[1:]]


def config_json(config: Any) -> str:
    """JSON text of a configuration (dict-like or already JSON text), indented, keys in their given order.

    numpy values become numbers / lists, functions their source text when available, anything else its ``repr``.
    """
    if isinstance(config, str):
        return config
    return json.dumps(plain_data(config), indent=2, default=_json_default)


def provenance_fields(
    *,
    simulator: str,
    simulator_version: str | None = None,
    neuron_version: str | None = None,
    config: Mapping[str, Any] | str | None = None,
    config_file_name: str | os.PathLike | None = None,
    command: Sequence[str] | None = None,
    mpi_ranks: int = 1,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """NWBFile fields recording how a file was made (the layout of the module docstring).

    Parameters
    ----------
    simulator : str
        Who produced the data: ``"bmtk.bionet"``, ``"netpyne"``, ``"neuron"``, ``"sonata-conversion"``, ...
    simulator_version : str, optional
        Version of the simulator package (stored under ``versions[<package>]``, the package being the part of
        ``simulator`` before the first dot).
    neuron_version : str, optional
        NEURON's version string (``neuron.__version__``).
    config : dict or str, optional
        The simulator configuration (dict-like, or JSON text); stored as JSON in ``source_script``.
    config_file_name : str or os.PathLike, optional
        Name of the config file; only its base name is stored (``source_script_file_name``). Default
        ``"<simulator>_config.json"`` when ``config`` is given.
    command : sequence of str, optional
        The command line (default :func:`current_command`).
    mpi_ranks : int
        Number of MPI ranks of the run.
    extra : dict, optional
        More JSON-serialisable keys for ``notes`` (e.g. ``{"report": "v_nwb"}``); they cannot replace the layout's
        own keys.

    Returns
    -------
    dict of str to str
        ``notes``, ``experiment_description`` and, when ``config`` is given, ``source_script`` and
        ``source_script_file_name``; pass them to the writer's ``nwb_metadata`` (see :func:`merge_metadata`).

    Raises
    ------
    ValueError
        ``extra`` uses a reserved key, or ``mpi_ranks`` is not a positive integer.
    """
    if isinstance(mpi_ranks, bool) or not isinstance(mpi_ranks, (int, np.integer)) or mpi_ranks < 1:
        raise ValueError(f"provenance: mpi_ranks must be a positive integer, got {mpi_ranks!r}")
    package = simulator.split(".")[0].split("-")[0]
    versions: dict[str, str] = {}
    if simulator_version is not None:
        versions[package] = str(simulator_version)
    if neuron_version is not None:
        versions["neuron"] = str(neuron_version)
    versions.update(
        {
            "simout_plugins": package_version("simout_plugins"),
            "pynwb": package_version("pynwb"),
            "python": platform.python_version(),
        }
    )
    if command is None:
        command = current_command()
    notes: dict[str, Any] = {
        "simout_provenance": PROVENANCE_LAYOUT,
        "simulator": simulator,
        "versions": versions,
        "command": [str(c) for c in command],
        "mpi_ranks": int(mpi_ranks),
    }
    reserved = sorted(set(extra or {}) & set(notes))
    if reserved:
        raise ValueError(f"provenance: extra keys {reserved} are reserved by the layout; rename them")
    notes.update(plain_data(dict(extra or {})))
    fields = {
        "notes": json.dumps(notes, default=_json_default),
        "experiment_description": _sentence(simulator, versions, package, int(mpi_ranks)),
    }
    if config is not None:
        fields["source_script"] = config_json(config)
        name = Path(config_file_name).name if config_file_name is not None else f"{package}_config.json"
        fields["source_script_file_name"] = name
    return fields


def merge_metadata(*, provenance: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The writer's ``nwb_metadata``: provenance fields, then the user's NWBFile metadata on top (user keys win).

    A user value for a provenance field (``notes``, ``source_script``, ...) replaces it, with a log message, since
    ``simout info`` then cannot show that part of the provenance. Without a ``subject`` a log message says that
    DANDI needs one.

    Parameters
    ----------
    provenance : dict
        Fields from :func:`provenance_fields` (plus the writer's defaults, e.g. ``session_description``).
    metadata : dict or None
        The user's NWBFile metadata.

    Returns
    -------
    dict
        A new dict for the writer's ``nwb_metadata``.
    """
    user = dict(metadata or {})
    replaced = sorted(k for k in user if k in provenance and k in ("notes", "source_script", "source_script_file_name"))
    if replaced:
        logger.info("nwb_metadata %s replace the provenance stored by simout_plugins in those fields", replaced)
    merged = {**dict(provenance), **user}
    if "subject" not in merged:
        logger.info(
            "no 'subject' in the NWB metadata: DANDI (nwbinspector --config dandi) rejects the file; add e.g. "
            "'subject': {'subject_id': 'model-1', 'species': 'Mus musculus', 'sex': 'U', 'age': 'P90D'}"
        )
    return merged


def read_provenance(source: Any, *, include_config: bool = False) -> dict[str, Any]:
    """Provenance of an NWB file, for ``simout info``: simulator, versions, command, ranks, config name and size.

    Parameters
    ----------
    source : str, os.PathLike or h5py.File
        The NWB file (an open ``h5py.File`` is only read, not closed).
    include_config : bool
        Also return the config text (``"config"``), which may be large.

    Returns
    -------
    dict
        ``layout`` (1 for this layout, ``"legacy-bmtk"`` / ``"legacy-netpyne"`` for files written before it,
        None when the file has no simout provenance), ``simulator``, ``versions`` (dict), ``command`` (list),
        ``mpi_ranks``, ``config_file_name``, ``config_chars``, ``experiment_description``, every extra key of the
        ``notes`` JSON, and ``notes`` (the raw text) when ``notes`` is not simout's JSON. Missing fields are left out.
    """
    import h5py

    if isinstance(source, h5py.File):
        return _read(source, include_config)
    with h5py.File(source, "r") as f:
        return _read(f, include_config)


# ---------------------------------------------------------------------------------------------------- private
def _read(f: Any, include_config: bool) -> dict[str, Any]:
    general = f.get("general")
    text = {}
    for key in ("notes", "source_script", "experiment_description"):
        if general is not None and key in general:
            text[key] = _decode(general[key][()])
    out: dict[str, Any] = {"layout": None}
    if "experiment_description" in text:
        out["experiment_description"] = text["experiment_description"]
    if "source_script" in text:
        script = general["source_script"]
        name = script.attrs.get("file_name")
        if name is not None:
            out["config_file_name"] = _decode(name)
        out["config_chars"] = len(text["source_script"])
        if include_config:
            out["config"] = text["source_script"]
    notes = text.get("notes")
    doc = None
    if notes:
        try:
            doc = json.loads(notes)
        except ValueError:
            doc = None
    if isinstance(doc, dict) and "simout_provenance" in doc:
        out["layout"] = doc.pop("simout_provenance")
        out.update(doc)
    elif isinstance(doc, dict) and doc.get("simulator") == "bmtk.bionet":  # 0.3.0 BMTK adapter
        out["layout"] = "legacy-bmtk"
        out["simulator"] = "bmtk.bionet"
        out["mpi_ranks"] = doc.get("mpi_ranks")
        out["versions"] = {k: doc[k] for k in ("bmtk", "neuron", "simout_plugins") if k in doc}
    elif isinstance(doc, dict) and "netpyne_version" in doc:  # 0.3.0 NetPyNE adapter: config in notes
        out["layout"] = "legacy-netpyne"
        out["simulator"] = "netpyne"
        out["versions"] = {"netpyne": doc.get("netpyne_version"), "neuron": doc.get("neuron_version")}
        config = {k: doc[k] for k in ("simConfig", "netParams") if k in doc}
        out["config_chars"] = len(json.dumps(config, default=str))
        if include_config:
            out["config"] = json.dumps(config, indent=2, default=str)
    elif notes:
        out["notes"] = notes
    return out


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return "\n".join(_decode(v) for v in value.ravel())
    return str(value)


def _sentence(simulator: str, versions: Mapping[str, str], package: str, mpi_ranks: int) -> str:
    name = _DISPLAY_NAMES.get(simulator, simulator)
    if simulator == "sonata-conversion":
        return f"Simulation output: {name} {versions['simout_plugins']}."
    parts = [f"{name} {versions[package]}" if package in versions and package != "neuron" else name]
    if "neuron" in versions and package != "neuron":
        parts.append(f"NEURON {versions['neuron']}")
    elif package == "neuron" and "neuron" in versions:
        parts = [f"NEURON {versions['neuron']}"]
    ranks = f"{mpi_ranks} MPI rank{'s' if mpi_ranks != 1 else ''}"
    return (
        f"Simulated with {' and '.join(parts)} on {ranks}; recordings written by simout_plugins "
        f"{versions['simout_plugins']}."
    )


def plain_data(value: Any) -> Any:
    """Dict-like objects (BMTK's Config, NetPyNE's Dict / ODict) as plain dicts (str keys), lists likewise."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if callable(value):
        import inspect

        try:
            return inspect.getsource(value).strip()
        except (OSError, TypeError):
            return repr(value)
    return repr(value)
