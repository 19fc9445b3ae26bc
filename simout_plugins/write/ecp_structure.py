"""The NWB structure of extracellular-potential series: probes, electrodes and empty ``ElectricalSeries``, each
allocated once at its final shape (NaN fill value, every chunk allocated, nothing written: see
:func:`simout_plugins.write.skeleton.preallocate`).

Two ways in (rank 0 only): a new file of its own (:func:`write_new_file`), or appended to the partial file of a
:class:`~simout_plugins.write.writer.CompartmentSeriesWriter` that has written its own structure already
(:func:`append_to_file`; pynwb's append mode adds the new containers and leaves the rest as it is).
:func:`check_block` says whether a block fits the structure (series, channels, order, length).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTableRegion
from pynwb import NWBHDF5IO, NWBFile

from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.chunking import choose_chunks
from ..nwb.electrodes import Probe, add_probes, build_electrical_series
from ..nwb.nwbfile import build_manager
from .skeleton import preallocate

__all__ = ["EcpLayout", "add_ecp_structure", "append_to_file", "check_block", "write_new_file"]


@dataclass(frozen=True)
class EcpLayout:
    """What every series of one writer shares: shape, dtype and time base.

    Attributes
    ----------
    n_steps : int
    dtype : numpy.dtype
    tstart_ms, dt_ms : float
        Time of sample 0 and sampling interval, ms.
    conversion : float
        Stored value x conversion = volts.
    block_steps : int or None
        Typical block length (chunks are aligned with it).
    description, comments : str
    extra_series : tuple of (str, str, str)
        Further series over a probe's channels: (series name, probe name, description), e.g. one population's
        contribution.
    """

    n_steps: int
    dtype: np.dtype
    tstart_ms: float
    dt_ms: float
    conversion: float
    block_steps: int | None
    description: str
    comments: str
    extra_series: tuple[tuple[str, str, str], ...] = ()

    def series(self, probes: Sequence[Probe]) -> list[tuple[str, Probe, str]]:
        """(series name, probe, description) of every series: one per probe, then the extra ones."""
        by_name = {p.name: p for p in probes}
        return [(p.name, p, self.description) for p in probes] + [
            (name, by_name[probe], text) for name, probe, text in self.extra_series
        ]


def add_ecp_structure(nwbfile: NWBFile, *, probes: Sequence[Probe], layout: EcpLayout) -> None:
    """Add the probes (Devices, ElectrodeGroups, electrodes rows) and one empty ElectricalSeries per series."""
    regions = add_probes(nwbfile=nwbfile, probes=probes)
    for name, probe, description in layout.series(probes):
        chunks = choose_chunks(n_steps=layout.n_steps, n_compartments=probe.n_channels,
                               itemsize=layout.dtype.itemsize, block_steps=layout.block_steps)  # fmt: skip
        data = H5DataIO(shape=(layout.n_steps, probe.n_channels), dtype=layout.dtype, chunks=chunks, fillvalue=np.nan)
        region = regions[probe.name]
        if name != probe.name:  # a region of its own (a container has one parent), over the same rows
            region = DynamicTableRegion(name="electrodes", data=list(region.data), description=region.description,
                                        table=region.table)  # fmt: skip
        nwbfile.add_acquisition(
            build_electrical_series(
                name=name,
                electrodes=region,
                data=data,
                starting_time_s=layout.tstart_ms / 1000.0,
                rate_hz=1000.0 / layout.dt_ms,
                unit_conversion=layout.conversion,
                description=description,
                comments=layout.comments,
            )
        )


def _allocate(path: str | os.PathLike, probes: Sequence[Probe], layout: EcpLayout) -> None:
    with h5py.File(path, "r+") as h5:
        for name, _, _ in layout.series(probes):
            if layout.n_steps:
                preallocate(h5[f"acquisition/{name}"], "data")  # also the steps-written count
            else:
                h5[f"acquisition/{name}/data"].attrs.create(STEPS_WRITTEN_ATTR, 0, dtype=np.int64)


def write_new_file(
    where: os.PathLike, final: os.PathLike, *, nwbfile: NWBFile, probes: Sequence[Probe], layout: EcpLayout
) -> None:
    """Write ``nwbfile`` with the series to ``where``, allocate the data, then rename it to ``final`` (the partial
    file thus only ever exists complete; a failure removes ``where``)."""
    add_ecp_structure(nwbfile, probes=probes, layout=layout)
    try:
        with NWBHDF5IO(os.fspath(where), mode="w", manager=build_manager()) as io:
            io.write(nwbfile)
        _allocate(where, probes, layout)
        os.replace(where, final)
    except BaseException:
        if os.path.exists(where):
            os.unlink(where)
        raise


def append_to_file(path: os.PathLike, *, probes: Sequence[Probe], layout: EcpLayout) -> None:
    """Add the probes and series to an existing NWB file (a CompartmentSeriesWriter's partial file).

    Raises
    ------
    ValueError
        The file has an ``electrodes`` table already, or a series of a probe's name.
    """
    with NWBHDF5IO(os.fspath(path), mode="a", manager=build_manager()) as io:
        nwbfile = io.read()
        clash = [name for name, _, _ in layout.series(probes) if name in nwbfile.acquisition]
        if clash:
            raise ValueError(f"the file already has series named {clash}; give the probes other names")
        add_ecp_structure(nwbfile, probes=probes, layout=layout)
        io.write(nwbfile)
    _allocate(path, probes, layout)


def check_block(
    name: str, step0: int, arr: np.ndarray, *, probe: Probe | None, series: list[str], written: int, n_steps: int
) -> ValueError | None:
    """The error of a ``write_block(step0, arr, series=name)`` call, or None: the series exists, the block has its
    channels, comes next (in order, no gap, no overlap) and ends within ``n_steps``."""
    if probe is None:
        return ValueError(f"write_block: unknown series '{name}'; declared: {series}")
    if arr.ndim != 2 or arr.shape[1] != probe.n_channels:
        return ValueError(
            f"write_block of '{name}': block has shape {arr.shape}, expected (n_steps, {probe.n_channels})"
        )
    if step0 != written:
        return ValueError(
            f"write_block of '{name}': step0={step0} but {written} steps are written; blocks must come in order "
            "without gaps or overlaps"
        )
    if step0 + arr.shape[0] > n_steps:
        return ValueError(
            f"write_block of '{name}': steps {step0}..{step0 + arr.shape[0] - 1} run past n_steps={n_steps}"
        )
    return None
