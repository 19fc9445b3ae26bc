"""Attach NWB reports to a built BMTK simulator, or build + attach + run from a config file.

``add_nwb_reports(sim, conf)`` is the one line for users with their own run script (after
``BioSimulator.from_config``, which skips ``nwb_compartment_report`` entries with an "Unrecognized module" warning).
``run(config_file)`` is what ``python -m bmtk_module run config.json`` does, on one process or under ``mpiexec``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .config import parse_reports, register_report_module
from .mpi import check_ranks, init_neuron_mpi

logger = logging.getLogger(__name__)


def add_nwb_reports(sim: Any, conf: Mapping[str, Any], *, config_file: str | os.PathLike | None = None) -> list:
    """Create one :class:`~bmtk_module.report_mod.NWBCompartmentReportMod` per ``nwb_compartment_report`` entry.

    Call it after ``BioSimulator.from_config`` and before ``sim.run()``. Every entry is checked (node set, variables
    on every recorded section, window, output folder) before anything is added or written; under MPI the checks
    are collective, so every rank raises the same error.

    Parameters
    ----------
    sim : bmtk.simulator.bionet.BioSimulator
        The built simulator.
    conf : bmtk.simulator.bionet.Config or dict
        The simulation config after BMTK's variable substitution (``Config.from_json``); its ``"reports"`` and
        ``"output"`` sections are read, and the whole config is stored in each file for provenance.
    config_file : str or os.PathLike, optional
        Path of the config file, recorded in the files.

    Returns
    -------
    list of NWBCompartmentReportMod
        The modules added to ``sim`` (empty when the config has no enabled NWB report).

    Raises
    ------
    ValueError, TypeError
        A bad report entry; the message names the report, the key and the value.
    RuntimeError
        Launched by ``mpiexec`` on N processes while NEURON runs on fewer ranks.
    """
    from neuron import h

    from .report_mod import NWBCompartmentReportMod

    n_ranks = int(h.ParallelContext().nhost())
    comm = check_ranks(n_ranks)
    specs = parse_reports(reports=conf.get("reports", {}) or {}, output_dir=_output_dir(conf))
    meta = provenance(conf, config_file=config_file, n_ranks=n_ranks)
    mods = []
    for spec in specs:
        mods.append(NWBCompartmentReportMod(spec=spec, sim=sim, comm=comm, provenance=meta))
    for mod in mods:
        sim.add_mod(mod)
        logger.info("NWB report '%s' -> %s", mod.spec.name, mod.spec.path)
    return mods


def _output_dir(conf: Mapping[str, Any]) -> Path:
    out = getattr(conf, "output_dir", None) or (conf.get("output") or {}).get("output_dir") or "."
    return Path(out)


def provenance(conf: Mapping[str, Any], *, config_file: str | os.PathLike | None = None, n_ranks: int = 1) -> dict:
    """File-level NWB metadata of a BMTK run: the config JSON (after substitution) and the software versions."""
    from neuron import h

    versions = {
        "bmtk": _version("bmtk"),
        "neuron": str(h.nrnversion()),
        "simout_plugins": _version("simout_plugins"),
        "mpi_ranks": n_ranks,
    }
    text = json.dumps(dict(conf), indent=2, default=str, sort_keys=True)
    meta = {
        "session_description": "BMTK (bionet) simulation; compartment recordings written by simout_plugins",
        "experiment_description": (
            f"Simulated with BMTK {versions['bmtk']} and NEURON {versions['neuron']} on {n_ranks} MPI rank(s)"
        ),
        "source_script": text,
        "source_script_file_name": str(config_file) if config_file is not None else "simulation_config.json",
        "notes": json.dumps({"simulator": "bmtk.bionet", **versions}, sort_keys=True),
        "keywords": ["simulation", "BMTK", "NEURON", "compartment report"],
    }
    return meta


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def run(config_file: str | os.PathLike) -> list[Path]:
    """Build the network of a BMTK config, attach its NWB reports and run it (one process or ``mpiexec -n N``).

    NEURON joins MPI first (:func:`bmtk_module.mpi.init_neuron_mpi`); all report entries are checked before the
    simulation starts.

    Returns
    -------
    list of pathlib.Path
        The NWB files written.
    """
    init_neuron_mpi()
    from bmtk.simulator import bionet

    config_file = Path(config_file).resolve()
    if not config_file.is_file():
        raise FileNotFoundError(f"simulation config '{config_file}' does not exist")
    conf = bionet.Config.from_json(str(config_file), validate=True)
    register_report_module()
    # fail fast on the static part of every NWB report entry, before the network is built
    parse_reports(reports=conf.get("reports", {}) or {}, output_dir=_output_dir(conf))
    conf.build_env()
    net = bionet.BioNetwork.from_config(conf)
    sim = bionet.BioSimulator.from_config(conf, network=net)
    mods = add_nwb_reports(sim, conf, config_file=config_file)
    sim.run()
    return [mod.spec.path for mod in mods]
