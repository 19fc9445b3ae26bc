"""A failure on one of 2 ranks of a BMTK run ends the job within 30 s with that rank's error; no output clobbered.

- the runner (``python -m bmtk_module run``) whose rank 0, the one writing the NWB file with the gather sink, runs
  out of file space in the middle of the run (``tests/mpi/fsize_launcher.py``: a real EFBIG from the OS);
- a user's run script whose own SimulatorMod raises on rank 1 between two blocks (the uncaught-exception hook).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bmtk.conftest import nwb, run_env
from tests.conftest import mpi_env, mpiexec

pytestmark = [pytest.mark.simulator, pytest.mark.mpi, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
OLD = b"an earlier run's output, which no failed run may touch"


def run_until_end(cmd: list[str], partial: Path, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd``; return its result and the seconds from the partial file's appearance to the job's end."""
    env = {**run_env(), **{k: v for k, v in mpi_env().items() if k in ("LD_PRELOAD", "MPI_LIB_NRN_PATH")}}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    t_start = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if t_start is None and partial.exists():
            t_start = time.monotonic()
        if t_start is not None and time.monotonic() - t_start > 90:
            break
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the job hung (killed): {err[-3000:]}")
    out, err = proc.communicate()
    assert t_start is not None, f"the NWB file was never started: {err[-3000:]}"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.monotonic() - t_start


def keep_dir(tmp_path: Path) -> tuple[Path, Path]:
    """An absolute output path outside BMTK's output folder (BMTK empties that one), holding an old file."""
    keep = tmp_path / "keep"
    keep.mkdir()
    target = keep / "v.nwb"
    target.write_bytes(OLD)
    return target, keep / "v.partial.nwb"


def longer_run(config: Path, tstop_ms: float) -> Path:
    conf = json.loads(config.read_text())
    conf["run"]["tstop"] = tstop_ms
    config.write_text(json.dumps(conf))
    return config


def test_runner_rank0_out_of_file_space_mid_run_ends_the_job(bmtk_network, tmp_path):
    target, partial = keep_dir(tmp_path)
    config = longer_run(bmtk_network.config(tmp_path / "out", {"v": nwb("v", file_name=str(target))}), 1000.0)
    cmd = [
        *mpiexec(2), sys.executable, str(REPO / "tests" / "mpi" / "fsize_launcher.py"), str(partial), "0.5", "0",
        "0", "-m", "bmtk_module", "run", str(config),
    ]  # fmt: skip
    result, elapsed = run_until_end(cmd, partial, tmp_path)
    assert result.returncode != 0
    assert elapsed < 30, f"{elapsed:.1f} s from the file's creation to the job's end"
    assert "rank 0 of 2 failed: OutputWriteError" in result.stderr, result.stderr[-3000:]
    assert "file-size limit" in result.stderr and str(partial) in result.stderr
    assert "failed while writing steps" in result.stderr  # in the middle of the run, not while opening
    assert target.read_bytes() == OLD
    assert partial.exists()


def test_user_module_error_on_rank1_ends_the_job(bmtk_network, tmp_path):
    target, partial = keep_dir(tmp_path)
    config = bmtk_network.config(tmp_path / "out", {"v": nwb("v", file_name=str(target))})
    cmd = [*mpiexec(2), sys.executable, str(Path(__file__).with_name("failing_mod_job.py")), str(config), "1", "450"]
    result, elapsed = run_until_end(cmd, partial, tmp_path)
    assert result.returncode != 0
    assert elapsed < 30
    assert "rank 1 of 2 failed: RuntimeError: user module failed at step 450" in result.stderr, result.stderr[-3000:]
    assert target.read_bytes() == OLD
    assert partial.exists()
