"""Column copies between a rank's block and the file-ordered (or owner-ordered) blocks of the sinks.

A rank's columns come as runs: a cell's compartments are consecutive both in the block and in the file. When a
column index has few, long runs, copying each run as a slice is 2-3x faster than one fancy-index copy (numpy's
fancy index over columns walks the array element by element); with many short runs (1M one-compartment cells) the
single fancy-index copy wins, since each slice costs a Python call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Runs", "column_runs", "gather_columns", "scatter_columns"]

#: (first position in the index, first value, length) of each run of consecutive values
Runs = tuple[tuple[int, int, int], ...]

#: Slice copies only for at most this many runs, of at least this mean length (else one fancy-index copy)
MAX_RUNS, MIN_MEAN_RUN = 4096, 8


def column_runs(index: np.ndarray) -> Runs | None:
    """Runs of consecutive values in ``index`` (int, shape (n,)) when there are few and long ones, else None."""
    if index.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate([[0], breaks])
    if starts.size > MAX_RUNS or index.size < MIN_MEAN_RUN * starts.size:
        return None
    lengths = np.diff(np.concatenate([starts, [index.size]]))
    return tuple(zip(starts.tolist(), index[starts].tolist(), lengths.tolist()))


def gather_columns(out: np.ndarray, src: np.ndarray, index: np.ndarray, runs: Runs | None) -> None:
    """``out[:, j] = src[:, index[j]]``; ``out`` (n_t, n) C-contiguous, ``runs`` from :func:`column_runs`."""
    if runs is None:
        np.take(src, index, axis=1, out=out)
    else:
        for j0, s0, n in runs:
            out[:, j0 : j0 + n] = src[:, s0 : s0 + n]


def scatter_columns(out: np.ndarray, src: np.ndarray, index: np.ndarray, runs: Runs | None) -> None:
    """``out[:, index[j]] = src[:, j]``; ``runs`` from :func:`column_runs`."""
    if runs is None:
        out[:, index] = src
    else:
        for j0, f0, n in runs:
            out[:, f0 : f0 + n] = src[:, j0 : j0 + n]
