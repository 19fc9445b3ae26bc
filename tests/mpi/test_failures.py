"""A failure on one rank ends the whole 2-rank job quickly, says which rank and why, and never clobbers the output.

Each case runs ``tests/mpi/failure_job.py`` under ``mpiexec -n 2`` with a timeout well above the 30 s the job is
allowed: a hang fails the test instead of blocking the run.
"""

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins.nwb.attrs import STEPS_WRITTEN_ATTR
from tests.conftest import mpi_env, mpiexec

JOB = Path(__file__).with_name("failure_job.py")
OLD = b"an earlier run's output, which no failed run may touch"
SINKS = [
    "gather",
    pytest.param("mpio", marks=pytest.mark.mpio),
]


def run_job(out: Path, case: str, rank: int, sink: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    try:
        result = subprocess.run(
            [*mpiexec(2), sys.executable, str(JOB), str(out), case, str(rank), sink],
            capture_output=True,
            text=True,
            env=mpi_env(),
            timeout=90,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the job hung (killed after 90 s): {exc.stderr!r}")
    return result, time.monotonic() - t0


def open_when_released(path: Path, wait_s: float = 10.0) -> h5py.File:
    """Open with h5py once the killed ranks are gone (mpiexec may return while they still hold the file lock)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return h5py.File(path, "r")
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def check_partial(out: Path, *, min_steps: int) -> int:
    """The partial file reads with h5py; its flushed steps hold the job's values. Returns the steps written."""
    partial = out.with_name(f"{out.stem}.partial.nwb")
    assert partial.exists()
    with open_when_released(partial) as f:
        data = f["acquisition/v/data"]
        written = int(data.attrs[STEPS_WRITTEN_ATTR])
        ids = f["acquisition/compartments/node_id"][()]
        idx = f["acquisition/compartments/number_index"][()]
        values = data[:written]
    assert written >= min_steps
    col_ids = np.repeat(ids, np.diff(np.concatenate([[0], idx])))
    expected = (np.arange(written)[:, None] * 1000.0 + col_ids[None, :]).astype(np.float32)
    np.testing.assert_array_equal(values, expected)
    return written


@pytest.mark.mpi
@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("rank", [0, 1])
def test_an_error_on_one_rank_inside_with_ends_the_job(tmp_path, sink, rank):
    out = tmp_path / "v.nwb"
    out.write_bytes(OLD)
    result, elapsed = run_job(out, "raise-in-with", rank, sink)
    assert result.returncode != 0
    assert elapsed < 30, f"the job took {elapsed:.1f} s to end"
    assert f"rank {rank} of 2 failed: RuntimeError: simulated simulator failure at step 200" in result.stderr
    assert "MPI_Abort" in result.stderr
    assert out.read_bytes() == OLD
    check_partial(out, min_steps=0 if sink == "mpio" else 200)


@pytest.mark.mpi
@pytest.mark.parametrize("sink", SINKS)
def test_an_uncaught_error_outside_the_writer_ends_the_job(tmp_path, sink):
    out = tmp_path / "v.nwb"
    result, elapsed = run_job(out, "raise-outside", 1, sink)
    assert result.returncode != 0
    assert elapsed < 30
    assert "rank 1 of 2 failed: RuntimeError: simulated failure after the writer closed" in result.stderr
    assert out.exists()  # the writer had finished: its file is complete


@pytest.mark.mpi
@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("case", ["unknown-series", "bad-shape"])
def test_errors_the_writer_detects_are_raised_on_every_rank(tmp_path, sink, case):
    out = tmp_path / "v.nwb"
    out.write_bytes(OLD)
    result, elapsed = run_job(out, case, 1, sink)
    assert result.returncode != 0
    assert elapsed < 30
    # every rank raises ValueError (rank 0 names rank 1); nobody aborts: the job ends as Python exits
    assert result.stderr.count("ValueError") >= 2, result.stderr
    assert "on rank 1: write_block" in result.stderr
    assert "MPI_Abort" not in result.stderr
    assert out.read_bytes() == OLD
    check_partial(out, min_steps=0 if sink == "mpio" else 200)


@pytest.mark.mpi
@pytest.mark.parametrize("sink", SINKS)
def test_a_full_disk_on_rank_0_ends_the_job_with_a_clear_error(tmp_path, sink):
    out = tmp_path / "v.nwb"
    out.write_bytes(OLD)
    result, elapsed = run_job(out, "disk-full", 0, sink)
    assert result.returncode != 0
    assert elapsed < 30
    assert "rank 0 of 2 failed: OutputWriteError" in result.stderr, result.stderr
    assert "file-size limit" in result.stderr and str(out.with_name("v.partial.nwb")) in result.stderr
    assert out.read_bytes() == OLD
    # gather: rank 0 flushed the 5 blocks before the limit; MPI-IO: the last flush may be older
    check_partial(out, min_steps=100 if sink == "gather" else 0)


@pytest.mark.mpi
@pytest.mark.parametrize("sink", SINKS)
def test_a_disk_too_full_for_the_structure_fails_on_every_rank_alike(tmp_path, sink):
    out = tmp_path / "v.nwb"
    out.write_bytes(OLD)
    result, elapsed = run_job(out, "disk-full-at-open", 0, sink)
    assert result.returncode != 0
    assert elapsed < 30
    assert result.stderr.count("OutputWriteError") >= 2  # the same error type on both ranks
    assert "could not create" in result.stderr and "file-size limit" in result.stderr
    assert "on rank 0:" in result.stderr
    assert "MPI_Abort" not in result.stderr
    assert out.read_bytes() == OLD
    assert not out.with_name("v.partial.nwb").exists()  # nothing was recorded: no partial file
    assert not list(tmp_path.glob(".*skeleton*"))
