"""One MPI library per process: NEURON, mpi4py (and h5py with MPI-IO) share it under ``mpiexec -n 2``.

On Linux NEURON loads the system's ``libmpi.so`` before ``MPI_LIB_NRN_PATH``; once a system MPICH is installed
(``make install-mpio`` installs one), the default install's mpi4py, built for the ``mpich`` wheel's library,
cannot load. ``tests.conftest.mpi_env`` preloads this environment's library, the BMTK runner loads
``MPI_LIB_NRN_PATH`` itself, and otherwise the error names the libraries loaded and the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins import mpi
from tests.conftest import REPO, mpi_env, mpiexec

JOB = """
import json, sys
mode, out = sys.argv[1], sys.argv[2]
if mode == "bmtk":  # the BMTK runner's own set-up: MPI_LIB_NRN_PATH loaded before NEURON looks for MPI
    from bmtk_module.mpi import init_neuron_mpi
    init_neuron_mpi()
from neuron import h
h.nrnmpi_init()
pc = h.ParallelContext()
from simout_plugins.mpi import loaded_mpi_libraries, neuron_comm
result = {"rank": int(pc.id()), "nhost": int(pc.nhost())}
try:
    comm = neuron_comm(result["nhost"], hint="(test job)")
    result["size"] = comm.Get_size()
    result["sum"] = comm.allreduce(comm.Get_rank() + 1)
    result["pc_sum"] = pc.allreduce(pc.id() + 1, 1)
    if mode == "mpio":  # parallel HDF5 in the same process: each rank writes its own row, collectively
        import h5py, numpy as np
        with h5py.File(out, "w", driver="mpio", comm=comm) as f:
            d = f.create_dataset("d", (comm.Get_size(), 3), dtype="f8")
            with d.collective:
                d[comm.Get_rank()] = np.full(3, comm.Get_rank() + 1.0)
except RuntimeError as exc:
    result["error"] = str(exc)
result["libs"] = loaded_mpi_libraries()
with open(f"{out}.rank{result['rank']}.json", "w") as f:  # files: mpiexec may join the ranks' stdout lines
    json.dump(result, f)
pc.barrier()  # through NEURON's MPI, which works in every case: no rank exits (ending the job) before all wrote
"""

SYSTEM = "/usr/lib/x86_64-linux-gnu/libmpich.so.12.2.2"
WHEEL = "/home/u/proj/.venv/lib/libmpi.so.12"


def maps_text(*paths: str) -> str:
    """Lines in the format of /proc/self/maps mapping each path (plus unrelated ones)."""
    lines = [
        "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1 /usr/bin/python3.11",
        "7f0000000000-7f0000001000 rw-p 0 0:0 0",
    ]
    for i, path in enumerate(paths):
        lines.append(f"7f10{i:08x}000-7f10{i:08x}fff r-xp 00001000 08:01 {100 + i}  {path}")
        lines.append(f"7f20{i:08x}000-7f20{i:08x}fff r--p 00002000 08:01 {100 + i}  {path}")
    return "\n".join(lines) + "\n"


def run_job(tmp_path: Path, mode: str, env: dict) -> list[dict]:
    job = tmp_path / "mpi_env_job.py"
    job.write_text(JOB)
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))}
    cmd = [*mpiexec(), sys.executable, str(job), mode, str(tmp_path / "mpio.h5")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("mpio.h5.rank*.json"))]
    assert len(results) == 2, f"{' '.join(cmd)} ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return sorted(results, key=lambda r: r["rank"])


def assert_one_library(results: list[dict]) -> None:
    own = mpi.venv_mpi_library()
    for r in results:
        assert "error" not in r, r["error"]
        assert (r["nhost"], r["size"], r["sum"], r["pc_sum"]) == (2, 2, 3, 3), r
        assert len({os.path.realpath(p) for p in r["libs"]}) == 1, r["libs"]
        if own is not None:
            assert os.path.realpath(r["libs"][0]) == os.path.realpath(own), (r["libs"], own)


def env_without_preload() -> dict:
    env = mpi_env()
    env.pop("LD_PRELOAD", None)
    return env


def system_libmpi() -> str | None:
    """The file the loader finds for ``libmpi.so`` (what NEURON tries first on Linux), None without a system MPI."""
    code = (
        "import ctypes, os\nfrom simout_plugins.mpi import loaded_mpi_libraries as libs\n"
        "try:\n    ctypes.CDLL('libmpi.so')\nexcept OSError:\n    pass\n"
        "print(os.path.realpath(libs()[0]) if libs() else '')"
    )
    env = env_without_preload()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return proc.stdout.strip() or None


# ---------------------------------------------------------------------------------------------------- 2-rank jobs
@pytest.mark.mpi
def test_two_ranks_share_one_mpi_library(tmp_path):
    """NEURON joins, mpi4py sees the same 2 ranks, and one MPI library is loaded (with or without a system MPI)."""
    assert_one_library(run_job(tmp_path, "plain", mpi_env()))


@pytest.mark.mpi
def test_bmtk_runner_loads_mpi_lib_nrn_path_itself(tmp_path):
    """``python -m bmtk_module run`` needs no LD_PRELOAD: it loads MPI_LIB_NRN_PATH before NEURON looks for MPI."""
    assert_one_library(run_job(tmp_path, "bmtk", env_without_preload()))


@pytest.mark.mpi
@pytest.mark.mpio
def test_two_ranks_write_one_file_with_mpio(tmp_path):
    """NEURON joined, then h5py's MPI-IO driver on mpi4py's communicator: each rank writes its row collectively."""
    assert_one_library(run_job(tmp_path, "mpio", mpi_env()))
    with h5py.File(tmp_path / "mpio.h5", "r") as f:
        np.testing.assert_array_equal(f["d"][()], [[1.0] * 3, [2.0] * 3])


@pytest.mark.mpi
def test_system_mpi_without_preload_names_the_libraries(tmp_path):
    """The default install with a system MPI and no preload: the error names both libraries and the fix."""
    own = mpi.venv_mpi_library()
    if own is None or own.is_symlink():
        pytest.skip("this environment uses the system MPI (make install-mpio): no second MPI library to clash with")
    system = system_libmpi()
    if system is None or system == os.path.realpath(own):
        pytest.skip("no system MPI (libmpi.so) on the loader's path: NEURON cannot load a second MPI library here")
    for r in run_job(tmp_path, "plain", env_without_preload()):
        assert r["nhost"] == 2  # NEURON joined MPI through the system's library ...
        assert [os.path.realpath(p) for p in r["libs"]] == [system]
        message = r["error"]  # ... and mpi4py, built for the wheel's, cannot load: the error says what to do
        assert "mpi4py, which is installed, cannot load" in message and system in message
        assert f"LD_PRELOAD={own}" in message and "make install-mpio" in message
        assert "pip install 'simout_plugins[mpi]'" not in message


# ---------------------------------------------------------------------------------------------------- messages
def test_loaded_mpi_libraries_reads_maps_text():
    text = maps_text(SYSTEM, "/usr/lib/x86_64-linux-gnu/libmpichcxx.so.12.2.2", "/opt/my mpi/lib/libmpi.so.40.30.1")
    text += f"7f3000000000-7f3000001000 r-xp 0 08:01 9 {WHEEL} (deleted)\n"
    assert mpi.loaded_mpi_libraries(text) == [SYSTEM, "/opt/my mpi/lib/libmpi.so.40.30.1", WHEEL]
    assert mpi.loaded_mpi_libraries(maps_text()) == []
    assert mpi.mpi_library_clash(maps_text(SYSTEM)) is None
    assert mpi.mpi_library_clash(maps_text()) is None


def test_two_libraries_are_a_clash():
    message = mpi.mpi_library_clash(maps_text(WHEEL, SYSTEM))
    assert message is not None
    assert f"2 MPI libraries are loaded in this process: {WHEEL}, {SYSTEM}" in message


def test_clash_message_names_the_loaded_library_and_the_fix(tmp_path):
    """What the default install says when NEURON took the system MPICH (the colleague's measurement)."""
    venv = tmp_path / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "lib" / "libmpi.so.12").write_bytes(b"")  # the `mpich` wheel's library
    exc = ImportError("libmpi.so.12: cannot open shared object file: No such file or directory")
    message = mpi.mpi4py_failure(exc, maps=maps_text(SYSTEM), prefix=venv)
    assert "mpi4py, which is installed, cannot load (ImportError: libmpi.so.12: cannot open shared object" in message
    assert f"MPI libraries loaded in this process: {SYSTEM}." in message
    assert f"This environment's mpi4py uses {venv / 'lib' / 'libmpi.so.12'}, but NEURON loaded another" in message
    assert f"LD_PRELOAD={venv / 'lib' / 'libmpi.so.12'} {venv / 'bin' / 'mpiexec'} -n N" in message
    assert "make install-mpio" in message
    assert "pip install" not in message


