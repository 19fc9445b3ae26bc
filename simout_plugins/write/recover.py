"""Recover the partial file a killed run left: a valid NWB file holding every sample that was flushed.

A writer streams into ``<stem>.partial.nwb`` and moves it onto ``<stem>.nwb`` only when it closes; a later run
keeps an earlier partial file as ``<stem>.partial.<YYYYmmdd-HHMMSS>[-<n>].nwb``. After a crash or a ``kill -9``
the partial file is an NWB file whose series are allocated at their full length: the first
``simout_steps_written`` samples of each series' data are valid, the rest hold nothing (0 or NaN), and a
``Units`` table may be missing or half-written (spikes are appended only at close). :func:`recover` makes a clean
file of it, and this module is the procedure; each step's rules live in their own module:

1. the output is checked and a temporary name beside it chosen by the package's one output-path policy
   (:class:`~simout_plugins.write.outputs.OutputPath`); the input is copied there keeping its holes
   (:func:`~simout_plugins.write.filecopy.copy_sparse`; the data are allocated up front: only what was written needs
   disk space in the copy); the input is never opened by HDF5, so a run still holding it is not disturbed;
2. in the copy, every CompartmentSeries (:func:`simout_plugins.nwb.discover.find_series`), and every
   ElectricalSeries the ECP writer streamed (its data counts the steps written), is cut to its valid samples
   (:mod:`.trim`);
3. the ``Units`` group is kept when every column is there with consistent lengths and pynwb reads it, otherwise it
   is deleted and the report says why (:mod:`.units_repair`);
4. the copy must read with plain pynwb (:func:`.damage.pynwb_problem`), then it is moved onto the output
   (atomic; nothing is left at the output path on failure).

A complete file (every series fully written, Units readable) is copied unchanged. The file keeps its allocated size
(the cut samples' space is unused; ``h5repack`` reclaims it).
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py

from ..errors import FileFormatError
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.discover import find_series, find_typed_groups
from . import journal
from .damage import DAMAGE_ERRORS, first_line, pynwb_problem
from .filecopy import copy_sparse
from .outputs import PARTIAL_NAME, OutputPath
from .trim import SeriesRecovery, trim_series
from .units_repair import drop_units, units_problem

__all__ = ["recover", "RecoveryReport", "SeriesRecovery", "default_recovered_path", "copy_sparse", "PARTIAL_NAME"]

logger = logging.getLogger(__name__)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNSET = object()


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
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    output: str | os.PathLike | None | object = _UNSET,
) -> RecoveryReport:
    """Write a valid NWB file holding every valid sample of a partial file left by a killed run.

    Parameters
    ----------
    path : str or os.PathLike
        The partial file (``<stem>.partial.nwb``, ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb``) or any file written by
        this package. Read only.
    out : str or os.PathLike, optional
        The file to write (must end in ``.nwb``); default :func:`default_recovered_path` (``<stem>.recovered.nwb``
        beside ``path``).
    overwrite : bool
        Replace ``out`` if it exists (default False, as everywhere in this package).
    output : str or os.PathLike, optional
        Deprecated name of ``out`` (kept for one release; DeprecationWarning).

    Returns
    -------
    RecoveryReport
        Steps valid / allocated per series and what happened to the ``Units`` table.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or the output's folder does not.
    FileExistsError
        ``out`` exists and ``overwrite`` is False.
    IsADirectoryError
        ``path`` or ``out`` is a directory.
    PermissionError
        The output's folder is not writable.
    ValueError
        ``out`` is ``path``, or does not end in ``.nwb``.
    FileFormatError
        ``path`` is not a file of this package that can be recovered: not HDF5, corrupted or truncated, no
        CompartmentSeries, a ``simout_steps_written`` that makes no sense, or unreadable by pynwb even without
        its ``Units``.
    """
    if output is not _UNSET:
        warnings.warn("recover(output=...) is deprecated; use out=...", DeprecationWarning, stacklevel=2)
        if out is not None:
            raise TypeError("recover: give out= only (output= is its deprecated name)")
        out = output
    src = Path(path)
    if not src.exists():
        raise FileNotFoundError(f"no such file: '{src}'")
    if src.is_dir():
        raise IsADirectoryError(f"'{src}' is a directory, not a file")
    target = OutputPath(default_recovered_path(src) if out is None else out)
    target.check(overwrite=overwrite, inputs=[src])
    logger.info("recovering %s -> %s", src, target.path)
    with target.staged() as tmp:
        before = src.stat()
        copy_sparse(src, tmp)
        shutil.copymode(src, tmp)  # the output gets the input's permissions
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
        report = _recover_copy(src, tmp, target.path)
    logger.info("%s", report.summary())
    return report


def _recover_copy(src: Path, tmp: Path, out: Path) -> RecoveryReport:
    """Trim the series and check Units in ``tmp`` (a copy of ``src``); errors name ``src``."""
    with open(tmp, "rb") as fh:
        head = fh.read(8)
    if head != _HDF5_SIGNATURE and not h5py.is_hdf5(tmp):  # a user block moves the signature: ask HDF5
        raise FileFormatError(src, "not an HDF5 file (so not an NWB file written by simout_plugins)")
    problem_units = None
    try:
        with h5py.File(tmp, "r+") as f:
            if f.attrs.get("neurodata_type") is None and "nwb_version" not in f.attrs:
                raise FileFormatError(src, "HDF5 but not an NWB file (no nwb_version / neurodata_type on '/')")
            found = find_series(f) + _streamed_electrical_series(f)
            if not found:
                raise FileFormatError(src, "no CompartmentSeries and no ElectricalSeries written by simout_plugins: "
                                      "not a report written by simout_plugins")  # fmt: skip
            series = tuple(trim_series(src, f, where) for where in found)
            has_units = "units" in f
            if has_units:
                try:
                    problem_units = units_problem(f)
                except DAMAGE_ERRORS as exc:
                    problem_units = f"unreadable ({first_line(exc)})"
                if problem_units is not None:
                    drop_units(src, f, problem_units)
    except FileFormatError:
        raise
    except DAMAGE_ERRORS as exc:
        raise FileFormatError(src, f"corrupted or truncated HDF5 file ({first_line(exc)})") from exc
    problem = pynwb_problem(tmp, units=True) if has_units and problem_units is None else "not read yet"
    if problem is not None and has_units and problem_units is None:  # Units whole in HDF5 but pynwb fails
        problem_units = problem
        try:
            with h5py.File(tmp, "r+") as f:
                drop_units(src, f, problem_units)
        except (OSError, KeyError, RuntimeError) as exc:
            raise FileFormatError(src, f"cannot remove the unreadable Units table ({first_line(exc)})") from exc
    if problem is not None:
        problem = pynwb_problem(tmp, units=False)
    if problem is not None:
        raise FileFormatError(src, f"pynwb cannot read the file even without its Units table: {problem}")
    units = "absent" if not has_units else ("removed" if problem_units else "kept")
    return RecoveryReport(input=src, output=out, series=series, units=units, units_problem=problem_units)


def _streamed_electrical_series(f: h5py.File) -> list[str]:
    """The ElectricalSeries our ECP writer streamed (their data counts the steps written), to be cut like the
    CompartmentSeries; other ElectricalSeries are left as they are."""
    out = []
    for where in find_typed_groups(f, "ElectricalSeries"):
        data = f[where].get("data")
        if isinstance(data, h5py.Dataset) and STEPS_WRITTEN_ATTR in data.attrs:
            out.append(where)
    return out
