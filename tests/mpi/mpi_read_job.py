"""Run under ``mpiexec -n N``: every rank opens the same file with ``open_report`` and reads its own cells.

Usage: python mpi_read_job.py FILE SEED. FILE was written by ``mpi_writer_job.py FILE SEED``; each rank rebuilds the
data from SEED (``tests.factories.mpi_job_data``) and checks that what it reads for its cells (raw values,
compartment rows, spikes) equals what was written. Any mismatch fails that rank and so the job.
"""

import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from simout_plugins import open_report

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.factories
from tests.factories import mpi_job_data  # noqa: E402

path, seed = sys.argv[1], int(sys.argv[2])
job = mpi_job_data(seed)
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
order = np.argsort(job["node_ids"], kind="stable")  # the file keeps cells in node-id order
mine = job["node_ids"][order][rank::size]
with open_report(path) as r:
    comm.Barrier()  # all ranks hold the file open at once
    frame = r["v"].get(node_ids=mine, scaled=False)
    spikes = r.spikes(node_ids=mine)
cells = [int(np.flatnonzero(job["node_ids"] == n)[0]) for n in mine]
cols = [np.arange(job["offsets"][i], job["offsets"][i + 1]) for i in cells]
cols = np.concatenate(cols).astype(int) if cols else np.zeros(0, dtype=int)
np.testing.assert_array_equal(frame.data, job["data"][:, cols])
np.testing.assert_array_equal(frame.node_ids, np.repeat(mine, job["counts"][cells]))
np.testing.assert_array_equal(frame.number, job["number"][cols])
np.testing.assert_array_equal(frame.position, job["position"][cols])
on_mine = np.isin(job["spike_ids"], mine)
expected = sorted(zip(job["spike_ids"][on_mine].tolist(), (job["spike_t"][on_mine] / 1000.0).tolist()))
got = sorted(zip(spikes.node_ids.tolist(), spikes.times.tolist()))
assert [n for n, _ in got] == [n for n, _ in expected], (got, expected)
np.testing.assert_allclose([t for _, t in got], [t for _, t in expected], rtol=0, atol=1e-12)
assert comm.allreduce(frame.data.shape[1]) == job["data"].shape[1]
