"""NWBFile skeleton and Units table construction (pynwb containers only; no HDF5 here)."""

from __future__ import annotations

import difflib
import re
import uuid
import warnings
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
from hdmf.build import BuildManager, TypeMap
from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
from hdmf.utils import get_docval
from pynwb import NWBFile, available_namespaces, get_type_map
from pynwb.file import Subject
from pynwb.misc import Units

from .chunking import chunked
from .ragged import smallest_uint

DEFAULT_SESSION_DESCRIPTION = "Compartment recordings of a NEURON simulation, written by simout_plugins."
#: NWBFile fields accepted as file-level metadata (``nwb_metadata`` / ``cfg.saveNWB['metadata']``).
NWBFILE_KEYS = frozenset({
    "session_description", "identifier", "session_start_time", "experimenter", "experiment_description",
    "session_id", "institution", "keywords", "notes", "pharmacology", "protocol", "related_publications",
    "slices", "source_script", "source_script_file_name", "data_collection", "surgery", "virus",
    "stimulus_notes", "lab", "subject", "file_create_date", "timestamps_reference_time", "was_generated_by",
})  # fmt: skip
_NWBFILE_KEYS = NWBFILE_KEYS  # older name
#: pynwb ``Subject`` fields accepted in ``nwb_metadata["subject"]``.
SUBJECT_KEYS = frozenset(a["name"] for a in get_docval(Subject.__init__))
_DATETIME_KEYS = ("session_start_time", "timestamps_reference_time")
_LIST_KEYS = ("experimenter", "keywords", "related_publications", "was_generated_by")
_DATETIME_HINT = "an ISO 8601 date-time such as '2024-05-01T09:30:00+02:00' (no time zone: the local one)"


def make_nwbfile(metadata: Mapping[str, Any] | None = None, *, where: str = "nwb_metadata") -> NWBFile:
    """Build an empty NWBFile from file-level metadata, with defaults for the three required fields.

    Every value is checked by constructing the pynwb objects (``NWBFile``, ``Subject``), so calling it before a
    run is the metadata check (see :func:`check_nwb_metadata`).

    Parameters
    ----------
    metadata : dict, optional
        NWBFile keyword arguments (``session_description``, ``identifier``, ``session_start_time``,
        ``institution``, ``lab``, ``experimenter``, ``keywords``, ``subject`` (dict of pynwb ``Subject`` arguments or
        a ``Subject``), ``source_script``, ``notes``, ...; :data:`NWBFILE_KEYS`). Date-times may be ISO 8601 strings
        (also ``subject["date_of_birth"]`` and each ``file_create_date``); a naive date-time gets the local time
        zone. ``experimenter``, ``keywords``, ``related_publications`` may be one string. Defaults: a generic
        description, a random UUID identifier, and now (timezone-aware) as start time.
    where : str
        How the metadata is named in error messages (e.g. ``"report 'v_nwb': nwb_metadata"``).

    Returns
    -------
    pynwb.NWBFile

    Raises
    ------
    ValueError
        An unknown key, or a value pynwb rejects; the message names the key, the value and the fix.
    TypeError
        ``metadata`` or ``metadata["subject"]`` is not a dict.
    """
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{where} must be a dict of NWBFile fields, got {type(metadata).__name__} {metadata!r}")
    meta = dict(metadata)
    unknown = sorted(set(meta) - NWBFILE_KEYS, key=str)
    if unknown:
        raise ValueError(f"{where}: unknown keys {_with_hints(unknown, NWBFILE_KEYS)}; allowed: {sorted(NWBFILE_KEYS)}")
    meta.setdefault("session_description", DEFAULT_SESSION_DESCRIPTION)
    meta.setdefault("identifier", str(uuid.uuid4()))
    meta.setdefault("session_start_time", datetime.now().astimezone())
    for key in _DATETIME_KEYS:
        if key in meta:
            meta[key] = _datetime(f"{where}['{key}']", meta[key])
    if "file_create_date" in meta:
        value = meta["file_create_date"]
        values = value if isinstance(value, (list, tuple)) else [value]
        meta["file_create_date"] = [_datetime(f"{where}['file_create_date']", v) for v in values]
    for key in _LIST_KEYS:
        if isinstance(meta.get(key), str):
            meta[key] = [meta[key]]
    if "subject" in meta:
        meta["subject"] = _subject(where, meta["subject"])
    try:
        return NWBFile(**meta)
    except (TypeError, ValueError) as exc:
        raise ValueError(_pynwb_error(where, meta, exc)) from exc


