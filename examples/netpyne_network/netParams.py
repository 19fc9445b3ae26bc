"""Network of the example: two populations of multi-compartment cells (built-in hh / pas), NetStim input.

- ``E``: pyramidal-like cells (``PYR``): soma with ``hh``, a 5-segment apical dendrite with ``pas``.
- ``I``: basket-like cells (``BAS``): a single ``hh`` soma (no dendrite: the dendritic traces skip them).
- Background NetStim input to every cell; E -> I and I -> E connections.
"""

from cfg import cfg
from netpyne import specs

netParams = specs.NetParams()
netParams.sizeX = netParams.sizeY = netParams.sizeZ = 100.0

netParams.popParams["E"] = {"cellType": "PYR", "numCells": cfg.nE}
netParams.popParams["I"] = {"cellType": "BAS", "numCells": cfg.nI}

netParams.cellParams["PYR"] = {
    "conds": {"cellType": "PYR"},
    "secs": {
        "soma": {"geom": {"diam": 18.8, "L": 18.8, "Ra": 123.0}, "mechs": {"hh": {}}},
        "dend": {
            "geom": {"diam": 3.0, "L": 250.0, "Ra": 150.0, "nseg": 5},
            "topol": {"parentSec": "soma", "parentX": 1.0, "childX": 0},
            "mechs": {"pas": {"g": 0.0000357, "e": -70}},
        },
    },
}
netParams.cellParams["BAS"] = {
    "conds": {"cellType": "BAS"},
    "secs": {"soma": {"geom": {"diam": 12.0, "L": 12.0, "Ra": 110.0}, "mechs": {"hh": {}}}},
}

netParams.synMechParams["exc"] = {"mod": "Exp2Syn", "tau1": 0.1, "tau2": 5.0, "e": 0}
netParams.synMechParams["inh"] = {"mod": "Exp2Syn", "tau1": 0.5, "tau2": 8.0, "e": -80}

netParams.stimSourceParams["bkg"] = {"type": "NetStim", "rate": 30, "noise": 0.6}
netParams.stimTargetParams["bkg->E"] = {
    "source": "bkg", "conds": {"pop": "E"}, "sec": "dend", "loc": 0.8, "weight": 0.02, "delay": 1, "synMech": "exc",
}  # fmt: skip
netParams.stimTargetParams["bkg->I"] = {
    "source": "bkg", "conds": {"pop": "I"}, "weight": 0.008, "delay": 1, "synMech": "exc",
}  # fmt: skip

netParams.connParams["E->I"] = {
    "preConds": {"pop": "E"}, "postConds": {"pop": "I"}, "probability": 0.4, "weight": 0.004, "delay": 3,
    "synMech": "exc", "sec": "soma",
}  # fmt: skip
netParams.connParams["I->E"] = {
    "preConds": {"pop": "I"}, "postConds": {"pop": "E"}, "probability": 0.4, "weight": 0.002, "delay": 3,
    "synMech": "inh", "sec": "soma",
}  # fmt: skip
