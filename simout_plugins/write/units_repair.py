"""The ``Units`` table of a partial file, for ``simout recover``: is it whole, and if not, remove it.

Spikes are appended only when the writer closes, so a run killed at close can leave a ``Units`` group with missing
columns or lengths that disagree. Recovery keeps it only when it is whole; otherwise it is deleted and the report says
why (the series are kept either way).
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError
from ..nwb.columns import decode_text
from .damage import DAMAGE_ERRORS, first_line

__all__ = ["units_problem", "drop_units"]

logger = logging.getLogger(__name__)


def units_problem(f: h5py.File) -> str | None:
    """Why the ``Units`` group is incomplete (missing columns, lengths that disagree), or None when it is whole."""
    group = f.get("units")
    if not isinstance(group, h5py.Group):
        return "'units' is not a group"
    if "colnames" not in group.attrs:
        return "no 'colnames' attribute"
    if not isinstance(group.get("id"), h5py.Dataset):
        return "no 'id' dataset"
    n = group["id"].shape[0] if group["id"].ndim else -1
    names = [str(c) for c in decode_text(np.asarray(group.attrs["colnames"]).ravel())]
    for col in names:
        if not isinstance(group.get(col), h5py.Dataset):
            return f"column '{col}' is missing"
    for key, obj in group.items():
        if not isinstance(obj, h5py.Dataset):
            continue
        if key.endswith("_index"):
            target = group.get(key[: -len("_index")])
            if not isinstance(target, h5py.Dataset):
                return f"'{key}' indexes a missing column"
            index = obj[()]
            if index.size and (int(index[-1]) != target.shape[0] or np.any(np.diff(index.astype(np.int64)) < 0)):
                return f"'{key}' does not match the {target.shape[0]} values of '{target.name.rsplit('/', 1)[-1]}'"
        elif key != "id" and f"{key}_index" not in group and obj.ndim >= 1 and obj.shape[0] != n:
            return f"column '{key}' has {obj.shape[0]} rows, 'id' {n}"
    for key in names:
        index = group.get(f"{key}_index")
        if isinstance(index, h5py.Dataset) and index.shape[0] != n:
            return f"'{key}_index' has {index.shape[0]} rows, 'id' {n}"
    return None


def drop_units(src: Path, f: h5py.File, why: str) -> None:
    """Delete ``/units`` from ``f`` (a copy of ``src``), logging ``why``; errors name ``src``."""
    logger.warning("the Units table (spikes) is incomplete (%s): removed from the recovered file", why)
    try:
        del f["units"]
    except DAMAGE_ERRORS as exc:
        raise FileFormatError(
            src, f"the Units table is damaged ({why}) and cannot be removed: {first_line(exc)}", dataset="/units"
        ) from exc
