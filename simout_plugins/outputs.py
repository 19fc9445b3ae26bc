"""Output-path policy: check before anything is created, write to a temporary name, move into place on success.

A run writes ``<stem>.partial.nwb`` beside the output and moves it onto the output name only when the writer
closes successfully, so an existing output is never clobbered by a failed run and a crashed run leaves a readable
partial file (every flushed block). Checks run on rank 0; the caller makes them collective.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


class OutputPath:
    """The output file of a writer and its temporary ``.partial.nwb`` sibling.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nwb`` file to produce.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(f"{self.path.stem}.partial.nwb")

    def check(self, *, overwrite: bool) -> None:
        """Raise before any output exists: wrong suffix, missing or unwritable folder, or existing output.

        Raises
        ------
        ValueError
            The name does not end in ``.nwb`` (pynwb warns about such names), or the folder does not exist.
        PermissionError
            The folder is not writable (probed by creating a file: permission bits miss read-only mounts).
        FileExistsError
            ``overwrite`` is False and the output exists.
        """
        if self.path.suffix != ".nwb":
            raise ValueError(f"output file '{self.path}' must end in '.nwb'")
        folder = self.path.parent.resolve()
        if not folder.is_dir():
            raise ValueError(f"output folder '{folder}' does not exist; create it first")
        if not os.access(folder, os.W_OK | os.X_OK) or not can_create_file_in(folder):
            raise PermissionError(f"output folder '{folder}' is not writable; choose another output path")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"output file '{self.path}' exists and overwrite=False")

    def clear_stale_partial(self) -> None:
        """Remove a partial file left by an earlier run (logged: it is replaced by this run's)."""
        if self.tmp_path.exists():
            logger.warning("replacing a partial file left by an earlier run: %s", self.tmp_path)
            self.tmp_path.unlink()

    def commit(self) -> None:
        """Move the finished temporary file onto the output name (atomic on one file system)."""
        os.replace(self.tmp_path, self.path)
        logger.info("wrote %s", self.path)


def can_create_file_in(folder: Path) -> bool:
    """Probe by creating and removing a file: permission bits alone miss read-only mounts and root's view."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".simout-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
