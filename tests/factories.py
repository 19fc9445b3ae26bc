"""Files and data the tests share: small NWB / SONATA files with known contents, the MPI jobs' data, a dataset dump.

Each factory writes a file whose every value the tests know, so they can assert values, not just shapes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.nwb.provenance import provenance_fields

# two populations whose node ids overlap: cortex 0, 1, 2 (3 + 2 + 1 compartments), thalamus 0, 1 (2 + 2)
NODE_IDS = [0, 1, 2, 0, 1]
POPS = ["cortex"] * 3 + ["thalamus"] * 2
COUNTS = [3, 2, 1, 2, 2]
LABELS = ["soma", "dend[0]", "dend[1]", "soma", "dend[0]", "soma", "soma", "axon", "soma", "axon"]
N_STEPS, DT_MS, TSTART_MS = 40, 0.5, 2.0
SPIKES = dict(
    node_ids=[0, 0, 1, 0, 1], times_ms=[3.0, 9.0, 5.0, 4.0, 12.5], population=["cortex"] * 3 + ["thalamus"] * 2
)


def make_nwb(path: Path, *, spikes: bool = True, provenance: bool = True, steps_written: int = N_STEPS) -> Path:
    """Two populations with overlapping node ids, one ``v`` series (value = -65 + 0.1 * step + column, mV), spikes."""
    comps = build_compartments(
        node_ids=NODE_IDS,
        counts=COUNTS,
        population=POPS,
        number=[0, 1, 2, 0, 1, 0, 0, 1, 0, 1],
        position=[0.5] * 10,
        label=LABELS,
    )
    meta = None
    if provenance:
        meta = provenance_fields(
            simulator="neuron", neuron_version="9.0.2", config={"dt": 0.025}, config_file_name="sim.json"
        )
    with CompartmentSeriesWriter(
        path, compartments=comps, n_steps=N_STEPS, dt_ms=DT_MS, tstart_ms=TSTART_MS, unit="mV", nwb_metadata=meta
    ) as w:
        block = -65.0 + np.arange(steps_written)[:, None] * 0.1 + np.arange(10)[None, :]
        w.write_block(0, block)
        if spikes:
            w.add_spikes(**SPIKES)
    return path


def make_sonata_report(path: Path, *, units: bool = True, spelling: str = "index_pointers") -> Path:
    """SONATA report with populations 'a' (nodes 3, 7: 2 + 1 elements) and 'b' (node 3: 2 elements)."""
    tstart, tstop, dt = 0.0, 10.0, 0.5
    n_t = int(round((tstop - tstart) / dt))
    with h5py.File(path, "w") as f:
        for name, node_ids, ptr in (("a", [3, 7], [0, 2, 3]), ("b", [3], [0, 2])):
            g = f.create_group(f"report/{name}")
            n_el = ptr[-1]
            data = g.create_dataset(
                "data", data=(np.arange(n_t)[:, None] + 100 * np.arange(n_el)[None, :]).astype(np.float32)
            )
            m = g.create_group("mapping")
            m.create_dataset("node_ids", data=np.asarray(node_ids, dtype=np.uint64))
            m.create_dataset(spelling, data=np.asarray(ptr, dtype=np.uint64))
            m.create_dataset("element_ids", data=np.arange(n_el, dtype=np.uint32))
            m.create_dataset("element_pos", data=np.full(n_el, 0.5, dtype=np.float32))
            t = m.create_dataset("time", data=np.asarray([tstart, tstop, dt]))
            if units:
                data.attrs["units"] = "mV"
                t.attrs["units"] = "ms"
    return path


def make_sonata_spikes(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        for name, ids, ts in (("a", [3, 7, 3], [1.0, 2.5, 8.0]), ("b", [3], [4.0])):
            g = f.create_group(f"spikes/{name}")
            g.create_dataset("node_ids", data=np.asarray(ids, dtype=np.uint64))
            t = g.create_dataset("timestamps", data=np.asarray(ts))
            t.attrs["units"] = "ms"
            g.attrs["sorting"] = "by_time"
    return path


def make_flat_sonata_spikes(path: Path) -> Path:
    """The pre-population layout: ``/spikes/{gids, timestamps}`` (timestamps in s)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/gids", data=np.asarray([5, 2, 5], dtype=np.uint32))
        f.create_dataset("spikes/timestamps", data=np.asarray([0.001, 0.002, 0.004])).attrs["units"] = "s"
    return path


#: datasets that differ between two runs of the same data (the file's identifier and dates)
IGNORED = {"file_create_date", "identifier", "session_start_time"}


def datasets(path) -> dict:
    """Every dataset of an HDF5 file by path (but :data:`IGNORED`), read whole: for comparing two files."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[-1] not in IGNORED:
            out[name] = obj[()]

    with h5py.File(path) as f:
        f.visititems(visit)
    return out


def mpi_job_data(seed: int) -> dict[str, np.ndarray]:
    """The global data of ``tests/mpi/mpi_writer_job.py`` (and what ``mpi_read_job.py`` checks a read against).

    7 cells with unique node ids in 0..99 and 0-3 compartments each, 23 float32 steps, 15 spikes; every array is
    drawn from ``seed``, so a job on any rank and the checking side rebuild the same values.
    """
    rng = np.random.default_rng(seed)
    n_cells, n_steps = 7, 23
    node_ids = rng.permutation(100)[:n_cells]
    counts = rng.integers(0, 4, n_cells)
    n_comp = int(counts.sum())
    return {
        "node_ids": node_ids,
        "counts": counts,
        "offsets": np.concatenate([[0], np.cumsum(counts)]),
        "number": rng.integers(0, 50, n_comp),
        "position": rng.random(n_comp),
        "data": rng.standard_normal((n_steps, n_comp)).astype(np.float32),
        "spike_ids": rng.choice(node_ids, 15),
        "spike_t": rng.random(15) * 2.3,
    }
