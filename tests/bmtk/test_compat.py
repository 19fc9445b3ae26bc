"""bmtk_module._compat: each BMTK internal the adapter uses has a feature check with one clear error when missing."""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from bmtk_module import _compat

from .conftest import REPO, run_env

pytest.importorskip("bmtk")

# the error names the feature, the installed version and the tested range
CLEAR = re.compile(r"needs .+, which the installed bmtk \S+ does not have; bmtk_module is tested with bmtk >=")


def test_tested_range_is_the_extra_in_pyproject():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"bmtk{_compat.TESTED_RANGE}"' in pyproject
    assert _compat.bmtk_version() != "unknown"


@pytest.mark.parametrize("name", ["_get_defaults", "registry", "register_module", "build"])
def test_report_base_needs_the_sim_report_hooks(monkeypatch, name):
    from bmtk.simulator.utils.simulation_reports import SimReport

    monkeypatch.delattr(SimReport, name)
    with pytest.raises(_compat.BmtkVersionError, match=CLEAR) as info:
        _compat.report_base()
    assert name in str(info.value) and _compat.bmtk_version() in str(info.value)


def fake_sim():
    morph = SimpleNamespace(
        seg_props=SimpleNamespace(type=np.array([1, 3]), sec_id=np.array([0, 1]), x=np.array([0.5, 0.5])),
        segments=["soma(0.5)", "dend(0.5)"],
    )
    net = SimpleNamespace(
        _node_sets={"all": None, "exc": None},
        gid_pool=None,
        get_local_cells=dict,
        get_cell_gid=lambda gid: SimpleNamespace(morphology=morph),
        get_node_set=None,
    )
    attrs = dict.fromkeys(_compat.SIMULATOR_ATTRS)
    attrs.update(net=net, post_fadvance=lambda: None)
    return SimpleNamespace(**attrs), net, morph


def test_the_built_objects_pass_their_checks():
    sim, net, morph = fake_sim()
    _compat.check_simulator(sim)
    assert _compat.node_set_names(net) == ["all", "exc"]
    table = _compat.segment_table(morph)
    assert table.sec_id.tolist() == [0, 1] and table.segments == morph.segments


def test_node_sets_missing(monkeypatch):
    sim, net, _ = fake_sim()
    monkeypatch.delattr(net, "_node_sets")
    with pytest.raises(_compat.BmtkVersionError, match=CLEAR) as info:
        _compat.check_simulator(sim)
    assert "_node_sets" in str(info.value)


@pytest.mark.parametrize("name", ["spikes_table", "nsteps_block", "post_fadvance"])
def test_simulator_attribute_missing(monkeypatch, name):
    sim, _, _ = fake_sim()
    monkeypatch.delattr(sim, name)
    with pytest.raises(_compat.BmtkVersionError, match=CLEAR) as info:
        _compat.check_simulator(sim)
    assert name in str(info.value)


def test_seg_props_missing(monkeypatch):
    _, _, morph = fake_sim()
    monkeypatch.delattr(morph, "seg_props")
    with pytest.raises(_compat.BmtkVersionError, match=CLEAR) as info:
        _compat.segment_table(morph)
    assert "seg_props" in str(info.value)


def test_post_fadvance_hook(monkeypatch, tmp_path):
    sim, _, _ = fake_sim()
    calls = []
    sim.post_fadvance = lambda: calls.append("step")

    def wrap(original):
        return lambda: (calls.append("wrapped"), original())

    _compat.wrap_post_fadvance(sim, wrap)
    _compat.wrap_post_fadvance(sim, wrap)  # once only
    sim.post_fadvance()
    assert calls == ["wrapped", "step"]

    # bionet's advance.hoc no longer calls pysim.post_fadvance(): the wrapper would never run
    fake_bionet = tmp_path / "bionet"
    (fake_bionet / "default_templates").mkdir(parents=True)
    (fake_bionet / "__init__.py").write_text("")
    (fake_bionet / "default_templates" / "advance.hoc").write_text("proc advance() { fadvance() }\n")
    monkeypatch.setattr(
        _compat.importlib.util, "find_spec", lambda name: SimpleNamespace(origin=str(fake_bionet / "__init__.py"))
    )
    with pytest.raises(_compat.BmtkVersionError, match=CLEAR) as info:
        _compat.wrap_post_fadvance(fake_sim()[0], wrap)
    assert "post_fadvance" in str(info.value)


# the checks that need bionet (it imports NEURON and reads the MPI rank count): in a fresh process
BIONET_CHECK = """
import sys
from bmtk_module import _compat
from bmtk.simulator.bionet.modules import record_cellvars, sim_module
which = sys.argv[1]
if which == "set_valid_steps":
    del record_cellvars.MembraneReport._set_valid_steps
    sim = type("Sim", (), {"dt": 0.1, "tstart": 0.0, "tstop": 10.0})()
    call = lambda: _compat.record_window(where="r", sim=sim, dt_ms=None, start_time_ms=None, end_time_ms=None)
else:
    del sim_module.SimulatorMod.step
    call = _compat.simulator_mod_base
try:
    call()
except _compat.BmtkVersionError as exc:
    print(exc)
"""


@pytest.mark.parametrize(("which", "feature"), [("set_valid_steps", "_set_valid_steps"), ("mod", "'step'")])
def test_bionet_internals_missing(which, feature):
    result = subprocess.run(
        [sys.executable, "-c", BIONET_CHECK, which], env=run_env(), capture_output=True, text=True, timeout=120
    )
    assert CLEAR.search(result.stdout), result.stdout + result.stderr
    assert feature in result.stdout


def test_record_window_matches_bmtk():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bmtk_module import _compat\n"
            "sim = type('Sim', (), {'dt': 0.1, 'tstart': 0.0, 'tstop': 100.0})()\n"
            "w = _compat.record_window(where='r', sim=sim, dt_ms=0.2, start_time_ms=20.0, end_time_ms=60.0)\n"
            "print(w.first_step, w.end_step, w.dt_step, w.n_samples)",
        ],
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split()[-4:] == ["200", "600", "2", "200"], result.stderr
