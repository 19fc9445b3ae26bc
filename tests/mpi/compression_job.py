"""Run under ``mpiexec -n N`` (or alone): the MPI writer job's data written with ``compression`` / ``precision``.

Usage: python compression_job.py OUT.nwb SEED SINK COMPRESSION PRECISION BLOCK. Every rank builds the same global
data from SEED and keeps its cells (dealt round-robin); COMPRESSION is a writer ``compression`` string or "none",
PRECISION an int or "none", BLOCK the steps per ``write_block`` (blocks that do not fill the chunks make HDF5 read
back, decompress and rewrite filtered chunks).
"""

import sys

import numpy as np
from mpi4py import MPI

from simout_plugins import CompartmentSeriesWriter, build_compartments

path, seed, sink, compression, precision, block = sys.argv[1:7]
seed, block = int(seed), int(block)
compression = None if compression == "none" else compression
precision = None if precision == "none" else int(precision)
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
rng = np.random.default_rng(seed)  # 150 cells, 0-60 compartments each (~4500 columns: several chunk columns)
node_ids = rng.permutation(1000)[:150]
counts = rng.integers(0, 61, node_ids.size)
offsets = np.concatenate([[0], np.cumsum(counts)])
n_cols, n_steps = int(offsets[-1]), 300
data = (-65.0 + np.cumsum(rng.normal(0.0, 0.3, (n_steps, n_cols)), axis=0)).astype(np.float32)  # mV-like traces
mine = np.arange(node_ids.size)[rank::size]
cols = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in mine]).astype(int) if mine.size else []
comps = build_compartments(
    node_ids=node_ids[mine],
    counts=counts[mine],
    number=np.arange(n_cols)[cols] % 7,
    position=np.linspace(0, 1, n_cols)[cols],
)
local = data[:, cols]
with CompartmentSeriesWriter(
    path,
    compartments=comps,
    name="v",
    n_steps=n_steps,
    dt_ms=0.1,
    comm=comm,
    sink=sink if size > 1 else "auto",
    compression=compression,
    precision=precision,
    overwrite=True,
    flush_interval_s=0,
    nwb_metadata={"identifier": "mpi-compression", "session_start_time": "2020-01-01T00:00:00+00:00"},
) as w:
    w.add_series(name="v2", unit="mV", dtype="float64")
    for s0 in range(0, n_steps, block):
        w.write_block(s0, local[s0 : s0 + block])
        w.write_block(s0, 2.0 * local[s0 : s0 + block], series="v2")
    if size > 1:
        assert w.sink_kind == ("mpio" if sink.startswith("mpio") else "gather"), w.sink_kind
