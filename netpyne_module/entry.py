"""Entry points: make NetPyNE's own ``sim.create`` / ``sim.simulate`` honour ``cfg.saveNWB``.

NetPyNE stores unknown simConfig keys silently and its ``saveData`` only knows its built-in ``save*`` flags, so
``cfg.saveNWB`` needs code around the run. :func:`install` wraps two functions of the ``netpyne.sim`` module at
run time (NetPyNE's source is not changed; :func:`uninstall` restores them):

- ``sim.create``: checks ``cfg.saveNWB``, the output folder and the MPI set-up before the network is built;
- ``sim.simulate``: with ``cfg.saveNWB`` on, runs the simulation in intervals and writes each interval's samples
  to the NWB file (:class:`~netpyne_module.recorder.NWBRecorder`), then gathers the spikes (and, only when asked,
  the traces) to rank 0 as NetPyNE always does, and writes the spikes to ``Units``. Without ``cfg.saveNWB`` it is
  NetPyNE's own ``simulate``.

``sim.createSimulate``, ``sim.createSimulateAnalyze`` and the create / simulate / analyze sequence all go through
these two functions, so the user's usual call works unchanged.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

from simout_plugins.failstop import install_hook
from simout_plugins.mpi import neuron_comm
from simout_plugins.nwb.provenance import merge_metadata, neuron_version, provenance_fields
from simout_plugins.write.outputs import can_create_file_in

from .config import NWBOptions, is_enabled, parse_save_nwb
from .layout import plan_series
from .recorder import NWBRecorder

logger = logging.getLogger(__name__)

_ORIGINAL = "_netpyne_module_original"  # attribute of a wrapper holding NetPyNE's function


# ---------------------------------------------------------------------------------------------------- public
def install(*, sim: Any | None = None) -> None:
    """Make ``sim.create`` / ``sim.simulate`` (and so ``sim.createSimulateAnalyze``) honour ``cfg.saveNWB``.

    Idempotent. Call once, after ``from netpyne import sim`` and before running the model.

    Parameters
    ----------
    sim : module, optional
        ``netpyne.sim`` (default: imported here).
    """
    sim = _get_sim(sim)
    if hasattr(sim.simulate, _ORIGINAL):
        return
    original_create, original_simulate = sim.create, sim.simulate

    @functools.wraps(original_create)
    def create(*args: Any, **kwargs: Any) -> Any:
        cfg = kwargs.get("simConfig", args[1] if len(args) > 1 else None)
        if cfg is None:
            cfg = getattr(sys.modules.get("__main__"), "simConfig", None)  # NetPyNE's own fallback
        if cfg is not None and is_enabled(cfg):
            check_config(cfg=cfg)
        return original_create(*args, **kwargs)

    @functools.wraps(original_simulate)
    def simulate(*args: Any, **kwargs: Any) -> Any:
        if not is_enabled(sim.cfg):
            return original_simulate(*args, **kwargs)
        simulate_save_nwb(sim=sim)
        return None

    setattr(create, _ORIGINAL, original_create)
    setattr(simulate, _ORIGINAL, original_simulate)
    sim.create, sim.simulate = create, simulate
    logger.debug("netpyne_module installed: sim.create / sim.simulate honour cfg.saveNWB")


def uninstall(*, sim: Any | None = None) -> None:
    """Restore NetPyNE's own ``sim.create`` / ``sim.simulate``."""
    sim = _get_sim(sim)
    for name in ("create", "simulate"):
        func = getattr(sim, name)
        if hasattr(func, _ORIGINAL):
            setattr(sim, name, getattr(func, _ORIGINAL))


def createSimulateAnalyze(netParams: Any = None, simConfig: Any = None, output: bool = False) -> Any:
    """NetPyNE's ``sim.createSimulateAnalyze`` (same signature and result), honouring ``cfg.saveNWB``.

    Equivalent to ``install()`` followed by ``sim.createSimulateAnalyze(netParams, simConfig, output)``.
    """
    sim = _get_sim(None)
    install(sim=sim)
    return sim.createSimulateAnalyze(netParams, simConfig, output)


def createSimulate(netParams: Any = None, simConfig: Any = None, output: bool = False) -> Any:
    """NetPyNE's ``sim.createSimulate`` (same signature and result), honouring ``cfg.saveNWB``."""
    sim = _get_sim(None)
    install(sim=sim)
    return sim.createSimulate(netParams, simConfig, output)


