"""Shared fixtures. Nothing here (or in any test) writes into the working directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings


def _load_mpi4py_before_neuron() -> None:
    """Load mpi4py's MPI module before any test module imports NEURON.

    Imported after NEURON in one process, the ``mpich`` wheel's mpi4py no longer finds ``libmpi.so.12`` (NEURON
    changes how the process resolves it); the tests that simulate ranks in threads (tests/threadcomm.py) need
    ``MPI._typedict`` in the pytest process. Real MPI runs are subprocesses and are not affected.
    """
    try:
        from mpi4py import MPI  # noqa: F401  (a 1-process MPI, as BMTK's own import of mpi4py makes in-process)
    except ImportError:
        pass


_load_mpi4py_before_neuron()
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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mpio: tests that need h5py built with MPI (parallel HDF5: make install-mpio, make test-mpio)"
    )


def pytest_collection_modifyitems(config, items):
    """``mpio`` tests skip, with the reason, where h5py has no MPI (the default pip install)."""
    import h5py

    if h5py.get_config().mpi:
        return
    skip = pytest.mark.skip(reason="h5py has no MPI (parallel HDF5): make install-mpio, then make test-mpio")
    for item in items:
        if "mpio" in item.keywords:
            item.add_marker(skip)


def mpiexec(n: int = 2) -> list[str]:
    """``<venv>/bin/mpiexec -n N``, the mpiexec of this environment's MPI, or skip when MPI is not installed.

    The default install gets it from the ``mpich`` wheel; ``make install-mpio`` puts one there that runs Debian's.
    """
    pytest.importorskip("mpi4py")
    exe = Path(sys.prefix) / "bin" / "mpiexec"
    if not exe.exists():
        pytest.skip("mpiexec not found in this environment (pip install 'simout_plugins[mpi]' or make install-mpio)")
    return [str(exe), "-n", str(n)]


def mpi_env() -> dict:
    """Environment for jobs under ``mpiexec``: NEURON, mpi4py (and h5py) on this environment's one MPI library.

    ``<venv>/lib/libmpi.so.12`` (the ``mpich`` wheel's, or the system MPICH linked there by ``make install-mpio``)
    is named in ``MPI_LIB_NRN_PATH`` and preloaded: on Linux NEURON takes the system's ``libmpi.so`` before
    ``MPI_LIB_NRN_PATH``, so once a system MPI is installed it would otherwise load a second MPI library.
    """
    env = dict(os.environ)
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    env["MPI_LIB_NRN_PATH"] = str(lib)
    if lib.exists():
        env["LD_PRELOAD"] = " ".join(filter(None, [str(lib), env.get("LD_PRELOAD", "")]))
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env
