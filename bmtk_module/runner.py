"""Attach NWB reports to a built BMTK simulator, or build + attach + run from a config file.

``add_nwb_reports(sim, conf)`` is the one line for users with their own run script (after
``BioSimulator.from_config``, which skips ``nwb_compartment_report`` entries with an "Unrecognized module" warning).
``run(config_file)`` is what ``python -m bmtk_module run config.json`` does, on one process or under ``mpiexec``;
it hides that warning for ``nwb_compartment_report`` only (it attaches those entries itself and says so in one INFO
line), so BMTK still warns about any other module it does not know. A config whose ``"target_simulator"`` is NEST
runs through PointNet instead (:mod:`bmtk_module.pointnet_runner`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simout_plugins.failstop import ending_job_on_error
from simout_plugins.nwb import merge_metadata, neuron_version, package_version, provenance_fields

from ._compat import check_simulator, unrecognized_modules_hidden, wrap_post_fadvance
from .config import METADATA_KEY, REPORT_MODULE, ReportSpec, parse_reports, register_report_module
from .ecp_config import ECP_MODULE, parse_ecp_reports
from .mpi import check_ranks, init_neuron_mpi
from .netcon_config import NETCON_MODULE, parse_netcon_reports

logger = logging.getLogger(__name__)

#: BMTK's ``target_simulator`` values that mean BioNet (bmtk.utils.inspector's list, compared in lower case)
BIONET_SIMULATORS = frozenset({"neuron", "bionet", "nrn"})


def add_nwb_reports(sim: Any, conf: Mapping[str, Any], *, config_file: str | os.PathLike | None = None) -> list:
    """Create one :class:`~bmtk_module.report_mod.NWBCompartmentReportMod` per ``nwb_compartment_report`` entry,
    one :class:`~bmtk_module.netcon_mod.NWBNetconReportMod` per ``nwb_netcon_report`` entry and one
    :class:`~bmtk_module.ecp_mod.NWBEcpReportMod` per ``nwb_ecp_report`` entry (docs/ecp.md).

    Call it after ``BioSimulator.from_config`` and before ``sim.run()``. Every entry is checked (node set, variables
    on every recorded section, window, output folder) before anything is added or written; under MPI the checks
    are collective, so every rank raises the same error.

    Parameters
    ----------
    sim : bmtk.simulator.bionet.BioSimulator
        The built simulator.
    conf : bmtk.simulator.bionet.Config or dict
        The simulation config after BMTK's variable substitution (``Config.from_json``); its ``"reports"``,
        ``"output"`` and ``"nwb_metadata"`` sections are read, and the whole config is stored in each file for
        provenance (:func:`simout_plugins.nwb.provenance_fields`).
    config_file : str or os.PathLike, optional
        Path of the config file, recorded in the files.

    Returns
    -------
    list of NWBCompartmentReportMod, NWBNetconReportMod and NWBEcpReportMod
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
    check_simulator(sim)  # every BMTK attribute used below, before anything is added or written
    specs = _parse(conf)
    if comm is None or comm.Get_rank() == 0:
        for issue in (issue for spec in specs for issue in spec.metadata_issues):
            logger.warning("%s (pynwb accepts it; DANDI's nwbinspector checks do not)", issue)
    _report_errors_of_the_run(sim, comm)
    mods = []
    for spec in specs:
        meta = nwb_metadata(conf=conf, spec=spec, config_file=config_file, n_ranks=n_ranks)
        mods.append(NWBCompartmentReportMod(spec=spec, sim=sim, comm=comm, provenance=meta))
    for mod in mods:
        sim.add_mod(mod)
    if mods:
        logger.info(
            "%s reports attached by bmtk_module (BioSimulator.from_config skips this module): %s",
            REPORT_MODULE,
            ", ".join(f"'{mod.spec.name}' -> {mod.spec.path}" for mod in mods),
        )
    from .netcon_mod import add_nwb_netcon_reports

    netcon = add_nwb_netcon_reports(
        sim,
        conf,
        comm=comm,
        provenance=lambda spec: nwb_metadata(conf=conf, spec=spec, config_file=config_file, n_ranks=n_ranks),
        output_dir=_output_dir(conf),
    )
    from .ecp_mod import add_ecp_reports  # imports bionet: not at module import (NEURON joins MPI first)

    return mods + netcon + add_ecp_reports(sim, conf, config_file=config_file)


def _report_errors_of_the_run(sim: Any, comm: Any | None) -> None:
    """Under MPI, make an error raised by any module during the run end the job with its rank and message.

    BMTK's ``post_fadvance`` (every module's ``step`` and ``block``) runs inside NEURON's ``fadvance``; NEURON turns
    an exception there into an ``MPI_Abort`` of its own that often loses the Python error. The wrapper (on this
    simulator object only; NEURON looks the method up by name at every step) reports the rank and error first.
    """
    if comm is None:
        return

    def wrap(original: Any) -> Any:
        def post_fadvance() -> None:
            with ending_job_on_error(comm, "BMTK simulation step (a module's step or block)"):
                original()

        return post_fadvance

    wrap_post_fadvance(sim, wrap)


def _output_dir(conf: Mapping[str, Any]) -> Path:
    out = getattr(conf, "output_dir", None) or (conf.get("output") or {}).get("output_dir") or "."
    return Path(out)


