"""Copy a file keeping its holes: partial files are allocated at full size and only written blocks take space."""

from __future__ import annotations

import errno
import os
import shutil

__all__ = ["copy_sparse"]


def copy_sparse(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file's bytes keeping its holes (``SEEK_DATA`` / ``SEEK_HOLE``), falling back to a plain copy.

    A partial file is allocated at its full size up front and only the blocks written take disk space; a plain
    copy (``shutil.copyfile``) would write the never-written remainder out as zeros.
    """
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        size = os.fstat(fi.fileno()).st_size
        pos = 0
        try:
            while pos < size:
                try:
                    start = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # only a hole up to the end
                        break
                    raise
                stop = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
                _copy_range(fi.fileno(), fo.fileno(), start, stop)
                pos = stop
        except (OSError, AttributeError):  # no SEEK_DATA on this platform / file system: copy every byte
            fo.seek(0)
            fo.truncate(0)
            fi.seek(0)
            shutil.copyfileobj(fi, fo, 16 << 20)
            return
        fo.truncate(size)


def _copy_range(fd_in: int, fd_out: int, start: int, stop: int) -> None:
    """Copy bytes ``start:stop`` to the same offsets (``copy_file_range`` in the kernel when it can)."""
    pos = start
    while pos < stop:
        n = min(stop - pos, 64 << 20)
        try:
            done = os.copy_file_range(fd_in, fd_out, n, pos, pos)
        except (OSError, AttributeError):
            done = os.pwrite(fd_out, os.pread(fd_in, n, pos), pos)
        if done <= 0:
            raise OSError(errno.EIO, f"copy stopped at byte {pos} of {stop}")
        pos += done
