"""install() wraps sim.create / sim.simulate at run time: NetPyNE's own behaviour without cfg.saveNWB."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import netpyne_module


def fake_sim(cfg) -> SimpleNamespace:
    calls = []
    sim = SimpleNamespace(cfg=cfg, calls=calls)
    sim.create = lambda netParams=None, simConfig=None, output=False: calls.append("create")
    sim.simulate = lambda: calls.append("simulate")
    return sim


def test_install_is_idempotent_and_uninstall_restores():
    sim = fake_sim(SimpleNamespace(saveNWB=False))
    create, simulate = sim.create, sim.simulate
    netpyne_module.install(sim=sim)
    wrapped = sim.simulate
    netpyne_module.install(sim=sim)
    assert sim.simulate is wrapped and wrapped is not simulate
    sim.create(None, sim.cfg)
    sim.simulate()
    assert sim.calls == ["create", "simulate"]  # without cfg.saveNWB: NetPyNE's own functions
    netpyne_module.uninstall(sim=sim)
    assert (sim.create, sim.simulate) == (create, simulate)


def test_bad_option_raises_in_create_before_the_network_is_built():
    cfg = SimpleNamespace(saveNWB={"dtpye": "float32"}, recordTraces={"V": {"sec": "soma", "var": "v"}})
    sim = fake_sim(cfg)
    netpyne_module.install(sim=sim)
    with pytest.raises(ValueError, match=r"unknown keys \['dtpye'\]"):
        sim.create(None, cfg)
    assert sim.calls == []


def test_create_and_simulate_are_netpyne_shaped():
    sim = fake_sim(SimpleNamespace(saveNWB=False))
    assert netpyne_module.create(None, sim.cfg, sim=sim) is None
    assert netpyne_module.simulate(sim=sim) is None  # without cfg.saveNWB: NetPyNE's own simulate
    assert sim.calls == ["create", "simulate"]
    netpyne_module.install(sim=sim)  # with install() in place they call NetPyNE's functions once, not twice
    netpyne_module.create(None, sim.cfg, sim=sim)
    netpyne_module.simulate(sim=sim)
    assert sim.calls == ["create", "simulate"] * 2


def test_create_checks_save_nwb_before_the_network_is_built():
    cfg = SimpleNamespace(saveNWB={"dtpye": "float32"}, recordTraces={"V": {"sec": "soma", "var": "v"}})
    sim = fake_sim(cfg)
    with pytest.raises(ValueError, match=r"unknown keys \['dtpye'\]"):
        netpyne_module.create(None, cfg, sim=sim)
    assert sim.calls == []
