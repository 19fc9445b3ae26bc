"""The NWB structure of a report file, written once by rank 0 before any block: tables, empty series, metadata.

Every series is allocated at its final shape with ``H5DataIO(shape, dtype, chunks, fillvalue=NaN)`` (nothing is
written into it here); blocks go in afterwards through a sink with h5py. A ``compression`` filter applies to every
series' data; a series with ``precision`` is int32 counts with the matching ``conversion`` and the int32 minimum as
fill value (:mod:`simout_plugins.nwb.compression`). pynwb writes this part serially (NWB's
variable-length strings cannot be written under MPI-IO), on rank 0 only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile

from ..nwb.attrs import ROW_ORDER_ATTR, STEPS_WRITTEN_ATTR
from ..nwb.builders import compartments_from_layout
from ..nwb.chunking import TABLE_CHUNK_BYTES, cache_bytes, choose_chunks
from ..nwb.compression import COUNT_FILL, PRECISION_ATTR, CompressionSpec, counts_conversion, precision_note
from ..nwb.layout import CompartmentLayout
from ..nwb.nwbfile import build_manager
from ..nwb.schema import CompartmentSeries
from ..nwb.units import unit_and_conversion
from .series import SeriesSpec
from .space import reserve


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
    """

    datasets: dict[str, str]
    cache_bytes: int