def check_nwb_metadata(*, metadata: Mapping[str, Any] | None, where: str = "nwb_metadata") -> list[str]:
    """Raise now if ``metadata`` would not make a valid NWBFile; return what DANDI's checks would object to.

    Parameters
    ----------
    metadata : dict or None
        NWBFile fields, as for :func:`make_nwbfile`.
    where : str
        How the metadata is named in messages (e.g. ``"report 'v_nwb': nwb_metadata"``).

    Returns
    -------
    list of str
        nwbinspector's file-level findings (NWBFile and Subject fields, e.g. "Subject is missing", an age not in
        ISO 8601 form) at CRITICAL or BEST_PRACTICE_VIOLATION under its DANDI configuration, each prefixed by
        ``where``; empty when ``metadata`` is empty or None (nothing asked) or nwbinspector is not installed.
        Callers log them as warnings: pynwb accepts these files, DANDI does not.

    Raises
    ------
    ValueError, TypeError
        An unknown key or a value pynwb rejects, naming the key, the value and the fix.
    """
    nwbfile = make_nwbfile(metadata, where=where)
    if not metadata:
        return []
    return [f"{where}: {message}" for message in dandi_metadata_issues(nwbfile=nwbfile)]


def dandi_metadata_issues(*, nwbfile: NWBFile) -> list[str]:
    """nwbinspector's DANDI findings (CRITICAL, BEST_PRACTICE_VIOLATION) about an NWBFile's file-level metadata.

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
        Usually the empty file of :func:`make_nwbfile` (data objects are not inspected here).

    Returns
    -------
    list of str
        ``"<check name>: <message>"`` per finding; empty when nwbinspector is not installed.
    """
    try:
        from nwbinspector import Importance, inspect_nwbfile_object, load_config
    except ImportError:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nwbinspector warns about its own optional dependencies
        messages = inspect_nwbfile_object(
            nwbfile_object=nwbfile,
            config=load_config("dandi"),
            importance_threshold=Importance.BEST_PRACTICE_VIOLATION,
        )
        return [f"{m.check_function_name}: {m.message}" for m in messages if m.object_type in ("NWBFile", "Subject")]