def check_config(*, cfg: Any) -> NWBOptions:
    """Check ``cfg.saveNWB``, the output folder and the MPI set-up; raise before anything is built or written.

    Parameters
    ----------
    cfg : netpyne.specs.SimConfig

    Returns
    -------
    NWBOptions

    Raises
    ------
    TypeError, ValueError
        A bad ``cfg.saveNWB`` (see :func:`~netpyne_module.config.parse_save_nwb`).
    PermissionError
        The output folder cannot be created or written.
    RuntimeError
        Started by ``mpiexec -n N`` but NEURON runs on one rank (``h.nrnmpi_init()`` was not called).
    """
    options = parse_save_nwb(cfg)
    _check_folder(options.path)
    comm = _nhost_checked(None)
    install_hook(comm)  # from here on, an uncaught error on one rank ends the job instead of hanging it
    if comm is None or comm.Get_rank() == 0:
        for issue in options.metadata_issues:
            logger.warning("%s (pynwb accepts it; DANDI's nwbinspector checks do not)", issue)
    return options


def simulate_save_nwb(*, sim: Any | None = None) -> Path:
    """Run the created network (``sim.create`` done) writing ``cfg.saveNWB``'s NWB file; gather like NetPyNE.

    This is what the installed ``sim.simulate`` does when ``cfg.saveNWB`` is on. Collective under MPI.

    Parameters
    ----------
    sim : module, optional
        ``netpyne.sim`` (default: imported here).

    Returns
    -------
    pathlib.Path
        The NWB file written.
    """
    sim = _get_sim(sim)
    cfg = sim.cfg
    # the folder was probed by sim.create (check_config); the writer checks the created folder again
    options = parse_save_nwb(cfg)
    comm = _nhost_checked(sim)
    _make_folder(options.path, rank=int(sim.rank))
    keys = list(options.traces or cfg.recordTraces)
    plans = plan_series(sim=sim, keys=keys, comm=comm)
    n_ranks = 1 if comm is None else int(comm.Get_size())
    metadata = merge_metadata(
        provenance=nwb_metadata(sim=sim, provenance=options.provenance, mpi_ranks=n_ranks), metadata=options.metadata
    )
    with NWBRecorder(
        options=options,
        plans=plans,
        duration_ms=float(cfg.duration),
        record_step_ms=float(cfg.recordStep),
        nwb_metadata=metadata,
        comm=comm,
    ) as recorder:
        _run_with_interval(sim, options.interval_ms, recorder.on_interval)
        recorder.finish_traces()
        _gather(sim, hide=[] if options.gather_traces else keys)
        if options.spikes:
            recorder.add_spikes(sim=sim, cells=_spike_cells(sim))
    if int(sim.rank) == 0:
        logger.info("NetPyNE traces and spikes written to %s", options.path)
    return options.path


def nwb_metadata(*, sim: Any, provenance: bool = True, mpi_ranks: int = 1) -> dict[str, Any]:
    """NWBFile fields describing a NetPyNE run, in the provenance layout of :mod:`simout_plugins.nwb.provenance`.

    ``notes`` holds the provenance JSON (simulator ``"netpyne"``, NetPyNE / NEURON versions, command, ranks, the
    running script's name); with ``provenance`` the simConfig and netParams go to ``source_script`` as one JSON
    object ``{"simConfig": ..., "netParams": ...}`` (functions as their source text, numpy values as numbers /
    lists), named ``netpyne_config.json``.

    Parameters
    ----------
    sim : module
        ``netpyne.sim`` after ``sim.create``.
    provenance : bool
        Store simConfig and netParams.
    mpi_ranks : int
        MPI ranks of the run.

    Returns
    -------
    dict
        NWBFile keyword arguments; the user's ``cfg.saveNWB['metadata']`` goes on top (see
        :func:`simout_plugins.nwb.provenance.merge_metadata`).
    """
    cfg = sim.cfg
    label = getattr(cfg, "simLabel", "") or getattr(cfg, "filename", "") or "netpyne"
    version = str(sim.version(show=False)) if hasattr(sim, "version") else "unknown"
    extra: dict[str, Any] = {"sim_label": str(label)}
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script:
        extra["script"] = os.path.basename(script)
    config = None
    if provenance:
        cfg_dict = {k: v for k, v in vars(cfg).items() if k != "_runner"}
        net_params = {k: v for k, v in vars(sim.net.params).items() if not k.startswith("_")}
        config = {"simConfig": cfg_dict, "netParams": net_params}
    meta: dict[str, Any] = {
        "session_description": f"NetPyNE simulation '{label}': {cfg.duration} ms, recordStep {cfg.recordStep} ms",
        "keywords": ["NetPyNE", "NEURON", "simulation"],
    }
    meta.update(
        provenance_fields(
            simulator="netpyne",
            simulator_version=version,
            neuron_version=neuron_version(),
            config=config,
            config_file_name="netpyne_config.json",
            mpi_ranks=mpi_ranks,
            extra=extra,
        )
    )
    return meta


