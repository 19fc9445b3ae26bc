"""The project's own exception types: every error a user can act on names the file (and dataset) involved.

- :class:`FileFormatError` (a ``ValueError``): an input file that is not what it claims (truncated, corrupted,
  wrong dtypes, index datasets out of order or out of range, missing datasets). The CLI turns it into one line and
  exit status 2.
- :class:`OutputWriteError` (an ``OSError``): writing an output failed (no space left, file-size limit, I/O
  error); says which file, what ran out, and that the old output is untouched.
"""

from __future__ import annotations

import errno as _errno
import os
import re

__all__ = ["SimoutError", "FileFormatError", "OutputWriteError", "os_error_reason"]


class SimoutError(Exception):
    """Base class of the errors simout_plugins raises on purpose."""


class FileFormatError(SimoutError, ValueError):
    """A file that cannot be read as what it claims to be.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file.
    what : str
        What is wrong (one sentence).
    dataset : str, optional
        HDF5 path of the offending dataset or group.

    Attributes
    ----------
    path : str
    dataset : str or None
    """

    def __init__(self, path: str | os.PathLike, what: str, *, dataset: str | None = None) -> None:
        self.path = str(path)
        self.dataset = dataset
        where = f"{self.path}" + (f" [{dataset}]" if dataset else "")
        super().__init__(f"{where}: {what}")


class OutputWriteError(SimoutError, OSError):
    """Writing an output file failed (disk full, file-size limit, I/O error); the old output is untouched.

    Parameters
    ----------
    message : str
        The whole message: the file, what was being written, what ran out, what is left on disk.
    errno : int, optional
        The operating-system error number, when known.
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message

    def __str__(self) -> str:
        return self.message


_ERRNO_IN_TEXT = re.compile(r"errno\s*=\s*(\d+)")
_REASONS = {
    _errno.ENOSPC: "no space left on the device",
    _errno.EFBIG: "the file-size limit was reached (ulimit -f / RLIMIT_FSIZE)",
    _errno.EDQUOT: "the disk quota was exceeded",
    _errno.EIO: "an input/output error on the device",
    _errno.EROFS: "the file system is read-only",
    _errno.EACCES: "permission denied",
}


def os_error_reason(exc: BaseException) -> tuple[int | None, str]:
    """(errno, plain-words reason) of an ``OSError`` from the OS or from h5py (HDF5 puts the errno in its text).

    The reason ends with the error's own text when it says more than the standard words for its errno.
    """
    code = getattr(exc, "errno", None)
    if not isinstance(code, int) or code <= 0:
        found = _ERRNO_IN_TEXT.findall(str(exc))
        code = int(found[-1]) if found and int(found[-1]) > 0 else None
    if code is None:  # MPI-IO (ROMIO) reports only the system's words, e.g. "Other I/O error File too large"
        code = next((c for c in _REASONS if os.strerror(c).lower() in str(exc).lower()), None)
    if code is None:
        return None, str(exc).split("\n")[0]
    reason = f"{_REASONS.get(code) or os.strerror(code)} (errno {code}, {_errno.errorcode.get(code, '?')})"
    detail = getattr(exc, "strerror", None)
    if getattr(exc, "filename", None) is not None and detail and detail != os.strerror(code):
        # an OSError about a named file that says more than the standard words (e.g. how many bytes were needed:
        # simout_plugins.write.space); h5py's errors name no file and repeat HDF5's whole stack here
        reason = f"{reason}: {detail}"
    return code, reason
