"""Shared fixtures. Nothing here (or in any test) writes into the working directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


@pytest.fixture(autouse=True)
def _no_cwd_writes(tmp_path, monkeypatch):
    """Run every test from its own tmp dir so a stray relative path cannot land in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def nwb_path(tmp_path) -> Path:
    return tmp_path / "out.nwb"


@pytest.fixture
def small_layout() -> dict:
    """Counts [3, 0, 2]: includes a cell with zero compartments."""
    return dict(
        node_ids=[0, 1, 5],
        counts=[3, 0, 2],
        number=[0, 1, 2, 0, 3],
        position=[0.5, 0.5, 0.5, 0.1, 0.9],
        label=["soma", "dend", "dend", "apic", "apic"],
    )


def mpiexec() -> list[str]:
    """The mpiexec of this environment (the ``mpich`` wheel's), or skip when MPI is not installed."""
    pytest.importorskip("mpi4py")
    exe = Path(sys.prefix) / "bin" / "mpiexec"
    if not exe.exists():
        pytest.skip("mpiexec not found in this environment (pip install 'simout_plugins[mpi]')")
    return [str(exe), "-n", "2"]


def mpi_env() -> dict:
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env
