"""``"module": "nwb_netcon_report"``: BMTK BioNet's ``netcon_report`` (synaptic variables, e.g. ``g`` / ``i`` of
``Exp2Syn``) written as a CompartmentSeries whose columns are synapses (docs/bmtk.md, "Synaptic variables").

Keys as the native report (``cells``, ``sections``, ``syn_type``, ``variable_name``, ``file_name``, ``start_time`` /
``end_time`` / ``dt``) plus every key of ``nwb_compartment_report`` (``dtype``, ``spikes``, ``nwb_metadata``,
``compression``, ``precision``). The synapses recorded are the native report's: every NetCon of a selected cell whose
target's ``hname()`` starts with ``syn_type`` (default ``"Exp2Syn"``; ``null`` takes every synapse), in the cell's
NetCon order (``cell.netcons``). Unlike the native report, which ignores it, ``sections`` keeps only the synapses on
those section types (default ``"all"``). A selected cell without sections (``IntFire1`` and other point processes)
has a row with zero synapses, as in ``nwb_compartment_report``.

Per cell row, each synapse's ``number`` is BMTK's element id (the index of its section in
``cell.get_sections_id()``, the native report's ``element_ids``), ``position`` its x (``element_pos``), ``label`` the
section name; the per-synapse columns ``synapse_type`` (the NEURON mechanism, e.g. ``"Exp2Syn"``),
``source_population`` and ``source_node_id`` (the presynaptic node as BMTK's edges give it; ``""`` / -1 where BMTK
does not keep it) follow. Sampling, blocks, spikes and MPI are those of
:class:`~bmtk_module.report_mod.NWBCompartmentReportMod`, which this subclasses (its sampler copies every recorded
synapse variable of the rank once per recorded step; the same steps as BMTK's ``NetconReport._record_on_step``).
The entry's static checks live in :mod:`bmtk_module.netcon_config`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.mpi import raise_if_any

from ._compat import segment_table
from .config import METADATA_KEY, ReportSpec
from .netcon_config import NETCON_MODULE, NetconSpec, parse_netcon_reports
from .report_mod import NWBCompartmentReportMod, _local_cells

logger = logging.getLogger(__name__)

#: per-synapse columns of the Compartments table, besides number / position / label
SYNAPSE_COLUMNS = ("synapse_type", "source_population", "source_node_id")


class NWBNetconReportMod(NWBCompartmentReportMod):
    """Record variables of the selected cells' synapses and write them to one NWB file (see the module docstring).

    Use :func:`add_nwb_netcon_reports` (or :func:`bmtk_module.add_nwb_reports`) rather than building it directly.

    Parameters
    ----------
    spec : NetconSpec
        The checked config entry.
    sim : bmtk.simulator.bionet.BioSimulator
        The built simulator (cells and synapses exist; the run has not started).
    comm : mpi4py communicator or None
        World communicator when NEURON runs on several MPI ranks.
    provenance : dict
        File-level NWB metadata.

    Raises
    ------
    ValueError
        Unknown node set, a ``syn_type`` no selected cell has (on any rank), a variable the synapse type lacks,
        synapse types whose variable units differ, a window outside the run; naming the report, key and value.
    """

    def __init__(self, *, spec: NetconSpec, sim: Any, comm: Any | None, provenance: dict) -> None:
        self._syn_type = spec.syn_type
        self._units: list[str] = []
        super().__init__(spec=spec.spec, sim=sim, comm=comm, provenance=provenance)

    def _recorded(self, where: str, spec: ReportSpec, sim: Any) -> tuple[dict, list]:
        """The selected cells' synapses (collective: the synapse types are agreed over every rank)."""
        error: Exception | None = None
        layout: dict = {}
        refs: list = []
        types: list[str] = []
        try:
            gids = _local_cells(where, spec, sim)
            bio = set(int(g) for g in sim.biophysical_gids)
            layout, syns, types = synapse_layout(
                spec=spec, syn_type=self._syn_type, sim=sim, gids=gids, no_sections={g for g in gids if g not in bio}
            )
            refs = _references(where, spec.variables, syns, layout["compartment_columns"])
        except ValueError as exc:
            error = exc
        raise_if_any(self._comm, error)
        seen = _union(self._comm, types)
        found = _union(self._comm, layout["compartment_columns"]["synapse_type"].tolist())
        if not found:  # the same on every rank
            raise ValueError(
                f"{where}: syn_type {self._syn_type!r}: no selected cell has a synapse of that type on sections "
                f"{list(spec.sections)} (synapse types of the selected cells: {seen or 'none'}); fix syn_type "
                "(null: every type), sections or cells"
            )
        self._units = _units(where, sim, spec.variables, found)
        return layout, refs

    def _make_writer(self, sim: Any, provenance: dict) -> CompartmentSeriesWriter:
        import math

        spec, lay, win = self._spec, self._layout, self._window
        comps = build_compartments(
            node_ids=lay["node_ids"],
            counts=lay["counts"],
            number=lay["number"],
            position=lay["position"],
            label=lay["label"],
            population=lay["population"],
            cell_ids=lay["cell_ids"],
            compartment_columns=lay["compartment_columns"],
            name="synapses",
            description=(
                f"Synapses of BMTK report '{spec.name}': one row per cell (ordered by population, node id), one entry "
                "per synapse in the cell's NetCon order; number = BMTK element id (index of the synapse's section in "
                "the cell's section list, as the native netcon_report's element_ids), position = x along that "
                "section, label = section name, synapse_type = NEURON point process, source_population / "
                "source_node_id = the presynaptic node ('' / -1: not known to BMTK)."
            ),
        )
        comments = (
            "Recorded by BMTK after each time step: sample k is the value at t = starting_time + k / rate (the "
            f"first sample is at {win.tstart_ms} ms, one simulation step after the window start, as in BMTK's "
            "native netcon_report)."
        )
        writer = CompartmentSeriesWriter(
            spec.path,
            compartments=comps,
            name=spec.variables[0],
            n_steps=win.n_samples,
            dt_ms=win.dt_ms,
            tstart_ms=win.tstart_ms,
            unit=self._units[0],
            dtype=spec.dtype,
            compression=spec.compression,
            precision=spec.precision,
            comm=self._comm,
            nwb_metadata=provenance,
            description=_description(spec.variables[0], spec.name, comments),
            block_steps=max(1, math.ceil(sim.nsteps_block / win.dt_step)),
            overwrite=True,
        )
        for var, unit in zip(spec.variables[1:], self._units[1:]):
            writer.add_series(name=var, unit=unit, description=_description(var, spec.name, comments),
                              comments=comments)  # fmt: skip
        return writer


