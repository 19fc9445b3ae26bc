"""Storage options of a series' data: a lossless HDF5 filter (``compression``) and rounding to counts (``precision``).

One parser for every entry point (the writer, BMTK report entries, ``cfg.saveNWB``, ``simout convert``), so every
one accepts the same forms and rejects a bad value with the same message naming where it came from.

``compression``: ``None`` (no filter: fastest), ``"gzip"`` (level 4), ``"gzip:<0-9>"``, ``"lzf"``, or a dict
``{"codec": "gzip", "level": 4}`` / ``{"codec": "lzf"}``. HDF5's shuffle filter always goes first (it groups the
bytes of each value, which both codecs compress much better). gzip is part of every HDF5 library, so any reader
opens such a file (h5py, pynwb, MATLAB, HDFView); lzf ships with h5py (so pynwb and every Python reader open it),
while readers built on the HDF5 C library alone need the lzf filter plugin (h5py's ``lzf/`` sources).

``precision``: an int ``p`` (0-9), the number of decimal digits kept in the recorded unit (3 for mV: 1 µV). The data
are stored as int32 counts of ``10**-p`` recorded units, rounded to nearest (error at most ``0.5 * 10**-p``), with
NWB's ``conversion`` scaling counts to SI (mV with ``p = 3``: counts of 1e-6 V, ``conversion = 1e-6``); no NWB
``offset``, so ``data[:] * conversion`` (plain pynwb) and our reader give the values back. The data's
``simout_precision`` attribute and the series' comments say so. Integers have no NaN: a value that is not finite or
does not fit int32 counts is an error naming the series (record without ``precision`` to keep it), and a series with
``precision`` never holds unwritten samples (the writer cuts them at close). :data:`COUNT_FILL` (the int32 minimum)
is the HDF5 fill value, only ever seen in a killed run's partial file after its written steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CODECS",
    "COUNT_DTYPE",
    "COUNT_FILL",
    "PRECISION_ATTR",
    "CompressionSpec",
    "counts_conversion",
    "parse_compression",
    "parse_precision",
    "precision_note",
    "to_counts",
]

#: Lossless codecs every h5py has (no plugin needed to read the file).
CODECS = ("gzip", "lzf")
DEFAULT_GZIP_LEVEL = 4
MAX_PRECISION = 9
#: Storage type of a series written with ``precision``.
COUNT_DTYPE = np.dtype("int32")
#: HDF5 fill value of count data: never a stored count (counts stay within +-int32 max).
COUNT_FILL = int(np.iinfo(np.int32).min)
_COUNT_MAX = float(np.iinfo(np.int32).max)
#: Attribute of a series' ``data`` written with ``precision``: the decimal digits kept (the counts' scale).
PRECISION_ATTR = "simout_precision"
_ACCEPTED = "None, 'gzip' (level 4), 'gzip:<level 0-9>', 'lzf', {'codec': 'gzip', 'level': <0-9>} or {'codec': 'lzf'}"


@dataclass(frozen=True)
class CompressionSpec:
    """A lossless HDF5 filter for series data (after HDF5's shuffle).

    Attributes
    ----------
    codec : {"gzip", "lzf"}
    level : int or None
        gzip level 0-9 (None for lzf).
    """

    codec: str
    level: int | None = None

    def h5py_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``h5py.Group.create_dataset`` / hdmf's ``H5DataIO``."""
        kwargs: dict[str, Any] = {"compression": self.codec, "shuffle": True}
        if self.level is not None:
            kwargs["compression_opts"] = self.level
        return kwargs

    def __str__(self) -> str:
        return self.codec if self.level is None else f"{self.codec}:{self.level}"


def parse_compression(value: Any, *, where: str, key: str = "compression") -> CompressionSpec | None:
    """The filter ``value`` names (module docstring for the forms); None for no filter.

    Parameters
    ----------
    value : None, str, dict or CompressionSpec
    where : str
        Who gave it, for the error (e.g. ``"report 'v_nwb'"``, ``"cfg.saveNWB"``).
    key : str
        The option's name there.

    Raises
    ------
    ValueError
        Naming ``where``, ``key``, the value and the accepted forms.
    """
    if value is None or isinstance(value, CompressionSpec):
        return value
    codec, level = None, None
    if isinstance(value, str):
        codec, _, lvl = value.strip().lower().partition(":")
        if codec == "none" and not lvl:
            return None
        level = lvl if lvl else None
    elif isinstance(value, Mapping) and set(value) <= {"codec", "level"}:
        codec, level = value.get("codec"), value.get("level")
    if codec == "gzip":
        if level is None:
            return CompressionSpec("gzip", DEFAULT_GZIP_LEVEL)
        if isinstance(level, str) and level.isdigit():
            level = int(level)
        if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 9:
            return CompressionSpec("gzip", level)
    elif codec == "lzf" and level is None:
        return CompressionSpec("lzf")
    raise ValueError(f"{where}: {key} {value!r} is not a compression; accepted: {_ACCEPTED}")


def parse_precision(value: Any, *, where: str, key: str = "precision") -> int | None:
    """The decimal digits to keep (module docstring); None keeps the floats as they are.

    Raises
    ------
    ValueError
        Not None or an int in 0-9; naming ``where``, ``key`` and the value.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_PRECISION:
        raise ValueError(
            f"{where}: {key} {value!r} is not a number of decimal digits; give an int from 0 to {MAX_PRECISION} "
            "(e.g. 3: 1e-3 of the recorded unit, 1 uV for mV) or None (keep the floats)"
        )
    return int(value)


def counts_conversion(conversion: float, precision: int) -> float:
    """NWB ``conversion`` of counts of ``10**-precision`` recorded units, from the recorded unit's ``conversion``."""
    return conversion / 10**precision


def precision_note(unit: str, precision: int) -> str:
    """The sentence a series' comments carry about its counts."""
    return (
        f"Stored as int32 counts of 1e-{precision} {unit} (precision {precision}: each value rounded to the nearest "
        f"1e-{precision} {unit}, error <= 0.5e-{precision} {unit}); the value in the series' unit is "
        f"data * conversion. {COUNT_FILL} marks a sample never written."
    )


def to_counts(values: np.ndarray, *, precision: int) -> tuple[np.ndarray, str | None]:
    """``values`` (any shape, recorded unit) rounded to int32 counts of ``10**-precision``; and the problem, if any.

    Returns
    -------
    counts : numpy.ndarray of int32, same shape
        Meaningless when a problem is returned.
    problem : str or None
        The first value that is not finite or does not fit the counts, and what to do.
    """
    scaled = np.multiply(values, 10.0**precision, dtype=np.float64)
    np.rint(scaled, out=scaled)
    if scaled.size == 0 or (-_COUNT_MAX <= scaled.min() and scaled.max() <= _COUNT_MAX):  # min / max: NaN if any
        return scaled.astype(COUNT_DTYPE), None
    fits = np.abs(scaled) <= _COUNT_MAX  # False for NaN too
    first = np.unravel_index(int(np.argmin(fits)), fits.shape)
    value = float(np.asarray(values)[first])
    return np.zeros(scaled.shape, COUNT_DTYPE), (
        f"value {value!r} at block index {tuple(int(i) for i in first)} cannot be stored with precision {precision} "
        f"(int32 counts of 1e-{precision}: finite values within +-{_COUNT_MAX / 10**precision:g}); lower the "
        "precision or record without it"
    )
