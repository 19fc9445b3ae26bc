"""Run under ``mpiexec -n 2``: one rank fails in a chosen way while the other goes on; the job must end.

Usage: python failure_job.py OUT.nwb CASE RANK SINK

CASE:
- ``raise-in-with``: RANK raises (a bug in user code / a simulator error) between two blocks inside ``with``;
- ``raise-outside``: RANK raises after its writer closed while the other rank waits in a barrier (no writer
  around: the uncaught-exception hook must end the job);
- ``unknown-series``: RANK writes a block to a series that does not exist (the writer detects it collectively:
  every rank raises ValueError and exits normally);
- ``bad-shape``: RANK's block has the wrong number of columns (collective, as above);
- ``disk-full``: after 5 blocks, RANK (the gather sink's writer is rank 0) may not write the last 100 kB of the
  file (RLIMIT_FSIZE, as a full disk or quota; the data are allocated at their final size): a block or its
  flush fails with EFBIG;
- ``disk-full-at-open``: RANK may write 20 kB per file: the file's structure cannot be written (collective);
- ``ok``: no failure (the reference run).

The writer flushes after every block (``flush_interval_s=0``), so the partial file of a failed run holds every block
written before the failure (the test checks it); the default policy (at most once a second) is tested in
``tests/unit/test_writer.py`` and ``tests/integration/test_kill_recover.py``.
"""

import os
import resource
import signal
import sys

import numpy as np
from mpi4py import MPI

from simout_plugins import CompartmentSeriesWriter, build_compartments

path, case, bad_rank, sink = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
n_cells, n_steps, block = 40, 400, 20
node_ids = np.arange(rank, n_cells, size)
counts = np.full(node_ids.size, 5)
comps = build_compartments(node_ids=node_ids, counts=counts, number=np.tile(np.arange(5), node_ids.size))
values = (np.arange(n_steps)[:, None] * 1000.0 + np.repeat(node_ids, 5)[None, :]).astype(np.float32)


def limit_file_size(n_bytes: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))


if case == "disk-full-at-open" and rank == bad_rank:
    limit_file_size(20_000)

with CompartmentSeriesWriter(
    path,
    compartments=comps,
    name="v",
    n_steps=n_steps,
    dt_ms=0.1,
    comm=comm,
    sink=sink,
    flush_interval_s=0,
    overwrite=True,
    nwb_metadata={"identifier": "failure-test", "session_start_time": "2020-01-01T00:00:00+00:00"},
) as writer:
    for step0 in range(0, n_steps, block):
        if case == "disk-full" and rank == bad_rank and step0 == 5 * block:
            limit_file_size(os.path.getsize(writer.path.with_name(f"{writer.path.stem}.partial.nwb")) - 100_000)
        if step0 == 10 * block and rank == bad_rank:
            if case == "raise-in-with":
                raise RuntimeError(f"simulated simulator failure at step {step0}")
            if case == "unknown-series":
                writer.write_block(step0, values[step0 : step0 + block], series="no-such-series")
            if case == "bad-shape":
                writer.write_block(step0, values[step0 : step0 + block, :-1])
        writer.write_block(step0, values[step0 : step0 + block])
if case == "raise-outside" and rank == bad_rank:
    raise RuntimeError("simulated failure after the writer closed")
comm.Barrier()
