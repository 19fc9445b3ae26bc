"""``NWBPointReportMod``: a BMTK PointNet (NEST) module that streams NEST recordables into an NWB file.

NEST ``multimeter`` devices with the ``memory`` recording backend record the report's variables of the selected cells,
one device per group of cells (:mod:`bmtk_module.point_recorder`: PyNEST's read of a device's events costs more per
event as the device holds more). After every chunk of simulated time (:func:`bmtk_module._point_compat.run_in_blocks`)
their events are read as whole arrays, scattered into a (samples, cells) block with one fancy-indexing assignment per
variable, written with one ``write_block`` per variable, and cleared (``n_events = 0``), so NEST never holds more than
one chunk of events and nothing goes through a text file.

Samples held (the same as BMTK's native ``multimeter_report``): NEST samples at ``t = k * dt`` for
``start < t <= stop``, so sample 0 is at ``start + dt``. NEST hands a multimeter the samples of a ``min_delay`` slice
when the next slice starts: the samples of the run's last slice never arrive (the native report's files end there
too), so the file's series is trimmed to the samples NEST delivered.

Each NEST process records its own cells (NEST's rank split); rows are (population, node id) ordered in the file
whatever the split. One compartment per cell: ``number`` 0, ``position`` 0, ``label`` ``"soma"``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.failstop import ending_job_on_error
from simout_plugins.mpi import raise_if_any

from . import _point_compat as compat
from .config import ReportSpec
from .point_recorder import MultimeterGroups, cells_per_group

logger = logging.getLogger(__name__)

#: ``"sections"`` values a point cell accepts (its one compartment is its "soma")
POINT_SECTIONS = frozenset({"soma", "all"})
#: NEST units of common recordables (NEST's models document them; NEST does not report units)
NEST_UNITS = {"V_m": "mV", "V_th": "mV", "g_ex": "nS", "g_in": "nS", "w": "pA", "I_syn_ex": "pA", "I_syn_in": "pA"}
#: events held in NEST (and copied once) per chunk of the run, per process
EVENTS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class PointWindow:
    """NEST multimeter window: samples at ``first_ms + k * dt_ms``, ``k < n_samples`` (see the module docstring)."""

    start_ms: float
    stop_ms: float
    dt_ms: float
    n_samples: int

    @property
    def first_ms(self) -> float:
        return self.start_ms + self.dt_ms


class NWBPointReportMod:
    """Record NEST recordables of the selected point cells and write them to one NWB file.

    Use :func:`bmtk_module.pointnet_runner.add_nwb_point_reports` rather than building it directly.

    Parameters
    ----------
    spec : ReportSpec
        The checked config entry (``sections`` must be ``"soma"`` or ``"all"``).
    sim : bmtk.simulator.pointnet.PointSimulator
        The built simulator (cells exist; the run has not started).
    comm : mpi4py communicator or None
        World communicator when NEST runs on several MPI processes.
    provenance : dict
        File-level NWB metadata.

    Raises
    ------
    ValueError
        Bad ``sections``, unknown node set, a variable that is not a recordable of a selected cell's NEST model,
        a window outside the run or off the time grid; the message names the report, the key and the value.
    """

    def __init__(self, *, spec: ReportSpec, sim: Any, comm: Any | None, provenance: dict) -> None:
        self._spec = spec
        self._comm = comm
        where = f"report '{spec.name}'"
        error: Exception | None = None
        self._nest_ids = np.empty(0, np.int64)
        try:
            bad = [s for s in spec.sections if s not in POINT_SECTIONS]
            if bad:
                raise ValueError(f"{where}: sections {bad[0]!r}: a point cell has one compartment; use 'soma' or 'all'")
            self._window = point_window(where, spec, sim)
            nest_ids, node_ids, pops = _selected(where, spec, sim)
            _check_recordables(where, spec.variables, nest_ids)
            self._all_nest_ids = nest_ids
            local = _local_mask(nest_ids)
            self._nest_ids, self._node_ids, self._pops = nest_ids[local], node_ids[local], pops[local]
        except ValueError as exc:
            error = exc
        raise_if_any(comm, error)
        # columns in (population, node id) order
        order = np.lexsort((self._node_ids, self._pops.astype(str)))
        self._nest_ids, self._node_ids, self._pops = self._nest_ids[order], self._node_ids[order], self._pops[order]
        # NEST id -> column of this process's block (a large negative: not recorded here); NEST ids are small and dense
        top = int(self._all_nest_ids.max()) + 1 if self._all_nest_ids.size else 1
        self._col_of_id = np.full(top, -(2**40), dtype=np.int64)
        self._col_of_id[self._nest_ids] = np.arange(self._nest_ids.size)
        self._writer = self._make_writer(provenance)
        self._mm = None
        self._spike_rec = None
        self._step0 = 0
        self._buf: np.ndarray | None = None

    @property
    def spec(self) -> ReportSpec:
        return self._spec

    def _make_writer(self, provenance: dict) -> CompartmentSeriesWriter:
        spec, win, n = self._spec, self._window, self._nest_ids.size
        comps = build_compartments(
            node_ids=self._node_ids,
            counts=np.ones(n, np.int64),
            number=np.zeros(n, np.int64),
            position=np.zeros(n),  # as BMTK's native multimeter_report (element_pos 0)
            label=np.full(n, "soma", dtype=object),
            population=self._pops,
            cell_ids=self._nest_ids,
            name="compartments",
            description=(
                f"Cells of BMTK PointNet report '{spec.name}': one row per cell (ordered by population, node id), "
                "one compartment each (number 0, label 'soma'); id = the cell's NEST node id."
            ),
        )
        comments = (
            "Sampled by a NEST multimeter: sample k is the value at t = starting_time + k / rate (the first sample "
            "is one report dt after the window start, as in BMTK's native multimeter_report)."
        )
        writer = CompartmentSeriesWriter(
            spec.path,
            compartments=comps,
            name=spec.variables[0],
            n_steps=win.n_samples,
            dt_ms=win.dt_ms,
            tstart_ms=win.first_ms,
            unit=NEST_UNITS.get(spec.variables[0], "dimensionless"),
            dtype=spec.dtype,
            compression=spec.compression,
            precision=spec.precision,
            comm=self._comm,
            nwb_metadata=provenance,
            description=_description(spec.variables[0], spec.name, comments),
            trim_unwritten=True,
        )
        for var in spec.variables[1:]:
            writer.add_series(
                name=var,
                unit=NEST_UNITS.get(var, "dimensionless"),
                description=_description(var, spec.name, comments),
                comments=comments,
            )
        return writer

    # ------------------------------------------------------------------ module life cycle
    def initialize(self, sim: Any) -> None:
        """Create the multimeter (memory backend) and, with ``spikes``, a spike recorder; create the file."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', initialize"):
            import nest

            win = self._window
            cells = nest.NodeCollection(sorted(int(i) for i in self._all_nest_ids))
            rows = max(1, int(round(self.chunk_ms() / win.dt_ms)))  # collective, as the device creation below
            self._mm = MultimeterGroups(
                nest_ids=self._all_nest_ids,  # every process creates and connects the same devices
                params={
                    "record_from": list(self._spec.variables),
                    "interval": win.dt_ms,
                    "start": win.start_ms,
                    "stop": win.stop_ms,
                },
                cells_per_group=cells_per_group(rows_per_chunk=rows, n_variables=len(self._spec.variables)),
            )
            if self._spec.spikes:
                self._spike_rec = nest.Create("spike_recorder", params={"record_to": "memory"})
                if len(cells):
                    nest.Connect(cells, self._spike_rec)
            self._writer.open()
            logger.info(
                "report '%s': %d cells x %d variables on this process, up to %d samples",
                self._spec.name, self._nest_ids.size, len(self._spec.variables), win.n_samples,
            )  # fmt: skip

    def chunk_ms(self) -> float:
        """Simulated time per chunk: about :data:`EVENTS_PER_CHUNK` events per process, whole ``min_delay`` slices.

        Collective: every rank gets the same chunk (the busiest process's), so all call ``block`` equally often.
        """
        import nest

        min_delay = float(nest.GetKernelStatus("min_delay"))
        local = self._nest_ids.size
        busiest = local if self._comm is None else int(self._comm.allreduce(local, op=_mpi_max()))
        n_cells = max(1, busiest * len(self._spec.variables))
        rows = max(1, EVENTS_PER_CHUNK // n_cells)
        slices = max(1, int(rows * self._window.dt_ms // min_delay))
        return slices * min_delay

    def block(self, sim: Any) -> None:
        """Write the samples NEST delivered since the last block and clear them (collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', block"):
            self._write_delivered()

    def _write_delivered(self) -> None:
        groups = self._mm.read() if self._mm is not None else []
        first, dt, n = self._window.first_ms, self._window.dt_ms, self._nest_ids.size
        rows = [np.rint((ev["times"] - first) / dt).astype(np.int64) - self._step0 for ev in groups]
        mine = max((int(r.max()) + 1 for r in rows if r.size), default=0)
        n_rows = mine if self._comm is None else int(self._comm.allreduce(mine, op=_mpi_max()))
        n_rows = min(n_rows, self._window.n_samples - self._step0)
        if n_rows <= 0:
            return
        # flat index into the (n_rows, n) block of every event: row * n + column, one pass per group
        flat = [r * n + self._col_of_id[ev["senders"]] for r, ev in zip(rows, groups)]
        delivered = sum(f.size for f in flat)
        if delivered != n_rows * n or any(f.size and (f.min() < 0 or f.max() >= n_rows * n) for f in flat):
            raise RuntimeError(
                f"report '{self._spec.name}': NEST delivered {delivered} samples for {n_rows} time steps of {n} "
                "cells; expected every cell at every step"
            )
        for var in self._spec.variables:
            if self._buf is None or self._buf.shape[0] < n_rows:
                self._buf = np.empty((n_rows, n), dtype=self._spec.dtype)
            block = self._buf[:n_rows]
            out = block.reshape(-1)  # a view: the buffer's leading rows are contiguous
            for f, ev in zip(flat, groups):
                out[f] = ev[var]
            self._writer.write_block(self._step0, block, series=var)
        self._step0 += n_rows
        if self._mm is not None:
            self._mm.clear()

    def finalize(self, sim: Any) -> None:
        """Write what NEST delivered last, the spikes when asked, and close the file (collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', finalize"):
            self._write_delivered()
            if self._spec.spikes:
                self._write_spikes(sim)
            self._writer.close()
            logger.info("report '%s' written to %s (%d samples)", self._spec.name, self._spec.path, self._step0)

    def _write_spikes(self, sim: Any) -> None:
        events = self._spike_rec.get("events")
        senders = np.asarray(events["senders"], dtype=np.int64)
        idx = self._col_of_id[senders]
        self._writer.add_spikes(
            node_ids=self._node_ids[idx],
            times_ms=np.asarray(events["times"], dtype=np.float64),
            population=self._pops[idx],
            units_node_ids=self._node_ids,
            units_population=self._pops,
            units_cell_ids=self._nest_ids,
            resolution_ms=float(sim.dt),
        )


# ---------------------------------------------------------------------- checks (run once, at set-up)
def point_window(where: str, spec: ReportSpec, sim: Any) -> PointWindow:
    """The multimeter window of a report, checked against the run and its time grid (values in the message)."""
    sim_dt, tstop = float(sim.dt), sim.tstop
    if isinstance(tstop, list):
        raise ValueError(f'{where}: NWB reports record one run; remove "n_runs" from the config\'s "run" section')
    tstop = float(tstop)
    dt = sim_dt if spec.dt_ms is None else spec.dt_ms
    start = 0.0 if spec.start_time_ms is None else spec.start_time_ms
    stop = tstop if spec.end_time_ms is None else spec.end_time_ms
    if abs(dt / sim_dt - round(dt / sim_dt)) > 1e-6 or dt < sim_dt * (1 - 1e-9):
        raise ValueError(f"{where}: dt ({dt} ms) must be a whole multiple of the simulation dt ({sim_dt} ms)")
    if not 0.0 <= start < tstop:
        raise ValueError(f"{where}: start_time ({start} ms) must lie in the run [0, {tstop}) ms")
    if not 0.0 < stop <= tstop or start >= stop:
        raise ValueError(f"{where}: end_time ({stop} ms) must lie in the run ({start}, {tstop}] ms")
    for key, value in (("start_time", start), ("end_time", stop)):
        if abs(value / dt - round(value / dt)) > 1e-6:
            raise ValueError(f"{where}: {key} ({value} ms) must be a whole multiple of the report dt ({dt} ms)")
    return PointWindow(start_ms=start, stop_ms=stop, dt_ms=dt, n_samples=int(round((stop - start) / dt)))


def _selected(where: str, spec: ReportSpec, sim: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NEST ids, node ids and populations of the built cells the report's ``cells`` selects (all processes)."""
    nest_ids, node_ids, pops = compat.nest_id_table(sim.net)
    cells = spec.cells
    names = set(compat.node_set_names(sim.net))
    if cells == "all" or (cells == "biophysical" and cells not in names):
        return nest_ids, node_ids, pops  # every built (non-virtual) cell; "biophysical" is the report's default
    if isinstance(cells, str) and cells not in names:
        raise ValueError(f"{where}: cells: unknown node set '{cells}'; define it under \"node_sets\" or use one of "
                         f"{sorted(names)}")  # fmt: skip
    if isinstance(cells, str) and cells in set(pops.tolist()):
        keep = pops == cells
        return nest_ids[keep], node_ids[keep], pops[keep]
    try:
        pairs = compat.selected_pairs(sim.net, cells)
    except Exception as exc:  # BMTK raises bare Exception / KeyError for bad node-set dicts
        raise ValueError(f"{where}: cells: cannot select {cells!r}: {exc}") from exc
    wanted = {(str(p), int(n)) for p, n in pairs}
    keep = np.fromiter(((str(p), int(n)) in wanted for p, n in zip(pops, node_ids)), dtype=bool, count=pops.size)
    return nest_ids[keep], node_ids[keep], pops[keep]


def _check_recordables(where: str, variables: tuple[str, ...], nest_ids: np.ndarray) -> None:
    """Every variable must be a recordable of every selected cell's NEST model."""
    import nest

    if not nest_ids.size:
        return
    models = nest.NodeCollection(sorted(int(i) for i in nest_ids)).get("model")
    models = {models} if isinstance(models, str) else set(models)
    for model in sorted(models):
        recordables = {str(r) for r in nest.GetDefaults(model, "recordables")}
        missing = [v for v in variables if v not in recordables]
        if missing:
            raise ValueError(
                f"{where}: variable_name {missing[0]!r} is not a recordable of NEST model '{model}' "
                f"(its recordables: {sorted(recordables)})"
            )


def _local_mask(nest_ids: np.ndarray) -> np.ndarray:
    """Which of ``nest_ids`` live on this NEST process (all of them on one process, whatever the threads)."""
    import nest

    if nest.NumProcesses() == 1 or not nest_ids.size:
        return np.ones(nest_ids.size, dtype=bool)
    with warnings.catch_warnings():  # "inherently unsafe": only for collectives per node, which nothing here makes
        warnings.filterwarnings("ignore", message="GetLocalNodeCollection", category=UserWarning)
        local = nest.GetLocalNodeCollection(nest.NodeCollection(sorted(int(i) for i in nest_ids)))
    return np.isin(nest_ids, np.asarray(local.tolist(), dtype=np.int64))


def _mpi_max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def _description(var: str, report: str, comments: str) -> str:
    return f"NEST recordable '{var}' of every recorded cell (BMTK PointNet report '{report}'). {comments}"
