"""Recover the partial file a killed run left: a valid NWB file holding every sample that was flushed.

A writer streams into ``<stem>.partial.nwb`` and moves it onto ``<stem>.nwb`` only when it closes; a later run
keeps an earlier partial file as ``<stem>.partial.<YYYYmmdd-HHMMSS>[-<n>].nwb``. After a crash or a ``kill -9``
the partial file is an NWB file whose series are allocated at their full length: the first
``simout_steps_written`` samples of each series' data are valid, the rest hold nothing (0 or NaN), and a
``Units`` table may be missing or half-written (spikes are appended only at close). :func:`recover` makes a clean
file of it:

1. the input is copied to a hidden temporary file in the output's folder, keeping its holes (the data are allocated
   up front: only what was written needs disk space in the copy); the input is never opened by HDF5, so a run
   still holding it is not disturbed;
2. in the copy, every CompartmentSeries' data is cut to its valid samples (``Dataset.resize`` when chunked,
   otherwise the dataset is rewritten) and its ``simout_steps_written`` is set to the new length (the reader takes
   it as ``n_steps_written``; the length before is kept in ``simout_steps_allocated``);
3. the ``Units`` group is kept when every column is there with consistent lengths and pynwb reads it, otherwise it
   is deleted (the report says why);
4. the copy must read with plain pynwb (``NWBHDF5IO(path, "r").read()``), then it is moved onto the output with
   ``os.replace`` (atomic; nothing is left at the output path on failure).

A complete file (every series fully written, Units readable) is copied unchanged. Which samples are valid is
decided per series by the ``simout_steps_written`` attribute. Without it: none in a partial file (killed before the
writer set it), else all rows (a file not written by the streaming writer) unless no chunk was ever written.
The file keeps its allocated size (the cut samples' space is unused; ``h5repack`` reclaims it).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError
from ..nwb.attrs import STEPS_ALLOCATED_ATTR, STEPS_WRITTEN_ATTR
from . import journal
from .filecopy import copy_sparse
from .outputs import PARTIAL_NAME

__all__ = ["recover", "RecoveryReport", "SeriesRecovery", "default_recovered_path", "copy_sparse", "PARTIAL_NAME"]

logger = logging.getLogger(__name__)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_COPY_ROWS_BYTES = 64 << 20
#: What h5py and numpy raise on a damaged file (as :data:`simout_plugins.read.validate.READ_ERRORS`, + ValueError).
_READ_ERRORS = (
    OSError,
    KeyError,
    RuntimeError,
    TypeError,
    IndexError,
    ValueError,
    OverflowError,
    MemoryError,
)  # rows copied per read when a dataset must be rewritten


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


@dataclass(frozen=True)
class RecoveryReport:
    """Result of :func:`recover`.

    Attributes
    ----------
    input : pathlib.Path
        The partial (or complete) file read; never modified.
    output : pathlib.Path
        The recovered file written.
    series : tuple of SeriesRecovery
        Every CompartmentSeries, in file order.
    units : {"kept", "removed", "absent"}
        The ``Units`` table (spikes): kept as it was, removed because it was incomplete or unreadable, or there
        was none.
    units_problem : str or None
        Why ``Units`` was removed.
    """

    input: Path
    output: Path
    series: tuple[SeriesRecovery, ...]
    units: str
    units_problem: str | None = None

    @property
    def units_kept(self) -> bool:
        return self.units == "kept"

    @property
    def trimmed(self) -> bool:
        """True when some series was cut."""
        return any(s.trimmed for s in self.series)

    @property
    def changed(self) -> bool:
        """True when the output differs from the input (a series cut or Units removed)."""
        return self.trimmed or self.units == "removed"

    def summary(self) -> str:
        """One line: output, steps valid / allocated per series, what happened to Units."""
        parts = ", ".join(f"{s.name} {s.steps_valid}/{s.steps_allocated} steps" for s in self.series)
        units = {
            "kept": "units kept",
            "absent": "no units",
            "removed": f"units removed ({self.units_problem})",
        }[self.units]
        verb = "recovered" if self.changed else "copied (complete, nothing trimmed)"
        return f"{verb} {self.output}: {parts}; {units}"


def default_recovered_path(path: str | os.PathLike) -> Path:
    """``<stem>.recovered.nwb`` beside ``path``: the ``.partial.nwb`` / ``.partial.<stamp>.nwb`` / ``.nwb`` ending
    replaced (any other name gets ``.recovered.nwb`` appended)."""
    path = Path(path)
    match = PARTIAL_NAME.match(path.name)
    if match:
        stem = match["stem"]
    elif path.suffix == ".nwb":
        stem = path.stem
    else:
        stem = path.name
    return path.with_name(f"{stem}.recovered.nwb")


def recover(
    path: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> RecoveryReport:
    """Write a valid NWB file holding every valid sample of a partial file left by a killed run.

    Parameters
    ----------
    path : str or os.PathLike
        The partial file (``<stem>.partial.nwb``, ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb``) or any file written by
        this package. Read only.
    output : str or os.PathLike, optional
        The file to write (must end in ``.nwb``); default :func:`default_recovered_path` (``<stem>.recovered.nwb``
        beside ``path``).
    overwrite : bool
        Replace ``output`` if it exists.

    Returns
    -------
    RecoveryReport
        Steps valid / allocated per series and what happened to the ``Units`` table.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or the output's folder does not.
    FileExistsError
        ``output`` exists and ``overwrite`` is False.
    IsADirectoryError
        ``path`` or ``output`` is a directory.
    ValueError
        ``output`` is ``path``, or does not end in ``.nwb``.
    FileFormatError
        ``path`` is not a file of this package that can be recovered: not HDF5, corrupted or truncated, no
        CompartmentSeries, a ``simout_steps_written`` that makes no sense, or unreadable by pynwb even without
        its ``Units``.
    """
    src = Path(path)
    out = default_recovered_path(src) if output is None else Path(output)
    _check_paths(src, out, overwrite=overwrite)
    logger.info("recovering %s -> %s", src, out)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        before = src.stat()
        copy_sparse(src, tmp)
        shutil.copymode(src, tmp)  # mkstemp makes it private; the output gets the input's permissions
        after = src.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            logger.warning("%s changed while it was copied: is the run that writes it still going?", src)
        saved = journal.journal_path(src)
        if saved.exists() and journal.restore(saved, tmp):
            logger.warning(
                "%s: the run stopped while it was adding the spikes (Units) at close; the file is recovered as it was "
                "just before (every series complete, no spikes)",
                src,
            )
        report = _recover_copy(src, tmp, out)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("%s", report.summary())
    return report


def _check_paths(src: Path, out: Path, *, overwrite: bool) -> None:
    if not src.exists():
        raise FileNotFoundError(f"no such file: '{src}'")
    if src.is_dir():
        raise IsADirectoryError(f"'{src}' is a directory, not a file")
    if out.suffix != ".nwb":
        raise ValueError(f"output file '{out}' must end in '.nwb'")
    if out.is_dir():
        raise IsADirectoryError(f"output '{out}' is a directory")
    if not out.parent.resolve().is_dir():
        raise FileNotFoundError(f"output folder '{out.parent}' does not exist; create it first")
    if out.exists() and out.resolve() == src.resolve():
        raise ValueError(f"output '{out}' is the input; recover never modifies its input: choose another output")
    if out.exists() and not overwrite:
        raise FileExistsError(f"output file '{out}' exists; pass --overwrite (overwrite=True) to replace it")


# ---------------------------------------------------------------------------------------------------- the copy


def _recover_copy(src: Path, tmp: Path, out: Path) -> RecoveryReport:
    """Trim the series and check Units in ``tmp`` (a copy of ``src``); errors name ``src``."""
    with open(tmp, "rb") as fh:
        head = fh.read(8)
    if head != _HDF5_SIGNATURE and not h5py.is_hdf5(tmp):  # a user block moves the signature: ask HDF5
        raise FileFormatError(src, "not an HDF5 file (so not an NWB file written by simout_plugins)")
    units_problem = None
    try:
        with h5py.File(tmp, "r+") as f:
            if f.attrs.get("neurodata_type") is None and "nwb_version" not in f.attrs:
                raise FileFormatError(src, "HDF5 but not an NWB file (no nwb_version / neurodata_type on '/')")
            found = _find_series(src, f)
            if not found:
                raise FileFormatError(src, "no CompartmentSeries: not a report written by simout_plugins")
            series = tuple(_trim(src, f, where) for where in found)
            has_units = "units" in f
            if has_units:
                try:
                    units_problem = _units_problem(f)
                except _READ_ERRORS as exc:
                    units_problem = f"unreadable ({_first_line(exc)})"
                if units_problem is not None:
                    _drop_units(src, f, units_problem)
    except FileFormatError:
        raise
    except _READ_ERRORS as exc:
        raise FileFormatError(src, f"corrupted or truncated HDF5 file ({_first_line(exc)})") from exc
    problem = _pynwb_problem(tmp, units=True) if has_units and units_problem is None else "not read yet"
    if problem is not None and has_units and units_problem is None:  # Units whole in HDF5 but pynwb fails
        units_problem = problem
        try:
            with h5py.File(tmp, "r+") as f:
                _drop_units(src, f, units_problem)
        except (OSError, KeyError, RuntimeError) as exc:
            raise FileFormatError(src, f"cannot remove the unreadable Units table ({_first_line(exc)})") from exc
    if problem is not None:
        problem = _pynwb_problem(tmp, units=False)
    if problem is not None:
        raise FileFormatError(src, f"pynwb cannot read the file even without its Units table: {problem}")
    units = "absent" if not has_units else ("removed" if units_problem else "kept")
    return RecoveryReport(input=src, output=out, series=series, units=units, units_problem=units_problem)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().split("\n")[0] or type(exc).__name__
    if "already open for write" in text:
        text += "; clear HDF5's file-consistency flags first: h5clear -s FILE (on a copy)"
    elif "addr overflow" in text:
        text += (
            "; the structure points past the end of the file: the run was killed while HDF5 was writing the file's "
            "structure (at close: while the spikes were added), and the file cannot be recovered"
        )
    return text


def _find_series(src: Path, f: h5py.File) -> list[str]:
    """HDF5 paths of the CompartmentSeries groups, in name order (hard links only; the cached specs and the
    ``units`` group, checked apart, are not visited)."""
    found: list[str] = []

    def walk(group: h5py.Group) -> None:
        for key in group:
            if group.name == "/" and key in ("specifications", "units"):
                continue
            if not isinstance(group.get(key, getlink=True), h5py.HardLink):
                continue  # soft links (a series' compartments table) point at objects visited elsewhere
            obj = group[key]
            if not isinstance(obj, h5py.Group):
                continue
            if _text(obj.attrs.get("neurodata_type", "")) == "CompartmentSeries":
                found.append(obj.name)
            else:
                walk(obj)

    walk(f)
    return found


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _trim(src: Path, f: h5py.File, where: str) -> SeriesRecovery:
    """Cut a series' data to its valid samples (in place); return what was done."""
    group = f[where]
    name = where.rsplit("/", 1)[-1]
    data = group.get("data")
    if not isinstance(data, h5py.Dataset) or data.ndim < 1:
        raise FileFormatError(src, "CompartmentSeries without a data dataset", dataset=f"{where}/data")
    allocated = int(data.shape[0])
    raw = data.attrs.get(STEPS_WRITTEN_ATTR)
    if raw is None:
        # The sink sets the attribute before the first block, so a partial file without it was killed while its
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
    else:
        arr = np.asarray(raw)
        if arr.size != 1 or arr.dtype.kind not in "iu":
            raise FileFormatError(src, f"{STEPS_WRITTEN_ATTR} = {raw!r} is not a number of steps", dataset=data.name)
        valid = int(arr.ravel()[0])
        if valid < 0 or valid > allocated:
            raise FileFormatError(
                src, f"{STEPS_WRITTEN_ATTR} = {valid} but the data holds {allocated} steps", dataset=data.name
            )
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


