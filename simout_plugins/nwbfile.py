"""NWBFile skeleton and Units table construction (pynwb containers only; no HDF5 here)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from hdmf.build import BuildManager, TypeMap
from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
from pynwb import NWBFile, available_namespaces, get_type_map
from pynwb.file import Subject
from pynwb.misc import Units

DEFAULT_SESSION_DESCRIPTION = "Compartment recordings of a NEURON simulation, written by simout_plugins."
_NWBFILE_KEYS = {
    "session_description", "identifier", "session_start_time", "experimenter", "experiment_description",
    "session_id", "institution", "keywords", "notes", "pharmacology", "protocol", "related_publications",
    "slices", "source_script", "source_script_file_name", "data_collection", "surgery", "virus",
    "stimulus_notes", "lab", "subject", "file_create_date", "timestamps_reference_time",
}  # fmt: skip


def make_nwbfile(metadata: Mapping[str, Any] | None = None) -> NWBFile:
    """Build an empty NWBFile from file-level metadata, with defaults for the three required fields.

    Parameters
    ----------
    metadata : dict, optional
        NWBFile keyword arguments (``session_description``, ``identifier``, ``session_start_time``,
        ``institution``, ``experimenter``, ``keywords``, ``subject`` (dict of pynwb ``Subject`` arguments or a
        ``Subject``), ``source_script``, ``notes``, ...). Defaults: a generic description, a random UUID
        identifier, and now (timezone-aware) as start time.

    Raises
    ------
    ValueError
        An unknown key, or a value pynwb rejects (the key and value are named).
    """
    meta = dict(metadata or {})
    unknown = sorted(set(meta) - _NWBFILE_KEYS)
    if unknown:
        raise ValueError(f"nwb_metadata: unknown keys {unknown}; allowed: {sorted(_NWBFILE_KEYS)}")
    meta.setdefault("session_description", DEFAULT_SESSION_DESCRIPTION)
    meta.setdefault("identifier", str(uuid.uuid4()))
    meta.setdefault("session_start_time", datetime.now().astimezone())
    start = meta["session_start_time"]
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if isinstance(start, datetime) and start.tzinfo is None:
        start = start.astimezone()
    meta["session_start_time"] = start
    for key in ("experimenter", "keywords", "related_publications"):
        if isinstance(meta.get(key), str):
            meta[key] = [meta[key]]
    subject = meta.get("subject")
    if isinstance(subject, Mapping):
        try:
            meta["subject"] = Subject(**subject)
        except TypeError as exc:
            raise ValueError(f"nwb_metadata['subject'] = {dict(subject)!r} is not valid: {exc}") from exc
    try:
        return NWBFile(**meta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"nwb_metadata is not valid for pynwb.NWBFile: {exc}") from exc


def build_units(
    *,
    unit_ids: np.ndarray,
    spike_unit_rows: np.ndarray,
    spike_times_s: np.ndarray,
    columns: Mapping[str, np.ndarray] | None = None,
    description: str = "Spike times of the simulated cells (one unit per cell; id = node id / gid).",
    resolution_s: float | None = None,
) -> Units:
    """Build a Units table column-wise.

    Parameters
    ----------
    unit_ids : numpy.ndarray, shape (n_units,), int
        Node id of each unit (the table's ``id``), in row order.
    spike_unit_rows : numpy.ndarray, shape (n_spikes,), int
        Row (0-based) of the unit of each spike.
    spike_times_s : numpy.ndarray, shape (n_spikes,), float, seconds
        Spike times.
    columns : dict of str to numpy.ndarray, each shape (n_units,), optional
        Extra per-unit columns (e.g. ``population``).
    resolution_s : float, optional
        Temporal resolution of the spike times, seconds.
    """
    order = np.lexsort((spike_times_s, spike_unit_rows))
    times = np.asarray(spike_times_s, dtype=np.float64)[order]
    counts = np.bincount(np.asarray(spike_unit_rows, dtype=np.int64), minlength=unit_ids.size)
    ends = np.cumsum(counts)
    spike_times = VectorData(name="spike_times", description="Spike times of each unit, in seconds.", data=times)
    cols: list = [spike_times, VectorIndex(name="spike_times_index", data=ends, target=spike_times)]
    for key, values in (columns or {}).items():
        values = np.asarray(values)
        data = [str(v) for v in values] if values.dtype.kind in "OUS" else values
        cols.append(VectorData(name=key, description=f"The {key} of each unit.", data=data))
    return Units(
        name="units",
        description=description,
        id=ElementIdentifiers(name="id", data=np.asarray(unit_ids, dtype=np.int64)),
        columns=cols,
        **({} if resolution_s is None else {"resolution": float(resolution_s)}),
    )


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
