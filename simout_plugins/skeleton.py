"""The NWB structure of a report file, written once by rank 0 before any block: tables, empty series, metadata.

Every series is allocated at its final shape with ``H5DataIO(shape, dtype, chunks, fillvalue=NaN)`` (nothing is
written into it here); blocks go in afterwards through a sink with h5py. pynwb writes this part serially (NWB's
variable-length strings cannot be written under MPI-IO), on rank 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile

from .builders import compartments_from_layout
from .chunking import TABLE_CHUNK_BYTES, cache_bytes, choose_chunks
from .layout import CompartmentLayout
from .nwbfile import build_manager
from .schema import CompartmentSeries
from .series import SeriesSpec
from .sink import ROW_ORDER_ATTR
from .units import unit_and_conversion


@dataclass(frozen=True)
class TableSpec:
    """One Compartments table in file order (from the column plan)."""

    name: str
    description: str
    layout: CompartmentLayout
    order_by: str


@dataclass(frozen=True)
class Skeleton:
    """What the sinks need to know about the written structure.

    Attributes
    ----------
    datasets : dict of str to str
        Series name → HDF5 path of its data dataset.
    cache_bytes : int
        Chunk-cache size that holds the chunks one block touches (largest over the series).
    group_attrs : dict of str to dict
        Attributes to set on groups once the file is open with h5py (e.g. the tables' row order).
    """

    datasets: dict[str, str]
    cache_bytes: int
    group_attrs: dict[str, dict[str, Any]]


def write_skeleton(
    path: str | os.PathLike,
    *,
    nwbfile: NWBFile,
    tables: Sequence[TableSpec],
    series: Sequence[SeriesSpec],
    block_steps: int | None,
    compression: str | None,
) -> Skeleton:
    """Write the NWB structure to ``path`` (rank 0) and set each series' ``chunks``.

    Parameters
    ----------
    nwbfile : NWBFile
        The file-level metadata (:func:`simout_plugins.nwbfile.make_nwbfile`); tables and series are added to it.
    tables : sequence of TableSpec
    series : sequence of SeriesSpec
        Each names its table in ``table``.
    block_steps : int or None
        Typical block length, to align the chunks' time extent with it.
    compression : str or None
        HDF5 filter of the series data.
    """
    written = {}
    for table in tables:
        container = compartments_from_layout(
            table.layout, name=table.name, description=table.description, chunk_bytes=TABLE_CHUNK_BYTES
        )
        written[table.name] = container
        nwbfile.add_acquisition(container)
    biggest = 0
    n_cols = {t.name: t.layout.n_compartments for t in tables}
    for s in series:
        n_comp = n_cols[s.table]
        item = s.dtype.itemsize
        s.chunks = choose_chunks(n_steps=s.n_steps, n_compartments=n_comp, itemsize=item, block_steps=block_steps)
        biggest = max(
            biggest, cache_bytes(chunks=s.chunks, n_compartments=n_comp, itemsize=item, block_steps=block_steps)
        )
        unit, conversion = unit_and_conversion(s.unit)
        data = H5DataIO(
            shape=(s.n_steps, n_comp), dtype=s.dtype, chunks=s.chunks, fillvalue=np.nan, compression=compression
        )
        nwbfile.add_acquisition(
            CompartmentSeries(
                name=s.name,
                data=data,
                compartments=written[s.table],
                unit=unit,
                conversion=conversion,
                starting_time=s.tstart_ms / 1000.0,
                rate=1000.0 / s.dt_ms,
                description=s.description,
                comments=s.comments,
            )
        )
    with NWBHDF5IO(str(path), "w", manager=build_manager()) as io:
        io.write(nwbfile)
    return Skeleton(
        datasets={s.name: f"acquisition/{s.name}/data" for s in series},
        cache_bytes=biggest,
        group_attrs={f"acquisition/{t.name}": {ROW_ORDER_ATTR: t.order_by} for t in tables},
    )
