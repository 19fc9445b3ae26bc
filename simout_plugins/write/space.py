"""Reserve disk space before HDF5 writes, so that a full disk is a clean error up front, not a broken file.

HDF5 copes badly with a write that fails for lack of space: the file's metadata is left half-written and closing it
can crash the process (seen with pynwb's writes under a file-size limit: a segmentation fault in ``H5Fclose``). The
writer therefore reserves, with ``fallocate(2)``, the bytes a step is about to need (the whole series data when the
file is created, the Units table before it is added) and only then lets HDF5 write. A disk that cannot hold them
gives ``ENOSPC`` / ``EDQUOT`` / ``EFBIG`` right there, from plain Python, before the run starts. Reserved blocks
are real: no later write inside them can fail for space.

Where the file system has no ``fallocate`` (some network file systems), the free space reported by ``statvfs`` is
checked instead (no reservation: the disk may still fill up later).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_libc = None


def _fallocate(fd: int, offset: int, length: int) -> int:
    """``fallocate(fd, 0, offset, length)``: 0, or the errno (ENOSYS where libc has no such call)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    func = getattr(_libc, "fallocate64", None) or getattr(_libc, "fallocate", None)
    if func is None:
        return errno.ENOSYS
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    func.restype = ctypes.c_int
    if func(fd, 0, offset, length) == 0:
        return 0
    return ctypes.get_errno()


def reserve(fd: int, *, offset: int, length: int, path: str | os.PathLike, what: str) -> bool:
    """Allocate bytes ``offset .. offset + length`` of the open file ``fd`` (its size grows to cover them).

    Parameters
    ----------
    fd : int
        Open file descriptor (writable).
    offset, length : int
        The byte range to allocate, bytes.
    path : str or os.PathLike
        The file's name (for messages and the ``statvfs`` fallback).
    what : str
        What the bytes are for, e.g. ``"the series data"`` (named in the error).

    Returns
    -------
    bool
        True when the space is reserved; False when the file system cannot reserve (enough free space was seen).

    Raises
    ------
    OSError
        With ``errno`` ENOSPC, EDQUOT or EFBIG (or another OS error) when the bytes cannot be had; the message says
        how many were needed.
    """
    if length <= 0:
        return True
    code = _fallocate(fd, offset, length)
    if code == 0:
        return True
    if code in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        folder = Path(path).resolve().parent
        stat = os.statvfs(folder)
        free = stat.f_bavail * stat.f_frsize
        if free < length:
            raise OSError(
                errno.ENOSPC,
                f"{what} need {format_bytes(length)} but {folder} has {format_bytes(free)} free",
                str(path),
            )
        logger.debug("%s: the file system cannot reserve space (errno %d); %s free", path, code, format_bytes(free))
        return False
    raise OSError(code, f"cannot reserve {format_bytes(length)} for {what}: {os.strerror(code)}", str(path))


def format_bytes(n: int) -> str:
    """``n`` bytes in words (``"1.5 GB"``)."""
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"  # pragma: no cover
