"""BMTK adapter: ``"module": "nwb_compartment_report"``, ``"nwb_netcon_report"`` and ``"nwb_ecp_report"`` entries of
a BMTK simulation config write NWB files (docs/bmtk.md, docs/pointnet.md, docs/ecp.md).

Run a config with ``python -m bmtk_module run config.json`` (also under ``mpiexec -n N``; BioNet or PointNet from
the config's ``"target_simulator"``), or, in your own BioNet run script, call :func:`add_nwb_reports` after
``BioSimulator.from_config``::

    sim = bionet.BioSimulator.from_config(conf, network=net)
    add_nwb_reports(sim, conf)
    sim.run()

In a PointNet run script, :func:`point_simulator_from_config` replaces ``PointSimulator.from_config``
(docs/pointnet.md).

Importing this package imports neither NEURON nor bionet (bionet reads the MPI rank count at import, so NEURON
must join MPI first: :func:`init_neuron_mpi`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "add_nwb_reports",
    "run",
    "point_simulator_from_config",
    "run_pointnet",
    "init_neuron_mpi",
    "NWBCompartmentReportMod",
    "ReportSpec",
    "REPORT_MODULE",
    "NWBNetconReportMod",
    "NetconSpec",
    "NETCON_MODULE",
    "NWBEcpReportMod",
    "EcpSpec",
    "ECP_MODULE",
]

_LAZY = {
    "add_nwb_reports": ".runner",
    "run": ".runner",
    "point_simulator_from_config": ".pointnet_runner",
    "run_pointnet": ".pointnet_runner",
    "init_neuron_mpi": ".mpi",
    "NWBCompartmentReportMod": ".report_mod",
    "ReportSpec": ".config",
    "REPORT_MODULE": ".config",
    "NWBNetconReportMod": ".netcon_mod",
    "NetconSpec": ".netcon_config",
    "NETCON_MODULE": ".netcon_config",
    "NWBEcpReportMod": ".ecp_mod",
    "EcpSpec": ".ecp_config",
    "ECP_MODULE": ".ecp_config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'bmtk_module' has no attribute '{name}'")
