"""Simulated extracellular probes in NWB: ``Device``, ``ElectrodeGroup``, ``electrodes`` table, ``ElectricalSeries``.

The form (docs/ecp.md): one ``Device`` + one ``ElectrodeGroup`` per probe, each saying the probe is simulated and how
its potential is computed (e.g. line-source transfer resistances, sigma = 0.3 S/m); one row per channel in the file's
``electrodes`` table with ``x``, ``y``, ``z`` (the simulator's coordinates, in µm), ``rel_x`` / ``rel_y`` / ``rel_z``
(the same numbers: the probe's frame is the simulation's, and SpikeInterface takes channel locations from ``rel_*``
only), ``location`` (the brain area when the user gives it, else ``"simulated"``), ``group`` / ``group_name`` and
``channel_id`` (the simulator's channel number); one ``ElectricalSeries`` per probe in ``acquisition`` with data
(time, channel) stored as computed (e.g. mV with ``conversion = 1e-3``).

The table is built whole-column (no per-row ``add_electrode``). pynwb containers only; no HDF5 here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdmf.common import DynamicTableRegion, ElementIdentifiers, VectorData
from numpy.typing import ArrayLike
from pynwb import NWBFile
from pynwb.device import Device
from pynwb.ecephys import ElectricalSeries, ElectrodeGroup, ElectrodesTable

__all__ = ["Probe", "make_probe", "add_probes", "build_electrical_series", "SIMULATED_LOCATION", "CHANNEL_ID_COLUMN"]

#: ``location`` of a simulated channel when the user names no brain area
SIMULATED_LOCATION = "simulated"
#: electrodes-table column holding the simulator's channel number
CHANNEL_ID_COLUMN = "channel_id"


@dataclass(frozen=True)
class Probe:
    """One simulated probe: its channels and how its potential is computed.

    Attributes
    ----------
    name : str
        Name of its ElectrodeGroup (and of its Device, with ``" device"`` appended).
    positions_um : numpy.ndarray, shape (n_channels, 3), float64, µm
        Channel positions in the simulator's coordinates.
    channel_ids : numpy.ndarray, shape (n_channels,), int64
        The simulator's channel numbers (e.g. the ``channel`` column of BMTK's electrode file).
    method : str
        How the potential is computed (stored in the Device and ElectrodeGroup descriptions).
    location : str
        Brain area of every channel (NWB ``location``); ``"simulated"`` by default.
    description : str
        Free text about the probe (prepended to the method in the descriptions).
    """

    name: str
    positions_um: np.ndarray
    channel_ids: np.ndarray
    method: str
    location: str = SIMULATED_LOCATION
    description: str = ""

    @property
    def n_channels(self) -> int:
        return int(self.channel_ids.size)


def make_probe(
    *,
    name: str,
    positions_um: ArrayLike | None,
    channel_ids: ArrayLike | None = None,
    method: str,
    location: str | None = None,
    description: str = "",
) -> Probe:
    """A checked :class:`Probe`.

    Parameters
    ----------
    name : str
        ElectrodeGroup name (non-empty, no ``/``).
    positions_um : array-like, shape (n_channels, 3), µm, or None
        Finite channel positions; None: not known (stored as NaN; ``channel_ids`` then required), e.g. a BMTK
        ``ecp.h5`` converted without its electrode file.
    channel_ids : array-like of int, shape (n_channels,), optional
        Unique channel numbers; default ``0 .. n_channels - 1``.
    method : str
        How the potential is computed.
    location : str, optional
        Brain area (default ``"simulated"``).
    description : str
        Free text about the probe.

    Raises
    ------
    ValueError
        Naming the bad value: positions not (n, 3) finite numbers, no channel, channel ids not unique integers or
        not one per position, a bad name.
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"probe name must be a non-empty string without '/', got {name!r}")
    unknown = positions_um is None
    if unknown:
        if channel_ids is None:
            raise ValueError(f"probe '{name}': give channel_ids when the positions are not known")
        positions_um = np.full((np.asarray(channel_ids).size, 3), np.nan)
    try:
        pos = np.asarray(positions_um, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"probe '{name}': positions must be numbers (µm), got {positions_um!r}: {exc}") from exc
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] == 0:
        raise ValueError(f"probe '{name}': positions must have shape (n_channels >= 1, 3), got {pos.shape}")
    if not unknown and not np.isfinite(pos).all():
        bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
        raise ValueError(f"probe '{name}': positions of channels (rows) {bad[:10].tolist()} are not finite numbers")
    if channel_ids is None:
        ids = np.arange(pos.shape[0], dtype=np.int64)
    else:
        raw = np.asarray(channel_ids)
        if raw.ndim != 1 or raw.size != pos.shape[0]:
            raise ValueError(f"probe '{name}': {raw.size} channel ids for {pos.shape[0]} positions")
        if raw.size and (raw.dtype.kind not in "iu" and not np.array_equal(raw, np.round(raw.astype(float)))):
            raise ValueError(f"probe '{name}': channel ids must be integers, got {raw[:10].tolist()}")
        ids = raw.astype(np.int64)
        if np.unique(ids).size != ids.size:
            raise ValueError(f"probe '{name}': channel ids repeat: {ids.tolist()[:20]}")
    return Probe(
        name=name,
        positions_um=pos,
        channel_ids=ids,
        method=str(method),
        location=location or SIMULATED_LOCATION,
        description=str(description),
    )


