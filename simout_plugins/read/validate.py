"""Structural checks of input files, shared by the reader, ``simout info``, ``simout plot`` and the converters.

Every check raises :class:`~simout_plugins.errors.FileFormatError` naming the file and the dataset. They read
metadata (shapes, dtypes, attributes) or arrays the caller reads anyway, never whole columns on their own, so the
reader's fast paths stay fast. :func:`guard` turns what h5py / numpy raise on a damaged file (``OSError``,
``KeyError``, ``RuntimeError``, ``TypeError``, ``IndexError``, undecodable text) into the same error.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
from collections.abc import Iterator
from typing import IO

import h5py
import numpy as np

from ..errors import FileFormatError, SimoutError
from ..nwb import ragged

logger = logging.getLogger(__name__)

__all__ = [
    "READ_ERRORS",
    "guard",
    "open_file",
    "need_dataset",
    "check_length",
    "check_plausible",
    "check_offsets",
    "check_table",
    "number_attr",
    "steps_attr",
]

#: What h5py and numpy raise on damaged files (missing objects, unreadable chunks, bad types, bad text).
READ_ERRORS = (OSError, KeyError, RuntimeError, TypeError, IndexError, UnicodeDecodeError, OverflowError)
#: OS errors about the path itself, not the file's contents: passed through unchanged.
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError)
#: A dataset read whole may declare at most this many bytes per byte of the file (plus 1 MiB): a corrupted
#: dataspace (a dimension of 2**40) becomes an error instead of an attempt to allocate terabytes.
_EXPANSION = 1000

NUMERIC = "fiu"
INTEGER = "iu"
TEXT = "OSU"


@contextlib.contextmanager
def guard(path: str | os.PathLike, dataset: str | None = None) -> Iterator[None]:
    """Turn errors h5py / numpy raise on a damaged file into :class:`FileFormatError` naming ``path``/``dataset``.

    Wrap only the h5py calls that read the file (a lookup, an attribute, a slice), never a whole function: a
    ``KeyError`` or ``TypeError`` raised by our own code must surface as itself, not as a corrupted file.

    Our own errors and path errors (no such file, permission denied) pass through; ``ValueError`` too (callers
    raise it for bad arguments), except ``UnicodeDecodeError`` (undecodable stored text) and those raised inside
    h5py (a stored dtype it cannot map to numpy).
    """
    try:
        yield
    except (SimoutError, *_PATH_ERRORS):
        raise
    except READ_ERRORS as exc:
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise FileFormatError(
            path, f"cannot be read (truncated or corrupted file?): {reason}", dataset=dataset
        ) from exc
    except ValueError as exc:
        if not _from_h5py(exc):  # ours / numpy's on a caller's bad argument: unchanged
            raise
        reason = str(exc).split("\n")[0]
        raise FileFormatError(path, f"cannot be read (corrupted file?): {reason}", dataset=dataset) from exc
    except MemoryError as exc:
        raise FileFormatError(
            path, "declares more data than fits in memory (corrupted file?)", dataset=dataset
        ) from exc


def _from_h5py(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside h5py (e.g. ``ValueError`` for a stored dtype it cannot map to numpy)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "h5py" in tb.tb_frame.f_code.co_filename


def open_file(path: str | os.PathLike | IO[bytes]) -> h5py.File:
    """Open an HDF5 file read-only: a local path, an ``http(s)://`` (or other fsspec) URL, or an open binary file
    object (see :mod:`simout_plugins.read.remote`). Not HDF5, truncated or damaged → :class:`FileFormatError`;
    a missing file or URL → FileNotFoundError."""
    from .remote import is_file_object, is_url, open_remote, source_name

    if is_url(path) or is_file_object(path):
        name = source_name(path)
        try:
            return open_remote(path)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no such file: '{name}'") from exc
        except (OSError, RuntimeError, ValueError) as exc:
            raise FileFormatError(name, f"cannot be read as HDF5 (not HDF5, truncated or unreachable?): {exc}") from exc
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: '{path}'")
    if os.path.isdir(path):
        raise FileFormatError(path, "is a directory, not a file")
    with guard(path):
        if not h5py.is_hdf5(path):
            raise FileFormatError(path, "is not an HDF5 file (neither NWB nor SONATA)")
        try:
            return h5py.File(path, "r")
        except OSError as exc:
            if exc.errno != errno.EAGAIN and "unable to lock file" not in str(exc):
                raise
        # a writer holds HDF5's lock: a run in progress (its partial file), or a writer of another program
        logger.warning("'%s' is open for writing (a run in progress?): read without HDF5's file lock, it shows what "
                       "the writer's last flush put on disk", path)  # fmt: skip
        return h5py.File(path, "r", locking=False)


def need_dataset(
    path: str | os.PathLike,
    group: h5py.Group,
    key: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    kinds: str | None = None,
    what: str = "",
) -> h5py.Dataset:
    """``group[key]``, checked: present, a dataset, of rank ``ndim`` and dtype kind in ``kinds``."""
    where = f"{group.name.rstrip('/')}/{key}"
    with guard(path, where):
        obj = group.get(key)
        if not isinstance(obj, h5py.Dataset):
            missing = "missing" if obj is None else "not a dataset"
            raise FileFormatError(path, f"{missing}{f' ({what})' if what else ''}", dataset=where)
        check_dataset(path, obj, ndim=ndim, kinds=kinds, what=what)
    return obj


def check_dataset(
    path: str | os.PathLike,
    ds: h5py.Dataset,
    *,
    ndim: int | tuple[int, ...] | None = None,
    kinds: str | None = None,
    what: str = "",
) -> h5py.Dataset:
    """Rank and dtype kind of ``ds`` (metadata only)."""
    with guard(path, ds.name):
        shape, dtype = ds.shape, ds.dtype
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims is not None and len(shape) not in ndims:
        raise FileFormatError(
            path, f"must be {' or '.join(f'{n}-D' for n in ndims)}{f' ({what})' if what else ''}, got shape {shape}",
            dataset=ds.name,
        )  # fmt: skip
    if kinds is not None and _kind(dtype) not in kinds:
        expected = {NUMERIC: "numbers", INTEGER: "integers", TEXT: "text"}.get(kinds, kinds)
        raise FileFormatError(path, f"must hold {expected}, got dtype {dtype}", dataset=ds.name)
    return ds


def _kind(dtype: np.dtype) -> str:
    if h5py.check_string_dtype(dtype) is not None:
        return "O"
    return dtype.kind


def check_length(path: str | os.PathLike, ds: h5py.Dataset, n: int, *, of: str) -> None:
    """``len(ds) == n`` (``of`` names what ``n`` counts, for the message)."""
    if ds.shape[:1] != (n,):
        raise FileFormatError(path, f"has {ds.shape[0] if ds.shape else 'no'} entries, {of} {n}", dataset=ds.name)


def check_plausible(path: str | os.PathLike, ds: h5py.Dataset, *, n_elements: int | None = None) -> None:
    """A dataset read whole must not declare more bytes than the file could hold (corrupted dataspace)."""
    with guard(path, ds.name):
        n = int(np.prod(ds.shape, dtype=np.float64)) if n_elements is None else n_elements
        nbytes = n * max(1, ds.dtype.itemsize)
        limit = _EXPANSION * ds.file.id.get_filesize() + (1 << 20)
    if nbytes > limit:
        raise FileFormatError(
            path, f"declares {n} elements ({nbytes} bytes), more than the file can hold (corrupted file?)",
            dataset=ds.name,
        )  # fmt: skip


def check_offsets(path: str | os.PathLike, offsets: np.ndarray, *, n_rows: int, n_elements: int, dataset: str) -> None:
    """CSR starts (n_rows + 1,) valid over ``n_elements`` (vectorised, see :func:`ragged.offsets_problem`)."""
    problem = ragged.offsets_problem(offsets, n_rows=n_rows, n_elements=n_elements)
    if problem:
        raise FileFormatError(path, problem, dataset=dataset)


def check_bounds(path: str | os.PathLike, starts: np.ndarray, stops: np.ndarray, *, n_elements: int, dataset: str):
    """Index entries read for a few rows (the fast path): each row's elements lie in ``[0, n_elements]``."""
    bad = (starts < 0) | (stops < starts) | (stops > n_elements)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise FileFormatError(
            path, f"a row spans elements {int(starts[k])}..{int(stops[k])}, outside 0..{n_elements} or backwards",
            dataset=dataset,
        )  # fmt: skip


