"""Output-path policy: check before anything is created, write to a temporary name, move into place on success.

A run writes ``<stem>.partial.nwb`` beside the output and moves it onto the output name only when the writer
closes successfully, so an existing output is never clobbered by a failed run and a crashed run leaves a readable
partial file (every flushed block; ``simout recover`` makes it a valid NWB file). A new run keeps an earlier run's
partial file under another name instead of deleting it. Checks run on rank 0; the caller makes them collective.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path

from .journal import journal_path

logger = logging.getLogger(__name__)

#: Name of a writer's partial file: ``<stem>.partial.nwb``, or one kept from an earlier run by the next run
#: (:meth:`OutputPath.keep_stale_partial`), ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb`` (``...-<n>.nwb`` when that name
#: was taken).
PARTIAL_NAME = re.compile(r"^(?P<stem>.+)\.partial(?:\.(?P<stamp>\d{8}-\d{6}(?:-\d+)?))?\.nwb$")


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

    def keep_stale_partial(self) -> Path | None:
        """Rename a partial file left by an earlier run to ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb`` (its mtime).

        A crashed run's partial file holds every block it flushed; a new run must not delete it. It is kept under
        a name of its own (logged, with how to recover it) and returned; None when there was none.
        """
        if not self.tmp_path.exists():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.tmp_path.stat().st_mtime))
        kept = self.path.with_name(f"{self.path.stem}.partial.{stamp}.nwb")
        n = 1
        while kept.exists():
            kept = self.path.with_name(f"{self.path.stem}.partial.{stamp}-{n}.nwb")
            n += 1
        os.replace(self.tmp_path, kept)
        if journal_path(self.tmp_path).exists():  # the structure saved before the run's last change (see journal)
            os.replace(journal_path(self.tmp_path), journal_path(kept))
        logger.warning(
            "an earlier run left %s (it did not finish); kept as %s: inspect it with `simout info %s`, turn it into "
            "a valid NWB file with `simout recover %s`, or delete it",
            self.tmp_path, kept, kept, kept,
        )  # fmt: skip
        return kept

    @property
    def skeleton_path(self) -> Path:
        """Where rank 0 writes the NWB structure before renaming it to :attr:`tmp_path` (so a partial file only
        ever exists complete)."""
        return self.path.with_name(f".{self.path.stem}.skeleton.nwb")

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
