"""NWB reports for BMTK PointNet (NEST): attach them to a built PointSimulator, or build + attach + run a config.

PointNet's ``PointSimulator.from_config`` raises ``Exception: Unknown report type nwb_compartment_report`` for our
entries (bionet only warns), so a pointnet run script changes its ``from_config`` line to
:func:`point_simulator_from_config`, which builds the simulator without the NWB entries and attaches them::

    sim = bmtk_module.point_simulator_from_config(conf, net)   # was: pointnet.PointSimulator.from_config(conf, net)
    sim.run()

``python -m bmtk_module run config.json`` does the same for configs whose ``"target_simulator"`` is ``"NEST"``
(:func:`run_pointnet`). The attached simulator's ``run`` runs in chunks and writes each chunk's samples as it goes
(:func:`bmtk_module._point_compat.run_in_blocks`). See docs/pointnet.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simout_plugins.failstop import install_hook
from simout_plugins.mpi import simulator_comm
from simout_plugins.nwb import merge_metadata, package_version, provenance_fields

from . import _point_compat as compat
from .config import METADATA_KEY, REPORT_MODULE, ReportSpec, parse_reports, register_report_module

logger = logging.getLogger(__name__)

#: report modules this adapter attaches to a PointSimulator
POINT_MODULES = frozenset({REPORT_MODULE})


def point_simulator_from_config(
    conf: Any, network: Any, *, config_file: str | os.PathLike | None = None, n_thread: int | None = None
) -> Any:
    """``PointSimulator.from_config`` for a config with NWB report entries: build, then attach the NWB reports.

    Parameters
    ----------
    conf : bmtk.simulator.pointnet.Config
        The simulation config (after ``Config.from_json``; ``build_env()`` called).
    network : bmtk.simulator.pointnet.PointNetwork
        ``PointNetwork.from_config(conf)``.
    config_file : str or os.PathLike, optional
        Path of the config file, recorded in the files.
    n_thread : int, optional
        As ``PointSimulator.from_config``.

    Returns
    -------
    bmtk.simulator.pointnet.PointSimulator
        With the NWB report modules added; its ``run()`` writes them block by block.

    Raises
    ------
    ValueError, TypeError
        A bad NWB report entry (before the run); the message names the report, the key and the value.
    """
    from bmtk.simulator import pointnet

    register_report_module()
    _parse(conf)  # the static checks first, before NEST builds anything
    sim = compat.from_config_without(
        conf,
        modules=POINT_MODULES,
        build=lambda reduced: pointnet.PointSimulator.from_config(reduced, network, n_thread=n_thread),
    )
    add_nwb_point_reports(sim, conf, config_file=config_file)
    return sim


def add_nwb_point_reports(sim: Any, conf: Mapping[str, Any], *, config_file: str | os.PathLike | None = None) -> list:
    """Create one :class:`~bmtk_module.pointnet_mod.NWBPointReportMod` per NWB entry and make ``sim.run`` stream them.

    Parameters
    ----------
    sim : bmtk.simulator.pointnet.PointSimulator
        Built from the config without its NWB entries (:func:`point_simulator_from_config`).
    conf : bmtk.simulator.pointnet.Config or dict
        The simulation config.
    config_file : str or os.PathLike, optional
        Path of the config file, recorded in the files.

    Returns
    -------
    list of NWBPointReportMod
        The modules added (empty when the config has no enabled NWB report).
    """
    import nest

    from .pointnet_mod import NWBPointReportMod

    n_proc = int(nest.NumProcesses())
    comm = nest_comm(n_proc)
    mods = []
    for spec in _parse(conf):
        meta = point_metadata(conf=conf, spec=spec, config_file=config_file, n_ranks=n_proc)
        mods.append(NWBPointReportMod(spec=spec, sim=sim, comm=comm, provenance=meta))
    for mod in mods:
        sim.add_mod(mod)
        logger.info("NWB report '%s' -> %s", mod.spec.name, mod.spec.path)
    if mods:
        block_ms = _block_ms(conf)

        def run(tstop: Any = None) -> None:
            if tstop is not None:
                sim.tstop = tstop
            compat.run_in_blocks(
                sim,
                chunk_ms=lambda: block_ms or min(mod.chunk_ms() for mod in mods),
                after_chunk=lambda: [mod.block(sim) for mod in mods],
            )

        sim.run = run  # this simulator object only
    return mods


def nest_comm(n_proc: int) -> Any | None:
    """mpi4py's ``COMM_WORLD`` when NEST runs on ``n_proc`` > 1 MPI processes, None on one.

    NEST started MPI and ends it: unlike NEURON runs (:func:`simout_plugins.mpi.neuron_comm`), no ``MPI_Finalize`` at
    exit here, since NEST frees its MPI datatypes after Python's ``atexit`` handlers and MPICH fails the process
    ("Attempting to use an MPI routine (internal_Type_free) ... after finalizing MPICH", exit code 1) when MPI is
    already finalized. An uncaught error on one rank ends the whole job (:func:`simout_plugins.failstop.install_hook`).

    Parameters
    ----------
    n_proc : int
        ``nest.NumProcesses()``.

    Raises
    ------
    RuntimeError
        ``mpiexec`` started more processes than NEST has (the PyPI wheel has no MPI: every process would simulate
        the whole network and write the same files), or mpi4py is missing or sees another MPI than NEST's.
    """
    comm = simulator_comm(
        n_proc,
        simulator="NEST",
        hint="The PyPI nest-simulator wheel has no MPI; build NEST with MPI (make install-nestmpi, docs/pointnet.md)",
    )
    if comm is not None:
        install_hook(comm)
    return comm


def _block_ms(conf: Mapping[str, Any]) -> float | None:
    """The config's ``"block_run"`` / ``"block_size"`` (steps) as ms, or None (the reports choose the chunk)."""
    run = conf.get("run", {}) or {}
    if not run.get("block_run") or not run.get("block_size"):
        return None
    return float(run["block_size"]) * float(run["dt"])


