"""``NWBCompartmentReportMod``: a BMTK ``SimulatorMod`` that streams recorded compartments into an NWB file.

Recording keeps Python out of the per-segment loop: :class:`bmtk_module.sampling.StepSampler` copies every recorded
(variable, segment) value of this rank per recorded step, in one or a few calls (whole stretches of NEURON's
storage, or one ``h.PtrVector.gather``), cast once to the file's dtype into a reused block buffer, and every BMTK
block ends with one ``write_block`` per variable. Everything that can be wrong with a report is checked when the
module is created (:func:`bmtk_module.add_nwb_reports`), before the simulation starts and before any file is created.

Samples held (the same as BMTK's native ``membrane_report``): BMTK calls ``step(sim, k)`` after the k-th
``fadvance``, when ``t = (k + 1) * dt``. Steps ``k`` with ``start_step <= k < end_step`` and ``k % dt_step == 0`` are
recorded, so sample 0 is the value at ``t = (k0 + 1) * dt`` ms (``k0`` the first recorded step), never the
``t = tstart`` initial state. The file says so exactly: ``starting_time = (k0 + 1) * dt / 1000`` s and
``rate = 1000 / report dt`` Hz.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.failstop import ending_job_on_error
from simout_plugins.mpi import raise_if_any

from ._compat import RecordWindow, node_set_names, record_window, segment_table, simulator_mod_base
from .config import ReportSpec
from .sampling import StepSampler

logger = logging.getLogger(__name__)

_DIMENSIONLESS = "dimensionless"


SimulatorMod = simulator_mod_base()  # BMTK's module base class, checked (bmtk_module._compat)


class NWBCompartmentReportMod(SimulatorMod):
    """Record NEURON range variables of the selected cells' segments and write them to one NWB file.

    Use :func:`bmtk_module.add_nwb_reports` rather than building it directly.

    Parameters
    ----------
    spec : ReportSpec
        The checked config entry.
    sim : bmtk.simulator.bionet.BioSimulator
        The built simulator (cells exist; the run has not started).
    comm : mpi4py communicator or None
        World communicator when NEURON runs on several MPI ranks.
    provenance : dict
        File-level NWB metadata (provenance and the user's ``nwb_metadata``); see
        :func:`bmtk_module.runner.nwb_metadata`.

    Raises
    ------
    ValueError
        Unknown node set, variable missing from a recorded section, recording window outside the run, report
        ``dt`` not a multiple of the run's, unwritable output folder; the message names the report and the value.
    """

    def __init__(self, *, spec: ReportSpec, sim: Any, comm: Any | None, provenance: dict) -> None:
        self._spec = spec
        self._comm = comm
        where = f"report '{spec.name}'"
        error: Exception | None = None
        try:
            self._window = _window(where, spec, sim)
            self._layout, self._refs = self._recorded(where, spec, sim)
        except ValueError as exc:
            error = exc
        raise_if_any(comm, error)
        _check_not_empty(where, spec, self._layout, comm)
        self._n_cols = self._layout["number"].size
        self._writer = self._make_writer(sim, provenance)
        self._sampler: StepSampler | None = None
        win = self._window  # step() runs at every time step: its tests read plain attributes
        self._first, self._end, self._every = win.first_step, win.end_step, win.dt_step
        self._spikes = bool(spec.spikes)
        self._step0 = 0
        self._spike_vecs: dict[int, tuple[Any, int]] = {}
        self._spike_parts: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def spec(self) -> ReportSpec:
        return self._spec

    def _recorded(self, where: str, spec: ReportSpec, sim: Any) -> tuple[dict, list]:
        """Layout columns and one NEURON reference per (variable, column): the selected cells' segments here
        (:class:`bmtk_module.netcon_mod.NWBNetconReportMod` records synapses instead)."""
        return _segments(where, spec, sim, _local_cells(where, spec, sim))

    def _make_writer(self, sim: Any, provenance: dict) -> CompartmentSeriesWriter:
        spec, lay, win = self._spec, self._layout, self._window
        comps = build_compartments(
            node_ids=lay["node_ids"],
            counts=lay["counts"],
            number=lay["number"],
            position=lay["position"],
            label=lay["label"],
            population=lay["population"],
            cell_ids=lay["cell_ids"],
            name="compartments",
            description=(
                f"Compartments of BMTK report '{spec.name}': one row per cell (ordered by population, node id); "
                "number = BMTK element id (section index in the cell's 'all' list, as in SONATA reports), "
                "position = segment x, label = section name."
            ),
        )
        block_steps = max(1, math.ceil(sim.nsteps_block / win.dt_step))
        comments = (
            f"Recorded by BMTK after each time step: sample k is the value at t = starting_time + k / rate "
            f"(the first sample is at {win.tstart_ms} ms, one simulation step after the window start; the "
            "initial state is not stored, as in BMTK's native membrane_report)."
        )
        units = [_unit(sim, var) for var in spec.variables]
        writer = CompartmentSeriesWriter(
            spec.path,
            compartments=comps,
            name=spec.variables[0],
            n_steps=win.n_samples,
            dt_ms=win.dt_ms,
            tstart_ms=win.tstart_ms,
            unit=units[0],
            dtype=spec.dtype,
            compression=spec.compression,
            precision=spec.precision,
            comm=self._comm,
            nwb_metadata=provenance,
            description=_description(spec.variables[0], spec.name, comments),
            block_steps=block_steps,
            overwrite=True,  # as BMTK's native reports: a new run replaces the file (a failed run leaves it as it was)
        )
        for var, unit in zip(spec.variables[1:], units[1:]):
            writer.add_series(
                name=var,
                unit=unit,
                description=_description(var, spec.name, comments),
                comments=comments,
            )
        return writer

    # ------------------------------------------------------------------ SimulatorMod life cycle
    def initialize(self, sim: Any) -> None:
        """Point the sampler at every recorded value and allocate the block buffer."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', initialize"):
            self._initialize(sim)

    def _initialize(self, sim: Any) -> None:
        block_rows = max(1, math.ceil(sim.nsteps_block / self._window.dt_step)) + 1
        # the buffer has the file's dtype, so each block goes to the writer without another cast
        self._sampler = StepSampler(sim.h, self._refs, dtype=np.dtype(self._spec.dtype), n_rows=block_rows)
        self._sampler.prepare()  # reads NEURON's storage rows here, outside the timed run (checked at step 1)
        if self._spec.spikes and not sim.spikes_table:
            sim.set_spikes_recording()
        self._writer.open()  # collective: the file's structure is written before the timed run starts
        logger.info(
            "report '%s': %d cells, %d compartments x %d variables on this rank, %d samples",
            self._spec.name,
            self._layout["node_ids"].size,
            self._n_cols,
            len(self._spec.variables),
            self._window.n_samples,
        )

    def step(self, sim: Any, tstep: int) -> None:
        """Copy this step's values into the block buffer (one sampler call) when the step is recorded."""
        if self._first <= tstep < self._end and (tstep - self._first) % self._every == 0:
            self._sampler.sample()
        if self._spikes and ((tstep + 1) % sim.nsteps_block == 0 or tstep + 1 == sim.nsteps):
            # read here, not in block(): BMTK's SpikesMod.block() replaces the spike vectors
            self._harvest_spikes(sim)

    def block(self, sim: Any, block_interval: tuple[int, int]) -> None:
        """Write the samples buffered since the last block (one ``write_block`` per variable; collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', block {block_interval}"):
            self._write_buffered()

    def _write_buffered(self) -> None:
        if self._sampler is None or self._sampler.row == 0:
            return
        block, n = self._sampler.take(), self._n_cols
        for j, var in enumerate(self._spec.variables):
            self._writer.write_block(self._step0, block[:, j * n : (j + 1) * n], series=var)
        self._step0 += block.shape[0]

    def finalize(self, sim: Any) -> None:
        """Write what is left, the spikes when asked, and close the file on every rank (collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', finalize"):
            self._finalize(sim)

    def _finalize(self, sim: Any) -> None:
        self._write_buffered()
        if self._step0 != self._window.n_samples:
            logger.warning(
                "report '%s': %d of %d samples recorded", self._spec.name, self._step0, self._window.n_samples
            )
        if self._spec.spikes:
            self._write_spikes(sim)
        self._writer.close()
        logger.debug("report '%s' written to %s", self._spec.name, self._spec.path)

    # ------------------------------------------------------------------ spikes
    def _harvest_spikes(self, sim: Any) -> None:
        for gid, tvec in sim.spikes_table.items():
            last, n_read = self._spike_vecs.get(gid, (None, 0))
            if last is not tvec:
                n_read = 0
            times = tvec.as_numpy()[n_read:].copy()
            self._spike_vecs[gid] = (tvec, n_read + times.size)
            if times.size:
                self._spike_parts.append((np.full(times.size, gid, dtype=np.int64), times))

    def _write_spikes(self, sim: Any) -> None:
        pool = sim.net.gid_pool
        gids = np.concatenate([p[0] for p in self._spike_parts]) if self._spike_parts else np.empty(0, np.int64)
        times = np.concatenate([p[1] for p in self._spike_parts]) if self._spike_parts else np.empty(0)
        cell_gids = sorted(int(g) for g in sim.net.get_local_cells())
        cell_ids = [pool.get_pool_id(g) for g in cell_gids]
        by_gid = {g: pid for g, pid in zip(cell_gids, cell_ids)}
        spike_ids = [by_gid.get(int(g)) or pool.get_pool_id(int(g)) for g in gids]
        self._writer.add_spikes(
            node_ids=np.array([p.node_id for p in spike_ids], dtype=np.int64),
            times_ms=times,
            population=np.array([p.population for p in spike_ids], dtype=object),
            units_node_ids=np.array([p.node_id for p in cell_ids], dtype=np.int64),
            units_population=np.array([p.population for p in cell_ids], dtype=object),
            units_cell_ids=np.array(cell_gids, dtype=np.int64),
            resolution_ms=float(sim.dt),  # spike times are multiples of the time step
        )


# ---------------------------------------------------------------------- checks and layout (run once, at set-up)
def _window(where: str, spec: ReportSpec, sim: Any) -> RecordWindow:
    """Recorded steps, checked against the run like BMTK's ``MembraneReport._set_valid_steps`` (both values shown)."""
    return record_window(
        where=where, sim=sim, dt_ms=spec.dt_ms, start_time_ms=spec.start_time_ms, end_time_ms=spec.end_time_ms
    )


def _local_cells(where: str, spec: ReportSpec, sim: Any) -> list[int]:
    """Gids of this rank's built cells in the report's node set, ordered by (population, node id).

    Cells without sections (point processes such as IntFire1) are in it; :func:`_segments` gives them no compartment.
    """
    net = sim.net
    cells = spec.cells
    names = node_set_names(net)  # node_sets + population names
    if isinstance(cells, str) and cells not in names and cells == "biophysical":
        # the native membrane_report's default node set: without a node set of that name, all biophysical cells
        selected = set(sim.biophysical_gids)
    else:
        if isinstance(cells, str) and cells not in names:
            raise ValueError(
                f"{where}: unknown node set '{cells}'; define it under \"node_sets\" or use one of {names}"
            )
        try:
            node_set = net.get_node_set(cells)
            selected = set(node_set.gids())
        except Exception as exc:  # BMTK raises bare Exception / KeyError for bad node-set dicts
            raise ValueError(f"{where}: cannot select cells {cells!r}: {exc}") from exc
    local = set(int(g) for g in net.get_local_cells()) & selected
    pool = net.gid_pool
    return sorted(local, key=lambda g: (pool.get_pool_id(g).population, pool.get_pool_id(g).node_id))


def _check_not_empty(where: str, spec: ReportSpec, layout: dict, comm: Any | None) -> None:
    """Collective: selected cells but no compartment to record (e.g. only IntFire1 cells, which have no sections)."""
    mine = (int(layout["number"].size), int(layout["node_ids"].size))
    n_cols, n_cells = mine if comm is None else tuple(int(v) for v in np.sum(comm.allgather(mine), axis=0))
    if n_cols == 0 and n_cells > 0:
        raise ValueError(
            f"{where}: cells {spec.cells!r} selects {n_cells} cells but none has a compartment on sections "
            f"{list(spec.sections)} (cells without sections, point processes such as IntFire1, have none; BMTK's "
            "spikes file holds their spikes); select cells with sections or fix sections"
        )


def _segments(where: str, spec: ReportSpec, sim: Any, gids: list[int]) -> tuple[dict, list]:
    """Layout columns (per cell / per compartment) and one NEURON reference per (variable, compartment)."""
    h = sim.h
    for var in spec.variables:
        if var != "v" and not h.name_declared(var):
            raise ValueError(
                f"{where}: unknown variable '{var}': NEURON has no range variable of that name (loaded mechanisms "
                "define e.g. 'v', 'ina', 'ik', 'm_hh', 'cai' with a calcium mechanism); fix variable_name"
            )
    pool = sim.net.gid_pool
    node_ids, pops, counts = [], [], []
    number, position, label, segs = [], [], [], []
    bio = set(int(g) for g in sim.biophysical_gids)
    no_sections = [gid for gid in gids if gid not in bio]
    if no_sections:  # a row with zero compartments each (docs/bmtk.md, "Cells without sections")
        logger.info(
            "report '%s': %d selected cells on this rank have no sections (point processes such as IntFire1): "
            "rows with 0 compartments; their spikes go to Units with \"spikes\": true", spec.name, len(no_sections),
        )  # fmt: skip
    for gid in gids:
        pid = pool.get_pool_id(gid)
        if gid not in bio:
            node_ids.append(pid.node_id)
            pops.append(pid.population)
            counts.append(0)
            continue
        props = segment_table(sim.net.get_cell_gid(gid).morphology)
        keep = np.isin(props.type, list(spec.section_types))
        idx = np.flatnonzero(keep)
        all_segs = props.segments
        node_ids.append(pid.node_id)
        pops.append(pid.population)
        counts.append(idx.size)
        number.append(props.sec_id[idx])
        position.append(props.x[idx])
        for i in idx:
            seg = all_segs[i]
            segs.append(seg)
            label.append(seg.sec.name().rsplit(".", 1)[-1])
    refs = []
    for var in spec.variables:
        attr = f"_ref_{var}"
        for k, seg in enumerate(segs):
            try:
                refs.append(getattr(seg, attr))
            except (AttributeError, NameError) as exc:
                cell = int(np.searchsorted(np.cumsum(counts), k, side="right"))
                raise ValueError(
                    f"{where}: variable '{var}' does not exist in section {label[k]} of cell {pops[cell]}:"
                    f'{node_ids[cell]} ({exc}); record sections that have it ("sections") or insert its mechanism'
                ) from exc
    layout = {
        "node_ids": np.asarray(node_ids, dtype=np.int64),
        "cell_ids": np.asarray(gids, dtype=np.int64),  # bionet's gid: population offset + node id, unique
        "population": np.asarray(pops, dtype=object),
        "counts": np.asarray(counts, dtype=np.int64),
        "number": np.concatenate(number).astype(np.int64) if number else np.empty(0, np.int64),
        "position": np.concatenate(position).astype(np.float64) if position else np.empty(0),
        "label": np.asarray(label, dtype=object),
    }
    return layout, refs


def _unit(sim: Any, var: str) -> str:
    """NEURON's unit string of a range variable (``"mV"`` for v), or ``"dimensionless"`` when it has none."""
    try:
        unit = str(sim.h.units(var))
    except RuntimeError:
        unit = ""
    return unit or _DIMENSIONLESS


def _description(var: str, report: str, comments: str) -> str:
    return f"NEURON variable '{var}' of every recorded segment (BMTK report '{report}'). {comments}"


def report_notes(spec: ReportSpec) -> str:
    """JSON of the report entry as BMTK parsed it (defaults applied)."""
    return json.dumps({"report": spec.name, **spec.params}, default=str, sort_keys=True)
