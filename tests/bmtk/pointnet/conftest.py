"""PointNet (NEST) runs for the tests: the network (built once per session), the report entries, the run helper."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO, run_env
from .network import build_point_network, point_config

# without nest-simulator (pip install 'simout_plugins[pointnet]') the PointNet tests are not collected
collect_ignore_glob = [] if importlib.util.find_spec("nest") is not None else ["test_*.py"]

JOB = Path(__file__).with_name("run_job.py")


def nwb(variable, cells="all", **extra) -> dict:
    return {"module": "nwb_compartment_report", "variable_name": variable, "cells": cells, "sections": "soma", **extra}


def native(variable, cells, **extra) -> dict:
    return {"module": "multimeter_report", "variable_name": variable, "cells": cells, "sections": "soma", **extra}


CORTEX = {"population": "cortex"}
REPORTS = {
    "native_cortex": native("V_m", CORTEX, file_name="native_cortex.h5"),
    "native_lgn_v": native("V_m", "lgn", file_name="native_lgn_v.h5"),
    "native_lgn_g": native("g_ex", "lgn", file_name="native_lgn_g.h5"),
    "native_win": native("V_m", CORTEX, file_name="native_win.h5", tstart=10.0, tstop=40.0, interval=0.5),
    "nwb_cortex": nwb("V_m", cells="cortex", file_name="cortex.nwb", dtype="float64", spikes=True),
    "nwb_all32": nwb("V_m", file_name="all32.nwb"),
    "nwb_lgn": nwb(["V_m", "g_ex"], cells="lgn", file_name="lgn.nwb", dtype="float64"),
    "nwb_win": nwb("V_m", cells=CORTEX, file_name="win.nwb", dtype="float64", start_time=10.0, end_time=40.0, dt=0.5),
    "nwb_some": nwb("V_m", cells={"population": "cortex", "node_id": [3, 1, 12]}, file_name="some.nwb"),
}


def run_job(config: Path, *, runner: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    cmd = (
        [sys.executable, "-m", "bmtk_module", "run", str(config)] if runner else [sys.executable, str(JOB), str(config)]
    )
    result = subprocess.run(cmd, env=run_env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def point_root(tmp_path_factory) -> Path:
    return build_point_network(tmp_path_factory.mktemp("point_net"))


@pytest.fixture(scope="session")
def point_run(point_root) -> Path:
    out = point_root / "plain"
    run_job(point_config(point_root, out, REPORTS))
    return out


@pytest.fixture(scope="session")
def point_run_chunked(point_root) -> Path:
    """The same run in BMTK blocks of 73 steps (7.3 ms: not a whole number of NEST min_delay slices), 2 threads."""
    out = point_root / "chunked"
    ours = {name: entry for name, entry in REPORTS.items() if name.startswith("nwb_")}
    run_job(point_config(point_root, out, ours, run={"block_run": True, "block_size": 73, "n_thread": 2}))
    return out
