"""``simout repack``: lay a finished file's series out cell by cell, for reading one cell at a time from a server.

A run writes its series block by block, so HDF5 places the chunks in time order: the chunks that hold one cell
over all time lie a whole time-row of chunks apart (25 MB in a 1 GB file), and a remote reader needs one range
request per chunk row (``bench/remote_read.py``: ~60 requests for one cell of a 1 GB file). Repacked, each
column of chunks is stored back to back, so the same read is one or two range requests
(:mod:`simout_plugins.read.chunkfetch` merges adjacent chunks), while chunk shape, values, attributes and every
other object stay as they were (the copy is byte for byte but for the series' ``data``). Reading all cells at one
time step is then the case that pays (one request per chunk column); repack the files you share for trace reads.

How: the input is copied to a staged temporary file beside the output (:class:`~.outputs.OutputPath`); in the
copy, each series' ``data`` is deleted and made again with the same creation properties, then filled column of
chunks by column of chunks from the input (memory bounded by :data:`SLAB_BYTES`). HDF5 reuses the deleted data's
space during the same session, so the file keeps its size. The copy must read with pynwb before it is moved
onto the output; on failure nothing is left at the output path.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py

from ..errors import FileFormatError
from ..nwb.discover import find_series, find_typed_groups
from .damage import pynwb_problem
from .outputs import OutputPath

__all__ = ["SLAB_BYTES", "RepackReport", "repack", "default_repacked_path"]

logger = logging.getLogger(__name__)

#: bytes read and written at once while a column of chunks is copied
SLAB_BYTES = 64 << 20


@dataclass(frozen=True)
class RepackReport:
    """What :func:`repack` did: the output, and the series whose data it laid out cell by cell."""

    output: Path
    series: tuple[str, ...]


def default_repacked_path(path: str | os.PathLike) -> Path:
    """``<stem>.repacked.nwb`` beside ``path``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.repacked{p.suffix or '.nwb'}")


def repack(path: str | os.PathLike, *, out: str | os.PathLike | None = None, overwrite: bool = False) -> RepackReport:
    """Copy an NWB file with every series' chunks stored cell by cell (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A complete NWB file (``simout recover`` a partial one first).
    out : str or os.PathLike, optional
        Output file (default ``<stem>.repacked.nwb`` beside ``path``).
    overwrite : bool
        Replace an existing output.

    Returns
    -------
    RepackReport

    Raises
    ------
    FileFormatError
        ``path`` is not an NWB file with chunked series, or the repacked copy does not read with pynwb.
    """
    src = Path(path)
    target = OutputPath(default_repacked_path(src) if out is None else out)
    target.check(overwrite=overwrite, inputs=[src])
    with h5py.File(src, "r") as f:
        datasets = _series_datasets(src, f)
        has_units = isinstance(f.get("units"), h5py.Group)
    logger.info("repacking %d series of %s -> %s", len(datasets), src, target.path)
    with target.staged() as tmp:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)
        with h5py.File(src, "r") as fin, h5py.File(tmp, "r+", libver=("v110", "latest")) as fout:
            for where in datasets:
                _relayout(fin[where], fout, where)
        problem = pynwb_problem(tmp, units=has_units)
        if problem is not None:
            raise FileFormatError(src, f"the repacked copy does not read with pynwb: {problem}")
    names = tuple(w.rsplit("/", 2)[-2] for w in datasets)
    logger.info("repacked %s -> %s (%s)", src, target.path, ", ".join(names) or "no series")
    return RepackReport(output=target.path, series=names)


def _series_datasets(src: Path, f: h5py.File) -> list[str]:
    """``data`` of every CompartmentSeries and ElectricalSeries with 2-D chunked data."""
    groups = find_series(f) + find_typed_groups(f, "ElectricalSeries")
    out = []
    for g in groups:
        data = f[g].get("data")
        if isinstance(data, h5py.Dataset) and data.ndim == 2 and data.chunks is not None:
            out.append(data.name)
        else:
            logger.info("%s: data not chunked (time, column): left as it is", g)
    return out


def _relayout(old: h5py.Dataset, fout: h5py.File, where: str) -> None:
    """Make ``fout[where]`` again with ``old``'s properties, written one column of chunks after another."""
    group = fout[where.rsplit("/", 1)[0]]
    name = where.rsplit("/", 1)[1]
    stale = group[name]
    attrs = [(key, stale.attrs[key], stale.attrs.get_id(key).dtype) for key in stale.attrs]
    dcpl = stale.id.get_create_plist()
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_INCR)  # a chunk gets its place when it is written: in column order
    space, dtype = stale.id.get_space(), stale.id.get_type()
    del stale  # closed: HDF5 frees an object's space only once no handle holds it
    del group[name]  # its space is free for the new chunks during this session
    new = h5py.Dataset(h5py.h5d.create(group.id, name.encode(), dtype, space, dcpl=dcpl))
    for key, value, attr_dtype in attrs:
        new.attrs.create(key, value, dtype=attr_dtype)
    n_t, n_c = old.shape
    t, c = old.chunks
    rows = max(t, (SLAB_BYTES // max(1, t * c * old.dtype.itemsize)) * t)
    for c0 in range(0, n_c, c):
        c1 = min(n_c, c0 + c)
        for r0 in range(0, n_t, rows):
            r1 = min(n_t, r0 + rows)
            new[r0:r1, c0:c1] = old[r0:r1, c0:c1]
