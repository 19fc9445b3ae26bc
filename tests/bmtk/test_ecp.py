"""nwb_ecp_report: the extracellular potential in NWB equals BMTK's native ``extracellular`` report (ecp.h5).

One serial and one 2-rank run of the session's network, each with the native module and ours side by side (the same
simulation, so the same membrane currents), plus the NWB form, validation and nwbinspector on the files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pynwb
import pytest

from .conftest import run_bmtk, run_env

pytestmark = [pytest.mark.simulator, pytest.mark.slow]

JOB = Path(__file__).with_name("ecp_script_job.py")
N_CHANNELS = 16
SUBSET = [0, 3, 7, 15]
META = {
    "session_description": "ECP of the test network",
    "experiment_description": "BMTK network, simulated linear probe",
    "experimenter": ["Doe, Jane"],
    "institution": "simout_plugins tests",
    "lab": "simout_plugins",
    "keywords": ["simulation", "ECP"],
    "subject": {"subject_id": "model-1", "species": "Mus musculus", "sex": "U", "age": "P90D",
                "description": "In silico model (not an animal)."},
}  # fmt: skip


def write_electrodes(path: Path, n: int = N_CHANNELS) -> Path:
    """BMTK's electrode file: a linear probe along y through the network (space-separated, with a header)."""
    lines = ["channel x_pos y_pos z_pos"] + [f"{i} 10.0 {-300.0 + 40.0 * i} 5.0" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def reports(electrodes: Path) -> dict:
    ours = {"module": "nwb_ecp_report", "electrode_positions": str(electrodes), "cells": "all"}
    return {
        "native": {"module": "extracellular", "electrode_positions": str(electrodes), "file_name": "ecp.h5",
                   "cells": "all", "contributions_dir": "native_cells"},
        "ecp64": {**ours, "file_name": "ecp64.nwb", "dtype": "float64", "contributions_dir": "cells"},
        "ecp32": {**ours, "file_name": "ecp32.nwb"},
        "subset": {**ours, "file_name": "subset.nwb", "dtype": "float64", "electrode_channels": SUBSET},
        "probe": {**ours, "file_name": "meta.nwb", "location": "VISp", "nwb_metadata": META},
    }  # fmt: skip


def run_script(config: Path, n_ranks: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(JOB), str(config)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    env = run_env()
    env["LD_PRELOAD"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=config.parent)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def electrodes(bmtk_network) -> Path:
    return write_electrodes(bmtk_network.root / "electrodes.csv")


@pytest.fixture(scope="module")
def ecp_serial(bmtk_network, electrodes) -> Path:
    out = bmtk_network.root / "ecp_serial"
    run_bmtk(bmtk_network.config(out, reports(electrodes)))  # python -m bmtk_module run
    return out


@pytest.fixture(scope="module")
def ecp_mpi(bmtk_network, electrodes) -> Path:
    pytest.importorskip("mpi4py")
    if not (Path(sys.prefix) / "bin" / "mpiexec").exists():
        pytest.skip("mpiexec not found in this environment")
    out = bmtk_network.root / "ecp_mpi2"
    run_script(bmtk_network.config(out, reports(electrodes)), n_ranks=2)  # a user's run script, under mpiexec
    return out


def native(out: Path) -> np.ndarray:
    with h5py.File(out / "ecp.h5", "r") as h5:
        return h5["ecp/data"][()]


def ours(path: Path, name: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return h5[f"acquisition/{name}/data"][()]


def test_float64_equals_native(ecp_serial):
    ref = native(ecp_serial)
    got = ours(ecp_serial / "ecp64.nwb", "ecp64")
    assert got.dtype == np.float64 and got.shape == ref.shape == (1000, N_CHANNELS)
    assert np.abs(ref).max() > 1e-3  # a real signal (mV), not zeros
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)


def contributions(out: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Native per-cell files (``<gid>.h5``, gid order) and ours (``<population>_<node_id>.nwb``, same order here:
    bionet's gids run through the populations cortex, thalamus by node id)."""
    native_files = sorted((out / "native_cells").glob("*.h5"), key=lambda p: int(p.stem))
    ours_files = sorted(
        (out / "cells").glob("*.nwb"), key=lambda p: (p.stem.rsplit("_", 1)[0], int(p.stem.rsplit("_", 1)[1]))
    )
    native_data = []
    for path in native_files:
        with h5py.File(path, "r") as h5:
            native_data.append(h5["ecp/data"][()])
    return native_data, [ours(path, "ecp64") for path in ours_files]


def test_per_cell_contributions_equal_native(ecp_serial):
    native_cells, our_cells = contributions(ecp_serial)
    assert len(our_cells) == len(native_cells) == 16  # the biophysical cells; the 30 virtual inputs are skipped
    for expected, got in zip(native_cells, our_cells):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    total = ours(ecp_serial / "ecp64.nwb", "ecp64")
    np.testing.assert_allclose(sum(our_cells), total, rtol=1e-9, atol=1e-12 * np.abs(total).max())


def test_float32_is_native_rounded(ecp_serial):
    ref = native(ecp_serial)
    got = ours(ecp_serial / "ecp32.nwb", "ecp32")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=np.finfo(np.float32).eps, atol=0)


def test_channel_subset(ecp_serial):
    got = ours(ecp_serial / "subset.nwb", "subset")
    np.testing.assert_allclose(got, native(ecp_serial)[:, SUBSET], rtol=1e-9, atol=0)
    with pynwb.NWBHDF5IO(ecp_serial / "subset.nwb", "r") as io:
        assert list(io.read().electrodes["channel_id"][:]) == SUBSET


def test_nwb_form_and_time_base(ecp_serial, electrodes):
    with pynwb.NWBHDF5IO(ecp_serial / "ecp64.nwb", "r") as io:
        f = io.read()
        es = f.acquisition["ecp64"]
        assert isinstance(es, pynwb.ecephys.ElectricalSeries)
        assert es.unit == "volts" and es.conversion == 1e-3  # values as computed, in mV
        # BMTK's row k is the value after step k: t = (k + 1) * dt
        assert es.starting_time == pytest.approx(1e-4) and es.rate == pytest.approx(1e4)
        df = f.electrodes.to_dataframe()
        table = np.loadtxt(electrodes, skiprows=1)
        np.testing.assert_array_equal(df[["x", "y", "z"]].to_numpy(), table[:, 1:])
        np.testing.assert_array_equal(df["channel_id"], table[:, 0].astype(int))
        assert set(df["location"]) == {"simulated"}
        assert "0.3 S/m" in f.electrode_groups["ecp64"].description
        assert "Simulated probe" in f.devices["ecp64 device"].description
        assert '"extracellular"' in f.source_script or "extracellular" in f.source_script  # provenance: the config
        assert pynwb.validate(io=io) == []


@pytest.mark.parametrize("config", [None, "dandi"])
def test_nwbinspector_clean_with_metadata(ecp_serial, config):
    nwbinspector = pytest.importorskip("nwbinspector")
    found = list(
        nwbinspector.inspect_nwbfile(
            nwbfile_path=ecp_serial / "meta.nwb",
            config=nwbinspector.load_config(config) if config else None,
            importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
        )
    )
    assert found == []


@pytest.mark.mpi
def test_two_ranks_equal_one_rank_and_native(ecp_serial, ecp_mpi):
    one = ours(ecp_serial / "ecp64.nwb", "ecp64")
    two = ours(ecp_mpi / "ecp64.nwb", "ecp64")
    scale = np.abs(one).max()
    # the ranks' sums are added in another order than one rank's: equal to rounding
    np.testing.assert_allclose(two, one, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(two, native(ecp_mpi), rtol=1e-9, atol=0)
    np.testing.assert_allclose(ours(ecp_mpi / "subset.nwb", "subset"), native(ecp_mpi)[:, SUBSET], rtol=1e-9)
    native_cells, our_cells = contributions(ecp_mpi)  # each rank wrote its own cells' files
    assert len(our_cells) == len(native_cells) == 16
    for expected, got in zip(native_cells, our_cells):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