def _probe_text(probe: Probe) -> str:
    head = f"{probe.description.rstrip('.')}. " if probe.description else ""
    where = "positions in µm in the model's coordinates"
    return f"{head}Simulated probe ({probe.n_channels} channels, {where}); {probe.method}"


def add_probes(*, nwbfile: NWBFile, probes: Sequence[Probe]) -> dict[str, DynamicTableRegion]:
    """Add every probe's Device, ElectrodeGroup and channels (the file's ``electrodes`` table, built whole-column).

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
        A file without an ``electrodes`` table yet.
    probes : sequence of Probe
        Rows of the table follow this order (probe by probe, channels in each probe's order).

    Returns
    -------
    dict of str to DynamicTableRegion
        Probe name → the region of its rows (for :func:`build_electrical_series`).
    """
    if nwbfile.electrodes is not None:
        raise ValueError("the file already has an electrodes table; give every probe in one add_probes call")
    names = [p.name for p in probes]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"probe names must be unique and at least one, got {names}")
    groups = []
    for probe in probes:
        device = Device(name=f"{probe.name} device", description=_probe_text(probe))
        nwbfile.add_device(device)
        group = ElectrodeGroup(name=probe.name, description=_probe_text(probe), location=probe.location, device=device)
        nwbfile.add_electrode_group(group)
        groups.append(group)
    pos = np.concatenate([p.positions_um for p in probes])
    n = pos.shape[0]
    group_rows = [g for p, g in zip(probes, groups) for _ in range(p.n_channels)]
    columns = [
        VectorData(name="location", description="Brain area of each channel ('simulated' when not given).",
                   data=[p.location for p in probes for _ in range(p.n_channels)]),
        VectorData(name="group", description="ElectrodeGroup (probe) of each channel.", data=group_rows),
        VectorData(name="group_name", description="Name of the ElectrodeGroup of each channel.",
                   data=[p.name for p in probes for _ in range(p.n_channels)]),
        VectorData(name="x", description="x coordinate of the channel in the model, in µm.", data=pos[:, 0]),
        VectorData(name="y", description="y coordinate of the channel in the model, in µm.", data=pos[:, 1]),
        VectorData(name="z", description="z coordinate of the channel in the model, in µm.", data=pos[:, 2]),
        VectorData(name="rel_x", description="x position on the probe in µm (the model's x).", data=pos[:, 0]),
        VectorData(name="rel_y", description="y position on the probe in µm (the model's y).", data=pos[:, 1]),
        VectorData(name="rel_z", description="z position on the probe in µm (the model's z).", data=pos[:, 2]),
        VectorData(name=CHANNEL_ID_COLUMN, description="The simulator's channel number.",
                   data=np.concatenate([p.channel_ids for p in probes])),
    ]  # fmt: skip
    table = ElectrodesTable(id=ElementIdentifiers(name="id", data=np.arange(n, dtype=np.int64)), columns=columns)
    nwbfile.electrodes = table
    regions, start = {}, 0
    for probe in probes:
        stop = start + probe.n_channels
        regions[probe.name] = DynamicTableRegion(
            name="electrodes",
            data=list(range(start, stop)),
            description=f"The channels of probe '{probe.name}'.",
            table=table,
        )
        start = stop
    return regions


def build_electrical_series(
    *,
    name: str,
    electrodes: DynamicTableRegion,
    data: Any,
    starting_time_s: float,
    rate_hz: float,
    unit_conversion: float,
    description: str,
    comments: str = "no comments",
) -> ElectricalSeries:
    """An ElectricalSeries over a probe's channels.

    Parameters
    ----------
    name : str
        Series name in ``acquisition``.
    electrodes : DynamicTableRegion
        The probe's rows (from :func:`add_probes`).
    data : array-like or H5DataIO, shape (n_steps, n_channels)
        Values as computed (e.g. mV); volts = value × ``unit_conversion``.
    starting_time_s : float, s
        Time of sample 0.
    rate_hz : float, Hz
        Sampling rate.
    unit_conversion : float
        Factor to volts (1e-3 for mV).
    description, comments : str
    """
    return ElectricalSeries(
        name=name,
        data=data,
        electrodes=electrodes,
        starting_time=float(starting_time_s),
        rate=float(rate_hz),
        conversion=float(unit_conversion),
        description=description,
        comments=comments,
        filtering="none (computed from the simulated membrane currents)",
    )