# ---------------------------------------------------------------------------------------------------- Units


def _units_problem(f: h5py.File) -> str | None:
    """Why the ``Units`` group is incomplete (missing columns, lengths that disagree), or None when it is whole."""
    group = f.get("units")
    if not isinstance(group, h5py.Group):
        return "'units' is not a group"
    if "colnames" not in group.attrs:
        return "no 'colnames' attribute"
    if not isinstance(group.get("id"), h5py.Dataset):
        return "no 'id' dataset"
    n = group["id"].shape[0] if group["id"].ndim else -1
    names = [_text(c) for c in np.asarray(group.attrs["colnames"]).ravel()]
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


def _drop_units(src: Path, f: h5py.File, why: str) -> None:
    logger.warning("the Units table (spikes) is incomplete (%s): removed from the recovered file", why)
    try:
        del f["units"]
    except _READ_ERRORS as exc:
        raise FileFormatError(
            src, f"the Units table is damaged ({why}) and cannot be removed: {_first_line(exc)}", dataset="/units"
        ) from exc


def _pynwb_problem(path: Path, *, units: bool) -> str | None:
    """Why plain pynwb cannot read the file (with ``units``: its Units table, every column), or None."""
    from pynwb import NWBHDF5IO

    try:
        with NWBHDF5IO(str(path), "r") as io:
            nwbfile = io.read()
            if units and nwbfile.units is not None:
                table = nwbfile.units
                n = len(table.id)
                for name in table.colnames:
                    column = table[name]  # the index of a ragged column (spike_times): one entry per row
                    if len(column) != n:
                        return f"column '{name}' has {len(column)} rows, 'id' {n}"
                    if n:
                        column[0], column[n - 1]  # resolve the first and last rows (ragged: through the index)
    except Exception as exc:  # noqa: BLE001 - a probe: whatever pynwb raises means "not readable"
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None
