"""Time window → sample range: the one rule the reader (``reader[series].get(tstart=, tstop=)``) and the plots
(``simout plot --tstart --tstop``, NWB and SONATA alike) use to pick the samples of a window.

A sample at time t is in the window [tstart, tstop] when ``tstart - tol <= t <= tstop + tol`` (both ends inclusive,
``tol`` = :data:`TIME_TOLERANCE_S`, so a bound given in ms and converted to s still hits the sample it names).
Samples lie on a regular grid (``starting_time + k / rate``, computed, nothing read) or at stored timestamps.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["TIME_TOLERANCE_S", "sample_range"]

#: Tolerance of a window bound, in seconds (1 ns: far below any simulation step, far above float rounding of ms → s).
TIME_TOLERANCE_S = 1e-9


def sample_range(
    *,
    n_samples: int,
    tstart: float | None = None,
    tstop: float | None = None,
    starting_time: float = 0.0,
    rate: float | None = None,
    timestamps: ArrayLike | None = None,
) -> tuple[int, int]:
    """The samples ``[i0, i1)`` of the first ``n_samples`` samples whose time lies in [tstart, tstop].

    Parameters
    ----------
    n_samples : int
        Number of samples that may be selected (e.g. the steps written so far).
    tstart, tstop : float, optional
        Window bounds in seconds, both inclusive; None: from the first / to the last sample.
    starting_time : float
        Time of sample 0 in seconds (regular grid).
    rate : float, optional
        Samples per second (regular grid: sample k at ``starting_time + k / rate``). Required without
        ``timestamps``.
    timestamps : array-like of float, shape (>= n_samples,), seconds, optional
        Time of every sample, non-decreasing (irregular sampling); used instead of ``starting_time`` / ``rate``.

    Returns
    -------
    (int, int)
        ``0 <= i0 <= i1 <= n_samples``; ``i0 == i1`` when no sample lies in the window.

    Raises
    ------
    ValueError
        ``tstop < tstart``, a bound that is NaN, or neither ``rate`` (positive, finite) nor ``timestamps`` given.
    """
    for name, value in (("tstart", tstart), ("tstop", tstop)):
        if value is not None and math.isnan(value):
            raise ValueError(f"{name} must be a number, got NaN")
    if tstart is not None and tstop is not None and tstop < tstart:
        raise ValueError(f"tstop={tstop} s is before tstart={tstart} s")
    n = max(int(n_samples), 0)
    tol = TIME_TOLERANCE_S
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype=np.float64)[:n]
        n = ts.size
        i0 = 0 if tstart is None else int(np.searchsorted(ts, tstart - tol, side="left"))
        i1 = n if tstop is None else int(np.searchsorted(ts, tstop + tol, side="right"))
        return i0, max(i0, i1)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate must be a positive finite number of samples per second, got {rate}")
    # sample k is in the window when (tstart - tol - t0) * rate <= k <= (tstop + tol - t0) * rate
    i0 = 0 if tstart is None else _clip((tstart - tol - starting_time) * rate, n, math.ceil)
    i1 = n if tstop is None else _clip((tstop + tol - starting_time) * rate + 1, n, math.floor)
    return i0, max(i0, i1)


def _clip(x: float, n: int, rounding) -> int:
    """``rounding(x)`` within ``[0, n]`` (``x`` may be ±inf for an infinite bound)."""
    if x <= 0:
        return 0
    return n if x >= n else int(rounding(x))
