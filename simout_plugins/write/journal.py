"""A journal of an HDF5 file's structure, so that a change killed half-way can be undone.

HDF5 writes a change to a file's structure (adding the Units table at close, with pynwb) in one burst of metadata
writes, in no particular order: a process killed in the middle can leave a file whose root group points past the
end of the file, which HDF5 then refuses to open, losing every block of the run with it (seen about once in 250
kills during the Units append). Before such a change the writer saves, beside the file, every byte of it that is
not raw data of a dataset (the raw data are not rewritten by adding objects) and its length; after the change it
deletes the journal. ``simout recover`` finds a journal, writes those bytes back into its copy and cuts it to the
saved length: the file as it was before the change, every flushed block included.

Journal file ``<file>.journal``: ``MAGIC``, the file length and the number of ranges (two little-endian uint64),
each range's offset and length (uint64 pairs), the bytes of every range in order, then the SHA-256 of everything
before it. It is written under a temporary name and renamed, so it exists only complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from pathlib import Path

import h5py
import numpy as np

logger = logging.getLogger(__name__)

MAGIC = b"SIMOUT-JOURNAL-1"
_U64 = struct.Struct("<Q")


def journal_path(path: str | os.PathLike) -> Path:
    """The journal of ``path``: ``<path>.journal``."""
    path = Path(path)
    return path.with_name(path.name + ".journal")


def raw_extents(path: str | os.PathLike) -> np.ndarray:
    """(offset, length) of the raw data of every dataset of an HDF5 file, shape (n, 2), int64, sorted by offset."""
    found: list[tuple[int, int]] = []

    def visit(_name: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        layout = dsid.get_create_plist().get_layout()
        if layout == h5py.h5d.CHUNKED:
            try:
                dsid.chunk_iter(lambda info: found.append((int(info.byte_offset), int(info.size))))
            except (AttributeError, NotImplementedError):  # HDF5 before 1.12.3: one call per chunk
                for i in range(dsid.get_num_chunks()):
                    info = dsid.get_chunk_info(i)
                    found.append((int(info.byte_offset), int(info.size)))
        elif layout == h5py.h5d.CONTIGUOUS:
            offset = dsid.get_offset()
            if offset is not None:
                found.append((int(offset), int(dsid.get_storage_size())))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    out = np.array(sorted(e for e in found if e[1] > 0), dtype=np.int64).reshape(-1, 2)
    return out


def _complement(extents: np.ndarray, size: int) -> list[tuple[int, int]]:
    """The ranges of ``[0, size)`` not covered by ``extents`` (sorted (offset, length) rows)."""
    ranges, pos = [], 0
    for offset, length in extents.tolist():
        if offset > pos:
            ranges.append((pos, min(offset, size) - pos))
        pos = max(pos, offset + length)
    if pos < size:
        ranges.append((pos, size - pos))
    return [(o, n) for o, n in ranges if n > 0]


def save(path: str | os.PathLike) -> Path:
    """Write the journal of ``path`` (closed by every writer): its structure's bytes and its length.

    Returns
    -------
    pathlib.Path
        The journal file.
    """
    path = Path(path)
    size = path.stat().st_size
    ranges = _complement(raw_extents(path), size)
    target = journal_path(path)
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    with open(path, "rb") as src, open(tmp, "wb") as out:

        def put(chunk: bytes) -> None:
            digest.update(chunk)
            out.write(chunk)

        put(MAGIC + _U64.pack(size) + _U64.pack(len(ranges)))
        for offset, length in ranges:
            put(_U64.pack(offset) + _U64.pack(length))
        for offset, length in ranges:
            src.seek(offset)
            put(src.read(length))
        out.write(digest.digest())
    os.replace(tmp, target)
    logger.debug("journal of %s: %d ranges, %d bytes", path, len(ranges), sum(n for _, n in ranges))
    return target


def discard(path: str | os.PathLike) -> None:
    """Delete the journal of ``path`` (the change it guarded is complete)."""
    journal_path(path).unlink(missing_ok=True)


def restore(journal: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Write a journal's bytes back into ``target`` (a copy of its file) and cut it to the saved length.

    Returns
    -------
    bool
        True when restored; False when the journal is not a complete, intact journal (then ``target`` is unchanged).
    """
    blob = Path(journal).read_bytes()
    body, digest = blob[:-32], blob[-32:]
    if len(blob) < len(MAGIC) + 48 or not body.startswith(MAGIC) or hashlib.sha256(body).digest() != digest:
        logger.warning("%s is not a complete journal; ignored", journal)
        return False
    pos = len(MAGIC)
    size, n = _U64.unpack_from(body, pos)[0], _U64.unpack_from(body, pos + 8)[0]
    pos += 16
    ranges = [(_U64.unpack_from(body, pos + 16 * i)[0], _U64.unpack_from(body, pos + 16 * i + 8)[0]) for i in range(n)]
    pos += 16 * n
    with open(target, "r+b") as f:
        for offset, length in ranges:
            f.seek(offset)
            f.write(body[pos : pos + length])
            pos += length
        f.truncate(size)
    return True
