"""Run under ``mpiexec -n N``: every rank adds its share of a known potential; the file holds the sum.

Usage: python ecp_writer_job.py OUT.nwb SEED. The total (T, C) potential is drawn from SEED; rank r contributes the
parts of it that belong to "its cells" (the total split into N random summands), so the sum over ranks is the total.
"""

import sys

import numpy as np
from mpi4py import MPI

from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

path, seed = sys.argv[1], int(sys.argv[2])
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
rng = np.random.default_rng(seed)
total = rng.normal(size=(53, 5))
weights = rng.dirichlet(np.ones(size))  # the same on every rank
mine = total * weights[rank]
probe = make_probe(name="ecp", positions_um=np.c_[np.zeros(5), np.arange(5.0), np.zeros(5)], method="test")
with ElectricalSeriesWriter(path, probes=[probe], n_steps=53, dt_ms=0.1, dtype="float64", comm=comm) as w:
    for s in range(0, 53, 10):
        w.write_block(s, mine[s : s + 10])
if rank == 0:
    np.save(path + ".expected.npy", total)
