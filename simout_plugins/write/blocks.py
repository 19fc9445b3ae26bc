"""The block protocol: what a ``write_block`` call must be, checked on every rank and agreed across ranks.

A block is ``(n_steps, n_local_compartments)`` values of one declared series, in this rank's column order, starting
exactly where the previous block of that series ended, not running past ``n_steps``. Under MPI every rank must make
the same call (series, ``step0``, ``n_steps``): one ``allgather`` compares them, so a rank's bad block becomes the
same collective error on every rank (:func:`simout_plugins.failstop.mark_collective`) instead of a hang.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import failstop
from ..nwb.compression import to_counts
from .series import SeriesSpec

__all__ = ["check_block", "agree_across_ranks"]


def check_block(
    *,
    series: Mapping[str, SeriesSpec],
    n_local: Mapping[str, int],
    step0: int,
    block: ArrayLike,
    name: str | None,
) -> tuple[SeriesSpec | None, np.ndarray, ValueError | None]:
    """The series, the block as an array of the series' dtype, and what is wrong with them (None: nothing).

    A series with ``precision`` gets the block rounded to its int32 counts here (a value that does not fit is the
    error), so every sink writes the stored type.

    Parameters
    ----------
    series : dict of str to SeriesSpec
        The declared series, first one first.
    n_local : dict of str to int
        This rank's compartments per table name.
    step0 : int
        The block's first sample.
    block : array-like
        The values.
    name : str or None
        The series (None: the first).
    """
    arr = np.asarray(block)
    if not series:
        return None, arr, ValueError("write_block: the writer has no series (created with compartments=None)")
    name = name if name is not None else next(iter(series))
    if name not in series:
        return None, arr, ValueError(f"write_block: unknown series '{name}'; declared: {list(series)}")
    s = series[name]
    cols = n_local[s.table]
    if arr.ndim == 1 and cols == 1:
        arr = arr[:, None]
    error = None
    if arr.ndim != 2 or arr.shape[1] != cols:
        hint = " (it looks transposed)" if arr.ndim == 2 and arr.shape[0] == cols else ""
        error = ValueError(
            f"write_block of '{name}': block has shape {arr.shape}, expected (n_steps, {cols}) for this "
            f"rank's {cols} compartments{hint}"
        )
    elif step0 != s.steps_written:
        error = ValueError(
            f"write_block of '{name}': step0={step0} but {s.steps_written} steps are written; blocks must come "
            f"in order without gaps or overlaps (next step0 is {s.steps_written})"
        )
    elif step0 + arr.shape[0] > s.n_steps:
        error = ValueError(
            f"write_block of '{name}': steps {step0}..{step0 + arr.shape[0] - 1} run past n_steps={s.n_steps}"
        )
    if error is None and s.precision is not None:  # rounded once per block, on the rank that recorded it
        arr, problem = to_counts(arr, precision=s.precision)
        error = None if problem is None else ValueError(f"write_block of '{name}' at step {step0}: {problem}")
    elif error is None:
        arr = np.ascontiguousarray(arr, dtype=s.dtype)
    return s, arr, error


def agree_across_ranks(
    comm: Any | None, *, s: SeriesSpec | None, name: str | None, step0: int, block: np.ndarray, error: Exception | None
) -> None:
    """Raise this rank's ``error``, or (under MPI, collectively) any rank's error or a disagreement on the call."""
    if comm is not None:
        mine = (
            None if error is None else str(error),
            s.name if s is not None else name,
            int(step0),
            int(block.shape[0]) if block.ndim else 0,
        )
        infos = comm.allgather(mine)
        if error is None:
            bad = [(r, e) for r, (e, _, _, _) in enumerate(infos) if e is not None]
            if bad:
                error = ValueError(f"on rank {bad[0][0]}: {bad[0][1]}")
            elif len({i[1:] for i in infos}) != 1:
                error = ValueError(
                    f"write_block: ranks disagree on (series, step0, n_steps) {[i[1:] for i in infos]}; every "
                    "rank must write the same steps of the same series in the same call"
                )
        if error is not None:
            raise failstop.mark_collective(error)
    if error is not None:
        raise error
