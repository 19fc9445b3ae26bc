"""A tiny two-population NetPyNE model for the tests (2 cell types, multi-compartment, hh/pas, NetStim input)."""

from __future__ import annotations

from typing import Any


def build(
    *,
    n_cells: int = 5,
    duration_ms: float = 100.0,
    record_step_ms: float = 0.1,
    save_folder: str = ".",
    record_cells: Any = ("all",),
    record_traces: dict | None = None,
    save_nwb: Any = True,
    iclamp: bool = False,
) -> tuple[Any, Any]:
    """Return ``(netParams, cfg)``: pop ``E`` (PYR: soma hh + 3-segment pas dend), pop ``I`` (BAS: soma hh only)."""
    from netpyne import specs

    net = specs.NetParams()
    net.popParams["E"] = {"cellType": "PYR", "numCells": n_cells}
    net.popParams["I"] = {"cellType": "BAS", "numCells": n_cells}
    net.cellParams["PYR"] = {
        "conds": {"cellType": "PYR"},
        "secs": {
            "soma": {"geom": {"diam": 18.8, "L": 18.8, "Ra": 123.0}, "mechs": {"hh": {}}},
            "dend": {
                "geom": {"diam": 5.0, "L": 150.0, "Ra": 150.0, "nseg": 3},
                "topol": {"parentSec": "soma", "parentX": 1.0, "childX": 0},
                "mechs": {"pas": {"g": 0.0000357, "e": -70}},
            },
        },
    }
    net.cellParams["BAS"] = {
        "conds": {"cellType": "BAS"},
        "secs": {"soma": {"geom": {"diam": 10.0, "L": 10.0, "Ra": 110.0}, "mechs": {"hh": {}}}},
    }
    net.synMechParams["exc"] = {"mod": "Exp2Syn", "tau1": 0.1, "tau2": 5.0, "e": 0}
    net.stimSourceParams["bkg"] = {"type": "NetStim", "rate": 40, "noise": 0.5}
    net.stimTargetParams["bkg->all"] = {
        "source": "bkg", "conds": {"pop": ["E", "I"]}, "weight": 0.01, "delay": 1, "synMech": "exc",
    }  # fmt: skip
    net.connParams["E->I"] = {
        "preConds": {"pop": "E"}, "postConds": {"pop": "I"}, "probability": 0.5, "weight": 0.005, "delay": 5,
        "synMech": "exc", "sec": "soma",
    }  # fmt: skip

    if iclamp:  # a current clamp on the E somata (stimulus traces)
        net.stimSourceParams["clamp"] = {"type": "IClamp", "del": 10, "dur": 50, "amp": 0.1}
        net.stimTargetParams["clamp->E"] = {"source": "clamp", "conds": {"pop": "E"}, "sec": "soma", "loc": 0.5}

    cfg = specs.SimConfig()
    cfg.duration = duration_ms
    cfg.dt = 0.025
    cfg.recordStep = record_step_ms
    cfg.verbose = False
    cfg.printRunTime = False
    cfg.recordCells = list(record_cells)
    cfg.recordTraces = record_traces or {
        "V_soma": {"sec": "soma", "loc": 0.5, "var": "v"},
        "V_dend": {"sec": "dend", "loc": 0.5, "var": "v"},
        "V_dend1": {"sec": "dend", "loc": 1.0, "var": "v"},
        "m_soma": {"sec": "soma", "loc": 0.5, "mech": "hh", "var": "m"},
        "g_exc": {"sec": "soma", "loc": 0.5, "synMech": "exc", "var": "g"},
    }
    cfg.saveFolder = save_folder
    cfg.simLabel = "tiny"
    cfg.analysis = {}
    cfg.saveNWB = save_nwb
    return net, cfg
