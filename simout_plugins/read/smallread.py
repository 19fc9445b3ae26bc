"""Reading a few samples of a local series: only their bytes, not the whole chunks that hold them.

HDF5 reads a chunk whole into its chunk cache when the chunk fits in it (the writer's chunks are ~1 MiB, the cache
is larger), also for four samples of ten columns: a one-cell ``get`` over a few steps reads 1 MiB per chunk, and
one time step over all compartments reads every chunk of the row whole (hundreds of MiB of a big file for a few
MB of values). Here the chunks are located in the file (``get_chunk_info_by_coord``, through HDF5's chunk index)
and each row segment of the selection inside a chunk is read with one ``os.pread``. This pays only when a chunk
holds few segments of the selection (:data:`MAX_SEGMENTS_PER_CHUNK`): a trace over 100 steps of a chunk is 100
segments, and one whole-chunk read is faster; :func:`read_small` then returns None and the caller reads through
h5py. Only plain chunks (no filter: a chunk's bytes are its values in C order) of a local file (the ``sec2``
driver) are read this way.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from .chunkfetch import plain_chunks

__all__ = ["MAX_SEGMENTS_PER_CHUNK", "read_small"]

#: above this many row segments per chunk read, one read of the whole chunk (through h5py) is faster
MAX_SEGMENTS_PER_CHUNK = 8


def read_small(dataset: h5py.Dataset, i0: int, i1: int, cols: np.ndarray, *, step: int = 1) -> np.ndarray | None:
    """Rows ``i0, i0 + step, ... < i1`` of columns ``cols`` of a 2-D dataset, read segment by segment, or None.

    Parameters
    ----------
    dataset : h5py.Dataset
        Shape (n_t, n_c), in a file opened from a local path.
    i0, i1, step : int
        Rows ``range(i0, i1, step)``.
    cols : numpy.ndarray of int, shape (n_cols,)
        Columns, in the order wanted.

    Returns
    -------
    numpy.ndarray, shape (len(range(i0, i1, step)), n_cols), the dataset's dtype; None when this is not the
    faster way (many segments per chunk), or the data is not plain chunks of a local file.

    Raises
    ------
    OSError
        A chunk lies (partly) past the end of the file.
    """
    if dataset.file.driver != "sec2" or dataset.ndim != 2 or not plain_chunks(dataset):
        return None
    rows = np.arange(i0, i1, step, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if rows.size == 0 or cols.size == 0:
        return None
    t, c = dataset.chunks
    chunk_rows = np.unique(rows // t)
    if rows.size > MAX_SEGMENTS_PER_CHUNK * chunk_rows.size:  # at least that many segments per chunk
        return None
    # segments: runs of consecutive columns within one chunk column
    cuts = np.flatnonzero((np.diff(cols) != 1) | (np.diff(cols // c) != 0)) + 1
    seg_start = np.concatenate([[0], cuts])
    seg_stop = np.concatenate([cuts, [cols.size]])
    n_chunks = chunk_rows.size * np.unique(cols[seg_start] // c).size
    if rows.size * seg_start.size > MAX_SEGMENTS_PER_CHUNK * n_chunks:
        return None
    item = dataset.dtype.itemsize
    chunk_bytes = t * c * item
    base: dict[tuple[int, int], int | None] = {}
    for r in chunk_rows.tolist():
        for k in np.unique(cols[seg_start] // c).tolist():
            info = dataset.id.get_chunk_info_by_coord((r * t, k * c))
            if info.byte_offset is not None and info.size != chunk_bytes:
                return None  # not a plain full chunk after all: let h5py read it
            base[(r, k)] = info.byte_offset
    out = np.empty((rows.size, cols.size), dtype=dataset.dtype)
    fill = dataset.fillvalue
    fd = os.open(dataset.file.filename, os.O_RDONLY)
    try:
        for j, row in enumerate(rows.tolist()):
            r, in_r = divmod(row, t)
            for a, b in zip(seg_start.tolist(), seg_stop.tolist()):
                k, in_c = divmod(int(cols[a]), c)
                start = base[(r, k)]
                if start is None:  # chunk never written: HDF5 returns the fill value
                    out[j, a:b] = fill
                    continue
                n = (b - a) * item
                raw = os.pread(fd, n, start + (in_r * c + in_c) * item)
                if len(raw) != n:
                    raise OSError(f"chunk at byte {start} lies past the end of the file")
                out[j, a:b] = np.frombuffer(raw, dtype=dataset.dtype)
    finally:
        os.close(fd)
    return out
