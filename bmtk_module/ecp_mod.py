"""``NWBEcpReportMod``: BMTK's extracellular potential (``ecp.h5`` values) streamed into an NWB ``ElectricalSeries``.

The same numbers as BMTK's native ``extracellular`` module (``bmtk/simulator/bionet/modules/ecp.py``), computed
without Python in the per-step loop:

- set-up (before the run, errors are config errors): one transfer-resistance matrix per rank, (n_local_segments,
  n_channels), from BMTK's line-source formula (``RecXElectrode.calc_transfer_resistance``, sigma = 0.3 S/m,
  vectorised over channels), over every segment of this rank's selected cells in ``Morphology.segments`` order;
- per step: every segment's ``i_membrane_`` (``cvode.use_fast_imem(1)``) copied into a (steps per block,
  n_local_segments) float64 buffer by :class:`bmtk_module.sampling.StepSampler` (NEURON 9's storage copied in
  contiguous stretches, as the compartment report does; ``PtrVector.gather`` elsewhere);
- per BMTK block: one matrix product (block x matrix) gives this rank's contribution, and the writer sums the ranks
  (one MPI ``Reduce`` into rank 0; :class:`simout_plugins.write.ElectricalSeriesWriter`). Under MPI the product
  runs on one BLAS thread: the ranks already fill the cores, and OpenBLAS's extra threads spin against them (with
  ``threadpoolctl``, when it is installed).

Samples: BMTK calls ``step(sim, k)`` after the k-th ``fadvance``; row k of ``ecp.h5`` holds the potential at
``t = (k + 1) * dt`` (its ``/ecp/time`` says [0, tstop, dt]); the NWB series says so exactly (``starting_time =
dt``). Unlike the native module, this one does not insert NEURON's ``extracellular`` mechanism into the cells (fast
``i_membrane_`` does not need it), so the model runs unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import numpy as np

from simout_plugins.failstop import ending_job_on_error
from simout_plugins.linesource import transfer_resistance
from simout_plugins.mpi import raise_if_any
from simout_plugins.write import ElectricalSeriesWriter

from ._compat import node_set_names, record_window, segment_geometry, simulator_mod_base
from .ecp_config import EcpSpec
from .sampling import StepSampler

logger = logging.getLogger(__name__)


SimulatorMod = simulator_mod_base()


class NWBEcpReportMod(SimulatorMod):
    """Record the extracellular potential of the selected cells on one probe into one NWB file.

    Use :func:`bmtk_module.add_nwb_reports` (or :func:`add_ecp_reports`) rather than building it directly.

    Parameters
    ----------
    spec : EcpSpec
        The checked config entry.
    sim : bmtk.simulator.bionet.BioSimulator
        The built simulator (cells exist; the run has not started).
    comm : mpi4py communicator or None
    provenance : dict
        File-level NWB metadata.

    Raises
    ------
    ValueError
        Unknown node set, no cell with sections in the selection (on any rank), unwritable output.
    """

    def __init__(self, *, spec: EcpSpec, sim: Any, comm: Any | None, provenance: dict) -> None:
        self._spec = spec
        self._comm = comm
        where = f"report '{spec.name}'"
        error: Exception | None = None
        self._trt = np.zeros((0, spec.probe.n_channels))
        self._refs: list = []
        try:
            self._window = record_window(where=where, sim=sim, dt_ms=None, start_time_ms=None, end_time_ms=None)
            gids, n_selected = _local_cells(where, spec, sim)
            sim.h.cvode.use_fast_imem(1)  # i_membrane_ of every segment, as BMTK's module sets it
            self._trt, self._refs, bounds = _transfer_matrix(spec, sim, gids)
        except ValueError as exc:
            error = exc
        raise_if_any(comm, error)
        n_cells = _sum_over_ranks(comm, len(gids))
        if n_cells == 0:
            raise_if_any(comm, ValueError(
                f"{where}: no cell with sections in cells {spec.cells!r} ({n_selected} selected, all without "
                "sections: virtual or point cells); select biophysical cells"
            ))  # fmt: skip
        if comm is None or comm.Get_rank() == 0:
            if n_selected > n_cells:
                logger.info("%s: %d of the %d selected cells have no sections (virtual or point cells): skipped",
                            where, n_selected - n_cells, n_selected)  # fmt: skip
        self._n_cells = n_cells
        self._writer = ElectricalSeriesWriter(
            spec.path,
            probes=[spec.probe],
            n_steps=self._window.n_samples,
            dt_ms=self._window.dt_ms,
            tstart_ms=self._window.tstart_ms,
            unit="mV",
            dtype=spec.dtype,
            comm=comm,
            nwb_metadata=provenance,
            description=(
                f"Extracellular potential of BMTK report '{spec.name}' ({n_cells} cells) on "
                f"{spec.probe.n_channels} channels. {spec.probe.method}"
            ),
            comments=(
                "Sample k is the value after simulation step k, at t = starting_time + k / rate (the initial state "
                "is not stored, as in BMTK's native ecp.h5, whose row k is the same value)."
            ),
            block_steps=int(sim.nsteps_block),
            overwrite=True,  # as BMTK's native reports
        )
        self._cells = self._contribution_writers(sim, gids, bounds, provenance) if spec.contributions_dir else []
        self._sampler: StepSampler | None = None
        self._blas = _OneBlasThread() if comm is not None else contextlib.nullcontext()
        self._step0 = 0

    def _contribution_writers(self, sim: Any, gids: list[int], bounds: np.ndarray, provenance: dict) -> list:
        """One file per local cell in ``contributions_dir`` (``<population>_<node_id>.nwb``), written by its rank."""
        folder = self._spec.contributions_dir
        error = None
        if self._comm is None or self._comm.Get_rank() == 0:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                error = ValueError(f"report '{self._spec.name}': cannot create contributions_dir '{folder}': {exc}")
        raise_if_any(self._comm, error)
        pool, win, out = sim.net.gid_pool, self._window, []
        for gid, a, b in zip(gids, bounds[:-1], bounds[1:]):
            pid = pool.get_pool_id(gid)
            writer = ElectricalSeriesWriter(
                folder / f"{pid.population}_{pid.node_id}.nwb", probes=[self._spec.probe], n_steps=win.n_samples,
                dt_ms=win.dt_ms, tstart_ms=win.tstart_ms, unit="mV", dtype=self._spec.dtype, comm=None,
                nwb_metadata={**provenance, "session_description": f"Contribution of cell {pid.population} "
                              f"{pid.node_id} to BMTK report '{self._spec.name}'"},
                description=f"Contribution of cell {pid.population} {pid.node_id} (gid {gid}) to the extracellular "
                f"potential of BMTK report '{self._spec.name}'. {self._spec.probe.method}",
                block_steps=int(sim.nsteps_block), overwrite=True,
            )  # fmt: skip
            out.append((writer, int(a), int(b)))
        return out

    @property
    def spec(self) -> EcpSpec:
        return self._spec

    def initialize(self, sim: Any) -> None:
        """Point the sampler at every segment's ``i_membrane_``, allocate the block buffer, create the file."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', initialize"):
            n = len(self._refs)
            rows = max(1, int(sim.nsteps_block)) + 1
            self._sampler = StepSampler(sim.h, self._refs, dtype=np.dtype(np.float64), n_rows=rows)
            self._sampler.prepare()  # NEURON's storage rows read here, outside the timed run (checked at step 1)
            self._writer.open()
            for writer, _, _ in self._cells:
                writer.open()
            logger.info("report '%s': %d segments on this rank, %d channels, %d samples", self._spec.name, n,
                        self._spec.probe.n_channels, self._window.n_samples)  # fmt: skip

    def step(self, sim: Any, tstep: int) -> None:
        """Copy this step's membrane currents into the block buffer (one sampler call)."""
        if self._window.first_step <= tstep < self._window.end_step:
            self._sampler.sample()

    def block(self, sim: Any, block_interval: tuple[int, int]) -> None:
        """One matrix product for the block, summed over ranks and written (collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', block {block_interval}"):
            self._write_buffered()

    def _write_buffered(self) -> None:
        if self._sampler is None or self._sampler.row == 0:
            return
        currents = self._sampler.take()  # (rows, n_seg) nA
        with self._blas:
            ecp = currents @ self._trt  # (rows, n_seg) @ (n_seg, n_ch): mV
            parts = [(writer, currents[:, a:b] @ self._trt[a:b]) for writer, a, b in self._cells]
        self._writer.write_block(self._step0, ecp)
        for writer, part in parts:  # this rank's cells only: no collective
            writer.write_block(self._step0, part)
        self._step0 += currents.shape[0]

    def finalize(self, sim: Any) -> None:
        """Write what is left and close the file on every rank (collective)."""
        with ending_job_on_error(self._comm, f"BMTK report '{self._spec.name}', finalize"):
            self._write_buffered()
            for writer, _, _ in self._cells:
                writer.close()
            self._writer.close()
            logger.info("report '%s' written to %s", self._spec.name, self._spec.path)


# ---------------------------------------------------------------------- set-up (once, before the run)
class _OneBlasThread:
    """Context: the BLAS product on one thread (through ``threadpoolctl`` when it is installed, else a no-op)."""

    def __init__(self) -> None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            self._controller = None
        else:
            self._controller = ThreadpoolController()  # finds the loaded BLAS libraries once
        self._active: Any | None = None

    def __enter__(self) -> None:
        if self._controller is not None:
            self._active = self._controller.limit(limits=1, user_api="blas")

    def __exit__(self, *exc: object) -> None:
        if self._active is not None:
            self._active.restore_original_limits()
            self._active = None


def _sum_over_ranks(comm: Any | None, value: int) -> int:
    return int(value) if comm is None else int(sum(comm.allgather(int(value))))


def _local_cells(where: str, spec: EcpSpec, sim: Any) -> tuple[list[int], int]:
    """This rank's selected cells with sections (gids, by population and node id) and the selection's size."""
    net = sim.net
    names = node_set_names(net)
    if isinstance(spec.cells, str) and spec.cells not in names:
        raise ValueError(
            f"{where}: unknown node set '{spec.cells}'; define it under \"node_sets\" or use one of {names}"
        )
    try:
        selected = set(net.get_node_set(spec.cells).gids())
    except Exception as exc:  # BMTK raises bare Exception / KeyError for bad node-set dicts
        raise ValueError(f"{where}: cannot select cells {spec.cells!r}: {exc}") from exc
    local = set(sim.biophysical_gids) & selected
    pool = net.gid_pool
    return sorted(local, key=lambda g: (pool.get_pool_id(g).population, pool.get_pool_id(g).node_id)), len(selected)


def _transfer_matrix(spec: EcpSpec, sim: Any, gids: list[int]) -> tuple[np.ndarray, list, np.ndarray]:
    """(n_local_segments, n_channels) transfer resistances (mV per nA), the ``i_membrane_`` reference of each
    segment and the cells' segment ranges (offsets, n_cells + 1)."""
    pos = spec.probe.positions_um.T  # (3, n_ch)
    parts, refs = [], []
    for gid in gids:
        cell = sim.net.get_cell_gid(gid)
        p0, p1, diam, segments = segment_geometry(cell)
        parts.append(transfer_resistance(positions_um=pos, p0_um=p0, p1_um=p1, diam_um=diam,
                                         minimum_distance=spec.minimum_distance).T)  # fmt: skip
        refs.extend(seg._ref_i_membrane_ for seg in segments)
    trt = np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, pos.shape[1]))
    bounds = np.concatenate([[0], np.cumsum([part.shape[0] for part in parts])]).astype(np.int64)
    return trt, refs, bounds


