"""BMTK's extracellular report (``ecp.h5``) ⇄ NWB ``ElectricalSeries``, lossless and streamed in time blocks.

BMTK's file (``bionet/modules/ecp.py``): ``/ecp/data`` (time, channel), float64, ``units`` = ``"mV"``;
``/ecp/time`` = ``[start, stop, dt]`` in ms; ``/ecp/channel_id``. Row k is the value after step k, at
``start + (k + 1) * dt`` (the module's ``step`` runs after each ``fadvance``), so the NWB series starts at
``start + dt``; the way back subtracts it again. The electrode positions are not in ``ecp.h5``: give BMTK's electrode
file (``electrodes=``) to store them, else they are NaN. Values are copied as stored (dtype and mV kept, NWB
``conversion = 1e-3``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import FileFormatError
from ..nwb import make_probe
from ..read.ecp import find_ecp
from ..read.validate import guard, open_file
from ..write import ElectricalSeriesWriter, OutputPath

__all__ = ["ecp_to_nwb", "nwb_to_ecp", "is_bmtk_ecp"]

logger = logging.getLogger(__name__)
_BLOCK_BYTES = 64 << 20
METHOD = "Converted from BMTK's extracellular report (ecp.h5): line-source transfer resistances, sigma = 0.3 S/m."


def is_bmtk_ecp(path: str | os.PathLike) -> bool:
    """True when ``path`` is an HDF5 file with BMTK's ``/ecp/data`` and ``/ecp/time``."""
    with open_file(path) as f, guard(os.fspath(path)):
        return isinstance(f.get("ecp/data"), h5py.Dataset) and isinstance(f.get("ecp/time"), h5py.Dataset)


def _electrode_positions(path: os.PathLike, channel_ids: np.ndarray) -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(path, sep=r"\s+", engine="python")
    missing = [c for c in ("x_pos", "y_pos", "z_pos") if c not in table.columns]
    if missing:
        raise ValueError(f"electrode file '{path}' lacks the column(s) {missing} (header: {list(table.columns)})")
    ids = table["channel"].to_numpy() if "channel" in table.columns else np.arange(len(table))
    row = {int(c): i for i, c in enumerate(ids)}
    absent = [int(c) for c in channel_ids if int(c) not in row]
    if absent:
        raise ValueError(f"electrode file '{path}' has no channel(s) {absent[:10]} of the ecp file")
    return table[["x_pos", "y_pos", "z_pos"]].to_numpy(dtype=np.float64)[[row[int(c)] for c in channel_ids]]