# ---------------------------------------------------------------------- set-up (run once, before the simulation)
def synapse_layout(
    *, spec: ReportSpec, syn_type: str | None, sim: Any, gids: list[int], no_sections: set[int]
) -> tuple[dict, list, list]:
    """Layout columns of the synapses of ``gids`` (this rank's cells, file order), the synapse objects, and every
    synapse type the cells have (before the ``syn_type`` / ``sections`` filters)."""
    h = sim.h
    pool = sim.net.gid_pool
    report = spec
    node_ids, pops, counts = [], [], []
    number, position, label, types, src_pops, src_ids, synapses = [], [], [], [], [], [], []
    seen: set[str] = set()
    for gid in gids:
        pid = pool.get_pool_id(gid)
        node_ids.append(pid.node_id)
        pops.append(pid.population)
        if gid in no_sections:
            counts.append(0)
            continue
        cell = sim.net.get_cell_gid(gid)
        sec_index = {sec: i for i, sec in enumerate(cell.get_sections_id())}
        table = segment_table(cell.morphology)
        sec_type = {seg.sec: int(t) for seg, t in zip(table.segments, table.type)}
        netcons = list(cell.netcons)
        conns = [c for c in cell.connections() if not c.is_gap_junc]
        # BMTK appends a cell's NetCon and its connection record together (BioCell._set_connections)
        sources = [c.source_node for c in conns] if len(conns) == len(netcons) else [None] * len(netcons)
        n = 0
        for nc, src in zip(netcons, sources):
            syn = nc.syn()
            hname = syn.hname()
            kind = hname.split("[", 1)[0]
            seen.add(kind)
            if syn_type is not None and not hname.startswith(syn_type):
                continue
            x = nc.postloc()  # pushes the synapse's section
            sec = h.cas()
            h.pop_section()
            if sec_type.get(sec) not in report.section_types:
                continue
            number.append(sec_index[sec])
            position.append(x)
            label.append(sec.name().rsplit(".", 1)[-1])
            types.append(kind)
            src_pop, src_id = _source_address(nc, src, pool)
            src_pops.append(src_pop)
            src_ids.append(src_id)
            synapses.append(syn)
            n += 1
        counts.append(n)
    if no_sections:
        logger.info(
            "report '%s': %d selected cells on this rank have no sections (point processes): rows with 0 synapses",
            report.name, len(no_sections),
        )  # fmt: skip
    layout = {
        "node_ids": np.asarray(node_ids, dtype=np.int64),
        "cell_ids": np.asarray(gids, dtype=np.int64),
        "population": np.asarray(pops, dtype=object),
        "counts": np.asarray(counts, dtype=np.int64),
        "number": np.asarray(number, dtype=np.int64),
        "position": np.asarray(position, dtype=np.float64),
        "label": np.asarray(label, dtype=object),
        "compartment_columns": {
            "synapse_type": np.asarray(types, dtype=object),
            "source_population": np.asarray(src_pops, dtype=object),
            "source_node_id": np.asarray(src_ids, dtype=np.int64),
        },
    }
    return layout, synapses, sorted(seen)


