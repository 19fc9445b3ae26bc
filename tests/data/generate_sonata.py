"""Writers of small SONATA reports and spike files in the styles found in the wild (used by the SONATA tests).

- ``"bmtk"``: BMTK 1.2 — ``mapping/index_pointer``, no ``units``, float64 data, ``variable`` attribute, element_pos.
- ``"libsonatareport"``: Neurodamus / CoreNEURON — ``index_pointers``, ``units`` on data and time, float32, no
  element_pos, uint32 element ids.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_report(path: Path, pops: dict[str, dict], *, style: str = "bmtk", time=(0.0, 1.0, 0.1)) -> Path:
    """Write ``pops`` = ``{name: {"node_ids", "counts", "element_ids", "element_pos" (optional), "data"}}``."""
    with h5py.File(path, "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        for name, p in pops.items():
            g = f.create_group(f"report/{name}")
            m = g.create_group("mapping")
            m.create_dataset("node_ids", data=np.asarray(p["node_ids"], dtype=np.uint64))
            offsets = np.concatenate([[0], np.cumsum(p["counts"])]).astype(np.uint64)
            m.create_dataset("index_pointer" if style == "bmtk" else "index_pointers", data=offsets)
            el_dtype = np.uint64 if style == "bmtk" else np.uint32
            m.create_dataset("element_ids", data=np.asarray(p["element_ids"], dtype=el_dtype))
            if p.get("element_pos") is not None:
                m.create_dataset("element_pos", data=np.asarray(p["element_pos"], dtype=np.float64))
            t = m.create_dataset("time", data=np.asarray(time, dtype=np.float64))
            data = g.create_dataset("data", data=p["data"])
            if style == "bmtk":
                data.attrs["variable"] = "v"
            else:
                data.attrs["units"] = "mV"
                t.attrs["units"] = "ms"
    return path


def simple_pops(*, n_rows: int = 10, dtype="float64", seed: int = 0, element_pos: bool = True) -> dict:
    """Two populations with overlapping node ids (cortex 0..2, thalamus 0..1), ragged counts with a zero."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, ids, counts in (("cortex", [0, 1, 2], [2, 0, 3]), ("thalamus", [0, 1], [1, 2])):
        n = int(sum(counts))
        out[name] = {
            "node_ids": ids,
            "counts": counts,
            "element_ids": np.arange(n) % 3,
            "element_pos": rng.random(n) if element_pos else None,
            "data": rng.normal(-65, 5, (n_rows, n)).astype(dtype),
        }
    return out


def write_spikes(path: Path, spikes: dict[str, tuple], *, compress: bool = False) -> Path:
    """``{population: (node_ids, times_ms)}`` as a SONATA spike file (BMTK style: sorting "none" as text)."""
    opts = {"compression": "gzip"} if compress else {}
    with h5py.File(path, "w") as f:
        for pop, (ids, times) in spikes.items():
            g = f.create_group(f"spikes/{pop}")
            g.attrs["sorting"] = "none"
            g.create_dataset("node_ids", data=np.asarray(ids, dtype=np.int64), **opts)
            ts = g.create_dataset("timestamps", data=np.asarray(times, dtype=np.float64), **opts)
            ts.attrs["units"] = "ms"
    return path
