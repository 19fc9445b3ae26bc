"""Every BMTK PointNet (NEST) internal bmtk_module relies on, in one place: the pointnet sibling of ``_compat``.

BMTK's ``PointSimulator`` has no public way for a report module outside BMTK to (1) be listed in a config (its
``from_config`` raises ``Exception: Unknown report type ...`` for a module it does not know), (2) run at the end of
each block of simulated time (its modules get ``initialize`` and ``finalize`` only; ``run`` calls ``nest.Simulate``
itself), or (3) map NEST ids to SONATA (population, node id) in bulk. So:

- :func:`from_config_without` builds the simulator from a copy of the config without our report entries;
- :func:`run_in_blocks` is ``PointSimulator.run`` (bmtk 1.2, ``pointsimulator.py``) with a callback after every
  ``nest.Simulate`` chunk; it reads the simulator's module list ``_mods``;
- :func:`nest_id_table` reads the gid pool's public ``nestid2nodeid_df``;
- node-set names come from ``_compat.node_set_names`` (PointNetwork keeps them as bionet's network does).

NOTE: each goes away when BMTK's PointSimulator offers it (a report registry ``from_config`` honours, a block hook
like bionet's ``SimulatorMod.block``). Importing this module imports neither NEST nor bmtk's pointnet.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from ._compat import node_set_names, unsupported

__all__ = [
    "NEST_SIMULATORS", "is_pointnet_config", "from_config_without", "drop_fileless_spikes", "clear_events",
    "simulator_mods", "run_in_blocks", "nest_id_table", "node_set_names", "selected_pairs",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: BMTK's ``target_simulator`` values that mean PointNet (the SONATA config's simulator name for NEST)
NEST_SIMULATORS = frozenset({"nest", "pointnet"})


def is_pointnet_config(conf: Mapping[str, Any]) -> bool:
    """True when a config's ``"target_simulator"`` names NEST (BMTK's PointNet), as BMTK's own configs say it."""
    target = conf.get("target_simulator") if hasattr(conf, "get") else None
    return isinstance(target, str) and target.strip().lower() in NEST_SIMULATORS


def from_config_without(conf: Any, *, modules: Collection[str], build: Callable[[Any], Any]) -> Any:
    """``build(reduced)``: ``reduced`` is a copy of ``conf`` whose ``"reports"`` lack the ``modules`` entries.

    PointNet's ``from_config`` raises on a report module it does not know; the NWB entries are attached afterwards.
    """
    reduced = copy.copy(conf)  # a shallow copy keeps the Config subclass (and its output_dir, ...)
    reports = conf.get("reports", {}) or {}
    reduced["reports"] = {
        name: params
        for name, params in reports.items()
        if not (isinstance(params, Mapping) and params.get("module") in modules)
    }
    if hasattr(reduced, "reports"):  # SonataConfig keeps its sections as attributes too (``cfg.reports``)
        reduced.reports = reduced["reports"]
    sim = build(reduced)
    drop_fileless_spikes(sim)
    return sim


def drop_fileless_spikes(sim: Any) -> None:
    """Remove BMTK's spike recorder when the config names no spikes file (it would record and write nothing).

    PointNet adds its ``SpikesMod`` even when ``"output"`` has no ``spikes_file`` / ``spikes_file_csv`` /
    ``spikes_file_nwb`` (the report is built with ``enabled: False`` and made anyway). Its ``spike_recorder`` is
    connected from every cell, and NEST 3.10 gives each cell's first connection to a recorder a block of 1024
    connections: about 30 KB per cell, 30 GB at 1M cells, for spikes no file receives. Nothing is created yet when
    this runs (modules ``initialize`` at ``run``).
    """
    from bmtk.simulator.pointnet.modules import SpikesMod

    mods = simulator_mods(sim)
    idle = [
        mod
        for mod in mods
        if isinstance(mod, SpikesMod)
        and all(getattr(mod, f"_{kind}_fname_raw", "?") is None for kind in ("csv", "h5", "nwb"))
    ]
    for mod in idle:
        mods.remove(mod)
    if idle:
        logger.info("no spikes file in the config's output: BMTK's spike recorder left out (%d)", len(idle))


def clear_events(device: Any) -> None:
    """Empty a recording device's memory-backend events (``n_events = 0``) without reading its status first.

    ``NodeCollection.set`` (NEST 3.10) reads the device's whole status twice before setting (``self.local`` and
    ``self[0].get()``), and reading a status converts every buffered event to Python: each clear cost two reads of
    the chunk's events. The kernel call it ends in takes the one key directly.
    """
    try:
        from nest import nestkernel_api as kernel

        kernel.llapi_set_nc_status(device._datum, [{"n_events": 0}])
    except (ImportError, AttributeError):  # another PyNEST: its public setter
        device.n_events = 0


def simulator_mods(sim: Any) -> list:
    """The modules of a built PointSimulator (its private ``_mods`` list; ``add_mod`` appends to it)."""
    mods = getattr(sim, "_mods", None)
    if not isinstance(mods, list):
        raise unsupported("PointSimulator._mods (the list of simulator modules)")
    return mods


def run_in_blocks(sim: Any, *, chunk_ms: Callable[[], float], after_chunk: Callable[[], None]) -> None:
    """Run a PointSimulator like ``PointSimulator.run()`` and call ``after_chunk`` after each ``nest.Simulate``.

    The same sequence as bmtk 1.2's ``run``: every module's ``initialize``, a barrier, ``nest.Simulate`` up to
    ``sim.tstop`` (here in chunks of ``chunk_ms()`` ms, asked after the modules are initialized), a barrier, every
    module's ``finalize``. NEST's dynamics do not depend on how ``Simulate`` calls split the run.

    Raises
    ------
    ValueError
        ``sim.tstop`` is a list (``"n_runs"`` in the config), which the NWB reports do not support.
    """
    import nest
    from bmtk.simulator.pointnet.io_tools import io

    tstop = sim.tstop
    if isinstance(tstop, list):
        raise ValueError('NWB reports record one run: remove "n_runs" from the config\'s "run" section')
    for mod in simulator_mods(sim):
        mod.initialize(sim)
    io.barrier()
    io.log_info("Simulation Started")
    dt = float(sim.dt)
    n_total = int(round(float(tstop) / dt))
    chunk = max(1, int(round(chunk_ms() / dt)))
    done = 0
    while done < n_total:
        steps = min(chunk, n_total - done)
        nest.Simulate(steps * dt)
        done += steps
        after_chunk()
    io.barrier()
    io.log_info("Simulation finished, finalizing results.")
    for mod in simulator_mods(sim):
        mod.finalize(sim)
    io.barrier()
    io.log_info("Done.")


def nest_id_table(net: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every built cell of a PointNetwork: NEST ids, SONATA node ids and population names (aligned arrays)."""
    pool = getattr(net, "gid_pool", None)
    df = getattr(pool, "nestid2nodeid_df", None)
    if df is None:
        raise unsupported("PointNetwork.gid_pool.nestid2nodeid_df (NEST id -> population, node id)")
    return (
        np.asarray(df.index.values, dtype=np.int64),
        np.asarray(df["node_ids"].values, dtype=np.int64),
        np.asarray(df["populations"].values, dtype=object),
    )


def selected_pairs(net: Any, cells: Any) -> list[tuple[str, int]]:
    """(population, node id) of every non-virtual node a ``"cells"`` value selects (BMTK's NodeSet)."""
    node_set = net.get_node_set(cells)
    return [(node.population_name, int(node.node_id)) for node in node_set.fetch_nodes()]