def _parse(conf: Mapping[str, Any]) -> list[ReportSpec]:
    out = getattr(conf, "output_dir", None) or (conf.get("output") or {}).get("output_dir") or "."
    return parse_reports(
        reports=conf.get("reports", {}) or {}, output_dir=Path(out), nwb_metadata=conf.get(METADATA_KEY)
    )


def point_metadata(
    *, conf: Mapping[str, Any], spec: ReportSpec, config_file: str | os.PathLike | None = None, n_ranks: int = 1
) -> dict[str, Any]:
    """File-level NWB metadata of one PointNet report: defaults, provenance, the user's ``nwb_metadata`` on top."""
    import nest

    provenance = provenance_fields(
        simulator="bmtk.pointnet",
        simulator_version=package_version("bmtk"),
        config=conf,
        config_file_name=config_file if config_file is not None else "simulation_config.json",
        mpi_ranks=n_ranks,
        extra={"report": spec.name, "report_entry": spec.params, "nest_version": str(nest.__version__)},
    )
    defaults = {
        "session_description": f"BMTK (pointnet, NEST) simulation; report '{spec.name}' written by simout_plugins",
        "keywords": ["simulation", "BMTK", "NEST", "point neurons"],
    }
    return merge_metadata(provenance={**defaults, **provenance}, metadata=spec.nwb_metadata)


def run_pointnet(config_file: str | os.PathLike) -> list[Path]:
    """Build a PointNet config's network, attach its NWB reports and run it.

    Returns
    -------
    list of pathlib.Path
        The NWB files written.
    """
    from bmtk.simulator import pointnet

    config_file = Path(config_file).resolve()
    if not config_file.is_file():
        raise FileNotFoundError(f"simulation config '{config_file}' does not exist")
    conf = pointnet.Config.from_json(str(config_file), validate=True)
    register_report_module()
    _parse(conf)  # fail fast on the static part of every NWB entry, before the network is built
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    sim = point_simulator_from_config(conf, net, config_file=config_file)
    sim.run()
    return [mod.spec.path for mod in compat.simulator_mods(sim) if hasattr(mod, "spec")]
