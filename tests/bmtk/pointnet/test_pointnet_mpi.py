"""PointNet (NEST) on 2 MPI ranks: NEST splits the cells over its processes, each rank records its own, and the file
equals the 1-rank file (same rows in the same order, same values, same spikes) and BMTK's native multimeter_report of
the same 2-rank run. Both routes: ``mpiexec -n 2 python -m bmtk_module run config.json`` and a run script.

The PyPI ``nest-simulator`` wheel has no MPI: these tests skip, with the reason, unless the running venv's NEST
sees 2 processes under ``mpiexec -n 2`` (``make install-nestmpi``, then ``make test-nestmpi``).
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

from ...conftest import mpi_env, mpiexec
from ..conftest import REPO, run_env
from .conftest import CORTEX, JOB, native, nwb, run_job
from .network import point_config
from .test_pointnet import assert_matches_native

pytestmark = [pytest.mark.mpi, pytest.mark.simulator]

REPORTS = {
    "native_cortex": native("V_m", CORTEX, file_name="native_cortex.h5"),
    "native_lgn_g": native("g_ex", "lgn", file_name="native_lgn_g.h5"),
    "nwb_cortex": nwb("V_m", cells="cortex", file_name="cortex.nwb", dtype="float64", spikes=True),
    "nwb_all32": nwb("V_m", file_name="all32.nwb", spikes=True),
    "nwb_lgn": nwb(["V_m", "g_ex"], cells="lgn", file_name="lgn.nwb", dtype="float64"),
    "nwb_some": nwb("V_m", cells={"population": "cortex", "node_id": [3, 1, 12]}, file_name="some.nwb"),
    "nwb_gzip": nwb("V_m", cells="cortex", file_name="gzip.nwb", dtype="float64", compression="gzip"),
    "nwb_counts": nwb("V_m", cells="cortex", file_name="counts.nwb", compression="lzf", precision=3),
}
FILES = ("cortex.nwb", "all32.nwb", "lgn.nwb", "some.nwb", "gzip.nwb", "counts.nwb")


@functools.cache
def nest_processes() -> int:
    """``nest.NumProcesses()`` under ``mpiexec -n 2`` in this venv (1 for the PyPI wheel, which has no MPI)."""
    code = "import nest; print('NumProcesses', nest.NumProcesses())"
    result = subprocess.run(
        [*mpiexec(2), sys.executable, "-c", code], env=mpi_env(), capture_output=True, text=True, timeout=120
    )
    found = re.findall(r"^NumProcesses (\d+)$", result.stdout, flags=re.M)
    return min((int(n) for n in found), default=0)


@pytest.fixture(scope="module", autouse=True)
def _nest_has_mpi():
    if nest_processes() != 2:
        pytest.skip("this venv's NEST has no MPI (the PyPI wheel): make install-nestmpi, then make test-nestmpi")


def run_mpi(config: Path, *, runner: bool) -> subprocess.CompletedProcess:
    args = ["-m", "bmtk_module", "run", str(config)] if runner else [str(JOB), str(config)]
    cmd = [*mpiexec(2), sys.executable, *args]
    env = {**run_env(), **mpi_env()}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    if result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def one_rank(point_root) -> Path:
    out = point_root / "mpi_one_rank"
    run_job(point_config(point_root, out, REPORTS))
    return out


@pytest.fixture(scope="module", params=["script", "runner"])
def two_ranks(request, point_root) -> tuple[Path, subprocess.CompletedProcess]:
    out = point_root / f"mpi_two_ranks_{request.param}"
    result = run_mpi(point_config(point_root, out, REPORTS), runner=request.param == "runner")
    return out, result


def test_nest_splits_the_cells_over_both_ranks(two_ranks, request):
    """Each rank records the cells NEST placed on it (none of the 19 twice, none left out); the files say 2 ranks."""
    out, result = two_ranks
    with h5py.File(out / "all32.nwb") as f:
        assert json.loads(f["general/notes"][()])["mpi_ranks"] == 2
    if "runner" in request.node.callspec.id:  # the runner logs at INFO (a user's script configures no logging)
        counts = [int(n) for n in re.findall(r"report 'nwb_all32': (\d+) cells x 1 variables", result.stderr)]
        assert len(counts) == 2 and sum(counts) == 15 + 4 and min(counts) > 0, result.stderr[-3000:]


@pytest.mark.parametrize("name", FILES)
def test_two_rank_file_equals_one_rank_file(one_rank, two_ranks, name):
    out, _ = two_ranks
    with open_report(one_rank / name) as a, open_report(out / name) as b:
        assert a.series_names == b.series_names
        for series in a.series_names:
            x, y = a[series].get(scaled=False), b[series].get(scaled=False)
            assert x.data.dtype == y.data.dtype
            np.testing.assert_array_equal(x.data, y.data)
            np.testing.assert_array_equal(x.node_ids, y.node_ids)
            np.testing.assert_array_equal(x.columns["population"], y.columns["population"])
            np.testing.assert_allclose(a[series].times, b[series].times, rtol=0, atol=0)
    with h5py.File(one_rank / name) as f, h5py.File(out / name) as g:
        np.testing.assert_array_equal(f["acquisition/compartments/id"][()], g["acquisition/compartments/id"][()])
        assert f["acquisition/V_m/data"].compression == g["acquisition/V_m/data"].compression


@pytest.mark.parametrize("name", ["cortex.nwb", "all32.nwb"])
def test_spikes_of_both_ranks(one_rank, two_ranks, name):
    out, _ = two_ranks
    with open_report(one_rank / name) as a, open_report(out / name) as b, h5py.File(out / "spikes.h5") as nat:
        x, y = a.spikes(), b.spikes()
        key = [sorted(zip(s.node_ids.tolist(), s.times.tolist())) for s in (x, y)]
        assert key[0] and key[0] == key[1]
        g = nat["spikes/cortex"]
        theirs = sorted(zip(g["node_ids"][()].tolist(), np.round(g["timestamps"][()], 6).tolist()))
        cortex = [(n, round(t * 1000.0, 6)) for n, t, p in zip(y.node_ids, y.times, y.population) if p == "cortex"]
        assert sorted(cortex) == theirs


def test_two_rank_files_equal_native_multimeter(two_ranks):
    out, _ = two_ranks
    assert_matches_native(out / "cortex.nwb", out / "native_cortex.h5")
    assert_matches_native(out / "lgn.nwb", out / "native_lgn_g.h5", series="g_ex")
    assert_matches_native(out / "all32.nwb", out / "native_cortex.h5", float32=True)
    with open_report(out / "counts.nwb") as r, h5py.File(out / "native_cortex.h5") as nat:
        volts = r["V_m"].get().data
        assert np.abs(volts * 1e3 - nat["report/cortex/data"][()]).max() <= 1e-3 + 1e-9


def test_two_rank_files_validate(two_ranks):
    from pynwb import validate

    out, _ = two_ranks
    for name in FILES:
        assert not validate(path=str(out / name)), name


def test_bad_entry_on_two_ranks_is_one_error_and_no_hang(point_root):
    """A recordable NEST's model lacks: every rank stops at the same collective check, no file, no hang."""
    out = point_root / "mpi_bad"
    config = point_config(point_root, out, {"bad": nwb("V_mm", cells="cortex", file_name="bad.nwb")})
    cmd = [*mpiexec(2), sys.executable, "-m", "bmtk_module", "run", str(config)]
    result = subprocess.run(cmd, env={**run_env(), **mpi_env()}, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode != 0
    assert "variable_name 'V_mm' is not a recordable of NEST model 'iaf_psc_alpha'" in result.stderr
    assert not list(out.glob("*.nwb"))
