"""Compression and precision on both sinks: a 2-rank file equals the 1-rank file after decompression.

The MPI-IO cases need h5py built against parallel HDF5 (``make install-mpio``: HDF5 1.10.8 writes filtered chunks
collectively); the gather cases run with any MPI.
"""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import mpi_env, mpiexec
from tests.factories import datasets

JOB = Path(__file__).with_name("compression_job.py")

pytestmark = [pytest.mark.mpi]
needs_mpio = [
    pytest.mark.mpio,
    pytest.mark.skipif(not h5py.get_config().mpi, reason="h5py without parallel HDF5 (make install-mpio)"),
]


def _run(n_ranks: int, *args: str) -> None:
    cmd = [*mpiexec()[:-1], str(n_ranks), sys.executable, str(JOB), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


CASES = [
    pytest.param("mpio", "gzip", "none", 40, marks=needs_mpio),
    pytest.param("mpio", "lzf", "3", 128, marks=needs_mpio),  # blocks fill whole chunks
    pytest.param("mpio-selection", "gzip:1", "3", 64, marks=needs_mpio),
    pytest.param("gather", "gzip", "3", 40),
    pytest.param("gather", "lzf", "none", 128),
]


@pytest.mark.parametrize(("sink", "compression", "precision", "block"), CASES)
def test_two_ranks_equal_one_rank_after_decompression(tmp_path, sink, compression, precision, block):
    one, two = tmp_path / "one.nwb", tmp_path / "two.nwb"
    args = ["7", sink, compression, precision, str(block)]
    subprocess.run([sys.executable, str(JOB), str(one), *args], check=True, env=mpi_env(), timeout=300)
    _run(2, str(two), *args)
    a, b = datasets(one), datasets(two)
    assert set(a) == set(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    codec = compression.split(":")[0]
    with h5py.File(one) as f, h5py.File(two) as g:
        for series in ("v", "v2"):
            x, y = f[f"acquisition/{series}/data"], g[f"acquisition/{series}/data"]
            assert x.compression == y.compression == codec and y.shuffle
            assert y.dtype == (np.int32 if precision != "none" else x.dtype)
            assert y.attrs["simout_steps_written"] == 300
            assert y.id.get_storage_size() < 0.9 * y.size * y.dtype.itemsize  # compressed