class DeferredColumns:
    """Table columns written with h5py after pynwb wrote the structure (``column_io`` of the builders).

    pynwb gets an empty, chunked ``H5DataIO`` of the right shape and dtype for each column (hdmf scans text and
    object columns element by element in Python, ~3 s per million rows); the arrays are then written with h5py in
    one call each: numbers as they are, text as fixed-length UTF-8 bytes that HDF5 converts to the
    variable-length strings NWB stores (0.3 s per million, against 4-6 s from a Python object array).

    Parameters
    ----------
    chunk_bytes : int
        Target chunk size of each column (see :data:`simout_plugins.nwb.chunking.TABLE_CHUNK_BYTES`).
    """

    def __init__(self, *, chunk_bytes: int) -> None:
        self._chunk_bytes = chunk_bytes
        self._arrays: dict[str, np.ndarray] = {}
        self._bytes: dict[str, np.ndarray] = {}

    def __call__(self, dataset: str, data: np.ndarray) -> np.ndarray | H5DataIO:
        arr = np.asarray(data)
        if arr.ndim != 1 or arr.size == 0:
            return arr
        text = arr.dtype.kind in "OUS"
        itemsize = 16 if text else arr.dtype.itemsize  # a variable-length string is a 16-byte reference
        per_chunk = max(1, min(arr.size, self._chunk_bytes // itemsize))
        self._arrays[dataset] = arr
        dtype = h5py.string_dtype() if text else arr.dtype
        return H5DataIO(shape=arr.shape, dtype=dtype, chunks=(per_chunk,))

    def nbytes_upper_bound(self) -> int:
        """Bytes the columns can take in the file: numbers as they are; text as HDF5 stores variable-length strings
        (a 16-byte reference, and the string with a 16-byte header, 8-byte aligned, in a global heap)."""
        total = 0
        for name, arr in self._arrays.items():
            if arr.dtype.kind in "OUS":
                text = self._text(name)
                total += text.size * (16 + 16 + (text.dtype.itemsize + 8) // 8 * 8)
            else:
                total += arr.nbytes
        return total + (64 << 10) * len(self._arrays)  # the chunk index of each column

    def _text(self, name: str) -> np.ndarray:
        """The column ``name`` as fixed-length UTF-8 bytes (converted once)."""
        if name not in self._bytes:
            self._bytes[name] = _utf8_bytes(self._arrays[name])
        return self._bytes[name]

    def fill(self, group: h5py.Group) -> None:
        """Write every deferred column into its (allocated) dataset of ``group``."""
        for name, arr in self._arrays.items():
            ds = group[name]
            if arr.dtype.kind in "OUS":
                ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, self._text(name))
            else:
                ds.write_direct(np.ascontiguousarray(arr, dtype=ds.dtype))


def _utf8_bytes(values: np.ndarray) -> np.ndarray:
    """Fixed-length UTF-8 bytes of a text array (vectorised; ASCII fast path)."""
    if values.dtype.kind == "S":
        return values
    text = values.astype(str) if values.dtype.kind == "O" else values
    try:
        return text.astype("S")
    except UnicodeEncodeError:
        return np.char.encode(text, "utf-8")


def write_skeleton(
    path: str | os.PathLike,
    *,
    nwbfile: NWBFile,
    tables: Sequence[TableSpec],
    series: Sequence[SeriesSpec],
    block_steps: int | None,
    compression: CompressionSpec | None,
) -> Skeleton:
    """Write the NWB structure to ``path`` (rank 0) and set each series' ``chunks``.

    Parameters
    ----------
    nwbfile : NWBFile
        The file-level metadata (:func:`simout_plugins.nwb.nwbfile.make_nwbfile`); tables and series are added to it.
    tables : sequence of TableSpec
    series : sequence of SeriesSpec
        Each names its table in ``table``.
    block_steps : int or None
        Typical block length, to align the chunks' time extent with it.
    compression : CompressionSpec or None
        HDF5 filter (after shuffle) of the series data. Filtered chunks are allocated as they are written (their
        size is known only then): no disk space is reserved for them and :func:`preallocate` is not applied.
    """
    written, deferred = {}, {}
    for table in tables:
        deferred[table.name] = DeferredColumns(chunk_bytes=TABLE_CHUNK_BYTES)
        container = compartments_from_layout(
            table.layout, name=table.name, description=table.description, column_io=deferred[table.name]
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
        fill, comments = np.nan, s.comments
        if s.precision is not None:
            fill, conversion = COUNT_FILL, counts_conversion(conversion, s.precision)
            comments = f"{comments} {precision_note(s.unit, s.precision)}"
        filters = compression.h5py_kwargs() if compression is not None else {}
        with warnings.catch_warnings():  # hdmf warns that lzf needs h5py: nwb/compression.py says what reads it
            warnings.filterwarnings("ignore", message="lzf compression may not be available", category=UserWarning)
            data = H5DataIO(shape=(s.n_steps, n_comp), dtype=s.dtype, chunks=s.chunks, fillvalue=fill, **filters)
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
                comments=comments,
            )
        )
    # pynwb writes the structure into memory; it goes to disk with plain writes once the disk space for it, the
    # table columns and the series data is reserved; HDF5 then writes only into reserved space (see
    # simout_plugins.write.space: HDF5 handles a full disk badly)
    memory = h5py.File(f"{os.fspath(path)}.in-memory", "w", driver="core", backing_store=False)
    with NWBHDF5IO(file=memory, mode="w", manager=build_manager()) as io:  # closes ``memory`` on exit
        io.write(nwbfile)
        for name in deferred:
            # hdmf writes colnames = () when every column's data is an empty placeholder; restore them
            memory[f"acquisition/{name}"].attrs.create(
                "colnames", list(written[name].colnames), dtype=h5py.string_dtype()
            )
        for table in tables:
            memory[f"acquisition/{table.name}"].attrs[ROW_ORDER_ATTR] = table.order_by
        memory.flush()
        image = memory.id.get_file_image()
    data_bytes = 0 if compression is not None else sum(s.n_steps * n_cols[s.table] * s.dtype.itemsize for s in series)
    column_bytes = sum(columns.nbytes_upper_bound() for columns in deferred.values())
    _write_reserved(path, image, extra=column_bytes + data_bytes + (1 << 20))
    with h5py.File(path, "r+") as h5:
        for name, columns in deferred.items():
            columns.fill(h5[f"acquisition/{name}"])
        for s in series:
            if s.precision is not None:
                h5[f"acquisition/{s.name}/data"].attrs[PRECISION_ATTR] = s.precision
            if compression is None:
                preallocate(h5[f"acquisition/{s.name}"], "data")  # creates the steps-written count too
            else:
                h5[f"acquisition/{s.name}/data"].attrs.create(STEPS_WRITTEN_ATTR, 0, dtype=np.int64)
    return Skeleton(
        datasets={s.name: f"acquisition/{s.name}/data" for s in series},
        cache_bytes=biggest,
    )


def _write_reserved(path: str | os.PathLike, image: bytes, *, extra: int) -> None:
    """Write ``image`` to a new file ``path`` after reserving its size plus ``extra`` bytes (the series data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        reserve(fd, offset=0, length=len(image) + extra, path=path, what="the file's structure and series data")
        view = memoryview(image)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def preallocate(group: h5py.Group, name: str) -> None:
    """Re-create the empty chunked dataset ``group[name]`` with every chunk allocated now and nothing written.

    pynwb creates the series with HDF5's default incremental allocation: each block that reaches a new chunk adds
    it to the chunk index and grows the file, so the file's metadata changes with every block. Allocated at once
    and never filled (``H5D_FILL_TIME_NEVER``: the file is sparse until written, in space the writer reserved),
    blocks only write raw data into place and rewrite the ``simout_steps_written`` attribute in place. A run killed
    or stopped by a full disk then leaves a file whose structure is complete and openable (its size is final from
    the start) with every flushed block in it; samples never written read as 0 until
    :meth:`CompartmentSeriesWriter.close` writes NaN there. The declared fill value (NaN), shape, chunks, dtype
    and attributes are kept. Not for filtered (compressed) data, whose chunk sizes are only known once written.
    """
    old = group[name]
    attrs = [(key, old.attrs[key], old.attrs.get_id(key).dtype) for key in old.attrs]
    dcpl = old.id.get_create_plist()
    space = old.id.get_space()
    dtype = old.id.get_type()
    del group[name]
    # attributes first (the steps-written count included, so that its updates rewrite it in place, in an object
    # header that lies before the data), then every chunk: LATE allocation happens at the first write
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_LATE)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dsid = h5py.h5d.create(group.id, name.encode(), dtype, space, dcpl=dcpl)
    new = h5py.Dataset(dsid)
    for key, value, attr_dtype in attrs:
        new.attrs.create(key, value, dtype=attr_dtype)
    new.attrs.create(STEPS_WRITTEN_ATTR, 0, dtype=np.int64)
    if new.size:
        new[0, 0] = new.fillvalue  # allocates every chunk now; sample 0 is written again by the first block
