"""Chunk-shape policy for (n_steps, n_compartments) report datasets and for the columns of big cell tables.

Two reads matter: "all compartments at one time step" (a movie frame, a network snapshot) and "one cell over all
time" (a trace plot). A chunk of ``t`` steps x ``c`` compartments costs ``ceil(C / c)`` chunk reads for the first
and ``ceil(T / t)`` (times the 1-2 column chunks a cell spans) for the second. We aim at ~1 MiB chunks (HDF5's
sweet spot for its default 1 MiB cache, and a good unit for compression and parallel I/O) with ``t`` at most
:data:`MAX_CHUNK_STEPS`, aligned with the writer's block length so each block write fills whole chunks (no
read-modify-write of partially written chunks). Measured trade-off: see README "Performance".
"""

from __future__ import annotations

import numpy as np
from hdmf.backends.hdf5 import H5DataIO

TARGET_CHUNK_BYTES = 1 << 20
MAX_CHUNK_STEPS = 256
DEFAULT_CHUNK_STEPS = 128
MIN_ALIGNED_CHUNK_STEPS = 16


def choose_chunks(
    *, n_steps: int, n_compartments: int, itemsize: int, block_steps: int | None = None
) -> tuple[int, int] | None:
    """Return the chunk shape (steps, compartments) for a (n_steps, n_compartments) dataset, or None if empty.

    Parameters
    ----------
    n_steps, n_compartments : int
        Dataset shape.
    itemsize : int
        Bytes per value (4 for float32).
    block_steps : int, optional
        Typical number of steps per ``write_block`` call; the chunk's step extent is chosen to divide it.
    """
    if n_steps <= 0 or n_compartments <= 0:
        return None
    t = DEFAULT_CHUNK_STEPS
    if block_steps is not None and block_steps > 0:
        if block_steps <= MAX_CHUNK_STEPS:
            t = block_steps
        else:
            divisors = [d for d in range(MAX_CHUNK_STEPS, MIN_ALIGNED_CHUNK_STEPS - 1, -1) if block_steps % d == 0]
            t = divisors[0] if divisors else DEFAULT_CHUNK_STEPS
    t = max(1, min(t, n_steps))
    c = max(1, min(n_compartments, TARGET_CHUNK_BYTES // (t * itemsize)))
    # balance: equal column extents, so the last chunk column is not mostly padding (HDF5 stores whole chunks)
    c = -(-n_compartments // -(-n_compartments // c))
    return (t, c)


def cache_bytes(
    *, chunks: tuple[int, int] | None, n_compartments: int, itemsize: int, block_steps: int | None = None
) -> int:
    """Chunk-cache size for writing: one chunk when blocks fill whole chunks, else one full row of chunks.

    With aligned blocks every write covers whole chunks, which HDF5 writes straight through; a bigger cache would
    only keep a copy of the last block in memory. Unaligned blocks write partial chunks, which must stay cached
    until the next block completes them (otherwise each is read back and rewritten).
    """
    if chunks is None or (block_steps and block_steps % chunks[0] == 0):
        return TARGET_CHUNK_BYTES
    row = chunks[0] * n_compartments * itemsize
    return int(min(max(row + chunks[0] * chunks[1] * itemsize, TARGET_CHUNK_BYTES), 512 << 20))


#: Chunk size of the columns of big cell tables (Compartments, Units): one cell's row reads ~128 KB per column
#: from disk (hdmf's default 4 MB chunks, sized for cloud reads, cost a cold one-cell read ~4 MB per column).
TABLE_CHUNK_BYTES = 128 * 1024


def chunked(data: np.ndarray, *, chunk_bytes: int) -> np.ndarray | H5DataIO:
    """Wrap a 1-D column in ``H5DataIO`` with chunks of about ``chunk_bytes`` when it spans several of them."""
    itemsize = 16 if data.dtype == object else data.dtype.itemsize  # text: a variable-length reference each
    per_chunk = max(1, chunk_bytes // itemsize)
    if data.ndim != 1 or data.size <= per_chunk:
        return data
    return H5DataIO(data=data, chunks=(per_chunk,))
