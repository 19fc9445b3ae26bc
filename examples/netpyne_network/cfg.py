"""Simulation configuration of the example; ``cfg.saveNWB`` is the one NWB line."""

from pathlib import Path

from netpyne import specs

cfg = specs.SimConfig()

cfg.nE = 20  # cells in population E
cfg.nI = 10  # cells in population I
cfg.duration = 500.0  # ms
cfg.dt = 0.025  # integration step, ms
cfg.recordStep = 0.1  # sampling step of the traces, ms (4 x dt)
cfg.verbose = False
cfg.hParams = {"celsius": 6.3, "v_init": -65.0}

cfg.recordCells = ["all"]
cfg.recordTraces = {
    "V_soma": {"sec": "soma", "loc": 0.5, "var": "v"},
    "V_dend": {"sec": "dend", "loc": 0.5, "var": "v"},  # E cells only: I cells have no dend (listed in a warning)
    "V_dend_tip": {"sec": "dend", "loc": 1.0, "var": "v"},  # the zero-area end node of dend
    "m_soma": {"sec": "soma", "loc": 0.5, "mech": "hh", "var": "m"},
    "g_exc": {"sec": "soma", "loc": 0.5, "synMech": "exc", "var": "g", "conds": {"pop": "I"}},  # I cells only
}

cfg.simLabel = "netpyne_network"
cfg.saveFolder = str(Path(__file__).resolve().parent / "output")
cfg.saveNWB = {  # -> output/netpyne_network.nwb
    "dtype": "float32",
    "intervalMs": 100.0,
    # NWBFile fields (checked with pynwb before the run); with them the file passes nwbinspector's DANDI checks
    "metadata": {
        "session_description": "Example NetPyNE network: E and I populations of Hodgkin-Huxley cells",
        "experimenter": ["Doe, Jane"],
        "institution": "simout_plugins examples",
        "lab": "simout_plugins",
        "keywords": ["simulation", "NetPyNE", "NEURON", "compartmental model"],
        "subject": {
            "subject_id": "netpyne-example-network",
            "species": "Mus musculus",
            "sex": "U",
            "age": "P90D",
            "description": "In silico model (not an animal): a NetPyNE network of E and I cells.",
        },
    },
}
cfg.analysis = {}