def number_attr(
    path: str | os.PathLike,
    obj: h5py.HLObject,
    name: str,
    default: float | None = None,
    *,
    positive: bool = False,
) -> float:
    """A finite numeric scalar attribute (``default`` when absent; required when ``default`` is None)."""
    where = f"{obj.name}.{name}"
    with guard(path, where):
        value = obj.attrs.get(name)
    if value is None:
        if default is None:
            raise FileFormatError(path, "missing attribute", dataset=where)
        return float(default)
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in NUMERIC:
        raise FileFormatError(path, f"must be one number, got {value!r}", dataset=where)
    out = float(arr.ravel()[0])
    if not math.isfinite(out) or (positive and out <= 0):
        raise FileFormatError(
            path, f"must be a finite{' positive' if positive else ''} number, got {out}", dataset=where
        )
    return out


def steps_attr(path: str | os.PathLike, ds: h5py.Dataset, name: str, n_allocated: int) -> int:
    """An integer attribute counting written rows of ``ds``: absent → all ``n_allocated``; else in 0..n_allocated."""
    where = f"{ds.name}.{name}"
    with guard(path, where):
        value = ds.attrs.get(name)
    if value is None:
        return int(n_allocated)
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in INTEGER:
        raise FileFormatError(path, f"must be one integer, got {value!r}", dataset=where)
    out = int(arr.ravel()[0])
    if not 0 <= out <= n_allocated:
        raise FileFormatError(path, f"{out} steps written, but the data has {n_allocated} rows", dataset=where)
    return out


