"""2 ranks' contributions to an ElectricalSeries are summed into the file (one Reduce per block)."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import mpi_env, mpiexec

JOB = Path(__file__).with_name("ecp_writer_job.py")


@pytest.mark.mpi
def test_two_ranks_sum_their_contributions(tmp_path):
    out = tmp_path / "ecp.nwb"
    result = subprocess.run(
        [*mpiexec(), sys.executable, str(JOB), str(out), "5"],
        capture_output=True,
        text=True,
        env=mpi_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = np.load(str(out) + ".expected.npy")
    with h5py.File(out, "r") as h5:
        data = h5["acquisition/ecp/data"][()]
        assert h5["acquisition/ecp/data"].attrs["simout_steps_written"] == 53
    np.testing.assert_allclose(data, expected, rtol=1e-12, atol=1e-15)
