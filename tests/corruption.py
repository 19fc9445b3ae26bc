"""Corrupting HDF5 files on purpose, and knowing which bytes belong to what (for hostile-file tests).

Every corruption is a pure function of a path and parameters that edits the file in place (copy it first):

- byte level: :func:`truncate`, :func:`overwrite`;
- structure level (through h5py): :func:`replace_dataset` (wrong dtype / rank / length), :func:`set_values`
  (e.g. an index made non-monotonic or pointing past the data), :func:`delete`, :func:`set_attr`,
  :func:`resize_columns` (a series' data with another number of columns than its table has compartments).

:func:`byte_map` says, for a file, which byte ranges are the raw data of which dataset element, which are the
object header of which object and which are global-heap objects (variable-length strings) of which dataset
element: the oracle of "silently wrong data" (:func:`taints`) turns an overwrite into the set of things whose
value may legitimately change.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import h5py
import numpy as np

__all__ = [
    "Region",
    "byte_map",
    "delete",
    "overwrite",
    "replace_dataset",
    "resize_columns",
    "set_attr",
    "set_values",
    "taints",
    "truncate",
    "REPLACEMENTS",
]

# ---------------------------------------------------------------------------------------------- byte level


def truncate(path: str | os.PathLike, offset: int) -> None:
    """Cut the file at byte ``offset`` (clipped to its size)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(max(0, min(int(offset), size)))


def overwrite(path: str | os.PathLike, offset: int, data: bytes) -> None:
    """Write ``data`` at byte ``offset`` (clipped so the file does not grow)."""
    size = os.path.getsize(path)
    offset = max(0, min(int(offset), size - 1))
    data = bytes(data[: size - offset])
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


# ---------------------------------------------------------------------------------------------- structure level

#: Replacements :func:`replace_dataset` knows, by name.
REPLACEMENTS = ("text", "float", "2d", "scalar", "empty", "longer", "shorter", "bool")


def replace_dataset(path: str | os.PathLike, dataset: str, kind: str) -> None:
    """Replace ``dataset`` by one of the wrong shape or type (attributes kept).

    ``kind``: ``"text"`` (variable-length strings), ``"float"`` (same values as float64 + 0.5), ``"2d"`` (a column
    added / the rank changed), ``"scalar"``, ``"empty"`` (length 0), ``"longer"`` / ``"shorter"`` (one element
    more / less along the first axis), ``"bool"``.
    """
    with h5py.File(path, "r+") as f:
        old = f[dataset]
        values = old[()]
        attrs = dict(old.attrs)
        if kind == "text":
            new = np.asarray([str(v) for v in np.ravel(values)] or ["x"], dtype=object).reshape(-1)
            dtype = h5py.string_dtype()
        elif kind == "float":
            new, dtype = _numeric(values).astype(np.float64) + 0.5, np.float64
        elif kind == "2d":
            base = _numeric(values)
            new = np.stack([base, base], axis=-1) if base.ndim < 2 else base[..., None]
            dtype = new.dtype
        elif kind == "scalar":
            new = _numeric(values).ravel()[:1].reshape(())
            new = new if new.size else np.float64(1.0)
            dtype = new.dtype
        elif kind == "empty":
            new = np.zeros((0,) + np.shape(values)[1:], dtype=values.dtype if values.dtype.kind != "O" else "f8")
            dtype = new.dtype
        elif kind in ("longer", "shorter"):
            arr = np.asarray(values)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            new = np.concatenate([arr, arr[-1:]]) if kind == "longer" and arr.size else arr[:-1]
            dtype = None if arr.dtype.kind == "O" else arr.dtype
            if arr.dtype.kind == "O":
                dtype = h5py.string_dtype()
        elif kind == "bool":
            new, dtype = np.ones(np.shape(values), dtype=bool), bool
        else:
            raise ValueError(f"unknown replacement '{kind}'; known: {REPLACEMENTS}")
        del f[dataset]
        ds = f.create_dataset(dataset, data=new, dtype=dtype)
        for k, v in attrs.items():
            ds.attrs[k] = v