# ---------------------------------------------------------------------------------------------------- private
def _get_sim(sim: Any | None) -> Any:
    if sim is not None:
        return sim
    from netpyne import sim as netpyne_sim

    return netpyne_sim


def _nhost_checked(sim: Any | None) -> Any | None:
    """The mpi4py communicator when NEURON runs on several ranks, else None; refuse N silent 1-rank copies."""
    if sim is not None and hasattr(sim, "pc"):
        nhost = int(sim.pc.nhost())
    else:
        from neuron import h

        nhost = int(h.ParallelContext().nhost())
    return neuron_comm(
        nhost,
        hint=(
            "Call `from neuron import h; h.nrnmpi_init()` before using NetPyNE (and set MPI_LIB_NRN_PATH to the "
            "libmpi of your mpiexec)"
        ),
    )


def _check_folder(path: Path) -> None:
    folder = path.parent.resolve()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PermissionError(
            f"cannot create the NWB output folder '{folder}': '{existing}' is a file; choose another "
            "cfg.saveFolder or cfg.saveNWB['filename']"
        )
    if not can_create_file_in(existing):  # the writer's probe: permission bits miss root and read-only mounts
        raise PermissionError(
            f"the NWB output folder '{existing}' is not writable; choose another cfg.saveFolder or "
            "cfg.saveNWB['filename']"
        )


def _make_folder(path: Path, *, rank: int) -> None:
    """Create the output folder like NetPyNE's saveData does (rank 0); the writer reports a failure."""
    if rank == 0:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            logger.debug("could not create %s: %s", path.parent, exc)


def _run_with_interval(sim: Any, interval_ms: float, func: Any) -> None:
    """NetPyNE's ``runSimWithIntervalFunc`` loop, ending at ``cfg.duration`` whatever its value.

    NetPyNE 1.1.1's loop (``while round(h.t) < stopTime``) never ends when ``duration`` has a fraction below
    0.5 ms (e.g. 100.3): ``round(100.3) < 100.3`` stays true. The same steps are used: ``prepareSimWithIntervalFunc``,
    ``runForInterval`` (``pc.psolve`` then ``func(h.t)``), ``postRun``.
    """
    from netpyne.sim import run as netpyne_run
    from neuron import h

    stop_ms, kwargs = netpyne_run.prepareSimWithIntervalFunc()
    while h.t < stop_ms - 0.5 * float(sim.cfg.dt):
        netpyne_run.runForInterval(interval_ms, func, **kwargs)
    netpyne_run.postRun(stop_ms)


def _gather(sim: Any, *, hide: list[str]) -> None:
    """NetPyNE's ``sim.gatherData()`` without the given trace keys (they are in the NWB file already).

    The keys are taken out of ``sim.simData`` for the gather only, so NetPyNE neither pickles them to rank 0 nor
    copies them into lists; ``sim.simData`` keeps its ``h.Vector``s.
    """
    hidden = {key: sim.simData.pop(key) for key in hide if key in sim.simData}
    try:
        sim.gatherData()
    finally:
        sim.simData.update(hidden)


def _spike_cells(sim: Any) -> list[Any]:
    """This rank's cells whose spikes NetPyNE records (``cfg.recordCellsSpikes``; -1 = all)."""
    which = sim.cfg.recordCellsSpikes
    if which == -1:
        return list(sim.net.cells)
    return list(sim.getCellsList(list(which)))