def test_clash_message_in_the_mpio_environment(tmp_path):
    """Where <venv>/lib/libmpi.so.12 links the system MPICH (make install-mpio): no advice to go there."""
    target = tmp_path / "libmpich.so.12"
    target.write_bytes(b"")
    venv = tmp_path / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "lib" / "libmpi.so.12").symlink_to(target)
    message = mpi.mpi4py_failure(ImportError("x"), maps=maps_text(str(target), WHEEL), prefix=venv)
    assert "Two MPI libraries in one process cannot work together" in message
    assert "NEURON loaded another" not in message  # its own library is among those loaded
    assert "make install-mpio" not in message and f"LD_PRELOAD={venv / 'lib' / 'libmpi.so.12'}" in message


def test_clash_message_without_a_library_of_its_own(tmp_path):
    message = mpi.mpi4py_failure(ImportError("x"), maps=maps_text(SYSTEM), prefix=tmp_path)
    assert f"MPI libraries loaded in this process: {SYSTEM}." in message
    assert "--no-binary=mpi4py" in message


def test_neuron_comm_on_an_mpi4py_that_cannot_load(monkeypatch):
    """mpi4py installed but built for another MPI: not the 'pip install' advice, but what failed and the fix."""
    broken = types.ModuleType("mpi4py")

    def __getattr__(name):
        raise ImportError("libmpi.so.12: cannot open shared object file: No such file or directory")

    broken.__getattr__ = __getattr__
    monkeypatch.setitem(sys.modules, "mpi4py", broken)
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError, match="mpi4py, which is installed, cannot load") as info:
        mpi.neuron_comm(2, hint="x")
    assert "MPI libraries loaded in this process:" in str(info.value)
    assert "pip install 'simout_plugins[mpi]'" not in str(info.value)


def test_neuron_comm_without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"needs mpi4py: pip install 'simout_plugins\[mpi\]'"):
        mpi.neuron_comm(2, hint="x")


def test_bmtk_refuses_an_mpi_lib_nrn_path_that_does_not_exist():
    """NEURON would silently load the system's libmpi.so instead: the runner says which setting is wrong."""
    from bmtk_module.mpi import preload_mpi_library

    preload_mpi_library(None)  # nothing named, nothing done
    with pytest.raises(RuntimeError, match=r"MPI_LIB_NRN_PATH=/nonexistent/libmpi\.so\.12 does not exist; set it"):
        preload_mpi_library("/nonexistent/libmpi.so.12")