def _numeric(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "OSU":
        return np.arange(arr.size, dtype=np.float64).reshape(arr.shape)
    return arr.astype(np.float64)


def set_values(path: str | os.PathLike, dataset: str, index, values) -> None:
    """``dataset[index] = values`` in place (e.g. an index entry made non-monotonic or past the data)."""
    with h5py.File(path, "r+") as f:
        ds = f[dataset]
        arr = ds[()]
        arr[index] = np.asarray(values).astype(arr.dtype, copy=False) if arr.dtype.kind != "O" else values
        ds[...] = arr


def delete(path: str | os.PathLike, name: str) -> None:
    """Remove the link ``name`` (a dataset, group or the series' ``compartments`` link)."""
    with h5py.File(path, "r+") as f:
        del f[name]


def set_attr(path: str | os.PathLike, obj: str, attr: str, value) -> None:
    """Set (or, with ``value=None``, delete) attribute ``attr`` of ``obj``."""
    with h5py.File(path, "r+") as f:
        attrs = f[obj].attrs
        if value is None:
            if attr in attrs:
                del attrs[attr]
        else:
            attrs[attr] = value


def resize_columns(path: str | os.PathLike, dataset: str, delta: int) -> None:
    """Give 2-D ``dataset`` ``delta`` more (or fewer) columns than it has, values kept where they exist."""
    with h5py.File(path, "r+") as f:
        old = f[dataset]
        values, attrs = old[()], dict(old.attrs)
        n = max(0, values.shape[1] + int(delta))
        new = np.zeros((values.shape[0], n), dtype=values.dtype)
        k = min(n, values.shape[1])
        new[:, :k] = values[:, :k]
        del f[dataset]
        ds = f.create_dataset(dataset, data=new)
        for key, v in attrs.items():
            ds.attrs[key] = v


# ---------------------------------------------------------------------------------------------- byte map


@dataclass(frozen=True)
class Region:
    """Bytes ``[start, stop)`` of the file and what they hold.

    ``kind``: ``"raw"`` (elements of dataset ``name``; ``first`` = flat index of the element at ``start``,
    ``itemsize`` its size; ``itemsize`` 0 = a compressed chunk, every element from ``first`` to ``first + count``
    at once), ``"heap"`` (the string of element ``first`` of vlen dataset ``name``), ``"header"`` (object header of
    object ``name``: its attributes, dtype, shape, storage layout, links).
    """

    start: int
    stop: int
    kind: str
    name: str
    first: int = 0
    itemsize: int = 0
    count: int = 0


def byte_map(path: str | os.PathLike) -> list[Region]:
    """Every region of the file this module can attribute (see :class:`Region`); the rest is "other" metadata
    (superblock, B-tree nodes, local heaps of link names, free space)."""
    regions: list[Region] = []
    raw = open(path, "rb").read()
    seen: set[int] = set()
    with h5py.File(path, "r") as f:

        def visit(name: str, obj) -> None:
            info = h5py.h5o.get_info(obj.id)
            if info.addr in seen:
                return
            seen.add(info.addr)
            for a, b in _header_chunks(raw, info.addr):
                regions.append(Region(a, b, "header", obj.name))
            if isinstance(obj, h5py.Dataset):
                regions.extend(_raw_regions(obj, raw))

        visit("/", f)
        f.visititems(visit)
    return sorted(regions, key=lambda r: r.start)


def _header_chunks(raw: bytes, addr: int) -> list[tuple[int, int]]:
    """Byte ranges of a version-1 object header (prefix + first chunk + continuation chunks)."""
    if addr + 16 > len(raw) or raw[addr] != 1:
        return [(addr, min(addr + 16, len(raw)))]  # v2 ("OHDR", checksummed) or unknown: prefix only
    (size,) = struct.unpack_from("<I", raw, addr + 8)
    chunks = [(addr, addr + 16 + size)]
    todo = [(addr + 16, addr + 16 + size)]
    while todo:
        a, b = todo.pop()
        pos = a
        while pos + 8 <= b:
            mtype, msize = struct.unpack_from("<HH", raw, pos)
            if mtype == 0x10 and pos + 8 + 16 <= len(raw):
                off, length = struct.unpack_from("<QQ", raw, pos + 8)
                if off + length <= len(raw):
                    chunks.append((off, off + length))
                    todo.append((off, off + length))
            pos += 8 + msize
    return chunks


def _raw_regions(ds: h5py.Dataset, raw: bytes) -> list[Region]:
    vlen = h5py.check_string_dtype(ds.dtype) is not None and h5py.check_string_dtype(ds.dtype).length is None
    itemsize = 16 if vlen else ds.id.get_type().get_size()  # on disk: a vlen element is (length, heap address, index)
    out = []
    if ds.chunks is None:
        offset = ds.id.get_offset()
        if offset is None:
            return out
        n = int(np.prod(ds.shape, dtype=np.int64)) if ds.shape else 1
        out.append(Region(offset, offset + n * itemsize, "raw", ds.name, 0, itemsize, n))
    else:
        shape = ds.shape
        chunk = ds.chunks
        for i in range(ds.id.get_num_chunks()):
            info = ds.id.get_chunk_info(i)
            if info.byte_offset is None:
                continue
            n = int(np.prod(chunk))
            if ds.compression is not None or info.size != n * itemsize:
                first = int(np.ravel_multi_index(info.chunk_offset, shape)) if shape else 0
                out.append(Region(info.byte_offset, info.byte_offset + info.size, "raw", ds.name, first, 0,
                                  int(np.prod(shape))))  # fmt: skip
                continue
            # element j of the chunk (C order over the chunk shape) -> flat index in the dataset (0 if padding)
            local = np.indices(chunk).reshape(len(chunk), -1)
            glob = local + np.asarray(info.chunk_offset)[:, None]
            inside = (glob < np.asarray(shape)[:, None]).all(axis=0)
            flat = np.where(inside, np.ravel_multi_index(np.minimum(glob, np.asarray(shape)[:, None] - 1), shape), -1)
            for j, k in enumerate(flat.tolist()):
                a = info.byte_offset + j * itemsize
                out.append(Region(a, a + itemsize, "raw" if k >= 0 else "pad", ds.name, max(k, 0), itemsize, 1))
    if h5py.check_vlen_dtype(ds.dtype) is not None or h5py.check_string_dtype(ds.dtype) is not None:
        out.extend(_heap_regions(ds, raw, [r for r in out if r.kind == "raw"]))
    return out


def _heap_regions(ds: h5py.Dataset, raw: bytes, raws: list[Region]) -> list[Region]:
    """Global-heap objects (the strings) of each element of a variable-length string dataset."""
    if h5py.check_string_dtype(ds.dtype) is None or h5py.check_string_dtype(ds.dtype).length is not None:
        return []
    out = []
    for r in raws:
        if r.itemsize != 16:
            continue
        for j in range((r.stop - r.start) // 16):
            pos = r.start + 16 * j
            length, coll, index = struct.unpack_from("<IQI", raw, pos)
            found = _heap_object(raw, coll, index)
            if found is not None:
                out.append(Region(found[0], found[1], "heap", ds.name, r.first + j, 0, 1))
    return out


def _heap_object(raw: bytes, coll: int, index: int) -> tuple[int, int] | None:
    """Byte range of object ``index`` (its 16-byte header and data) in the global heap collection at ``coll``."""
    if coll + 16 > len(raw) or raw[coll : coll + 4] != b"GCOL":
        return None
    (size,) = struct.unpack_from("<Q", raw, coll + 8)
    pos, end = coll + 16, min(coll + size, len(raw))
    while pos + 16 <= end:
        idx, _, _, osize = struct.unpack_from("<HHIQ", raw, pos)
        if idx == 0:
            return None
        if idx == index:
            return pos, pos + 16 + osize
        pos += 16 + ((osize + 7) // 8) * 8
    return None


def taints(regions: list[Region], start: int, stop: int) -> set[tuple]:
    """What overwriting bytes ``[start, stop)`` may change: ``("raw", dataset, flat_index)`` for dataset elements
    (and variable-length strings), ``("header", object)`` for object metadata, ``("other",)`` for anything else
    (superblock, B-tree nodes, link-name heaps, global-heap collection headers, free space)."""
    out: set[tuple] = set()
    covered = np.zeros(stop - start, dtype=bool)
    for r in regions:
        a, b = max(r.start, start), min(r.stop, stop)
        if a >= b:
            continue
        covered[a - start : b - start] = True
        if r.kind == "raw":
            if r.itemsize == 0:
                out.update(("raw", r.name, k) for k in range(r.first, r.first + r.count))
            else:
                k0, k1 = (a - r.start) // r.itemsize, (b - 1 - r.start) // r.itemsize
                out.update(("raw", r.name, r.first + k) for k in range(k0, k1 + 1))
        elif r.kind == "heap":
            out.add(("raw", r.name, r.first))
        elif r.kind == "header":
            out.add(("header", r.name))
    if not covered.all():
        out.add(("other",))
    return out
