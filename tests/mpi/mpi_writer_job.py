"""Run under ``mpiexec -n N``: cells dealt round-robin to ranks, each rank writes its own columns.

Usage: python mpi_writer_job.py OUT.nwb SEED [SINK [DEAL]]. Every rank builds the same global data from SEED and
keeps its cells; the test compares the file with a 1-rank file of the same data. SINK is the writer's ``sink``
option (default "auto"); DEAL "round-robin" (default) or "last-empty" (the last rank gets no cells).
"""

import sys
from pathlib import Path

import h5py
import numpy as np
from mpi4py import MPI

from simout_plugins import CompartmentSeriesWriter, build_compartments

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.factories
from tests.factories import mpi_job_data  # noqa: E402

path, seed = sys.argv[1], int(sys.argv[2])
sink = sys.argv[3] if len(sys.argv) > 3 else "auto"
deal = sys.argv[4] if len(sys.argv) > 4 else "round-robin"
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
job = mpi_job_data(seed)
node_ids, counts, offsets = job["node_ids"], job["counts"], job["offsets"]
number, position, data = job["number"], job["position"], job["data"]
spike_ids, spike_t = job["spike_ids"], job["spike_t"]
n_cells, n_steps = node_ids.size, data.shape[0]

if deal == "last-empty" and size > 1:
    mine = np.arange(n_cells)[rank :: size - 1] if rank < size - 1 else np.zeros(0, dtype=int)
else:
    mine = np.arange(n_cells)[rank::size]  # round-robin, as BMTK and NetPyNE deal cells
cols = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in mine]).astype(int) if mine.size else []
comps = build_compartments(
    node_ids=node_ids[mine],
    counts=counts[mine],
    number=number[cols],
    position=position[cols],
    label=[f"sec{n}" for n in number[cols]],
    cell_columns={"cell_type": np.array([f"type{i % 2}" for i in node_ids[mine]], dtype=object)},
)
local = data[:, cols]
with CompartmentSeriesWriter(
    path,
    compartments=comps,
    name="v",
    n_steps=n_steps,
    dt_ms=0.1,
    tstart_ms=1.0,
    comm=comm,
    sink=sink if size > 1 else "auto",
    nwb_metadata={"identifier": "mpi-test", "session_start_time": "2020-01-01T00:00:00+00:00"},
) as w:
    w.add_series(name="v2", unit="mV", dtype="float64")
    for s0 in range(0, n_steps, 5):
        w.write_block(s0, local[s0 : s0 + 5])
        w.write_block(s0, 2.0 * local[s0 : s0 + 5], series="v2")
    on_rank = np.isin(spike_ids, node_ids[mine])
    w.add_spikes(node_ids=spike_ids[on_rank], times_ms=spike_t[on_rank], units_node_ids=node_ids[mine])
    if size > 1:  # "auto" takes MPI-IO exactly when h5py has parallel HDF5
        auto = "mpio" if h5py.get_config().mpi else "gather"
        assert w.sink_kind == {"gather": "gather", "auto": auto}.get(sink, "mpio"), (sink, w.sink_kind)
