"""Writing SONATA reports and spike files in the form libsonata and BMTK both read.

Report population: ``mapping/index_pointers`` (n_nodes + 1) with ``index_pointer`` as an HDF5 hard link to the
same dataset (BMTK reads that name), ``node_ids``, ``element_ids``, optional ``element_pos``, ``time`` =
[tstart, tstop, dt] with ``units="ms"``, ``data`` (n_rows, n_elements) with ``units``. Spikes:
``/spikes/<population>/{timestamps (units "ms"), node_ids}`` with ``sorting`` as libsonata's HDF5 enum
(none / by_id / by_time, uint8). Everything uncompressed: libsonata's PyPI wheel has no deflate filter.
"""

from __future__ import annotations

from collections.abc import Mapping

import h5py
import numpy as np

from ._common import TIME_BASE_ATTR

SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype=np.uint8)


def write_header(f: h5py.File) -> None:
    """SONATA's file attributes: ``magic`` (0x0A7A) and ``version`` (0, 1)."""
    f.attrs["magic"] = np.uint32(0x0A7A)
    f.attrs["version"] = np.array([0, 1], dtype=np.uint32)


def create_report_population(
    f: h5py.File,
    *,
    name: str,
    node_ids: np.ndarray,
    offsets: np.ndarray,
    element_ids: np.ndarray,
    element_pos: np.ndarray | None,
    time: np.ndarray,
    time_base: str,
    n_rows: int,
    dtype: np.dtype,
    units: str,
    variable: str | None = None,
    dtypes: Mapping[str, str] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> h5py.Dataset:
    """Create ``/report/<name>`` with its mapping and an empty ``data`` (n_rows, n_elements); return ``data``.

    Parameters
    ----------
    node_ids : numpy.ndarray, shape (n_nodes,)
    offsets : numpy.ndarray, shape (n_nodes + 1,)
        CSR starts, written as ``index_pointers`` (and linked as ``index_pointer``).
    element_ids, element_pos : numpy.ndarray, shape (n_elements,)
    time : numpy.ndarray, shape (3,), ms
        [tstart, tstop, dt] as it goes into ``mapping/time``.
    time_base : {"start", "end"}
        Which time row k holds (recorded as an attribute on ``mapping/time`` for readers of this package).
    dtypes : dict of str to str, optional
        Stored dtypes of the mapping datasets (default uint64 ids and pointers, float64 positions).
    extra : dict of str to numpy.ndarray, optional
        Further per-element mapping datasets (e.g. BMTK's ``seg_types``).
    """
    dtypes = dict(dtypes or {})
    g = f.require_group("report").create_group(name)
    m = g.create_group("mapping")
    m.create_dataset("node_ids", data=np.asarray(node_ids).astype(dtypes.get("node_ids", "uint64")))
    index_dtype = dtypes.get("index_pointers", dtypes.get("index_pointer", "uint64"))
    m.create_dataset("index_pointers", data=np.asarray(offsets).astype(index_dtype))
    m["index_pointer"] = m["index_pointers"]  # hard link: one dataset, both names
    m.create_dataset("element_ids", data=np.asarray(element_ids).astype(dtypes.get("element_ids", "uint64")))
    if element_pos is not None:
        m.create_dataset("element_pos", data=np.asarray(element_pos).astype(dtypes.get("element_pos", "float64")))
    t = m.create_dataset("time", data=np.asarray(time, dtype=dtypes.get("time", "float64")))
    t.attrs["units"] = "ms"
    t.attrs[TIME_BASE_ATTR] = time_base
    for key, values in (extra or {}).items():
        m.create_dataset(key, data=np.asarray(values).astype(dtypes.get(key, np.asarray(values).dtype)))
    data = g.create_dataset("data", shape=(int(n_rows), int(np.asarray(element_ids).size)), dtype=dtype)
    data.attrs["units"] = units
    if variable:
        data.attrs["variable"] = variable
    return data


def write_spikes(f: h5py.File, spikes: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write ``{population: (node_ids (n,), times_ms (n,))}`` under ``/spikes``, sorted by time (then node id)."""
    group = f.require_group("spikes")
    for pop, (ids, times) in spikes.items():
        ids = np.asarray(ids, dtype=np.uint64)
        times = np.asarray(times, dtype=np.float64)
        order = np.lexsort((ids, times))
        g = group.create_group(pop)
        g.attrs.create("sorting", data=2, dtype=SORTING)
        ts = g.create_dataset("timestamps", data=times[order])
        ts.attrs["units"] = "ms"
        g.create_dataset("node_ids", data=ids[order])
