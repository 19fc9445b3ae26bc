"""Reading parts of 1-D and 2-D datasets: values at scattered indices, column runs of a time block, stored text."""

from __future__ import annotations

import h5py
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["as_text", "decode_text", "take", "take_columns"]


def as_text(value: object) -> str:
    """One stored text value (an attribute or a scalar dataset: str, bytes, numpy bytes or a 1-element array) as str."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def decode_text(values: np.ndarray) -> np.ndarray:
    """Stored HDF5 text (bytes or str) as an object array of str; other dtypes are returned unchanged."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8").astype(object)
    if values.dtype.kind == "O":
        return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()], dtype=object)
    return values


def take(dataset: h5py.Dataset, index: ArrayLike) -> np.ndarray:
    """``dataset[index]`` for a 1-D dataset and any integer index array, reading only what is needed.

    Close indices are read as one span, scattered ones as runs; text comes back decoded (object array of str).
    """
    idx = np.asarray(index, dtype=np.int64).ravel()
    if idx.size == 0:
        return decode_text(np.zeros(0, dtype=dataset.dtype))
    order = np.argsort(idx, kind="stable")
    srt = idx[order]
    lo, hi = int(srt[0]), int(srt[-1]) + 1
    if hi - lo <= 4 * idx.size + 65536:
        values = dataset[lo:hi][srt - lo]
    else:
        breaks = np.flatnonzero(np.diff(srt) > 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [srt.size]])
        if starts.size > 512:
            values = dataset[()][srt]
        else:
            values = np.concatenate(
                [dataset[int(srt[a]) : int(srt[b - 1]) + 1][srt[a:b] - srt[a]] for a, b in zip(starts, stops)]
            )
    out = np.empty_like(values)
    out[order] = values
    return decode_text(out)


def take_columns(dataset: h5py.Dataset, i0: int, i1: int, cols: ArrayLike, *, step: int = 1) -> np.ndarray:
    """Rows ``i0, i0 + step, ... < i1`` of the given columns of a 2-D dataset, shape (len(range(i0, i1, step)), n_cols).

    Each run of consecutive columns is read as one (strided) hyperslab, so HDF5 reads only the chunks that hold a
    selected sample, each once per run (the cells of a selection are such runs).
    """
    if step < 1:
        raise ValueError(f"step must be a positive number of samples, got {step}")
    cols = np.asarray(cols, dtype=np.int64)
    rows = np.s_[i0:i1:step] if step > 1 else np.s_[i0:i1]
    out = np.empty((len(range(i0, i1, step)), cols.size), dtype=dataset.dtype)
    if cols.size == 0 or i1 <= i0:
        return out
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [cols.size]])
    if starts.size == 1:
        dataset.read_direct(out, (rows, np.s_[cols[0] : cols[-1] + 1]))
        return out
    for a, b in zip(starts, stops):
        out[:, a:b] = dataset[rows, cols[a] : cols[b - 1] + 1]
    return out
