"""NWB output for NetPyNE, chosen by one simConfig option: ``cfg.saveNWB``.

NetPyNE-shaped entry points, in place of ``sim.create`` / ``sim.simulate``::

    from netpyne import sim
    import netpyne_module

    cfg.saveNWB = True                   # or a dict: {'filename': ..., 'dtype': 'float64', 'spikes': True, ...}
    netpyne_module.create(netParams, cfg)   # checks cfg.saveNWB and the output path, then NetPyNE's sim.create
    netpyne_module.simulate()               # runs, writing the NWB file block by block; returns its path
    sim.analyze()

or one line of set-up that makes NetPyNE's usual calls honour the option::

    netpyne_module.install()             # sim.create / sim.simulate become the two above (nothing at import)
    sim.createSimulateAnalyze(netParams, cfg)   # or sim.create(...); sim.simulate(); sim.analyze()

``netpyne_module.createSimulateAnalyze(netParams, cfg)`` does the same in one call. The file (default
``<cfg.saveFolder>/<cfg.filename>.nwb``) holds one CompartmentSeries per
recorded quantity (``v``, ``hh_m``, ...), its Compartments table (rows = cells by gid), every spike in ``Units``
and the simConfig / netParams as provenance. Options: :data:`netpyne_module.config.OPTION_KEYS`.
"""

from .config import OPTION_KEYS, NWBOptions, default_path, parse_save_nwb
from .entry import (
    check_config,
    create,
    createSimulate,
    createSimulateAnalyze,
    install,
    nwb_metadata,
    simulate,
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
    "create",
    "createSimulate",
    "createSimulateAnalyze",
    "default_path",
    "expected_samples",
    "install",
    "nwb_metadata",
    "parse_save_nwb",
    "plan_series",
    "simulate",
    "simulate_save_nwb",
    "uninstall",
]
