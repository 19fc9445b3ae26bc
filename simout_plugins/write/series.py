"""Declared series of a writer: option checks and the per-series state of the block protocol."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from ..nwb.compression import COUNT_DTYPE, parse_precision
from ..nwb.units import unit_and_conversion

DEFAULT_COMMENTS = "Sample k is the value at t = starting_time + k / rate."


@dataclass
class SeriesSpec:
    """One CompartmentSeries to write.

    Attributes
    ----------
    name : str
    table : str
        Name of its Compartments table.
    n_steps : int
        Samples allocated (T).
    dt_ms, tstart_ms : float
        Sampling interval and time of sample 0, ms.
    unit : str
        Unit of the values as recorded (``"mV"``); see :func:`simout_plugins.nwb.units.unit_and_conversion`.
    dtype : numpy.dtype
        Storage type: float, or int32 counts with ``precision``.
    description, comments : str
    chunks : tuple of int or None
        HDF5 chunk shape (set when the file is laid out).
    steps_written : int
        Samples written so far (the block protocol's cursor).
    precision : int or None
        Decimal digits kept in the recorded unit: stored as int32 counts (:mod:`simout_plugins.nwb.compression`).
    """

    name: str
    table: str
    n_steps: int
    dt_ms: float
    tstart_ms: float
    unit: str
    dtype: np.dtype
    description: str
    comments: str
    chunks: tuple[int, int] | None = None
    steps_written: int = 0
    precision: int | None = None


def make_series_spec(
    *,
    name: str,
    table: str,
    n_steps: Any,
    dt_ms: Any,
    tstart_ms: Any,
    unit: Any,
    dtype: Any,
    description: str | None,
    comments: str | None,
    precision: Any = None,
) -> SeriesSpec:
    """Check one series' options and return its spec.

    Raises
    ------
    ValueError
        ``n_steps`` not a positive integer, ``dt_ms`` not a positive number, non-float ``dtype``, empty unit; the
        message names the series and the value.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"series '{name}': n_steps must be a positive integer, got {n_steps!r}")
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, Real) or not np.isfinite(dt_ms) or dt_ms <= 0:
        raise ValueError(f"series '{name}': dt_ms must be a positive number of milliseconds, got {dt_ms!r}")
    if isinstance(tstart_ms, bool) or not isinstance(tstart_ms, Real) or not np.isfinite(tstart_ms):
        raise ValueError(f"series '{name}': tstart_ms must be a finite number of milliseconds, got {tstart_ms!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"series '{name}': dtype {dtype!r} is not a numpy dtype") from exc
    if dt.kind != "f":
        raise ValueError(f"series '{name}': dtype must be a float type such as 'float32' or 'float64', got {dt}")
    unit_and_conversion(unit)  # validates
    precision = parse_precision(precision, where=f"series '{name}'")
    return SeriesSpec(
        name=name,
        table=table,
        n_steps=int(n_steps),
        dt_ms=float(dt_ms),
        tstart_ms=float(tstart_ms),
        unit=unit,
        dtype=dt if precision is None else COUNT_DTYPE,
        description=description or f"'{name}' recorded from every listed compartment",
        comments=comments or DEFAULT_COMMENTS,
        precision=precision,
    )