def _datetime(name: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{name} = {value!r} is not {_DATETIME_HINT}") from exc
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif not isinstance(value, datetime):
        raise ValueError(f"{name} = {value!r} ({type(value).__name__}) is not {_DATETIME_HINT}")
    return value.astimezone() if value.tzinfo is None else value


def _subject(where: str, subject: Any) -> Subject:
    if isinstance(subject, Subject):
        return subject
    if not isinstance(subject, Mapping):
        raise TypeError(
            f"{where}['subject'] must be a dict of pynwb Subject fields ({sorted(SUBJECT_KEYS)}), got {subject!r}"
        )
    fields = dict(subject)
    name = f"{where}['subject']"
    unknown = sorted(set(fields) - SUBJECT_KEYS, key=str)
    if unknown:
        raise ValueError(f"{name}: unknown keys {_with_hints(unknown, SUBJECT_KEYS)}; allowed: {sorted(SUBJECT_KEYS)}")
    if "date_of_birth" in fields:
        fields["date_of_birth"] = _datetime(f"{name}['date_of_birth']", fields["date_of_birth"])
    try:
        return Subject(**fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(_pynwb_error(name, fields, exc)) from exc


def _pynwb_error(where: str, values: Mapping[str, Any], exc: Exception) -> str:
    """pynwb's message with the key and the user's value named (docval quotes the argument name)."""
    message = str(exc)
    for key in re.findall(r"'([A-Za-z_]+)'", message):
        if key in values:
            return f"{where}['{key}'] = {values[key]!r} is rejected by pynwb: {message}"
    return f"{where} is rejected by pynwb: {message}"


def _with_hints(unknown: list, allowed: frozenset) -> str:
    """``['sesion_description'] (did you mean 'session_description'?)``."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
        if close:
            hints.append(f"{key!r} -> {close[0]!r}")
    return f"{unknown}" + (f" (did you mean {', '.join(hints)}?)" if hints else "")


def build_units(
    *,
    unit_ids: np.ndarray,
    spike_unit_rows: np.ndarray,
    spike_times_s: np.ndarray,
    columns: Mapping[str, np.ndarray] | None = None,
    description: str = (
        "Spike times of the simulated cells: one unit per cell; id = global cell id, population + node_id = the "
        "simulator's address of the cell."
    ),
    resolution_s: float | None = None,
    chunk_bytes: int | None = None,
) -> Units:
    """Build a Units table column-wise.

    Parameters
    ----------
    unit_ids : numpy.ndarray, shape (n_units,), int
        Global cell id of each unit (the table's ``id``, unique), in row order.
    spike_unit_rows : numpy.ndarray, shape (n_spikes,), int
        Row (0-based) of the unit of each spike.
    spike_times_s : numpy.ndarray, shape (n_spikes,), float, seconds
        Spike times.
    columns : dict of str to numpy.ndarray, each shape (n_units,), optional
        Extra per-unit columns (e.g. ``population``).
    resolution_s : float, optional
        Temporal resolution of the spike times, seconds.
    chunk_bytes : int, optional
        HDF5 chunk size of the per-unit columns of big tables (see :func:`simout_plugins.nwb.chunking.chunked`).
    """

    def io(data):
        return data if chunk_bytes is None else chunked(np.asarray(data), chunk_bytes=chunk_bytes)

    order = np.lexsort((spike_times_s, spike_unit_rows))
    times = np.asarray(spike_times_s, dtype=np.float64)[order]
    counts = np.bincount(np.asarray(spike_unit_rows, dtype=np.int64), minlength=unit_ids.size)
    ends = np.cumsum(counts)
    ends = ends.astype(smallest_uint(int(ends[-1]) if ends.size else 0))  # the dtype hdmf would store
    spike_times = VectorData(name="spike_times", description="Spike times of each unit, in seconds.", data=times)
    cols: list = [spike_times, VectorIndex(name="spike_times_index", data=io(ends), target=spike_times)]
    for key, values in (columns or {}).items():
        values = np.asarray(values)
        data = np.asarray([str(v) for v in values], dtype=object) if values.dtype.kind in "OUS" else values
        doc = _UNIT_DOCS.get(key, f"The {key} of each unit.")
        cols.append(VectorData(name=key, description=doc, data=io(data)))
    return Units(
        name="units",
        description=description,
        id=ElementIdentifiers(name="id", data=io(np.asarray(unit_ids, dtype=np.int64))),
        columns=cols,
        **({} if resolution_s is None else {"resolution": float(resolution_s)}),
    )


_UNIT_DOCS = {
    "population": "Population (cell group) of each unit's cell.",
    "node_id": "Node id of each unit's cell within its population (the simulator's address, as in SONATA).",
}

_TYPE_MAPS: dict[tuple[str, ...], TypeMap] = {}


def build_manager() -> BuildManager:
    """A fresh BuildManager (one per file written) over a type map copied once per set of loaded namespaces.

    ``NWBHDF5IO`` without ``manager=`` deep-copies pynwb's type map on every file (~10 ms); the writer only writes
    core types and this extension's, so one copy serves every file of the process. Loading another namespace
    changes the key and makes a new copy.
    """
    key = tuple(sorted(available_namespaces()))
    if key not in _TYPE_MAPS:
        _TYPE_MAPS.clear()
        _TYPE_MAPS[key] = get_type_map()
    return BuildManager(_TYPE_MAPS[key])
