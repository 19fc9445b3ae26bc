"""2-rank MPI runs of the writer give the same datasets as a 1-rank run (cells dealt round-robin)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import mpi_env, mpiexec
from tests.factories import datasets

JOB = Path(__file__).with_name("mpi_writer_job.py")


@pytest.mark.mpi
@pytest.mark.parametrize("seed", [3, 11])
def test_two_ranks_write_the_same_file_as_one(tmp_path, seed):
    one, two = tmp_path / "one.nwb", tmp_path / "two.nwb"
    env = mpi_env()
    subprocess.run([sys.executable, str(JOB), str(one), str(seed)], check=True, env=env, timeout=120)
    result = subprocess.run(
        [*mpiexec(), sys.executable, str(JOB), str(two), str(seed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    a, b = datasets(one), datasets(two)
    assert set(a) == set(b)
    assert "acquisition/v/data" in a and "units/spike_times" in a
    for name in a:
        if isinstance(a[name], np.ndarray) and a[name].dtype.kind == "f":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        else:
            assert np.array_equal(a[name], b[name]), name
    # and the data are the job's data, in node-id order
    ids = a["acquisition/compartments/id"]
    assert np.all(np.diff(ids) > 0)
    assert not np.isnan(a["acquisition/v/data"]).any()
