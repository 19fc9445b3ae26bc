"""Entry points: NetPyNE's ``create`` / ``simulate`` honouring ``cfg.saveNWB``.

NetPyNE stores unknown simConfig keys silently and its ``saveData`` only knows its built-in ``save*`` flags, so
``cfg.saveNWB`` needs code around the run. Two NetPyNE-shaped functions do it:

- :func:`create`: checks ``cfg.saveNWB``, the output path and the MPI set-up, then runs NetPyNE's ``sim.create``;
- :func:`simulate`: with ``cfg.saveNWB`` on, runs the simulation in intervals and writes each interval's samples
  to the NWB file (:class:`~netpyne_module.recorder.NWBRecorder`), then gathers the spikes (and, only when asked,
  the traces) to rank 0 as NetPyNE always does, and writes the spikes to ``Units``. Without ``cfg.saveNWB`` it is
  NetPyNE's own ``sim.simulate``.

:func:`install` is the one-line convenience: it puts them in place of ``sim.create`` / ``sim.simulate`` at run time
(NetPyNE's source is not changed; :func:`uninstall` restores them), so ``sim.createSimulate``,
``sim.createSimulateAnalyze`` and the user's own create / simulate / analyze sequence work unchanged. The NetPyNE
internals used live in :mod:`netpyne_module._compat`.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

from simout_plugins.failstop import install_hook
from simout_plugins.mpi import neuron_comm, raise_if_any
from simout_plugins.nwb import merge_metadata, neuron_version, provenance_fields
from simout_plugins.write import OutputPath

from . import _compat
from .config import NWBOptions, is_enabled, parse_save_nwb
from .layout import plan_series
from .lfp import hidden_record_lfp, hide_record_lfp, parse_record_lfp, recording_lfp, restore_record_lfp
from .recorder import NWBRecorder

logger = logging.getLogger(__name__)

_ORIGINAL = "_netpyne_module_original"  # attribute of a wrapper holding NetPyNE's function


# ---------------------------------------------------------------------------------------------------- public
def create(
    netParams: Any = None,
    simConfig: Any = None,
    output: bool = False,
    clearAll: bool = False,
    *,
    sim: Any | None = None,
) -> Any:
    """NetPyNE's ``sim.create`` (same arguments and result), checking ``cfg.saveNWB`` before the network is built.

    With ``cfg.saveNWB`` on, the options, the output path (folder writable, no existing file unless ``overwrite``)
    and the MPI set-up are checked first (:func:`check_config`), on every rank; then NetPyNE's own ``sim.create``
    builds the network and sets up the recording.

    Parameters
    ----------
    netParams : netpyne.specs.NetParams, optional
        Network parameters (default: ``netParams`` of the ``__main__`` module, as in NetPyNE).
    simConfig : netpyne.specs.SimConfig, optional
        Simulation configuration (default: ``simConfig`` of the ``__main__`` module, as in NetPyNE).
    output : bool
        Return NetPyNE's ``(pops, cells, conns, rxd, stims, simData)``.
    clearAll : bool
        Clear NetPyNE's previous network first (``sim.clearAll()``).
    sim : module, optional
        ``netpyne.sim`` (default: imported here).

    Returns
    -------
    tuple or None
        What NetPyNE's ``sim.create`` returns.

    Raises
    ------
    TypeError, ValueError, PermissionError, FileExistsError, RuntimeError
        See :func:`check_config`.
    """
    sim = _get_sim(sim)
    _check_before_create(simConfig)
    kwargs = {"clearAll": True} if clearAll else {}  # NetPyNE's own default otherwise
    return _compat.original(sim, "create", _ORIGINAL)(netParams, simConfig, output=output, **kwargs)


def simulate(*, sim: Any | None = None) -> Path | None:
    """NetPyNE's ``sim.simulate``, writing the NWB file of ``cfg.saveNWB`` while the network runs.

    Call after :func:`create` (or NetPyNE's ``sim.create``). With ``cfg.saveNWB`` on this is
    :func:`simulate_save_nwb`: the traces are written to the file block by block during the run, the spikes (and
    the traces only when asked, ``gatherTraces``) are gathered to rank 0 as NetPyNE does, and the spikes go to
    ``Units``. Without it, NetPyNE's own ``sim.simulate()`` runs. Collective under MPI.

    Parameters
    ----------
    sim : module, optional
        ``netpyne.sim`` (default: imported here).

    Returns
    -------
    pathlib.Path or None
        The NWB file written, or None when ``cfg.saveNWB`` is off.
    """
    sim = _get_sim(sim)
    if not is_enabled(sim.cfg):
        _compat.original(sim, "simulate", _ORIGINAL)()
        return None
    return simulate_save_nwb(sim=sim)


def install(*, sim: Any | None = None) -> None:
    """Make ``sim.create`` / ``sim.simulate`` (and so ``sim.createSimulateAnalyze``) honour ``cfg.saveNWB``.

    The one-line convenience over :func:`create` / :func:`simulate`: they take the place of NetPyNE's functions in
    the ``netpyne.sim`` module, keeping NetPyNE's signatures. Idempotent. Call once, after ``from netpyne import
    sim`` and before running the model.

    Parameters
    ----------
    sim : module, optional
        ``netpyne.sim`` (default: imported here).

    Raises
    ------
    netpyne_module._compat.NetPyNEVersionError
        The installed NetPyNE has no ``sim.create`` / ``sim.simulate`` to wrap, or its ``createSimulate*`` do not
        call them by name.
    """
    sim = _get_sim(sim)
    if hasattr(sim.simulate, _ORIGINAL):
        return
    _compat.check_install(sim)
    original_create, original_simulate = sim.create, sim.simulate

    @functools.wraps(original_create)
    def create_wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_before_create(kwargs.get("simConfig", args[1] if len(args) > 1 else None))
        return original_create(*args, **kwargs)

    @functools.wraps(original_simulate)
    def simulate_wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_enabled(sim.cfg):
            return original_simulate(*args, **kwargs)
        simulate_save_nwb(sim=sim)
        return None

    setattr(create_wrapper, _ORIGINAL, original_create)
    setattr(simulate_wrapper, _ORIGINAL, original_simulate)
    sim.create, sim.simulate = create_wrapper, simulate_wrapper
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
    FileExistsError
        The output file exists and ``cfg.saveNWB['overwrite']`` is False.
    RuntimeError
        Started by ``mpiexec -n N`` but NEURON runs on one rank (``h.nrnmpi_init()`` was not called).
    """
    options = parse_save_nwb(cfg)
    parse_record_lfp(getattr(cfg, "recordLFP", False))  # a list of [x, y, z] positions, or off (docs/ecp.md)
    comm = _nhost_checked(None)
    install_hook(comm)  # from here on, an uncaught error on one rank ends the job instead of hanging it
    error = None
    if comm is None or comm.Get_rank() == 0:
        try:
            _check_output(options)
        except (OSError, ValueError) as exc:
            error = exc
    raise_if_any(comm, error)  # the same error on every rank
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
    _compat.check_sim(sim)
    cfg = sim.cfg
    # the output path was checked by create (check_config); the writer checks the created folder again
    options = parse_save_nwb(cfg)
    comm = _nhost_checked(sim)
    _make_folder(options.path, rank=int(sim.rank))
    keys = list(options.traces or cfg.recordTraces)
    error = None
    try:
        _compat.check_trace_keys(sim=sim, keys=keys)  # this rank's cells
    except _compat.NetPyNEVersionError as exc:
        error = exc
    raise_if_any(comm, error)
    plans = plan_series(sim=sim, keys=keys, comm=comm)
    n_ranks = 1 if comm is None else int(comm.Get_size())
    metadata = merge_metadata(
        provenance=nwb_metadata(sim=sim, provenance=options.provenance, mpi_ranks=n_ranks), metadata=options.metadata
    )
    positions = hidden_record_lfp(cfg)  # cfg.recordLFP, hidden from NetPyNE's own set-up by create (lfp.py)
    try:
        with NWBRecorder(
            options=options,
            plans=plans,
            duration_ms=float(cfg.duration),
            record_step_ms=float(cfg.recordStep),
            nwb_metadata=metadata,
            comm=comm,
        ) as recorder:
            with recording_lfp(sim=sim, positions_um=positions, host=recorder.writer, dtype=options.dtype,
                               comm=comm, on_interval=recorder.on_interval) as func:  # fmt: skip
                _compat.run_in_intervals(sim=sim, interval_ms=options.interval_ms, func=func)
                recorder.finish_traces()
            _compat.gather_without(sim=sim, keys=[] if options.gather_traces else keys)
            if options.spikes:
                recorder.add_spikes(sim=sim, cells=_spike_cells(sim))
    finally:
        restore_record_lfp(cfg)
    if int(sim.rank) == 0:
        logger.info("NetPyNE traces and spikes written to %s", options.path)
    return options.path


def nwb_metadata(*, sim: Any, provenance: bool = True, mpi_ranks: int = 1) -> dict[str, Any]:
    """NWBFile fields describing a NetPyNE run, in the package's provenance layout.

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
        :func:`simout_plugins.nwb.merge_metadata`).
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
        cfg_dict = _compat.config_dict(cfg)
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


def _check_before_create(cfg: Any | None) -> None:
    """:func:`check_config` when ``cfg`` (or ``__main__.simConfig``, NetPyNE's fallback) has ``saveNWB`` on."""
    cfg = cfg if cfg is not None else _compat.main_sim_config()
    if cfg is not None and is_enabled(cfg):
        check_config(cfg=cfg)
        hide_record_lfp(cfg)  # NetPyNE's setupRecordLFP fails on NEURON 9: our LFPRecorder records it instead


def _check_output(options: NWBOptions) -> None:
    """The writer's output-path check (:meth:`simout_plugins.write.OutputPath.check`), before the network is built.

    NetPyNE creates a missing ``cfg.saveFolder`` when it saves (so does :func:`simulate_save_nwb`), so the folder may
    be missing: then its nearest existing ancestor must be a writable folder.
    """
    hint = "choose another cfg.saveFolder or cfg.saveNWB['filename']"
    try:
        OutputPath(options.path).check(overwrite=options.overwrite, create_folder=True)
    except PermissionError as exc:
        raise PermissionError(f"NWB output: {exc}; {hint}") from exc
    except FileExistsError as exc:
        raise FileExistsError(
            f"the NWB output '{options.path}' exists and cfg.saveNWB['overwrite'] is False; set it to True or {hint}"
        ) from exc


def _make_folder(path: Path, *, rank: int) -> None:
    """Create the output folder like NetPyNE's saveData does (rank 0); the writer reports a failure."""
    if rank == 0:
        try:
            OutputPath(path).make_folder()
        except OSError as exc:
            logger.debug("could not create %s: %s", path.parent, exc)


def _spike_cells(sim: Any) -> list[Any]:
    """This rank's cells whose spikes NetPyNE records (``cfg.recordCellsSpikes``; -1 = all)."""
    which = sim.cfg.recordCellsSpikes
    if which == -1:
        return list(sim.net.cells)
    return list(sim.getCellsList(list(which)))
