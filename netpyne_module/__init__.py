"""NWB output for NetPyNE, chosen by one simConfig option: ``cfg.saveNWB``.

One line of set-up makes NetPyNE's usual calls honour the option::

    from netpyne import sim
    import netpyne_module
    netpyne_module.install()             # wraps sim.create / sim.simulate at run time (nothing at import)

    cfg.saveNWB = True                   # or a dict: {'filename': ..., 'dtype': 'float64', 'spikes': True, ...}
    sim.createSimulateAnalyze(netParams, cfg)   # or sim.create(...); sim.simulate(); sim.analyze()

``netpyne_module.createSimulateAnalyze(netParams, cfg)`` does the same in one call. The file (default
``<cfg.saveFolder>/<cfg.filename>.nwb``) holds one CompartmentSeries per
recorded quantity (``v``, ``hh_m``, ...), its Compartments table (rows = cells by gid), every spike in ``Units``
and the simConfig / netParams as provenance. Options: :data:`netpyne_module.config.OPTION_KEYS`.
"""

from .config import OPTION_KEYS, NWBOptions, default_path, parse_save_nwb
from .entry import (
    check_config,
    createSimulate,
    createSimulateAnalyze,
    install,
    nwb_metadata,
    simulate_save_nwb,
    uninstall,
)
from .layout import SeriesPlan, plan_series
from .recorder import NWBRecorder, expected_samples

__all__ = [
    "OPTION_KEYS",
    "NWBOptions",
    "NWBRecorder",
    "SeriesPlan",
    "check_config",
    "createSimulate",
    "createSimulateAnalyze",
    "default_path",
    "expected_samples",
    "install",
    "nwb_metadata",
    "parse_save_nwb",
    "plan_series",
    "simulate_save_nwb",
    "uninstall",
]
