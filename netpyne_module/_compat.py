"""Every NetPyNE internal netpyne_module relies on, in one place, each behind a feature check.

NetPyNE has no public hook for writing traces while a run goes on, so the adapter rebuilds ``sim.simulate`` from the
steps of ``netpyne.sim.run``, reads the ``h.Vector``s NetPyNE records from ``sim.simData`` (whose keys have a fixed
format), and reads each cell's NEURON sections from ``cell.secs[...]['hObj']``. This module is the only place of the
adapter that knows those names. Each function checks what it uses and raises :class:`NetPyNEVersionError` naming
the feature, the installed netpyne version and :data:`TESTED_RANGE` when it is missing.

NOTE: an entry goes away when NetPyNE offers it publicly (e.g. an interval callback in ``sim.simulate``, a trace
accessor). Keep :data:`TESTED_RANGE` equal to the ``netpyne`` pin of the ``[netpyne]`` extra in ``pyproject.toml``.

Importing this module imports neither NEURON nor NetPyNE.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import numpy as np

#: netpyne versions netpyne_module is tested with (the ``[netpyne]`` extra of pyproject.toml declares the same range).
TESTED_RANGE = ">=1.1,<1.2"

#: ``netpyne.sim.run`` steps the rebuilt simulate loop calls (``runSimWithIntervalFunc``'s own steps).
RUN_STEPS = ("prepareSimWithIntervalFunc", "runForInterval", "postRun")
#: ``netpyne.sim`` functions the adapter wraps or calls.
SIM_FUNCTIONS = ("create", "simulate", "gatherData", "getCellsList", "createSimulate", "createSimulateAnalyze")
#: ``sim.simData[key]`` entry of one cell: ``cell_<gid>`` (``cell_time_<gid>`` with cvode's adaptive steps).
CELL_KEY = re.compile(r"^cell_(?:time_)?(?P<gid>\d+)$")


class NetPyNEVersionError(RuntimeError):
    """The installed NetPyNE lacks an internal netpyne_module needs (another version than :data:`TESTED_RANGE`)."""


def netpyne_version() -> str:
    """The installed netpyne version (``"unknown"`` when it has no package metadata)."""
    try:
        return metadata.version("netpyne")
    except metadata.PackageNotFoundError:
        return "unknown"


def unsupported(feature: str) -> NetPyNEVersionError:
    """The one error for a missing NetPyNE internal: names it, the installed version and the tested range."""
    return NetPyNEVersionError(
        f"netpyne_module needs {feature}, which the installed netpyne {netpyne_version()} does not have; "
        f"netpyne_module is tested with netpyne {TESTED_RANGE} (pip install 'netpyne{TESTED_RANGE}')"
    )


# ---------------------------------------------------------------------------------------------- netpyne.sim
def check_sim(sim: Any) -> None:
    """Check ``netpyne.sim`` for the functions the adapter wraps and calls (static: the same on every rank).

    ``sim.createSimulate`` / ``sim.createSimulateAnalyze`` must look ``sim.create`` / ``sim.simulate`` up at call
    time (NetPyNE's wrappers do ``from .. import sim; sim.create(...)``), so that :func:`netpyne_module.install`
    reaches them (:func:`check_install`).

    Raises
    ------
    NetPyNEVersionError
    """
    missing = [name for name in SIM_FUNCTIONS if not callable(getattr(sim, name, None))]
    if missing:
        raise unsupported(f"netpyne.sim function(s) {missing}")
    check_install(sim)
    run_steps()


def check_install(sim: Any) -> None:
    """Check what :func:`netpyne_module.install` relies on: ``sim.create`` / ``sim.simulate`` to wrap, and NetPyNE's
    ``createSimulate*`` calling them by name (``from .. import sim; sim.create(...)``), so they reach the wrappers.

    Raises
    ------
    NetPyNEVersionError
    """
    missing = [name for name in ("create", "simulate") if not callable(getattr(sim, name, None))]
    if missing:
        raise unsupported(f"netpyne.sim function(s) {missing}")
    for name in ("createSimulate", "createSimulateAnalyze"):
        func = getattr(sim, name, None)
        try:
            source = inspect.getsource(inspect.unwrap(func)) if callable(func) else None
        except (OSError, TypeError):
            source = None  # no source to read (a frozen install): trust the version range
        if source is not None and ("sim.create(" not in source or "sim.simulate(" not in source):
            raise unsupported(f"netpyne.sim.{name} calling sim.create(...) and sim.simulate() by name")


def original(sim: Any, name: str, marker: str) -> Callable[..., Any]:
    """NetPyNE's own ``sim.<name>`` (the function a wrapper carrying ``marker`` holds, or ``sim.<name>``)."""
    func = getattr(sim, name, None)
    if not callable(func):
        raise unsupported(f"netpyne.sim.{name}")
    return getattr(func, marker, func)


def main_sim_config() -> Any | None:
    """``simConfig`` of the ``__main__`` module: what ``sim.create()`` uses when called without one."""
    return getattr(sys.modules.get("__main__"), "simConfig", None)


def run_steps() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``netpyne.sim.run``'s ``prepareSimWithIntervalFunc``, ``runForInterval`` and ``postRun``."""
    try:
        from netpyne.sim import run as netpyne_run
    except ImportError as exc:
        raise unsupported(f"netpyne.sim.run ({exc})") from exc
    missing = [name for name in RUN_STEPS if not callable(getattr(netpyne_run, name, None))]
    if missing:
        raise unsupported(f"netpyne.sim.run function(s) {missing} (the steps of runSimWithIntervalFunc)")
    return tuple(getattr(netpyne_run, name) for name in RUN_STEPS)


def run_in_intervals(*, sim: Any, interval_ms: float, func: Callable[[float], None]) -> None:
    """NetPyNE's ``runSimWithIntervalFunc`` loop, ending at ``cfg.duration`` whatever its value.

    NetPyNE 1.1's loop (``while round(h.t) < stopTime``) never ends when ``duration`` has a fraction below 0.5 ms
    (e.g. 100.3): ``round(100.3) < 100.3`` stays true. The same steps are used: ``prepareSimWithIntervalFunc``,
    ``runForInterval`` (``pc.psolve`` then ``func(h.t)``), ``postRun``. Collective (``pc.psolve``, barriers).

    NOTE: goes away when NetPyNE's loop ends at any duration (``while h.t < stopTime``).
    """
    prepare, run_for_interval, post_run = run_steps()
    from neuron import h

    stop_ms, kwargs = prepare()
    while h.t < stop_ms - 0.5 * float(sim.cfg.dt):
        run_for_interval(interval_ms, func, **kwargs)
    post_run(stop_ms)


def gather_without(*, sim: Any, keys: list[str]) -> None:
    """NetPyNE's ``sim.gatherData()`` without the given trace keys (they are in the NWB file already).

    The keys are taken out of ``sim.simData`` for the gather only, so NetPyNE neither pickles them to rank 0 nor
    copies them into lists; ``sim.simData`` keeps its ``h.Vector``s. Collective.
    """
    sim_data = sim_data_of(sim)
    hidden = {key: sim_data.pop(key) for key in keys if key in sim_data}
    try:
        sim.gatherData()
    finally:
        sim_data.update(hidden)


# ---------------------------------------------------------------------------------------------- sim.simData
def sim_data_of(sim: Any) -> Mapping[str, Any]:
    """``sim.simData``, the dict NetPyNE records into."""
    data = getattr(sim, "simData", None)
    if not isinstance(data, Mapping):
        raise unsupported("sim.simData (a dict of recorded data, after sim.create)")
    return data


def check_trace_keys(*, sim: Any, keys: list[str]) -> None:
    """Check that ``sim.simData[key]`` holds one entry per cell, named ``cell_<gid>`` (local: this rank's cells).

    Raises
    ------
    NetPyNEVersionError
        An entry of another format (the adapter would find no trace).
    """
    data = sim_data_of(sim)
    for key in keys:
        entries = data.get(key) or {}
        odd = sorted(str(name) for name in entries if not CELL_KEY.match(str(name)))
        if odd:
            raise unsupported(f"sim.simData[{key!r}] entries named 'cell_<gid>' (found {odd[:3]})")


def trace_entry(*, sim: Any, key: str, gid: int) -> Any | None:
    """What NetPyNE recorded for trace ``key`` of cell ``gid``: an ``h.Vector``, or a dict of them by synapse.

    None when NetPyNE recorded nothing for that cell. Synaptic traces without ``sec`` are dicts keyed
    ``'<section>_<loc>'`` (see :func:`synapse_places`).
    """
    return (sim_data_of(sim).get(key) or {}).get(f"cell_{gid}")


def spike_arrays(sim: Any) -> tuple[np.ndarray, np.ndarray]:
    """This rank's spikes: ``sim.simData['spkt']`` (ms, float64) and ``sim.simData['spkid']`` (gids, int64)."""
    data = sim_data_of(sim)
    if "spkt" not in data or "spkid" not in data:
        raise unsupported("sim.simData['spkt'] / ['spkid'] (spike times and gids)")
    return _as_array(data["spkt"]), _as_array(data["spkid"]).astype(np.int64)


def _as_array(values: Any) -> np.ndarray:
    """float64 copy of an ``h.Vector`` (via its numpy view) or a list."""
    return np.array(values.as_numpy() if hasattr(values, "as_numpy") else values, dtype=np.float64)


# ---------------------------------------------------------------------------------------------- cells
def sections(cell: Any) -> Mapping[str, Any]:
    """``cell.secs``: a cell's sections by name (empty for point neurons)."""
    return getattr(cell, "secs", {}) or {}


def section_object(cell: Any, name: str) -> Any:
    """The NEURON section of ``cell.secs[name]`` (its ``'hObj'``)."""
    entry = sections(cell).get(name)
    hobj = entry.get("hObj") if isinstance(entry, Mapping) else None
    if hobj is None or not hasattr(hobj, "nseg"):
        raise unsupported(f"cell.secs[{name!r}]['hObj'] (the NEURON section of cell {getattr(cell, 'gid', '?')})")
    return hobj


def synapse_places(cell: Any, label: str) -> dict[str, tuple[str, float]]:
    """Where the synapses ``label`` of a cell sit, by the key NetPyNE records them under: ``'<sec>_<loc>'``.

    From ``cell.secs[sec]['synMechs']`` (dicts with ``'label'`` and ``'loc'``); NetPyNE names a synaptic trace
    without ``sec`` ``secName + '_' + str(synMech['loc'])``.
    """
    places = {}
    for name, sec in sections(cell).items():
        for syn in sec.get("synMechs", []):
            if not isinstance(syn, Mapping) or "label" not in syn or "loc" not in syn:
                raise unsupported(f"cell.secs[{name!r}]['synMechs'] entries with 'label' and 'loc'")
            if syn["label"] == label:
                places[f"{name}_{syn['loc']}"] = (name, float(syn["loc"]))
    return places


def point_process_mod(cell: Any, sec: str | None, label: str) -> str:
    """The NMODL name of point process ``label`` in ``cell.secs[sec]['pointps']`` (``label`` when unknown)."""
    return sections(cell).get(sec, {}).get("pointps", {}).get(label, {}).get("mod", label)


def stimulus_type(cell: Any, label: str) -> str:
    """The type (e.g. ``IClamp``) of stimulus ``label`` in ``cell.stims`` (``label`` when unknown)."""
    return next((s.get("type", label) for s in getattr(cell, "stims", []) if s.get("label") == label), label)


def config_dict(cfg: Any) -> dict[str, Any]:
    """simConfig fields as NetPyNE saves them (``_runner`` left out, as ``sim.saveData`` does)."""
    return {k: v for k, v in vars(cfg).items() if k != "_runner"}