def _source_address(nc: Any, src: Any, pool: Any) -> tuple[str, int]:
    """(population, node id) of a synapse's presynaptic node; ``("", -1)`` when BMTK does not know it.

    A NetCon from a built cell has its source gid (``nc.srcgid()``, what the native netcon_report keeps), which the
    gid pool maps back; a virtual input's NetCon has none (-1), and BMTK's connection record holds its
    ``VirtualCell``, whose node (with the population name) it keeps as ``_node``.
    """
    gid = int(nc.srcgid())
    if gid >= 0:
        pid = pool.get_pool_id(gid)
        return str(pid.population), int(pid.node_id)
    if src is None:
        return "", -1
    pop = getattr(src, "population_name", None) or getattr(getattr(src, "_node", None), "population_name", None)
    node_id = getattr(src, "node_id", None)
    if pop is None or node_id is None:
        return "", -1
    return str(pop), int(node_id)


def _references(where: str, variables: tuple[str, ...], synapses: list, columns: Mapping[str, np.ndarray]) -> list:
    """One NEURON reference per (variable, synapse), variable-major (the parent's buffer layout)."""
    refs = []
    for var in variables:
        for k, syn in enumerate(synapses):
            try:
                refs.append(getattr(syn, f"_ref_{var}"))
            except (AttributeError, NameError) as exc:
                raise ValueError(
                    f"{where}: variable_name '{var}' is not a variable of synapse type "
                    f"'{columns['synapse_type'][k]}' ({exc}); fix variable_name"
                ) from exc
    return refs


def _union(comm: Any | None, values: list[str]) -> list[str]:
    """Sorted distinct values over every rank (collective)."""
    mine = set(values)
    if comm is not None:
        mine = set().union(*comm.allgather(mine))
    return sorted(mine)


def _units(where: str, sim: Any, variables: tuple[str, ...], syn_types: list[str]) -> list[str]:
    """NEURON's unit of each variable (``units("Exp2Syn.g")`` = ``"uS"``); one unit per series, whatever the types."""
    out = []
    for var in variables:
        units = {}
        for kind in syn_types:
            try:
                units[kind] = str(sim.h.units(f"{kind}.{var}")) or "dimensionless"
            except RuntimeError:
                units[kind] = "dimensionless"
        if len(set(units.values())) > 1:
            raise ValueError(
                f"{where}: variable_name '{var}' has different units in the recorded synapse types ({units}); "
                "record one synapse type per report (syn_type)"
            )
        out.append(next(iter(units.values())))
    return out


def _description(var: str, report: str, comments: str) -> str:
    return f"Synaptic variable '{var}' of every recorded synapse (BMTK report '{report}'). {comments}"


def add_nwb_netcon_reports(
    sim: Any, conf: Mapping[str, Any], *, comm: Any | None, provenance: Any, output_dir: str | os.PathLike
) -> list[NWBNetconReportMod]:
    """One :class:`NWBNetconReportMod` per enabled ``nwb_netcon_report`` entry, added to ``sim`` (collective).

    ``provenance(spec)`` gives a report's file-level NWB metadata (:func:`bmtk_module.runner.nwb_metadata`).
    """
    specs = parse_netcon_reports(
        reports=conf.get("reports", {}) or {}, output_dir=output_dir, nwb_metadata=conf.get(METADATA_KEY)
    )
    if comm is None or comm.Get_rank() == 0:
        for issue in (issue for spec in specs for issue in spec.spec.metadata_issues):
            logger.warning("%s (pynwb accepts it; DANDI's nwbinspector checks do not)", issue)
    mods = [NWBNetconReportMod(spec=spec, sim=sim, comm=comm, provenance=provenance(spec.spec)) for spec in specs]
    for mod in mods:
        sim.add_mod(mod)
    if mods:
        logger.info(
            "%s reports attached by bmtk_module (BioSimulator.from_config skips this module): %s",
            NETCON_MODULE, ", ".join(f"'{mod.spec.name}' -> {mod.spec.path}" for mod in mods),
        )  # fmt: skip
    return mods
