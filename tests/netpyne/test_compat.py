"""netpyne_module._compat: each NetPyNE internal the adapter uses has a feature check with one clear error."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import netpyne_module
from netpyne_module import _compat

pytest.importorskip("netpyne")

REPO = Path(__file__).resolve().parents[2]
# the error names the feature, the installed version and the tested range
CLEAR = re.compile(r"needs .+, which the installed netpyne \S+ does not have; netpyne_module is tested with netpyne >=")


def test_tested_range_is_the_extra_in_pyproject():
    assert f'"netpyne{_compat.TESTED_RANGE}"' in (REPO / "pyproject.toml").read_text()
    assert _compat.netpyne_version() != "unknown"


def test_netpyne_sim_passes_its_checks():
    from netpyne import sim

    _compat.check_sim(sim)


@pytest.mark.parametrize("name", _compat.RUN_STEPS)
def test_rebuilt_simulate_loop_needs_netpyne_run_steps(monkeypatch, name):
    from netpyne import sim
    from netpyne.sim import run

    monkeypatch.delattr(run, name)
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR) as info:
        _compat.check_sim(sim)
    assert name in str(info.value) and _compat.netpyne_version() in str(info.value)


@pytest.mark.parametrize("name", ["gatherData", "getCellsList", "simulate"])
def test_sim_functions(monkeypatch, name):
    from netpyne import sim

    monkeypatch.delattr(sim, name)
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR) as info:
        _compat.check_sim(sim)
    assert name in str(info.value)


def test_install_needs_create_simulate_called_by_name():
    def createSimulateAnalyze(netParams=None, simConfig=None, output=False):  # calls nothing by name
        return None

    sim = SimpleNamespace(
        create=lambda *a, **k: None, simulate=lambda: None, createSimulateAnalyze=createSimulateAnalyze
    )
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR) as info:
        netpyne_module.install(sim=sim)
    assert "createSimulateAnalyze" in str(info.value)
    assert not hasattr(sim.simulate, "_netpyne_module_original")  # nothing was wrapped


def test_sim_data_key_format():
    vec = object()
    sim = SimpleNamespace(simData={"V_soma": {"cell_0": vec, "cell_12": vec}, "spkt": [1.0], "spkid": [0]})
    _compat.check_trace_keys(sim=sim, keys=["V_soma"])
    assert _compat.trace_entry(sim=sim, key="V_soma", gid=12) is vec
    assert _compat.trace_entry(sim=sim, key="V_soma", gid=3) is None
    times, gids = _compat.spike_arrays(sim)
    assert times.tolist() == [1.0] and gids.dtype.kind == "i"
    sim.simData["V_soma"] = {"gid0": vec}  # another format: no trace would be found
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR) as info:
        _compat.check_trace_keys(sim=sim, keys=["V_soma"])
    assert "cell_<gid>" in str(info.value) and "gid0" in str(info.value)
    del sim.simData["spkt"]
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR):
        _compat.spike_arrays(sim)


def test_section_hobj():
    hobj = SimpleNamespace(nseg=3)
    syn = {"label": "exc", "loc": 0.5}
    cell = SimpleNamespace(gid=4, secs={"soma": {"hObj": hobj, "synMechs": [syn]}})
    assert _compat.section_object(cell, "soma") is hobj
    assert _compat.synapse_places(cell, "exc") == {"soma_0.5": ("soma", 0.5)}
    cell.secs["soma"] = {"hSec": hobj}  # the NEURON section under another name
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR) as info:
        _compat.section_object(cell, "soma")
    assert "cell.secs['soma']['hObj']" in str(info.value)
    cell.secs["soma"] = {"hObj": hobj, "synMechs": [{"name": "exc"}]}
    with pytest.raises(_compat.NetPyNEVersionError, match=CLEAR):
        _compat.synapse_places(cell, "exc")
