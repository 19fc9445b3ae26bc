"""What kind of file this is: the one rule ``simout info``, ``simout plot`` and ``simout convert`` share.

An HDF5 file is NWB when its root says so (``neurodata_type == "NWBFile"`` or an ``nwb_version`` attribute), a
SONATA report when it has a ``/report`` group, a SONATA spike file when it has a ``/spikes`` group; anything
else is a :class:`~simout_plugins.errors.FileFormatError`.
"""

from __future__ import annotations

import os

import h5py

from ..errors import FileFormatError
from ..nwb.columns import as_text
from .validate import guard, open_file

__all__ = ["FILE_KINDS", "file_kind", "detect_format"]

#: What :func:`file_kind` returns.
FILE_KINDS = ("nwb", "sonata-report", "sonata-spikes")


def file_kind(path: str | os.PathLike) -> str:
    """``"nwb"``, ``"sonata-report"`` or ``"sonata-spikes"`` from the file's contents.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FileFormatError
        ``path`` is a directory, not HDF5, unreadable, or HDF5 holding neither an NWB file nor a SONATA report
        (``/report``) or spike file (``/spikes``).
    """
    path = os.fspath(path)
    with open_file(path) as f, guard(path):
        if as_text(f.attrs.get("neurodata_type")) == "NWBFile" or "nwb_version" in f.attrs:
            return "nwb"
        if isinstance(f.get("report"), h5py.Group):
            return "sonata-report"
        if isinstance(f.get("spikes"), h5py.Group):
            return "sonata-spikes"
    raise FileFormatError(path, "is HDF5 but neither an NWB file nor a SONATA report (/report) or spike file (/spikes)")


def detect_format(path: str | os.PathLike) -> str:
    """The family of :func:`file_kind`: ``"nwb"`` or ``"sonata"`` (report and/or spikes)."""
    return "nwb" if file_kind(path) == "nwb" else "sonata"
