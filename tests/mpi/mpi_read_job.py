"""Run under ``mpiexec -n N``: every rank opens the same file with ``open_report`` and reads its own cells.

Usage: python mpi_read_job.py FILE. Each rank compares what it reads with a serial read of the whole series made
by the same rank (read-only opens need no MPI-IO); any mismatch fails that rank and so the job.
"""

import sys

import numpy as np
from mpi4py import MPI

from simout_plugins import open_report

path = sys.argv[1]
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
with open_report(path) as r:
    s = r["v"]
    mine = s.node_ids[rank::size]
    comm.Barrier()  # all ranks hold the file open at once
    frame = s.get(node_ids=mine, scaled=False)
    whole = s.get(scaled=False)
    cols = np.flatnonzero(np.isin(whole.node_ids, mine))
    order = np.argsort(np.argsort(mine))  # frame follows the order of `mine`, which is table order
    assert np.array_equal(frame.node_ids, whole.node_ids[cols]), (frame.node_ids, whole.node_ids[cols], order)
    np.testing.assert_array_equal(frame.data, whole.data[:, cols])
    spikes = r.spikes(node_ids=mine[np.isin(mine, r.spikes().node_ids)])
    assert np.isin(spikes.node_ids, mine).all()
got = comm.allreduce(frame.node_ids.size)
assert got == whole.node_ids.size, (got, whole.node_ids.size)
