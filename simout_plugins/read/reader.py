"""h5py-level reader for CompartmentSeries files, libsonata-shaped: ``reader[series].get(node_ids, tstart, tstop)``.

Reads only the chunks a selection needs. Opens files written by this package (0.3.0), the seed layout
(table in ``acquisition``) and ndx-simulation-output 0.2.x (table under ``general/simulation``): the series'
``compartments`` link is followed wherever the table lives. This module is the file (:class:`ReportReader`, a
mapping of series name to :class:`~simout_plugins.read.series.SeriesReader`) and its ``Units`` spikes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import IO

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..errors import FileFormatError
from ..nwb import ragged
from ..nwb.columns import as_text
from ..nwb.discover import find_series
from .ecp import EcpFrame, EcpReader, find_ecp
from .frames import SpikeFrame, TraceFrame
from .remote import remote_file_object, source_name
from .series import SeriesReader
from .tables import CellTable, Selection, TableError, take
from .validate import guard, open_file

__all__ = ["open_report", "ReportReader", "SeriesReader", "TraceFrame", "SpikeFrame", "Selection", "TableError"]

logger = logging.getLogger(__name__)


class ReportReader(Mapping):
    """An open NWB file with one or more CompartmentSeries (use :func:`open_report`): a mapping of series name to
    :class:`SeriesReader` (``for name in report``, ``report["v"]``, ``len(report)``, ``"v" in report``).

    Series are found by :func:`simout_plugins.nwb.discover.find_series` (acquisition, processing, ..., wherever
    their table lives, also ndx-simulation-output 0.2.x files). Tables are read lazily and once per file: the series
    of one table share it. Two readers compare equal only when they are the same object (no data is compared).
    """

    def __init__(self, path: str | os.PathLike | IO[bytes]) -> None:
        self.path = source_name(path)
        self._file = open_file(path)
        self._remote = remote_file_object(path)
        self._series: dict[str, h5py.Group] = {}
        self._readers: dict[str, SeriesReader] = {}
        self._tables: dict[object, CellTable] = {}
        self._units: CellTable | None = None
        try:
            with guard(self.path, "/"):
                for where in find_series(self._file):
                    name = where.rsplit("/", 1)[-1]
                    if name in self._series:
                        logger.warning("'%s': two CompartmentSeries named '%s'; reading %s", self.path, name, where)
                    self._series[name] = self._file[where]
        except BaseException:
            self._file.close()
            raise

    @property
    def series_names(self) -> list[str]:
        """Names of the file's CompartmentSeries, in file order (the same as ``list(report)``)."""
        return list(self._series)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._series))

    def __len__(self) -> int:
        return len(self._series)

    def __contains__(self, name: object) -> bool:
        return name in self._series

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __getitem__(self, name: str) -> SeriesReader:
        if name not in self._series:
            raise KeyError(f"no CompartmentSeries '{name}' in {self.path}; series: {self.series_names}")
        if name not in self._readers:
            group = self._series[name]
            where = f"{group.name}/compartments"
            with guard(self.path, where):
                linked = group.get("compartments", getlink=True) is not None
                tgroup = group.get("compartments") if linked else None
            table = None
            if linked:
                if not isinstance(tgroup, h5py.Group):
                    raise FileFormatError(self.path, "the link points to no table", dataset=where)
                if tgroup.id not in self._tables:
                    self._tables[tgroup.id] = CellTable(tgroup, index="number_index", elements="number")
                table = self._tables[tgroup.id]
            self._readers[name] = SeriesReader(group, table, path=self.path, remote=self._remote)
        return self._readers[name]

    @property
    def units(self) -> CellTable | None:
        """The ``Units`` table (lazy), or None when the file has none."""
        if self._units is None:
            with guard(self.path, "/units"):
                group = self._file.get("units")
            if group is not None:
                if not isinstance(group, h5py.Group):
                    raise FileFormatError(self.path, "is not a group (a Units table)", dataset="/units")
                self._units = CellTable(group, index="spike_times_index", elements="spike_times")
        return self._units

    def spikes(self, *, population: str | None = None, node_ids: ArrayLike | None = None) -> SpikeFrame:
        """Spike times (s) from the ``units`` table, optionally of one population and / or some node ids.

        Node ids that have a Units row but no spikes give no entries; node ids without a row raise ValueError.
        """
        units = self.units
        times = None if units is None else units.element_dataset("spike_times")
        if times is None:
            return SpikeFrame(np.zeros(0, np.int64), np.zeros(0), None, np.zeros(0, np.int64))
        sel = units.select(population=population, node_ids=node_ids)
        with guard(self.path, times.name):
            if population is None and node_ids is None:
                times = times[()]
            else:
                times = take(times, sel.cols)
        return SpikeFrame(
            node_ids=ragged.repeat_per_element(sel.node_ids, sel.counts),
            times=np.asarray(times, dtype=np.float64),
            population=None if sel.population is None else ragged.repeat_per_element(sel.population, sel.counts),
            cell_ids=ragged.repeat_per_element(sel.cell_ids, sel.counts),
        )

    @property
    def attrs(self) -> dict[str, str]:
        """File-level text fields (session_description, identifier, source_script, notes, ...)."""
        out = {}
        with guard(self.path):
            for key in ("session_description", "identifier", "session_start_time"):
                if isinstance(self._file.get(key), h5py.Dataset):
                    out[key] = as_text(self._file[key][()])
            if isinstance(self._file.get("general"), h5py.Group):
                for key, obj in self._file["general"].items():
                    if isinstance(obj, h5py.Dataset) and obj.shape == ():
                        out[key] = as_text(obj[()])
        return out

    @property
    def ecp_names(self) -> list[str]:
        """Names of the file's ElectricalSeries (simulated probes), in file order."""
        return list(self._ecp())

    def ecp(
        self,
        name: str | None = None,
        *,
        channels: ArrayLike | None = None,
        tstart: float | None = None,
        tstop: float | None = None,
        tstride: int = 1,
        scaled: bool = True,
    ) -> EcpFrame:
        """A window of an ElectricalSeries (default the first): see :meth:`simout_plugins.read.ecp.EcpReader.get`.

        Returns an :class:`~simout_plugins.read.ecp.EcpFrame`: times (n_t,) in s, data (n_t, n_channels) in volts
        (``scaled=False``: as stored, e.g. mV), channel ids (n_channels,) and positions (n_channels, 3) in µm.
        """
        found = self._ecp()
        if name is None and found:
            name = next(iter(found))
        if name not in found:
            raise KeyError(f"no ElectricalSeries '{name}' in {self.path}; ElectricalSeries: {list(found)}")
        return found[name].get(channels=channels, tstart=tstart, tstop=tstop, tstride=tstride, scaled=scaled)

    def _ecp(self) -> dict[str, EcpReader]:
        if getattr(self, "_ecp_readers", None) is None:
            self._ecp_readers = find_ecp(self._file, path=self.path)
        return self._ecp_readers

    @property
    def h5file(self) -> h5py.File:
        """The open ``h5py.File`` (read-only), for reading what the reader does not cover."""
        return self._file

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_report(path: str | os.PathLike | IO[bytes]) -> ReportReader:
    """Open an NWB file for reading its CompartmentSeries (context manager).

    ``path`` is a local path, an ``http(s)://`` URL (read by HTTP range requests; the ``remote`` extra) or an open
    binary file object; see :mod:`simout_plugins.read.remote`.
    """
    return ReportReader(path)
