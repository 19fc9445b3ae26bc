"""The reader's results in the analysis tools users already know: xarray, pandas and dask (optional extras).

- :func:`trace_to_xarray`: a :class:`~simout_plugins.read.reader.TraceFrame` as an ``xarray.DataArray`` with dims
  ``(time, compartment)``, time in seconds, and each compartment's cell address and place as coordinates;
- :func:`spikes_to_pandas`: a :class:`~simout_plugins.read.reader.SpikeFrame` as a ``pandas.DataFrame``, one row
  per spike;
- :func:`series_to_dask`: a whole series as a lazy ``dask.array`` chunked as on disk, which reads nothing until it
  is computed (local or remote files alike), for out-of-core reductions.

None of the three libraries is imported until one of these functions is called; a missing one raises an
ImportError naming the extra that installs it (``pip install "simout_plugins[analysis]"``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

# The frames and the series reader call these functions (lazily), so this module names their types in words only:
# importing them here, even for type checking, would close an import circle.

__all__ = ["ANALYSIS_EXTRA", "require", "trace_to_xarray", "spikes_to_pandas", "series_to_dask"]

#: the optional-dependency group that installs xarray, pandas and dask
ANALYSIS_EXTRA = "analysis"


def require(module: str, *, feature: str) -> ModuleType:
    """Import an optional dependency, or raise one ImportError saying what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(
            f'{feature} needs {top}, which is not installed: pip install "simout_plugins[{ANALYSIS_EXTRA}]" '
            f"(or pip install {top})"
        ) from exc


def trace_to_xarray(frame: Any, *, name: str | None = None) -> Any:
    """A TraceFrame as an ``xarray.DataArray``.

    Parameters
    ----------
    frame : TraceFrame
        ``data`` shape (n_t, n_cols).
    name : str, optional
        Name of the DataArray (e.g. the series name).

    Returns
    -------
    xarray.DataArray
        dims ``("time", "compartment")``; coords ``time`` (n_t,) in seconds, and per compartment (n_cols,):
        ``node_id``, ``population``, ``cell_id``, ``number``, ``position``, ``label`` (those the file has), plus
        the frame's other per-column values; ``attrs["unit"]`` is the unit of the values.
    """
    xr = require("xarray", feature="TraceFrame.to_xarray()")
    n_cols = frame.data.shape[1]
    per_col: dict[str, np.ndarray | None] = {
        "node_id": frame.node_ids,
        "population": frame.population,
        "cell_id": frame.cell_ids,
        "number": frame.number,
        "position": frame.position,
        "label": frame.label,
    }
    for key, values in frame.columns.items():
        per_col.setdefault(key, values)
    coords: dict[str, Any] = {"time": ("time", np.asarray(frame.times, dtype=np.float64), {"units": "s"})}
    for key, values in per_col.items():
        if values is not None and np.shape(values) == (n_cols,):
            coords[key] = ("compartment", np.asarray(values))
    return xr.DataArray(frame.data, dims=("time", "compartment"), coords=coords, name=name, attrs={"unit": frame.unit})


def spikes_to_pandas(frame: Any) -> Any:
    """A SpikeFrame as a ``pandas.DataFrame``: one row per spike.

    Returns
    -------
    pandas.DataFrame
        Columns ``population`` (str; absent for files without populations), ``node_id`` (int64), ``time``
        (float64, seconds) and ``cell_id`` (int64, when the file has global ids), in the frame's order.
    """
    pd = require("pandas", feature="SpikeFrame.to_pandas()")
    cols: dict[str, np.ndarray] = {}
    if frame.population is not None:
        cols["population"] = np.asarray(frame.population, dtype=object)
    cols["node_id"] = np.asarray(frame.node_ids, dtype=np.int64)
    cols["time"] = np.asarray(frame.times, dtype=np.float64)
    if frame.cell_ids is not None:
        cols["cell_id"] = np.asarray(frame.cell_ids, dtype=np.int64)
    return pd.DataFrame(cols)


def series_to_dask(series: Any, dataset: Any, *, scaled: bool = True) -> Any:
    """A whole series as a lazy ``dask.array.Array`` of shape (n_steps_written, n_compartments).

    Parameters
    ----------
    series : SeriesReader
        Gives the valid length (``n_steps_written``), ``conversion`` and ``offset``.
    dataset : h5py.Dataset
        The series' ``data``, shape (n_t, n_compartments); its chunks become the dask chunks (one task per HDF5
        chunk; an unchunked dataset is split in blocks of about 64 MiB along time).
    scaled : bool
        SI values (``data * conversion + offset``, float64) if True, the stored values if False.

    Returns
    -------
    dask.array.Array
        Nothing is read until it is computed.
    """
    da = require("dask.array", feature="SeriesReader.to_dask()")
    n_t = int(series.n_steps_written)
    n_c = int(dataset.shape[1])
    if dataset.chunks is not None:
        chunks = dataset.chunks
    else:
        rows = max(1, (64 << 20) // max(1, n_c * dataset.dtype.itemsize))
        chunks = (rows, n_c)
    arr = da.from_array(dataset, chunks=chunks, lock=True, asarray=True, inline_array=True)[:n_t]
    if not scaled:
        return arr
    out = arr.astype(np.float64) * float(series.conversion)
    return out + float(series.offset) if series.offset else out
