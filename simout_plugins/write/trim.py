"""Cutting a partial file's series to their valid samples, for ``simout recover``.

A killed run's series are allocated at their full length; the first ``simout_steps_written`` samples of each
``data`` are valid (the writer sets the count only after those samples are flushed), the rest hold nothing. Here
each CompartmentSeries is cut to its valid samples in place (``Dataset.resize`` when chunked, else the dataset is
rewritten), its count set to the new length and the length before kept in ``simout_steps_allocated``.

Which samples are valid, per series: the ``simout_steps_written`` attribute; without it, none in a partial file
(killed before the writer set it), else all rows (a file not written by the streaming writer) unless no chunk was
ever written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError
from ..nwb.attrs import STEPS_ALLOCATED_ATTR, STEPS_WRITTEN_ATTR
from .outputs import PARTIAL_NAME

__all__ = ["SeriesRecovery", "trim_series", "valid_steps"]

logger = logging.getLogger(__name__)
#: bytes copied per read when a contiguous dataset must be rewritten
_COPY_ROWS_BYTES = 64 << 20


@dataclass(frozen=True)
class SeriesRecovery:
    """What recovery did to one CompartmentSeries.

    Attributes
    ----------
    name : str
        Series name (e.g. ``"v"``).
    path : str
        HDF5 path of the series group (e.g. ``"/acquisition/v"``).
    steps_valid : int
        Samples kept (the valid ones): the length of the recovered data.
    steps_allocated : int
        Samples the input's data held (valid or not).
    """

    name: str
    path: str
    steps_valid: int
    steps_allocated: int

    @property
    def trimmed(self) -> bool:
        """True when samples were cut (the series was not complete)."""
        return self.steps_valid < self.steps_allocated


def valid_steps(src: Path, data: h5py.Dataset, name: str) -> int:
    """How many leading samples of a series' ``data`` are valid (module docstring); errors name ``src``."""
    allocated = int(data.shape[0])
    raw = data.attrs.get(STEPS_WRITTEN_ATTR)
    if raw is None:
        # The writer sets the attribute before the first block, so a partial file without it was killed while its
        # structure was written (what is there is fill or garbage: nothing is valid). Another file without it was
        # not written by the streaming writer: complete, unless no chunk of its data was ever written.
        partial = PARTIAL_NAME.match(src.name) is not None
        unwritten = data.chunks is not None and data.id.get_num_chunks() == 0
        valid = 0 if partial or unwritten else allocated
        if valid == 0:
            logger.warning(
                "series '%s' has no %s attribute%s: no step is valid", name, STEPS_WRITTEN_ATTR,
                " (the run was killed before its first block)" if partial else "",
            )  # fmt: skip
        return valid
    arr = np.asarray(raw)
    if arr.size != 1 or arr.dtype.kind not in "iu":
        raise FileFormatError(src, f"{STEPS_WRITTEN_ATTR} = {raw!r} is not a number of steps", dataset=data.name)
    valid = int(arr.ravel()[0])
    if valid < 0 or valid > allocated:
        raise FileFormatError(
            src, f"{STEPS_WRITTEN_ATTR} = {valid} but the data holds {allocated} steps", dataset=data.name
        )
    return valid


def trim_series(src: Path, f: h5py.File, where: str) -> SeriesRecovery:
    """Cut the series at ``where`` in ``f`` (a copy of ``src``) to its valid samples, in place; return what was done."""
    group = f[where]
    name = where.rsplit("/", 1)[-1]
    data = group.get("data")
    if not isinstance(data, h5py.Dataset) or data.ndim < 1:
        raise FileFormatError(src, "series without a data dataset", dataset=f"{where}/data")
    allocated = int(data.shape[0])
    valid = valid_steps(src, data, name)
    if valid < allocated:
        logger.info("series '%s': keeping the %d valid of %d steps", name, valid, allocated)
        if data.chunks is not None:
            data.resize(valid, axis=0)
        else:
            data = _rewrite_rows(group, valid)
        data.attrs[STEPS_ALLOCATED_ATTR] = allocated
        data.attrs[STEPS_WRITTEN_ATTR] = valid
    return SeriesRecovery(name=name, path=where, steps_valid=valid, steps_allocated=allocated)


def _rewrite_rows(group: h5py.Group, n: int) -> h5py.Dataset:
    """Replace ``group/data`` (not resizable: contiguous) by a copy of its first ``n`` rows, attributes included."""
    old = group["data"]
    tmp_name = "data.simout_recover"
    new = group.create_dataset(tmp_name, shape=(n, *old.shape[1:]), dtype=old.dtype, fillvalue=old.fillvalue)
    row_bytes = max(1, int(np.prod(old.shape[1:], dtype=np.int64)) * old.dtype.itemsize)
    step = max(1, _COPY_ROWS_BYTES // row_bytes)
    for a in range(0, n, step):
        b = min(n, a + step)
        new[a:b] = old[a:b]
    for key in old.attrs:
        new.attrs.create(key, old.attrs[key], dtype=old.attrs.get_id(key).dtype)
    del group["data"]
    group.move(tmp_name, "data")
    return group["data"]
