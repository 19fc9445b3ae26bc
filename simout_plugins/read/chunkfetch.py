"""Reading a selection of a remote dataset chunk by chunk: one range request per run of adjacent chunks, all at once.

Through h5py and a block cache, a remote read costs a request per cache block that a chunk touches, one after
another: a cell's trace over 50 chunk rows is ~120 sequential requests. Here the chunks that hold the selected
samples are located in the file (``get_chunk_info_by_coord``: the chunk index, read once through the block cache),
chunks lying back to back are merged into one range, and the ranges are fetched concurrently by fsspec
(``cat_ranges``). Then a trace costs one request per chunk row in a file written in time order (all in flight
together), and one or two in a file whose chunks were laid out cell by cell (``simout repack``).

Only plain chunks (no filter: no compression, shuffle or checksum) are decoded here; for anything else
:func:`read_chunked` returns None and the caller reads through h5py.
"""

from __future__ import annotations

import logging
from typing import Any

import h5py
import numpy as np

__all__ = ["MERGE_GAP_BYTES", "plain_chunks", "read_chunked"]

logger = logging.getLogger(__name__)

#: chunks at most this far apart in the file are fetched by one request (the gap is read and dropped)
MERGE_GAP_BYTES = 256 * 1024


def plain_chunks(dataset: h5py.Dataset) -> bool:
    """Whether ``dataset`` is chunked with no filter, so a chunk's bytes are its values in C order."""
    return dataset.chunks is not None and dataset.id.get_create_plist().get_nfilters() == 0


def read_chunked(
    dataset: h5py.Dataset, remote: Any, i0: int, i1: int, cols: np.ndarray, *, step: int = 1
) -> np.ndarray | None:
    """Rows ``i0, i0 + step, ... < i1`` of columns ``cols`` of a 2-D remote dataset, or None if not plain.

    Parameters
    ----------
    dataset : h5py.Dataset
        Shape (n_t, n_c), opened through ``remote``.
    remote : fsspec file object
        The file the dataset is read from (its ``fs`` and ``path`` give the concurrent range reads).
    i0, i1, step : int
        Rows ``range(i0, i1, step)``.
    cols : numpy.ndarray of int, shape (n_cols,)
        Columns, in the order wanted.

    Returns
    -------
    numpy.ndarray, shape (len(range(i0, i1, step)), n_cols), the dataset's dtype
    """
    if not plain_chunks(dataset) or not hasattr(remote, "fs"):
        return None
    rows = np.arange(i0, i1, step, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    out = np.empty((rows.size, cols.size), dtype=dataset.dtype)
    if rows.size == 0 or cols.size == 0:
        return out
    t, c = dataset.chunks
    chunk_rows = np.unique(rows // t)
    chunk_cols = np.unique(cols // c)
    fill = dataset.fillvalue
    infos = []
    for r in chunk_rows:
        for k in chunk_cols:
            info = dataset.id.get_chunk_info_by_coord((int(r * t), int(k * c)))
            infos.append((int(r), int(k), info.byte_offset, info.size))
    placed = [i for i in infos if i[2] is not None]
    placed.sort(key=lambda i: i[2])
    starts, ends, members = [], [], []
    for info in placed:
        if starts and info[2] - ends[-1] <= MERGE_GAP_BYTES:
            ends[-1] = max(ends[-1], info[2] + info[3])
            members[-1].append(info)
        else:
            starts.append(info[2])
            ends.append(info[2] + info[3])
            members.append([info])
    logger.debug("%s: %d chunks in %d range requests", dataset.name, len(placed), len(starts))
    blobs = remote.fs.cat_ranges([remote.path] * len(starts), starts, ends) if starts else []
    chunk_shape = (t, c)
    chunk_bytes = t * c * dataset.dtype.itemsize
    values: dict[tuple[int, int], np.ndarray] = {}
    for start, blob, group in zip(starts, blobs, members):
        for r, k, offset, size in group:
            if size != chunk_bytes:
                return None  # not a plain full chunk after all: let h5py read it
            raw = memoryview(blob)[offset - start : offset - start + size]
            values[(r, k)] = np.frombuffer(raw, dtype=dataset.dtype).reshape(chunk_shape)
    row_chunk, row_in = rows // t, rows % t
    col_chunk, col_in = cols // c, cols % c
    for r in chunk_rows:
        out_rows = np.flatnonzero(row_chunk == r)
        for k in chunk_cols:
            out_cols = np.flatnonzero(col_chunk == k)
            block = values.get((int(r), int(k)))
            if block is None:
                out[np.ix_(out_rows, out_cols)] = fill
            else:
                out[np.ix_(out_rows, out_cols)] = block[np.ix_(row_in[out_rows], col_in[out_cols])]
    return out
