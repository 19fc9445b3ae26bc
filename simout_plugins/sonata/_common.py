"""Shared pieces of the SONATA converters: the error type, opening an input, the output check (the package's one
output-path policy, :class:`simout_plugins.write.outputs.OutputPath`), block sizes and the progress bar."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import h5py

from ..errors import FileFormatError
from ..read.validate import guard
from ..write.outputs import OutputIsInputError, OutputPath

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


def check_output(
    out: str | os.PathLike, *, inputs: Sequence[str | os.PathLike | None], overwrite: bool, suffix: str
) -> OutputPath:
    """The package's output-path policy (:meth:`simout_plugins.write.outputs.OutputPath.check`, any file name) for a
    conversion output; temporary names end in ``suffix``. An output that is an input is a :class:`ConversionError`.
    """
    target = OutputPath(out, suffix=suffix)
    try:
        target.check(overwrite=overwrite, inputs=inputs, require_suffix=None)
    except OutputIsInputError:
        raise ConversionError(out, "the output is the input file; choose another output path") from None
    return target


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