def ecp_notes(spec: EcpSpec) -> str:
    """JSON of the report entry as BMTK parsed it (defaults applied)."""
    return json.dumps({"report": spec.name, **spec.params}, default=str, sort_keys=True)


# ---------------------------------------------------------------------- attach to a built simulator
def add_ecp_reports(sim: Any, conf: Any, *, config_file: Any = None) -> list[NWBEcpReportMod]:
    """Create one :class:`NWBEcpReportMod` per enabled ``nwb_ecp_report`` entry and add it to ``sim``.

    Call it after ``BioSimulator.from_config`` (which skips the entries as "Unrecognized module") and before
    ``sim.run()``. Every entry is checked (electrode file, channels, node set, cells with sections, output folder)
    before anything is added or written; under MPI the checks are collective.

    Parameters
    ----------
    sim : bmtk.simulator.bionet.BioSimulator
    conf : bmtk.simulator.bionet.Config or dict
        The simulation config after variable substitution.
    config_file : str or os.PathLike, optional
        Path of the config file, recorded in the files.

    Returns
    -------
    list of NWBEcpReportMod
    """
    from neuron import h

    from simout_plugins.nwb import merge_metadata, neuron_version, package_version, provenance_fields

    from .ecp_config import parse_ecp_reports
    from .mpi import check_ranks

    n_ranks = int(h.ParallelContext().nhost())
    comm = check_ranks(n_ranks)
    out = getattr(conf, "output_dir", None) or (conf.get("output") or {}).get("output_dir") or "."
    error, specs = None, []
    try:
        specs = parse_ecp_reports(reports=conf.get("reports", {}) or {}, output_dir=out,
                                  nwb_metadata=conf.get("nwb_metadata"))  # fmt: skip
    except (ValueError, TypeError) as exc:
        error = exc
    raise_if_any(comm, error)
    if comm is None or comm.Get_rank() == 0:
        for issue in (issue for spec in specs for issue in spec.metadata_issues):
            logger.warning("%s (pynwb accepts it; DANDI's nwbinspector checks do not)", issue)
    mods = []
    for spec in specs:
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
            "session_description": f"BMTK (bionet) simulation; extracellular potential '{spec.name}' written by "
            "simout_plugins",
            "keywords": ["simulation", "BMTK", "NEURON", "extracellular potential"],
        }
        meta = merge_metadata(provenance={**defaults, **provenance}, metadata=spec.nwb_metadata)
        mods.append(NWBEcpReportMod(spec=spec, sim=sim, comm=comm, provenance=meta))
    for mod in mods:
        sim.add_mod(mod)
    if mods:
        logger.info("nwb_ecp_report reports attached: %s", ", ".join(f"'{m.spec.name}' -> {m.spec.path}" for m in mods))
    return mods
