"""A bad report entry stops the run with one clear error before the simulation starts; no output is clobbered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import nwb, run_bmtk, run_env

pytestmark = [pytest.mark.simulator]

CASES = {
    "unknown_variable": (nwb("vv"), ["'bad'", "'vv'"]),
    "variable_missing_in_section": (nwb("m_hh", sections="dend"), ["'bad'", "'m_hh'", "dend["]),
    "unknown_section": (nwb("v", sections=["soma", "dendrite"]), ["'bad'", "'dendrite'"]),
    "unknown_node_set": (nwb("v", cells="pyramidal"), ["'bad'", "'pyramidal'"]),
    "start_after_end": (nwb("v", start_time=50.0, end_time=20.0), ["'bad'", "50.0", "20.0"]),
    "end_outside_run": (nwb("v", end_time=150.0), ["'bad'", "150.0"]),
    "dt_not_multiple": (nwb("v", dt=0.15), ["'bad'", "0.15"]),
    "dtype_not_float": (nwb("v", dtype="int16"), ["'bad'", "int16"]),
    "unknown_key": (nwb("v", buffer=True), ["'bad'", "'buffer'"]),
    "metadata_unknown_key": (nwb("v", nwb_metadata={"experimentor": ["x"]}), ["'bad'", "'experimentor'"]),
    "metadata_bad_subject": (nwb("v", nwb_metadata={"subject": {"sex": "U", "eye": "blue"}}), ["'bad'", "'eye'"]),
    "metadata_bad_date": (nwb("v", nwb_metadata={"session_start_time": "May 1st"}), ["'bad'", "'May 1st'"]),
    "metadata_wrong_type": (nwb("v", nwb_metadata={"keywords": 5}), ["'bad'", "'keywords'", "5"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_report_entry(bmtk_network, case):
    entry, expected = CASES[case]
    out = bmtk_network.root / f"err_{case}"
    keep = bmtk_network.root / f"keep_{case}"  # not the output dir: BMTK empties that ("overwrite_output_dir")
    keep.mkdir(parents=True, exist_ok=True)
    old = keep / "bad.nwb"
    old.write_bytes(b"previous results")
    result = run_bmtk(bmtk_network.config(out, {"bad": {**entry, "file_name": str(old)}}), check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    for text in expected:
        assert text in errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert old.read_bytes() == b"previous results"
    assert not list(keep.glob("*.partial.nwb"))


def test_output_folder_not_writable(bmtk_network, tmp_path):
    out = bmtk_network.root / "err_readonly"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    # root writes through permission bits; /sys is a folder nobody can create files in
    folder = ro if not os.access(ro, os.W_OK) else Path("/sys")
    try:
        result = run_bmtk(bmtk_network.config(out, {"bad": nwb("v", file_name=str(folder / "x.nwb"))}), check=False)
    finally:
        ro.chmod(0o700)
    assert result.returncode == 1 and "not writable" in result.stderr


def test_output_folder_missing(bmtk_network):
    out = bmtk_network.root / "err_missing"
    missing = bmtk_network.root / "no" / "such" / "dir" / "x.nwb"
    result = run_bmtk(bmtk_network.config(out, {"bad": nwb("v", file_name=str(missing))}), check=False)
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert not missing.parent.exists()


@pytest.mark.mpi
def test_refuses_n_silent_copies(bmtk_network):
    """Under mpiexec -n 2 with a NEURON that cannot join MPI, the runner stops instead of running 2 copies."""
    mpiexec = Path(sys.prefix) / "bin" / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("mpiexec not found")
    config = bmtk_network.config(bmtk_network.root / "err_copies", {"v": nwb("v", file_name="v.nwb")})
    env = run_env()
    env["MPI_LIB_NRN_PATH"] = "/nonexistent/libmpi.so.12"
    cmd = [str(mpiexec), "-n", "2", sys.executable, "-m", "bmtk_module", "run", str(config)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert not (bmtk_network.root / "err_copies" / "v.nwb").exists()
