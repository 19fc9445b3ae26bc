"""Run under ``mpiexec -n N``: every rank adds its share of a known potential; the file holds the sum.

Usage: python ecp_writer_job.py OUT.nwb SEED [alone | host-first | host-later [FLUSH_INTERVAL_S]]. The total (T, C)
potential is drawn from SEED;
rank r contributes the parts of it that belong to "its cells" (the total split into N random summands), so the sum
over ranks is the total. With ``host-*`` the series go into the file of a CompartmentSeriesWriter (sink "auto": MPI-IO
where h5py has MPI) whose own rows are rank r's cell r: opened before the host starts (``host-first``: the probes join
the host's structure) or after the host's first block (``host-later``: appended; refused with an MPI-IO host).
FLUSH_INTERVAL_S is the ECP writer's (default 1 s; 0: a collective flush after every block).
"""

import sys

import numpy as np
from mpi4py import MPI

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

path, seed = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "alone"
interval = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
rng = np.random.default_rng(seed)
total = rng.normal(size=(53, 5))
weights = rng.dirichlet(np.ones(size))  # the same on every rank
mine = total * weights[rank]
v = rng.normal(size=(53, 2 * size))  # the host's series: 2 columns per rank (rank r: cell r)
probe = make_probe(name="ecp", positions_um=np.c_[np.zeros(5), np.arange(5.0), np.zeros(5)], method="test")
kw = dict(probes=[probe], n_steps=53, dt_ms=0.1, dtype="float64", comm=comm, flush_interval_s=interval)
if mode == "alone":
    with ElectricalSeriesWriter(path, **kw) as w:
        for s in range(0, 53, 10):
            w.write_block(s, mine[s : s + 10])
            if interval == 0:  # flushed and counted at every block, the same on every rank
                assert w.steps_flushed == {"ecp": min(s + 10, 53)}
else:
    comps = build_compartments(node_ids=[rank], counts=[2], number=[0, 1], position=[0.5, 0.5])
    with CompartmentSeriesWriter(path, compartments=comps, name="v", n_steps=53, dt_ms=0.1, dtype="float64",
                                 comm=comm, overwrite=True) as host:  # fmt: skip
        if mode == "host-later":
            host.write_block(0, v[:10, 2 * rank : 2 * rank + 2])
        with ElectricalSeriesWriter(path, host=host, **kw) as w:
            w.open()  # host-first: starts the host too, with the probes in its structure
            if rank == 0:
                sys.stdout.write(f"SINK {host.sink_kind}\n")
            for s in range(0, 53, 10):
                if mode == "host-first" or s:
                    host.write_block(s, v[s : s + 10, 2 * rank : 2 * rank + 2])
                w.write_block(s, mine[s : s + 10])
                if interval == 0:
                    assert w.steps_flushed == {"ecp": min(s + 10, 53)}
if rank == 0:
    np.save(path + ".expected.npy", total)
    np.save(path + ".v.npy", v)
