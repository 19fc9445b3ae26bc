"""One small BMTK network per session (built with the example's own set-up code into a tmp dir), run once serially
and once on 2 MPI ranks with every report the tests compare; each run is a ``python -m bmtk_module run`` subprocess
(NEURON keeps global state, so simulations never run inside the pytest process)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bmtk")
pytest.importorskip("neuron")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "bmtk_network"
TSTOP_MS = 100.0
BLOCK_STEP = 300  # BMTK block of 30 ms: the report windows below do not line up with blocks


def load_example_network():
    spec = importlib.util.spec_from_file_location("bmtk_example_network", EXAMPLE / "network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nwb(variable, cells="all", sections="all", **extra) -> dict:
    return {
        "module": "nwb_compartment_report",
        "variable_name": variable,
        "cells": cells,
        "sections": sections,
        **extra,
    }


def native(variable, cells="all", sections="all", **extra) -> dict:
    return {"module": "membrane_report", "variable_name": variable, "cells": cells, "sections": sections, **extra}


WINDOW = {"start_time": 20.0, "end_time": 60.0, "dt": 0.2}
REPORTS = {
    "native_all": native("v", file_name="native_all.h5"),
    "nwb_all64": nwb("v", file_name="all64.nwb", dtype="float64", spikes=True),
    "nwb_all32": nwb("v", file_name="all32.nwb"),
    "native_soma": native("v", sections="soma", file_name="native_soma.h5"),
    "nwb_soma": nwb("v", sections="soma", file_name="soma.nwb", dtype="float64"),
    "native_v_exc": native("v", cells="exc", sections="soma", file_name="native_v_exc.h5"),
    "native_ina_exc": native("ina", cells="exc", sections="soma", file_name="native_ina_exc.h5"),
    "nwb_two": nwb(["v", "ina"], cells="exc", sections="soma", file_name="two.nwb", dtype="float64"),
    "native_win": native("v", sections=["dend", "apic"], file_name="native_win.h5", **WINDOW),
    "nwb_win": nwb("v", sections=["dend", "apic"], file_name="win.nwb", dtype="float64", **WINDOW),
}


def run_env() -> dict:
    env = dict(os.environ)
    env["MPI_LIB_NRN_PATH"] = str(Path(sys.prefix) / "lib" / "libmpi.so.12")
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def run_bmtk(config_path: Path, *, n_ranks: int = 1, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bmtk_module", "run", str(config_path)]
    if n_ranks > 1:
        cmd = [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(n_ranks), *cmd]
    result = subprocess.run(cmd, env=run_env(), capture_output=True, text=True, timeout=600, cwd=config_path.parent)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


class BmtkNetwork:
    """The session's network: ``config(out_dir, reports)`` writes a config for it and returns its path."""

    def __init__(self, root: Path) -> None:
        example = load_example_network()
        self.root = root
        self.mechanisms = example.compile_mechanisms(root / "mechanisms")
        self.network = example.build_network(root / "network")
        self.spikes = example.write_input_spikes(root / "network" / "inputs_spikes.h5", tstop_ms=TSTOP_MS)
        self._example = example

    def config(self, out_dir: Path, reports: dict, **overrides) -> Path:
        conf = self._example.make_config(
            network_dir=self.network,
            mechanisms_dir=self.mechanisms,
            output_dir=out_dir,
            spikes_file=self.spikes,
            reports=reports,
            tstop_ms=TSTOP_MS,
            block_step=BLOCK_STEP,
        )
        conf.update(overrides)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir.parent / f"config_{out_dir.name}.json"
        path.write_text(json.dumps(conf, indent=2))
        return path


@pytest.fixture(scope="session")
def bmtk_network(tmp_path_factory) -> BmtkNetwork:
    return BmtkNetwork(tmp_path_factory.mktemp("bmtk_net"))


@pytest.fixture(scope="session")
def serial_run(bmtk_network) -> Path:
    out = bmtk_network.root / "serial"
    run_bmtk(bmtk_network.config(out, REPORTS))
    return out


@pytest.fixture(scope="session")
def mpi_run(bmtk_network) -> Path:
    pytest.importorskip("mpi4py")
    if not (Path(sys.prefix) / "bin" / "mpiexec").exists():
        pytest.skip("mpiexec not found in this environment (pip install 'simout_plugins[mpi]')")
    out = bmtk_network.root / "mpi2"
    run_bmtk(bmtk_network.config(out, REPORTS), n_ranks=2)
    return out
