"""Stream NetPyNE's recorded ``h.Vector``s into one NWB file while the simulation runs.

:class:`NWBRecorder` owns one :class:`simout_plugins.CompartmentSeriesWriter` with one CompartmentSeries per
quantity (see :mod:`netpyne_module.layout`). ``on_interval`` is the function handed to NetPyNE's
``sim.runSimWithIntervalFunc``: it copies the samples recorded since the last call (numpy views of the vectors,
one copy per column per interval, never per step) into a block and writes it. Under MPI every rank writes its own
cells' columns through the core; no trace is pickled to rank 0.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from simout_plugins import CompartmentSeriesWriter

from . import _compat
from .config import NWBOptions
from .layout import SeriesPlan

logger = logging.getLogger(__name__)


def max_samples(*, duration_ms: float, record_step_ms: float) -> int:
    """Samples a ``Vector.record(ptr, record_step)`` can hold after a run of ``duration_ms``: t = 0 .. duration.

    The writer allocates this many and keeps what NEURON recorded (``trim_unwritten``): see :func:`expected_samples`.
    """
    return int(np.floor(duration_ms / record_step_ms + 1e-9)) + 1


def expected_samples(*, duration_ms: float, record_step_ms: float) -> int:
    """Samples every ``Vector.record(ptr, record_step)`` is sure to hold after a run of ``duration_ms``.

    NEURON records at t = 0, step, 2 step, ... while the (accumulated) event time is within the run. When
    ``duration / step`` is a whole number, whether the sample at exactly t = duration is recorded depends on
    floating-point rounding (measured, NEURON 9.0.2, dt 0.025: 100 ms / 0.1 -> 1001 samples, 200 ms / 0.1 ->
    2000, 1000 ms / 0.1 -> 10001), so that last sample is left out: the series cover t in [0, duration).
    Otherwise the last sample is well inside the run: ``floor(duration / step) + 1`` (100.3 ms / 0.3 -> 335).
    """
    ratio = duration_ms / record_step_ms
    whole = round(ratio)
    if abs(ratio - whole) <= 1e-9 * max(1.0, ratio):
        return int(whole)
    return int(np.floor(ratio)) + 1


class NWBRecorder:
    """Write the traces of one NetPyNE run to NWB (a context manager; collective under MPI).

    Parameters
    ----------
    options : NWBOptions
        Parsed ``cfg.saveNWB``.
    plans : list of SeriesPlan
        This rank's columns, one plan per series (same names on every rank).
    duration_ms, record_step_ms : float
        ``cfg.duration`` and ``cfg.recordStep`` in ms: the series hold ``expected_samples(...)`` samples of
        ``record_step_ms`` starting at t = 0.
    nwb_metadata : dict, optional
        NWBFile fields (provenance and the user's ``metadata`` option).
    comm : mpi4py communicator, optional
        ``MPI.COMM_WORLD`` when NEURON runs on several ranks.
    """

    def __init__(
        self,
        *,
        options: NWBOptions,
        plans: list[SeriesPlan],
        duration_ms: float,
        record_step_ms: float,
        nwb_metadata: dict[str, Any] | None = None,
        comm: Any | None = None,
    ) -> None:
        self.options = options
        self.plans = plans
        self.n_steps = max_samples(duration_ms=duration_ms, record_step_ms=record_step_ms)
        self.min_steps = expected_samples(duration_ms=duration_ms, record_step_ms=record_step_ms)
        self._comm = comm
        self._written = 0
        block_steps = max(1, int(round(options.interval_ms / record_step_ms)))
        first, *rest = plans
        self.writer = CompartmentSeriesWriter(
            options.path,
            compartments=first.compartments(),
            name=first.name,
            n_steps=self.n_steps,
            dt_ms=record_step_ms,
            tstart_ms=0.0,
            unit=first.unit,
            dtype=options.dtype,
            comm=comm,
            nwb_metadata=nwb_metadata,
            description=first.description,
            block_steps=block_steps,
            overwrite=options.overwrite,
            compression=options.compression,
            precision=options.precision,
            cell_order="node_id",  # rows = cells by gid (gids are unique across populations)
            trim_unwritten=True,  # the series hold exactly the samples NEURON recorded
        )
        for plan in rest:
            self.writer.add_series(
                name=plan.name, unit=plan.unit, compartments=plan.compartments(), description=plan.description
            )

    # ------------------------------------------------------------------ during the run
    def on_interval(self, t_ms: float) -> None:
        """Write every sample recorded since the last call (the ``func`` of ``sim.runSimWithIntervalFunc``).

        Parameters
        ----------
        t_ms : float
            Current simulation time, ms (NetPyNE passes ``h.t``); only used for logging.
        """
        available = self._available()
        if available <= self._written:
            return
        step0, stop = self._written, available
        for plan in self.plans:
            block = np.empty((stop - step0, plan.n_columns), dtype=self.options.dtype)
            for j, vec in enumerate(plan.vectors):
                block[:, j] = vec.as_numpy()[step0:stop]  # view of NEURON's buffer; copied (and cast) once
            self.writer.write_block(step0, block, series=plan.name)
        self._written = stop
        logger.debug("t = %.1f ms: wrote samples %d..%d of %d", t_ms, step0, stop - 1, self.n_steps)

    def _available(self) -> int:
        """Samples present in every recorded vector on every rank (capped at the allocated length)."""
        sizes = [int(vec.size()) for plan in self.plans for vec in plan.vectors]
        local = min(sizes) if sizes else self.n_steps
        if self._comm is not None:
            local = self._comm.allreduce(local, op=_mpi_min())
        return min(local, self.n_steps)

    def finish_traces(self) -> None:
        """Write the last samples and check that every series is complete."""
        self.on_interval(float("nan"))
        if self._written < self.min_steps:
            logger.warning(
                "NetPyNE recorded %d samples per trace but at least %d were expected (duration / recordStep); "
                "the NWB series hold those %d",
                self._written,
                self.min_steps,
                self._written,
            )

    # ------------------------------------------------------------------ after the run
    def add_spikes(self, *, sim: Any, cells: list[Any]) -> None:
        """Write this rank's spikes (``sim.simData['spkt'/'spkid']``, ms) and one ``Units`` row per given cell.

        Parameters
        ----------
        sim : module
            ``netpyne.sim``.
        cells : list of netpyne Cell
            This rank's cells whose spikes NetPyNE recorded (``cfg.recordCellsSpikes``).
        """
        times, gids = _compat.spike_arrays(sim)
        tags = {c.gid: c.tags for c in cells}
        keep = np.isin(gids, np.fromiter(tags, dtype=np.int64, count=len(tags)))
        gids, times = gids[keep], times[keep]
        unit_ids = np.array(sorted(tags), dtype=np.int64)
        pops = np.array([str(tags[g].get("pop", "")) for g in unit_ids], dtype=object)
        cell_types = np.array([str(tags[g].get("cellType", "") or "") for g in unit_ids], dtype=object)
        pop_of = dict(zip(unit_ids.tolist(), pops))
        self.writer.add_spikes(
            node_ids=gids,
            times_ms=times,
            population=np.array([pop_of[g] for g in gids.tolist()], dtype=object),
            units_node_ids=unit_ids,
            units_population=pops,
            unit_columns={"cell_type": cell_types},
            resolution_ms=float(sim.cfg.dt),
        )

    def close(self) -> None:
        """Flush, write the Units table and move the file into place (collective)."""
        self.writer.close()

    def __enter__(self) -> NWBRecorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writer.__exit__(exc_type, exc, tb)


def _mpi_min() -> Any:
    from mpi4py import MPI

    return MPI.MIN
