"""Run under ``mpiexec -n N``: random layouts split over the ranks, each rank writes its own cells.

Usage: python layout_fuzz_job.py OUT_DIR SINK CASE [CASE ...]. CASE is a seed, for which every rank builds the same
case with ``tests.layout_cases.random_case(SEED, N)`` (numpy only), or a name of ``tests.layout_cases.named_case``.
Each rank writes its share to ``OUT_DIR/<CASE>.nwb`` with ``sink=SINK`` and checks which sink the writer took; the
test compares the files with what it expects.
"""

import sys
from pathlib import Path

import h5py
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.layout_cases

from tests.layout_cases import named_case, random_case, write_part  # noqa: E402

out, sink, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
comm = MPI.COMM_WORLD
size = comm.Get_size()
for name in names:
    case = random_case(int(name), size) if name.isdigit() else named_case(name, size)
    kind = write_part(case, out / f"{name}.nwb", comm, sink=sink)
    if size > 1:  # "auto" takes MPI-IO exactly when h5py has parallel HDF5
        want = {"auto": "mpio" if h5py.get_config().mpi else "gather", "gather": "gather"}.get(sink, "mpio")
        assert kind == want, (name, sink, kind)
