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
    return runs_to_flat(starts, offsets[rows + 1] - starts)


def runs_to_flat(starts: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """Flat element indices of runs given by their first element (k,) and length (k,), run after run (int64)."""
    starts = np.asarray(starts, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # position within the output minus the start of each run in it, plus that run's first element
    run_starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) + np.repeat(starts - run_starts, counts)


def repeat_per_element(values: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """Expand a per-row array (n,) to a per-element array (sum(counts),)."""
    return np.repeat(np.asarray(values), np.asarray(counts, dtype=np.int64))


def offsets_problem(offsets: ArrayLike, *, n_rows: int, n_elements: int) -> str | None:
    """Why ``offsets`` is not a valid CSR start array for ``n_rows`` rows over ``n_elements`` elements, or None.

    Valid means shape (n_rows + 1,), integer, ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == n_elements``
    (the SONATA ``index_pointers`` contract).
    """
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.size != n_rows + 1:
        return f"has {offsets.size} entries, expected {n_rows + 1} (number of nodes + 1)"
    if offsets.dtype.kind not in "iu":
        return f"has dtype {offsets.dtype}, expected integers"
    offsets = offsets.astype(np.int64)
    if offsets[0] != 0:
        return f"starts at {int(offsets[0])}, expected 0"
    steps = np.diff(offsets)
    if (steps < 0).any():
        k = int(np.flatnonzero(steps < 0)[0])
        return f"is not monotonic (entry {k + 1} = {int(offsets[k + 1])} < entry {k} = {int(offsets[k])})"
    if offsets[-1] != n_elements:
        where = "past the end of" if offsets[-1] > n_elements else "short of"
        return f"ends at {int(offsets[-1])}, {where} the {n_elements} elements"
    return None