def ecp_to_nwb(
    *,
    ecp: str | os.PathLike,
    out: str | os.PathLike,
    electrodes: str | os.PathLike | None = None,
    name: str = "ecp",
    location: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert BMTK's ``ecp.h5`` to an NWB file with one ElectricalSeries (``name``) over its channels.

    Parameters
    ----------
    ecp : str or os.PathLike
        BMTK's extracellular report.
    out : str or os.PathLike
        Output ``.nwb``; nothing is left there when the conversion fails.
    electrodes : str or os.PathLike, optional
        BMTK's electrode file (``electrode_positions`` of the report) for the channel positions (µm).
    name : str
        Series and probe name.
    location : str, optional
        Brain area of the channels (default ``"simulated"``).
    metadata : dict, optional
        NWBFile fields.
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    src = os.fspath(ecp)
    with open_file(src) as f:
        with guard(src, "/ecp"):
            data, time = f.get("ecp/data"), f.get("ecp/time")
            if not isinstance(data, h5py.Dataset) or data.ndim != 2 or not isinstance(time, h5py.Dataset):
                raise FileFormatError(src, "is not BMTK's extracellular report (/ecp/data (time, channel), /ecp/time)")
            start, _stop, dt = (float(x) for x in time[()][:3])
            ids_ds = f.get("ecp/channel_id")
            ids = ids_ds[()].astype(np.int64) if isinstance(ids_ds, h5py.Dataset) else np.arange(data.shape[1])
            unit = data.attrs.get("units", "mV")
            unit = unit.decode() if isinstance(unit, bytes) else str(unit)
        positions = None if electrodes is None else _electrode_positions(electrodes, ids)
        probe = make_probe(name=name, positions_um=positions, channel_ids=ids, method=METHOD, location=location,
                           description=f"Channels of {Path(src).name}")  # fmt: skip
        n_t, n_c = data.shape
        per_block = max(1, _BLOCK_BYTES // max(1, n_c * data.dtype.itemsize))
        meta = {"session_description": f"BMTK extracellular report {Path(src).name}", **(metadata or {})}
        with ElectricalSeriesWriter(
            out, probes=[probe], n_steps=n_t, dt_ms=dt, tstart_ms=start + dt, unit=unit, dtype=data.dtype,
            nwb_metadata=meta, overwrite=overwrite, block_steps=min(per_block, n_t) or None,
            comments="Sample k is row k of BMTK's ecp.h5: the value after step k, at t = starting_time + k / rate.",
        ) as w:  # fmt: skip
            for s in range(0, n_t, per_block):
                with guard(src, data.name):
                    block = data[s : s + per_block]
                w.write_block(s, block)
    logger.info("converted %s to %s (%d samples x %d channels)", src, out, n_t, n_c)
    return Path(out)


def nwb_to_ecp(
    *, nwb: str | os.PathLike, out: str | os.PathLike, series: str | None = None, overwrite: bool = False
) -> Path:
    """Write an NWB ElectricalSeries as BMTK's ``ecp.h5`` (``/ecp/data`` in mV, ``/ecp/time``, ``/ecp/channel_id``).

    Parameters
    ----------
    nwb : str or os.PathLike
    out : str or os.PathLike
        Output ``.h5``; nothing is left there when the conversion fails.
    series : str, optional
        The ElectricalSeries (default the file's only / first one).
    overwrite : bool

    Raises
    ------
    ValueError
        No such series, or a series not on a regular grid.
    """
    src = os.fspath(nwb)
    target = OutputPath(out, suffix=Path(out).suffix or ".h5")
    target.check(overwrite=overwrite, inputs=[src], require_suffix=None)
    with open_file(src) as f:
        found = find_ecp(f, path=src)
        if not found or (series is not None and series not in found):
            raise ValueError(f"'{src}' has no ElectricalSeries {series or ''}; it has {list(found)}")
        reader = found[series or next(iter(found))]
        if reader.rate is None:
            raise ValueError(f"series '{reader.name}' has timestamps, not a rate: BMTK's ecp.h5 needs a regular grid")
        dt = 1000.0 / reader.rate
        to_mv = reader.conversion * 1e3  # stored value -> mV (1.0 for our files: stored as computed, in mV)
        n_t = min(reader.n_steps_written, reader.shape[0])
        start = reader.starting_time * 1000.0 - dt
        with target.staged() as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs["magic"] = np.uint32(0x0A7A)  # BMTK's add_hdf5_magic / add_hdf5_version
            h5.attrs["version"] = [np.uint32(0), np.uint32(1)]
            per_block = max(1, _BLOCK_BYTES // max(1, reader.n_channels * 8))
            out_data = h5.create_dataset("ecp/data", (n_t, reader.n_channels), dtype=np.float64, chunks=True)
            out_data.attrs["units"] = "mV"
            for s in range(0, n_t, per_block):
                block = reader.rows(s, min(n_t, s + per_block))
                out_data[s : s + block.shape[0]] = block if to_mv == 1.0 else block * to_mv
            h5.create_dataset("ecp/time", data=np.array([start, start + n_t * dt, dt]))
            h5["ecp/time"].attrs["units"] = "ms"
            h5.create_dataset("ecp/channel_id", data=reader.channel_ids)
    logger.info("converted %s ('%s') to %s", src, reader.name, out)
    return Path(out)
