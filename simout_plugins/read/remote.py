"""Reading files where they live: HTTP(S) URLs (a lab's file server, DANDI's S3 links) and open file objects.

A URL is opened with fsspec's HTTP file system (the optional extra ``remote``: ``fsspec`` + ``aiohttp``), which
reads by HTTP range requests, and handed to h5py as a file object (``driver="fileobj"``). fsspec was chosen over
remfile because it is already the DANDI docs' first recipe, it reads ``s3://`` and other stores with the same code,
and its block cache (here: blocks of :data:`BLOCK_SIZE`, kept per file) makes HDF5's many small metadata reads a
handful of requests. A file object (anything with ``read``, ``seek`` and ``tell``) is handed to h5py as is.

h5py's ``ros3`` driver also reads S3/HTTP, but only where HDF5 was built with it (not the PyPI wheels), so it is
not the default; pass ``driver="ros3"`` to h5py yourself where you have it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import IO, Any

import h5py

from .views import require

__all__ = [
    "BLOCK_SIZE",
    "CACHE_BLOCKS",
    "OPEN_URLS",
    "is_url",
    "is_file_object",
    "source_name",
    "source_size",
    "open_remote",
    "forget_remote_files",
    "remote_file_object",
]

#: bytes per HTTP range request (and per cached block)
BLOCK_SIZE = 1 << 20
#: cached blocks per open file: the metadata of a file and the chunks of a few cells stay in memory
CACHE_BLOCKS = 64
#: remote files kept open (with their block cache) per process, most recent last: opening the same URL again
#: (``simout info`` opens a file more than once; a notebook re-runs a cell) reads no metadata twice. Published
#: files do not change; call :func:`forget_remote_files` to drop them.
OPEN_URLS = 4
_open: OrderedDict[tuple[str, int], Any] = OrderedDict()
_lock = threading.Lock()
_URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://")


def is_url(source: object) -> bool:
    """True for a string naming a remote file (``http(s)://``, ``s3://``, ...)."""
    return isinstance(source, str) and source.lower().startswith(_URL_SCHEMES)


def is_file_object(source: object) -> bool:
    """True for an open binary file object h5py can read (``read``, ``seek``, ``tell``)."""
    return all(callable(getattr(source, m, None)) for m in ("read", "seek", "tell"))


def source_name(source: str | os.PathLike | IO[bytes]) -> str:
    """What error messages and ``simout info`` call a source: its path, its URL, or the file object's name."""
    if is_file_object(source):
        return str(getattr(source, "name", None) or repr(source))
    return os.fspath(source)


def open_remote(source: str | IO[bytes], *, block_size: int = BLOCK_SIZE, **h5py_kwargs: Any) -> h5py.File:
    """Open a URL or a file object as a read-only ``h5py.File``.

    Parameters
    ----------
    source : str or binary file object
        ``http(s)://...`` (or another fsspec URL), or an open file object.
    block_size : int
        Bytes per range request (and per cached block) for URLs.
    **h5py_kwargs
        Passed to ``h5py.File`` (e.g. ``rdcc_nbytes`` for the chunk cache).

    Returns
    -------
    h5py.File
        Closing it leaves the remote file object open for the next open of the same URL (:data:`OPEN_URLS`).
    """
    if is_file_object(source):
        return h5py.File(source, "r", **h5py_kwargs)
    return h5py.File(_remote_file(source, block_size=block_size), "r", **h5py_kwargs)


def _remote_file(url: str, *, block_size: int) -> Any:
    """The fsspec file object of ``url`` (opened once per process, see :data:`OPEN_URLS`)."""
    key = (url, block_size)
    with _lock:
        if key in _open:
            _open.move_to_end(key)
            return _open[key]
    fsspec = require("fsspec", feature=f"reading {url}")
    if url.lower().startswith("http"):
        require("aiohttp", feature=f"reading {url}")
    fobj = fsspec.open(
        url, mode="rb", block_size=block_size, cache_type="blockcache", cache_options={"maxblocks": CACHE_BLOCKS}
    ).open()
    with _lock:
        _open[key] = fobj
        while len(_open) > OPEN_URLS:
            _, old = _open.popitem(last=False)
            old.close()
    return fobj


def remote_file_object(source: object, *, block_size: int = BLOCK_SIZE) -> Any | None:
    """The fsspec file object a URL is read through (opened by :func:`open_remote`), or None for other sources."""
    if not is_url(source):
        return None
    with _lock:
        return _open.get((source, block_size))


def forget_remote_files() -> None:
    """Close the remote file objects kept open (their cached blocks are dropped)."""
    with _lock:
        while _open:
            _, fobj = _open.popitem()
            fobj.close()


def source_size(source: str | os.PathLike | IO[bytes], f: h5py.File | None = None) -> int:
    """Size in bytes of a path, URL or file object (of the open ``f`` when given: no extra request)."""
    if f is not None:
        return int(f.id.get_filesize())
    if is_url(source):
        return int(_remote_file(source, block_size=BLOCK_SIZE).size)
    if is_file_object(source):
        here = source.tell()
        try:
            return int(source.seek(0, os.SEEK_END))
        finally:
            source.seek(here)
    return os.path.getsize(source)