def check_table(
    path: str | os.PathLike, group: h5py.Group, colnames: list[str], *, index: str, elements: str | None
) -> tuple[int, int]:
    """Rows and elements of a cell table (Compartments / Units), checked from metadata and the index's last entry.

    ``id`` integer 1-D; ``node_id`` (integers) and ``population`` (text) one per row; every column of ``colnames``
    present; ``index`` (when present) integer, one per row, ending at the length of ``elements`` (default: the
    index name without ``_index``). No column is read.
    """
    ids = need_dataset(path, group, "id", ndim=1, kinds=INTEGER)
    n = int(ids.shape[0])
    check_plausible(path, ids)
    with guard(path, group.name):
        present = {c: _has(group, c) for c in {"node_id", "population", index, *colnames}}
    for col, kinds in (("node_id", INTEGER), ("population", TEXT)):
        if present[col]:
            check_length(path, need_dataset(path, group, col, ndim=1, kinds=kinds), n, of="rows (id):")
    missing = [c for c in colnames if not present[c]]
    if missing:
        raise FileFormatError(path, f"columns {missing} are listed in colnames but missing", dataset=group.name)
    elements = elements or index.removesuffix("_index")
    if not present[index]:
        with guard(path, group.name):
            if _has(group, elements):  # a ragged column (NWB schema) without its index: rows cannot be told apart
                raise FileFormatError(path, f"missing, but {elements} is there", dataset=f"{group.name}/{index}")
        return n, n
    idx = need_dataset(path, group, index, ndim=1, kinds=INTEGER)
    check_length(path, idx, n, of="rows (id):")
    kinds = INTEGER if elements == "number" else NUMERIC
    target = need_dataset(path, group, elements, ndim=1, kinds=kinds, what=f"{index} points into it")
    check_plausible(path, target)
    n_elements = int(target.shape[0])
    with guard(path, idx.name):
        last = int(idx[n - 1]) if n else 0
    if last != n_elements:
        where = "past the end of" if last > n_elements else "short of"
        raise FileFormatError(path, f"ends at {last}, {where} the {n_elements} elements of {target.name}",
                              dataset=idx.name)  # fmt: skip
    return n, n_elements


def _has(group: h5py.Group, name: str) -> bool:
    try:
        return name in group
    except ValueError:  # a name h5py refuses (empty, embedded NUL): not a column of this table
        return False
