"""MPI-IO sink (parallel HDF5): every rank writes its own columns; the file equals a 1-rank file.

Runs with an h5py built against parallel HDF5 (``make install-mpio``); skipped elsewhere.
"""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import mpi_env, mpiexec
from tests.factories import datasets

JOB = Path(__file__).with_name("mpi_writer_job.py")
READ_JOB = Path(__file__).with_name("mpi_read_job.py")

pytestmark = [
    pytest.mark.mpi,
    pytest.mark.mpio,
    pytest.mark.skipif(not h5py.get_config().mpi, reason="h5py without parallel HDF5 (make install-mpio)"),
]


def _run(n_ranks: int, *args: str) -> None:
    cmd = [*mpiexec()[:-1], str(n_ranks), sys.executable, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("n_ranks", "sink", "deal"),
    [
        (2, "mpio", "round-robin"),
        (3, "mpio", "round-robin"),
        (3, "mpio", "last-empty"),
        (2, "mpio-selection", "round-robin"),
        (3, "mpio-selection", "last-empty"),
        (2, "auto", "round-robin"),
    ],
)
def test_mpio_file_equals_one_rank_file(tmp_path, n_ranks, sink, deal):
    one, many = tmp_path / "one.nwb", tmp_path / "many.nwb"
    subprocess.run([sys.executable, str(JOB), str(one), "5"], check=True, env=mpi_env(), timeout=120)
    _run(n_ranks, str(JOB), str(many), "5", sink, deal)
    a, b = datasets(one), datasets(many)
    assert set(a) == set(b)
    for name in a:
        if isinstance(a[name], np.ndarray) and a[name].dtype.kind == "f":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        else:
            assert np.array_equal(a[name], b[name]), name
    with h5py.File(many) as f:
        assert f["acquisition/v/data"].attrs["simout_steps_written"] == 23
        assert f["acquisition/v/data"].chunks == h5py.File(one)["acquisition/v/data"].chunks


def test_every_rank_reads_its_own_cells(tmp_path):
    path = tmp_path / "one.nwb"
    subprocess.run([sys.executable, str(JOB), str(path), "7"], check=True, env=mpi_env(), timeout=120)
    _run(3, str(READ_JOB), str(path), "7")