def _parse(conf: Mapping[str, Any]) -> list[ReportSpec]:
    return parse_reports(
        reports=conf.get("reports", {}) or {},
        output_dir=_output_dir(conf),
        nwb_metadata=conf.get(METADATA_KEY),
    )


def nwb_metadata(
    *,
    conf: Mapping[str, Any],
    spec: ReportSpec,
    config_file: str | os.PathLike | None = None,
    n_ranks: int = 1,
) -> dict[str, Any]:
    """File-level NWB metadata of one report: defaults, provenance, then the user's ``nwb_metadata`` on top.

    Parameters
    ----------
    conf : bmtk.simulator.bionet.Config or dict
        The simulation config after variable substitution; stored as JSON in ``source_script``.
    spec : ReportSpec
        The report (its merged ``nwb_metadata`` and its entry, recorded in ``notes``).
    config_file : str or os.PathLike, optional
        Path of the config file (its name goes to ``source_script_file_name``).
    n_ranks : int
        MPI ranks of the run.

    Returns
    -------
    dict
        NWBFile keyword arguments.
    """
    provenance = provenance_fields(
        simulator="bmtk.bionet",
        simulator_version=package_version("bmtk"),
        neuron_version=neuron_version(),
        config=conf,
        config_file_name=config_file if config_file is not None else "simulation_config.json",
        mpi_ranks=n_ranks,
        extra={"report": spec.name, "report_entry": spec.params},
    )
    defaults = {
        "session_description": f"BMTK (bionet) simulation; report '{spec.name}' written by simout_plugins",
        "keywords": ["simulation", "BMTK", "NEURON", "compartment report"],
    }
    return merge_metadata(provenance={**defaults, **provenance}, metadata=spec.nwb_metadata)


def target_simulator(config_file: str | os.PathLike) -> str:
    """``"bionet"`` or ``"pointnet"``: the BMTK simulator a config's ``"target_simulator"`` names, as BMTK reads it.

    The key is read after BMTK's own loading (manifest variables, ``"network"`` / ``"simulation"`` sub-files:
    ``SonataConfig.from_json``) and judged by BMTK's rule (``bmtk.utils.inspector``: ``NEURON`` / ``BIONET`` / ``NRN``
    is BioNet, ``NEST`` / ``POINTNET`` is PointNet, any case). A config without the key is BioNet.

    Raises
    ------
    ValueError
        Any other value (e.g. ``"DiPDE"``, FilterNet's ``"LGNModel"``), naming the file, key and value.
    """
    from bmtk.utils.sonata.config import SonataConfig

    from ._point_compat import NEST_SIMULATORS

    value = SonataConfig.from_json(str(config_file)).get("target_simulator")
    if value is None:
        return "bionet"
    name = value.strip().lower() if isinstance(value, str) else None
    if name in NEST_SIMULATORS:
        return "pointnet"
    if name in BIONET_SIMULATORS:
        return "bionet"
    raise ValueError(
        f"simulation config '{config_file}': target_simulator {value!r}: python -m bmtk_module run runs BioNet "
        '("NEURON") and PointNet ("NEST") configs; set target_simulator to one of them'
    )


def run(config_file: str | os.PathLike) -> list[Path]:
    """Build the network of a BMTK config, attach its NWB reports and run it (one process or ``mpiexec -n N``).

    The config's ``"target_simulator"`` picks BioNet or PointNet, as BMTK does (:func:`target_simulator`); PointNet
    configs go to :func:`bmtk_module.pointnet_runner.run_pointnet`. For BioNet, NEURON joins MPI first
    (:func:`bmtk_module.mpi.init_neuron_mpi`). All report entries are checked before the simulation starts.

    Returns
    -------
    list of pathlib.Path
        The NWB files written.

    Raises
    ------
    FileNotFoundError
        No such config file.
    ValueError, TypeError
        A bad report entry or ``target_simulator``; the message names the report (or file), the key and the value.
    """
    config_file = Path(config_file).resolve()
    if not config_file.is_file():
        raise FileNotFoundError(f"simulation config '{config_file}' does not exist")
    if target_simulator(config_file) == "pointnet":
        from .pointnet_runner import run_pointnet

        return run_pointnet(config_file)
    init_neuron_mpi()
    from bmtk.simulator import bionet

    conf = bionet.Config.from_json(str(config_file), validate=True)
    register_report_module()
    # fail fast on the static part of every NWB report entry and the metadata, before the network is built
    _parse(conf)
    parse_netcon_reports(reports=conf.get("reports", {}) or {}, output_dir=_output_dir(conf),
                         nwb_metadata=conf.get(METADATA_KEY))  # fmt: skip
    parse_ecp_reports(reports=conf.get("reports", {}) or {}, output_dir=_output_dir(conf),
                      nwb_metadata=conf.get(METADATA_KEY))  # fmt: skip
    conf.build_env()
    net = bionet.BioNetwork.from_config(conf)
    # BMTK warns "Unrecognized module nwb_compartment_report, skipping." for each of our entries; they are attached
    # right below (one INFO line names them). Its warning for any other unknown module still shows.
    with unrecognized_modules_hidden([REPORT_MODULE, NETCON_MODULE, ECP_MODULE]):
        sim = bionet.BioSimulator.from_config(conf, network=net)
    mods = add_nwb_reports(sim, conf, config_file=config_file)
    sim.run()
    return [mod.spec.path for mod in mods]
