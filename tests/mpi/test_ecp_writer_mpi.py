"""2 ranks' contributions to an ElectricalSeries are summed into the file (one Reduce per block)."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pynwb
import pytest

from tests.conftest import mpi_env, mpiexec

JOB = Path(__file__).with_name("ecp_writer_job.py")


@pytest.mark.mpi
@pytest.mark.parametrize("interval", ["1", "0"], ids=["flush-1s", "flush-every-block"])
def test_two_ranks_sum_their_contributions(tmp_path, interval):
    out = tmp_path / "ecp.nwb"
    result = subprocess.run(
        [*mpiexec(), sys.executable, str(JOB), str(out), "5", "alone", interval],
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


@pytest.mark.mpi
@pytest.mark.parametrize(("mode", "interval"), [("host-first", "1"), ("host-first", "0"), ("host-later", "1")])
def test_two_ranks_into_a_compartment_writers_file(tmp_path, mode, interval):
    """The ECP series join a CompartmentSeriesWriter's file on either sink (MPI-IO in .venv-mpio, gather otherwise);
    appended after the host's first block only on the gather sink (an MPI-IO file is open on every rank)."""
    from simout_plugins.write.sink import h5py_has_mpi

    out = tmp_path / "both.nwb"
    cmd = [*mpiexec(), sys.executable, str(JOB), str(out), "7", mode, interval]
    result = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300)
    if mode == "host-later" and h5py_has_mpi():
        assert result.returncode != 0
        assert "open the ElectricalSeriesWriter before the host's first block" in result.stderr
        assert not out.exists()
        return
    assert result.returncode == 0, result.stderr
    assert ("SINK mpio" if h5py_has_mpi() else "SINK gather") in result.stdout
    expected, v = np.load(str(out) + ".expected.npy"), np.load(str(out) + ".v.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        np.testing.assert_allclose(f.acquisition["ecp"].data[:], expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(f.acquisition["v"].data[:], v)
        assert list(f.electrodes["channel_id"][:]) == [0, 1, 2, 3, 4]
        assert pynwb.validate(io=io) == []
    with h5py.File(out, "r") as h5:  # the close flush counted every step of both writers' series
        assert h5["acquisition/ecp/data"].attrs["simout_steps_written"] == 53
        assert h5["acquisition/v/data"].attrs["simout_steps_written"] == 53
