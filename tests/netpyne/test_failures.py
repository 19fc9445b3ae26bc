"""A failure on one of 2 NetPyNE ranks in the middle of the run ends the job quickly, naming the rank; no clobbering."""

from __future__ import annotations

import time

import h5py
import pytest

from tests.netpyne.test_netpyne_nwb import FILE, run

pytestmark = [pytest.mark.simulator, pytest.mark.mpi]


@pytest.mark.parametrize("rank", [0, 1])
def test_an_error_on_one_rank_ends_the_job(tmp_path, rank):
    folder = tmp_path / "fail"
    folder.mkdir()
    old = folder / FILE
    old.write_bytes(b"previous results")
    t0 = time.monotonic()
    _, stderr = run(
        tmp_path, "fail", mpi=True, check=False, fail_after_ms=40.0, fail_rank=rank, save_nwb={"intervalMs": 20.0}
    )
    elapsed = time.monotonic() - t0
    assert f"rank {rank} of 2 failed: RuntimeError: simulated failure at t = 40" in stderr, stderr[-3000:]
    assert "MPI_Abort" in stderr
    assert elapsed < 60, f"the 2-rank job took {elapsed:.0f} s (a tiny model; the failing run must end at once)"
    assert old.read_bytes() == b"previous results"
    partial = folder / "tiny.partial.nwb"
    deadline = time.monotonic() + 10
    while True:  # mpiexec may return while the killed ranks still hold the file lock
        try:
            f = h5py.File(partial, "r")
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with f:
        written = f["acquisition/v/data"].attrs["simout_steps_written"]
        # every sink flushes (and counts) at most once a second (flush_interval_s): a short run may have flushed
        # nothing yet, and the count never claims steps past the data
        assert 0 <= written <= f["acquisition/v/data"].shape[0]
