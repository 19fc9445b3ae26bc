"""gzip on a worker thread: whole chunks shuffled and deflated beside the simulation, written with direct chunk writes.

HDF5 runs its filters inside ``H5Dwrite``, on the calling thread, while the simulator waits: shuffle + gzip-4 goes at
about 40 MB/s on one core, which made a BMTK run with a gzip report 3x the run with an uncompressed one. The same
bytes can be made elsewhere: HDF5's shuffle is a byte transposition of the chunk and its deflate filter a zlib stream
(``compress2``), and ``zlib.compress`` releases the GIL. So for a block that covers whole chunk rows (its first step
and its length multiples of the chunk's time extent, or reaching the end of the data) the block is copied once,
a worker thread shuffles and deflates every chunk of it while the simulation goes on, and the chunks are written with
``H5Dwrite_chunk`` (h5py ``write_direct_chunk``; edge chunks padded with the fill value to the full chunk shape, as
HDF5 stores them: the bytes are those HDF5's own filters make) the
next time the sink is called. Any other block, and any other filter pipeline, goes through ``H5Dwrite``.

Crash safety is unchanged: the sink calls :meth:`ChunkDeflater.drain` before every flush, so the steps-written count
never claims a step whose chunks are not written. Chunks of aligned blocks never were in HDF5's chunk cache (blocks
come in order, without overlap), so direct writes and cached writes never touch the same chunk.
"""

from __future__ import annotations

import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import h5py
import numpy as np

__all__ = ["ChunkDeflater", "gzip_level"]

_SHUFFLE, _DEFLATE = h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE
#: blocks compressed but not yet written, at most (then the sink waits for the oldest)
MAX_PENDING = 2


def gzip_level(dataset: h5py.Dataset) -> int | None:
    """The gzip level when ``dataset``'s filters are exactly shuffle then deflate (chunked, 2-D), else None."""
    if dataset.chunks is None or dataset.ndim != 2 or not dataset.dtype.isnative:
        return None
    dcpl = dataset.id.get_create_plist()
    filters = [dcpl.get_filter(i) for i in range(dcpl.get_nfilters())]
    if [f[0] for f in filters] != [_SHUFFLE, _DEFLATE]:
        return None
    values = filters[1][2]
    return int(values[0]) if len(values) else 6


def _deflate_block(
    block: np.ndarray, step0: int, chunks: tuple[int, int], level: int, fill: float
) -> list[tuple[tuple, bytes]]:
    """(chunk offset, shuffled + deflated chunk bytes) of every chunk of ``block`` (rows step0.., aligned); edge
    chunks padded with the dataset's fill value, as HDF5 pads them."""
    t, c = chunks
    n, n_cols = block.shape
    out = []
    for r0 in range(0, n, t):
        for c0 in range(0, n_cols, c):
            piece = block[r0 : r0 + t, c0 : c0 + c]
            if piece.shape != (t, c):  # an edge chunk: HDF5 stores it at the full chunk shape
                full = np.full((t, c), fill, dtype=block.dtype)
                full[: piece.shape[0], : piece.shape[1]] = piece
                piece = full
            raw = np.ascontiguousarray(piece).view(np.uint8).reshape(t * c, block.dtype.itemsize)
            out.append(((step0 + r0, c0), zlib.compress(np.ascontiguousarray(raw.T), level)))
    return out


class ChunkDeflater:
    """Deflate whole-chunk blocks of one dataset on a worker thread; write their chunks on the caller's thread.

    Parameters
    ----------
    dataset : h5py.Dataset
        2-D, chunked, filters shuffle + deflate (:func:`gzip_level` is not None).
    executor : ThreadPoolExecutor
        Shared by the datasets of one file.
    """

    def __init__(self, dataset: h5py.Dataset, *, executor: ThreadPoolExecutor) -> None:
        self._ds = dataset
        self._level = gzip_level(dataset)
        self._chunks = dataset.chunks
        self._executor = executor
        self._pending: deque[Future] = deque()

    def takes(self, step0: int, n: int) -> bool:
        """Whether the block of ``n`` rows at ``step0`` covers whole chunk rows (the rest goes through H5Dwrite)."""
        t = self._chunks[0]
        return n > 0 and step0 % t == 0 and (n % t == 0 or step0 + n == self._ds.shape[0])

    def submit(self, step0: int, block: np.ndarray) -> None:
        """Queue the (n, n_columns) file-ordered ``block`` at ``step0`` (copied: the caller may reuse its buffer)."""
        self.drain(keep=MAX_PENDING - 1)
        copy = np.array(block, dtype=self._ds.dtype, order="C")
        job = (_deflate_block, copy, step0, self._chunks, self._level, self._ds.fillvalue)
        self._pending.append(self._executor.submit(*job))
        self.drain(wait=False)

    def drain(self, *, keep: int = 0, wait: bool = True) -> None:
        """Write the chunks of finished blocks, in order; wait until at most ``keep`` are pending (``wait=False``:
        only what is finished already). A worker's error is raised here."""
        while self._pending and (len(self._pending) > keep or self._pending[0].done()):
            if not wait and not self._pending[0].done():
                return
            for offset, data in self._pending.popleft().result():
                self._ds.id.write_direct_chunk(offset, data)

    def cancel(self) -> None:
        """Drop what is pending (after a failure: nothing more is written)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
