"""Shared pieces of the SONATA converters: the error type, file-kind detection, the output-path policy."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py

from ..errors import FileFormatError
from ..read.validate import guard

logger = logging.getLogger(__name__)

#: Attribute on the NWB series' ``data`` holding what NWB cannot say about the SONATA source (JSON).
SIDECAR_ATTR = "simout_sonata"
#: Attribute on SONATA ``mapping/time`` saying which time base the rows follow ("start" or "end").
TIME_BASE_ATTR = "simout_time_base"
TIME_BASES = ("start", "end")
DEFAULT_BLOCK_BYTES = 64 << 20


class ConversionError(FileFormatError):
    """Bad input for a conversion (a :class:`~simout_plugins.errors.FileFormatError`): names the file and, when it
    applies, the dataset (attributes ``path`` and ``dataset``)."""


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an HDF5 file for reading, turning "missing / not HDF5 / truncated" into one clear error."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConversionError(path, "is a directory, not a file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"'{path}': no such file")
    with guard(path):
        if not h5py.is_hdf5(path):
            raise ConversionError(path, "is not an HDF5 file (neither NWB nor SONATA)")
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError, KeyError) as exc:
        raise ConversionError(path, f"cannot be read as HDF5 (truncated or damaged file?): {exc}") from exc


def _attr_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def check_output(out: str | os.PathLike, *, inputs: Sequence[str | os.PathLike | None], overwrite: bool) -> Path:
    """Validate an output path before anything is written.

    Raises
    ------
    IsADirectoryError
        ``out`` is a directory.
    ValueError
        ``out`` is one of the inputs.
    FileExistsError
        ``out`` exists and ``overwrite`` is False.
    FileNotFoundError
        The folder of ``out`` does not exist.
    """
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"output '{out}' is a directory; give a file name")
    for src in inputs:
        if src is not None and _same_file(out, Path(src)):
            raise ConversionError(out, "the output is the input file; choose another output path")
    if out.exists() and not overwrite:
        raise FileExistsError(f"output '{out}' exists; pass overwrite=True (--overwrite) to replace it")
    if not out.resolve().parent.is_dir():
        raise FileNotFoundError(f"output folder '{out.resolve().parent}' does not exist; create it first")
    return out


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def staging_path(out: Path, suffix: str) -> Path:
    """A hidden temporary name beside ``out`` (same file system, so the final move is atomic)."""
    return out.with_name(f".{out.name}.simout-tmp{suffix}")


@contextlib.contextmanager
def staged(out: Path, *, suffix: str, extra: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield a temporary path; move it onto ``out`` on success, delete it (and ``extra`` files) on any failure.

    ``extra`` lists further temporary files a failure may leave (e.g. the NWB writer's ``.partial.nwb``).
    """
    tmp = staging_path(out, suffix)
    try:
        yield tmp
    except BaseException:
        for path in (tmp, *extra):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    os.replace(tmp, out)
    logger.info("wrote %s", out)


def choose_block_steps(*, n_rows: int, row_bytes: int, align: int = 1, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Rows per block so one block is about ``block_bytes``, a multiple of ``align`` when more than one chunk."""
    steps = max(1, block_bytes // max(1, row_bytes))
    if steps >= align > 1:
        steps -= steps % align
    return int(max(1, min(steps, n_rows)))


def progress_bar(*, total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr (a no-op object when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, leave=False, dynamic_ncols=True)
