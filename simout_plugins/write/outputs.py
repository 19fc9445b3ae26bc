"""The atomic output-path policy, once for every file this package writes (writer, recover, SONATA conversions).

1. **Check before anything is written** (:meth:`OutputPath.check`): not a directory, the right suffix, not one of the
   inputs, the folder exists (or can be created) and is writable (probed by creating a file), and an existing
   output is replaced only with ``overwrite=True``.
2. **Write under a temporary name beside the output** (same file system, so the final move is atomic), ending in the
   output's suffix (``.nwb`` for NWB: pynwb warns about other names):

   - the streaming writer writes ``<stem>.partial.nwb`` (:attr:`OutputPath.tmp_path`) and *keeps it on failure*:
     a crashed run's partial file holds every flushed block (``simout recover`` makes it a valid NWB file). A new
     run keeps an earlier run's partial file as ``<stem>.partial.<YYYYmmdd-HHMMSS>[-<n>].nwb``
     (:meth:`OutputPath.keep_stale_partial`, :data:`PARTIAL_NAME`);
   - whole-file producers (recover, the SONATA converters) write a hidden, unique
     ``.<name>.<token>.simout-tmp<suffix>`` (:meth:`OutputPath.staged`), deleted on failure.
3. **Move into place on success only** (``os.replace``); on failure the old output is untouched.

Checks run where the caller runs them (rank 0 under MPI; the caller makes the outcome collective).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .journal import journal_path

__all__ = [
    "OutputPath",
    "OutputFolderMissingError",
    "OutputIsInputError",
    "PARTIAL_NAME",
    "can_create_file_in",
    "same_file",
]

logger = logging.getLogger(__name__)

#: Name of a writer's partial file: ``<stem>.partial.nwb``, or one kept from an earlier run by the next run
#: (:meth:`OutputPath.keep_stale_partial`), ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb`` (``...-<n>.nwb`` when that name
#: was taken).
PARTIAL_NAME = re.compile(r"^(?P<stem>.+)\.partial(?:\.(?P<stamp>\d{8}-\d{6}(?:-\d+)?))?\.nwb$")
#: Marks the hidden temporary files of :meth:`OutputPath.staged`.
STAGING_MARK = ".simout-tmp"


class OutputFolderMissingError(FileNotFoundError, ValueError):
    """The output's folder does not exist.

    A :class:`FileNotFoundError`; also a :class:`ValueError` for one release, since the writer used to raise
    ``ValueError`` for it (``except ValueError`` keeps working, with the new type).
    """


class OutputIsInputError(ValueError):
    """The output names one of the inputs (nothing here ever writes over its input)."""


class OutputPath:
    """An output file and its temporary names: check it, write beside it, move into place on success.

    Parameters
    ----------
    path : str or os.PathLike
        The file to produce.
    suffix : str
        Ending of the temporary names (default ``".nwb"``; e.g. ``".h5"`` for a SONATA output).

    Attributes
    ----------
    path : pathlib.Path
        The output.
    tmp_path : pathlib.Path
        The streaming writer's partial file, ``<stem>.partial<suffix>`` beside the output.
    """

    def __init__(self, path: str | os.PathLike, *, suffix: str = ".nwb") -> None:
        self.path = Path(path)
        self.suffix = suffix
        self.tmp_path = self.path.with_name(f"{self.path.stem}.partial{suffix}")
        self._token = secrets.token_hex(4)

    # ------------------------------------------------------------------ 1. check
    def check(
        self,
        *,
        overwrite: bool,
        inputs: Sequence[str | os.PathLike | None] = (),
        require_suffix: str | None = ".nwb",
        create_folder: bool = False,
    ) -> Path:
        """Raise before any output exists when the output cannot or must not be written; return :attr:`path`.

        Parameters
        ----------
        overwrite : bool
            Replace an existing output.
        inputs : sequence of path, optional
            Files the output must not be (None entries are skipped).
        require_suffix : str or None
            The ending the output's name must have (default ``".nwb"``); None: any name.
        create_folder : bool
            The folder may be missing (the caller creates it, :meth:`make_folder`): then its nearest existing
            ancestor must be a writable directory.

        Raises
        ------
        IsADirectoryError
            The output is a directory.
        ValueError
            The name does not end in ``require_suffix``.
        OutputIsInputError
            The output is one of ``inputs`` (a ValueError).
        OutputFolderMissingError
            The folder does not exist (and ``create_folder`` is False).
        PermissionError
            The folder (or, with ``create_folder``, its nearest existing ancestor) is not a writable directory.
        FileExistsError
            ``overwrite`` is False and the output exists.
        """
        if self.path.is_dir():
            raise IsADirectoryError(f"output '{self.path}' is a directory; give a file name")
        if require_suffix is not None and self.path.suffix != require_suffix:
            raise ValueError(f"output file '{self.path}' must end in '{require_suffix}'")
        for src in inputs:
            if src is not None and same_file(self.path, Path(src)):
                raise OutputIsInputError(f"output '{self.path}' is the input file; choose another output path")
        folder = self.path.parent.resolve()
        probe = folder
        if create_folder:
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
        if not probe.is_dir():
            if probe.exists():
                raise PermissionError(f"cannot create the output folder '{folder}': '{probe}' is a file")
            raise OutputFolderMissingError(2, f"output folder '{folder}' does not exist; create it first", str(folder))
        if not os.access(probe, os.W_OK | os.X_OK) or not can_create_file_in(probe):
            raise PermissionError(f"output folder '{probe}' is not writable; choose another output path")
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"output file '{self.path}' exists and overwrite=False; pass overwrite=True (--overwrite) to replace it"
            )
        return self.path

    def make_folder(self) -> None:
        """Create the output's folder and its parents (nothing when it exists)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ 2a. the streaming writer's partial file
    def keep_stale_partial(self) -> Path | None:
        """Rename a partial file left by an earlier run to ``<stem>.partial.<YYYYmmdd-HHMMSS>.nwb`` (its mtime).

        A crashed run's partial file holds every block it flushed; a new run must not delete it. It is kept under
        a name of its own (logged, with how to recover it) and returned; None when there was none.
        """
        if not self.tmp_path.exists():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.tmp_path.stat().st_mtime))
        kept = self.path.with_name(f"{self.path.stem}.partial.{stamp}{self.suffix}")
        n = 1
        while kept.exists():
            kept = self.path.with_name(f"{self.path.stem}.partial.{stamp}-{n}{self.suffix}")
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
        return self.path.with_name(f".{self.path.stem}.skeleton{self.suffix}")

    def commit(self) -> None:
        """Move the finished :attr:`tmp_path` onto the output name (atomic on one file system)."""
        os.replace(self.tmp_path, self.path)
        logger.info("wrote %s", self.path)

    # ------------------------------------------------------------------ 2b. whole-file producers
    @property
    def staging_path(self) -> Path:
        """The hidden temporary name of :meth:`staged` beside the output, ending in :attr:`suffix` (not created);
        unique to this object (a random token), so two runs writing the same output do not share it."""
        return self.path.with_name(f".{self.path.name}.{self._token}{STAGING_MARK}{self.suffix}")

    @contextlib.contextmanager
    def staged(self, *, extra: Sequence[str | os.PathLike] = ()) -> Iterator[Path]:
        """Yield a temporary path (:attr:`staging_path`); move it onto the output on success, delete it (and the
        ``extra`` files a failure may leave, e.g. a writer's partial file) on any failure.

        Examples
        --------
        >>> with OutputPath("out.h5", suffix=".h5").staged() as tmp:  # doctest: +SKIP
        ...     write_everything(tmp)
        """
        tmp = self.staging_path
        try:
            yield tmp
        except BaseException:
            for path in (tmp, *extra):
                with contextlib.suppress(FileNotFoundError):
                    Path(path).unlink()
            raise
        os.replace(tmp, self.path)
        logger.info("wrote %s", self.path)


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (the same inode when both exist)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def can_create_file_in(folder: Path) -> bool:
    """Probe by creating and removing a file: permission bits alone miss read-only mounts and root's view."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".simout-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
