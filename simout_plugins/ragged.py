"""Ragged-array index vocabulary, pure numpy. Nothing else in the project converts between these.

- ``counts``: per-row lengths, shape (n,), int >= 0.
- ``offsets``: CSR starts, shape (n + 1,), ``offsets[0] == 0`` (= SONATA ``mapping/index_pointer``).
- ``nwb_index``: VectorIndex *ends*, shape (n,) (= NWB ``*_index`` datasets; hdmf stores them as the smallest uint).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def counts_to_offsets(counts: ArrayLike) -> np.ndarray:
    """CSR starts (n + 1,) int64 from per-row lengths (n,)."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def offsets_to_counts(offsets: ArrayLike) -> np.ndarray:
    """Per-row lengths (n,) int64 from CSR starts (n + 1,)."""
    return np.diff(np.asarray(offsets, dtype=np.int64))


def counts_to_nwb_index(counts: ArrayLike) -> np.ndarray:
    """VectorIndex ends (n,) int64 from per-row lengths (n,)."""
    return np.cumsum(np.asarray(counts, dtype=np.int64))


def nwb_index_to_counts(nwb_index: ArrayLike) -> np.ndarray:
    """Per-row lengths (n,) int64 from VectorIndex ends (n,); the stored uint width does not matter."""
    ends = np.asarray(nwb_index).astype(np.int64, copy=False)
    return np.diff(ends, prepend=np.int64(0))


def nwb_index_to_offsets(nwb_index: ArrayLike) -> np.ndarray:
    """CSR starts (n + 1,) int64 from VectorIndex ends (n,)."""
    ends = np.asarray(nwb_index).astype(np.int64, copy=False)
    return np.concatenate([np.zeros(1, dtype=np.int64), ends])


def offsets_to_nwb_index(offsets: ArrayLike) -> np.ndarray:
    """VectorIndex ends (n,) int64 from CSR starts (n + 1,)."""
    return np.asarray(offsets, dtype=np.int64)[1:].copy()


def smallest_uint(max_value: int) -> np.dtype:
    """The smallest unsigned integer dtype holding ``max_value`` (as hdmf's VectorIndex chooses it)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def cell_slice(offsets: ArrayLike, i: int) -> slice:
    """The flat slice of row ``i`` given CSR starts (n + 1,)."""
    offsets = np.asarray(offsets)
    return slice(int(offsets[i]), int(offsets[i + 1]))


def rows_to_flat(offsets: ArrayLike, rows: ArrayLike) -> np.ndarray:
    """Flat element indices (int64) of the given rows, in the order the rows are given, vectorised.

    Parameters
    ----------
    offsets : array-like, shape (n + 1,)
        CSR starts.
    rows : array-like, shape (k,)
        Row numbers (0-based).

    Returns
    -------
    numpy.ndarray, shape (sum of the rows' counts,)
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # position within the output minus the start of each row's run, plus that row's start
    run_starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - run_starts, lengths)


def repeat_per_element(values: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """Expand a per-row array (n,) to a per-element array (sum(counts),)."""
    return np.repeat(np.asarray(values), np.asarray(counts, dtype=np.int64))
