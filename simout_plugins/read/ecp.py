"""Reading simulated extracellular potentials: every ``ElectricalSeries`` of a file, its channels and a window of it.

h5py-level like the rest of the reader: ``EcpReader(group).get(channels=..., tstart=..., tstop=...)`` reads only
the rows and columns asked for and returns an :class:`EcpFrame` (times in s, data in volts unless ``scaled=False``,
the channels' ids and positions in µm from the ``electrodes`` table). :func:`find_ecp` lists the series of a file;
:func:`describe_ecp` is what ``simout info`` prints about them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.columns import as_text
from ..nwb.discover import find_typed_groups
from ..nwb.window import sample_range
from .validate import guard

__all__ = ["EcpFrame", "EcpReader", "find_ecp", "describe_ecp"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EcpFrame:
    """A window of an ElectricalSeries.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_t,), float64, s
    data : numpy.ndarray, shape (n_t, n_channels)
        Volts (``scaled=True``) or the stored values (e.g. mV) times nothing (``scaled=False``).
    channel_ids : numpy.ndarray, shape (n_channels,), int64
        The simulator's channel numbers (``channel_id`` column; the electrode row when there is none).
    positions_um : numpy.ndarray, shape (n_channels, 3), float64, µm
        x, y, z of each channel (NaN where the table has no such column).
    electrodes : numpy.ndarray, shape (n_channels,), int64
        Rows of the file's ``electrodes`` table.
    unit : str
        ``"volts"`` when scaled, else the stored unit with its conversion in :attr:`conversion`.
    conversion : float
        Factor from the stored values to volts (1.0 when ``scaled``).
    """

    times: np.ndarray
    data: np.ndarray
    channel_ids: np.ndarray
    positions_um: np.ndarray
    electrodes: np.ndarray
    unit: str
    conversion: float


class EcpReader:
    """One ElectricalSeries of an open file (lazy: nothing is read until asked).

    Parameters
    ----------
    group : h5py.Group
        The series group.
    path : str
        The file's name, for messages.
    """

    def __init__(self, group: h5py.Group, *, path: str) -> None:
        self._group, self._path = group, path
        self.name = group.name.rsplit("/", 1)[-1]
        with guard(path, group.name):
            data = group.get("data")
            if not isinstance(data, h5py.Dataset) or data.ndim != 2:
                raise FileFormatError(path, "has no 2-D (time, channel) data", dataset=f"{group.name}/data")
            self._data = data
            self.conversion = float(data.attrs.get("conversion", 1.0))
            self.unit = as_text(data.attrs.get("unit", "volts"))
            self.n_steps_written = int(data.attrs.get(STEPS_WRITTEN_ATTR, data.shape[0]))
            st = group.get("starting_time")
            self.starting_time = float(st[()]) if isinstance(st, h5py.Dataset) else 0.0
            self.rate = float(st.attrs["rate"]) if isinstance(st, h5py.Dataset) and "rate" in st.attrs else None
            ts = group.get("timestamps")
            self._timestamps = ts if isinstance(ts, h5py.Dataset) else None
            region = group.get("electrodes")
            self.electrodes = np.asarray(region[()], dtype=np.int64) if isinstance(region, h5py.Dataset) else None
            table = region.attrs.get("table") if isinstance(region, h5py.Dataset) else None
            self._table = group.file[table] if isinstance(table, h5py.Reference) and table else None
            self.description = as_text(group.attrs.get("description", ""))
        if self.electrodes is None or self._table is None:
            raise FileFormatError(path, "has no electrodes region (DynamicTableRegion)", dataset=group.name)
        if self.electrodes.size != data.shape[1]:
            raise FileFormatError(
                path, f"has {data.shape[1]} channels but {self.electrodes.size} electrodes", dataset=group.name
            )
        self._columns: dict[str, np.ndarray] = {}

    @property
    def n_channels(self) -> int:
        return int(self.electrodes.size)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._data.shape)

    def _column(self, name: str) -> np.ndarray | None:
        if name not in self._columns:
            with guard(self._path, f"{self._table.name}/{name}"):
                ds = self._table.get(name)
                self._columns[name] = ds[()] if isinstance(ds, h5py.Dataset) else None
        return self._columns[name]

    @property
    def channel_ids(self) -> np.ndarray:
        """(n_channels,) int64: the ``channel_id`` column at the series' rows (the row numbers without one)."""
        ids = self._column("channel_id")
        return (ids[self.electrodes] if ids is not None else self.electrodes).astype(np.int64)

    @property
    def positions_um(self) -> np.ndarray:
        """(n_channels, 3) float64, µm: the ``x``, ``y``, ``z`` columns at the series' rows (NaN when missing)."""
        cols = [self._column(k) for k in ("x", "y", "z")]
        return np.stack(
            [
                c[self.electrodes].astype(np.float64) if c is not None else np.full(self.n_channels, np.nan)
                for c in cols
            ],
            axis=1,
        )

    @property
    def groups(self) -> list[str]:
        """Names of the electrode groups (probes) of the series' channels, in first-seen order."""
        names = self._column("group_name")
        if names is None:
            return []
        return list(dict.fromkeys(as_text(n) for n in names[self.electrodes]))

    @property
    def locations(self) -> list[str]:
        names = self._column("location")
        return [] if names is None else list(dict.fromkeys(as_text(n) for n in names[self.electrodes]))

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start .. stop - 1`` of every channel, as stored (shape (n, n_channels); no scaling)."""
        with guard(self._path, self._data.name):
            return self._data[start:stop, :]

    def get(
        self,
        *,
        channels: ArrayLike | None = None,
        tstart: float | None = None,
        tstop: float | None = None,
        tstride: int = 1,
        scaled: bool = True,
    ) -> EcpFrame:
        """A window of the series.

        Parameters
        ----------
        channels : array-like of int, optional
            Channel ids (``channel_id`` column) to read, in the order given; default all.
        tstart, tstop : float, optional
            Window in seconds, both ends inclusive (:func:`simout_plugins.nwb.window.sample_range`).
        tstride : int
            Keep every ``tstride``-th sample of the window.
        scaled : bool
            Volts (default) or the stored values.

        Raises
        ------
        ValueError
            A channel id the series does not have, ``tstride < 1``, ``tstop < tstart``.
        """
        if int(tstride) < 1:
            raise ValueError(f"tstride must be >= 1, got {tstride}")
        ids = self.channel_ids
        if channels is None:
            cols = np.arange(self.n_channels)
        else:
            want = np.atleast_1d(np.asarray(channels, dtype=np.int64))
            where = {int(c): i for i, c in enumerate(ids)}
            missing = [int(c) for c in want if int(c) not in where]
            if missing:
                raise ValueError(f"series '{self.name}' has no channel(s) {missing}; channels: {ids.tolist()}")
            cols = np.array([where[int(c)] for c in want], dtype=np.int64)
        n = min(self.n_steps_written, self._data.shape[0])
        ts = None
        if self._timestamps is not None:
            with guard(self._path, self._timestamps.name):
                ts = self._timestamps[:n]
        i0, i1 = sample_range(n_samples=n, tstart=tstart, tstop=tstop, starting_time=self.starting_time,
                              rate=self.rate, timestamps=ts)  # fmt: skip
        rows = np.arange(i0, i1, int(tstride))
        with guard(self._path, self._data.name):
            if cols.size == self.n_channels and np.array_equal(cols, np.arange(self.n_channels)):
                data = self._data[i0:i1:tstride, :]
            elif cols.size:
                uniq, inverse = np.unique(cols, return_inverse=True)  # h5py reads increasing columns
                data = self._data[i0:i1:tstride, uniq.tolist()][:, inverse]
            else:
                data = np.zeros((rows.size, 0), dtype=self._data.dtype)
        times = ts[rows] if ts is not None else self.starting_time + rows / self.rate
        if scaled:
            data = data * self.conversion
        return EcpFrame(
            times=np.asarray(times, dtype=np.float64),
            data=np.asarray(data),
            channel_ids=ids[cols],
            positions_um=self.positions_um[cols],
            electrodes=self.electrodes[cols],
            unit="volts" if scaled else self.unit,
            conversion=1.0 if scaled else self.conversion,
        )


def find_ecp(f: h5py.File, *, path: str) -> dict[str, EcpReader]:
    """Every ElectricalSeries of ``f`` (acquisition, processing, ...), by name, in file order."""
    found: dict[str, EcpReader] = {}
    with guard(path, "/"):
        where = find_typed_groups(f, "ElectricalSeries")
    for group_path in where:
        name = group_path.rsplit("/", 1)[-1]
        if name in found:
            logger.warning("'%s': two ElectricalSeries named '%s'; reading %s", path, name, group_path)
        found[name] = EcpReader(f[group_path], path=path)
    return found


def describe_ecp(f: h5py.File, *, path: str) -> list[dict]:
    """What ``simout info`` says about each ElectricalSeries: name, shape, time base, probes, channels, extent."""
    out = []
    for name, r in find_ecp(f, path=path).items():
        pos = r.positions_um
        extent = None if np.isnan(pos).all() else [np.nanmin(pos, axis=0).tolist(), np.nanmax(pos, axis=0).tolist()]
        out.append({
            "name": name,
            "n_steps": r.shape[0],
            "n_steps_written": min(r.n_steps_written, r.shape[0]),
            "n_channels": r.n_channels,
            "starting_time_s": r.starting_time,
            "rate_hz": r.rate,
            "unit": r.unit,
            "conversion": r.conversion,
            "probes": r.groups,
            "locations": r.locations,
            "channel_ids": r.channel_ids.tolist(),
            "extent_um": extent,
        })  # fmt: skip
    return out
