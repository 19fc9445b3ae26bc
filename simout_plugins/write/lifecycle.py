"""One writer run's file life cycle: from the plan and the NWB structure to the committed output, or to an abort
that leaves the old output untouched.

:class:`~simout_plugins.write.writer.CompartmentSeriesWriter` declares what is recorded and checks each block; this
module does what happens to the file (every method is collective under MPI):

- :meth:`WriterRun.start`: plan the columns over ranks (:mod:`.plan`), rank 0 writes the NWB structure under a
  hidden name and renames it to the partial file (so a partial file only ever exists complete, :mod:`.skeleton`),
  the sink opens it (:mod:`.sink`);
- :meth:`WriterRun.write`: one block into the sink, a failed write turned into an :class:`OutputWriteError` that
  says what is left on disk;
- :meth:`WriterRun.finish`: the unwritten samples trimmed or NaN-filled, the sink closed (its last flush), the
  spikes added under the structure journal (:mod:`.journal`, :mod:`.spikes`), the partial file moved onto the
  output (:mod:`.outputs`);
- :meth:`WriterRun.abort`: after an error, the partial file closed and kept; a local error under MPI ends the job
  (:mod:`simout_plugins.failstop`).

Another writer may share the file (e.g. :class:`~simout_plugins.write.ecp.ElectricalSeriesWriter` with ``host=``):
before the start it adds its structure with :meth:`WriterRun.extend_structure` (written by rank 0 into the structure
before the rename, so it is in the file before any sink opens it, MPI-IO included), and afterwards it writes through
the open file, :attr:`WriterRun.h5file`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import failstop, mpi
from ..errors import OutputWriteError, os_error_reason
from ..nwb.layout import CompartmentLayout
from . import journal
from .outputs import OutputPath
from .plan import ColumnPlan, IdSpace, plan_tables
from .series import SeriesSpec
from .skeleton import TableSpec, write_skeleton
from .spikes import SpikeCollector, reserve_units_space, write_units

__all__ = ["IO_ERRORS", "Table", "WriterRun"]

logger = logging.getLogger(__name__)
#: What a failed HDF5 write raises: OSError, or RuntimeError for a failed flush ("Unable to synchronously flush")
IO_ERRORS = (OSError, RuntimeError)


@dataclass
class Table:
    """A Compartments table as declared on this rank (``local``) and, once started, as planned over ranks."""

    name: str
    description: str
    local: CompartmentLayout
    plan: ColumnPlan | None = None


class WriterRun:
    """The files of one writer run: the partial file, the sink writing into it, the final move.

    Parameters
    ----------
    comm : mpi4py communicator or None
        None for one rank.
    output : OutputPath
        The output and its partial file.
    sink : sink object
        From :func:`simout_plugins.write.sink.choose_sink`.
    """

    def __init__(self, *, comm: Any | None, output: OutputPath, sink: Any) -> None:
        self.comm = comm
        self.rank, _ = mpi.rank_size(comm)
        self.output = output
        self.sink = sink
        self.started = False
        self.ids: IdSpace | None = None
        self._extensions: list[Callable[[os.PathLike], None]] = []

    def extend_structure(self, add: Callable[[os.PathLike], None]) -> None:
        """Have rank 0 call ``add(path)`` on the structure file, after this writer's structure is written and before
        the file becomes the partial file and the sink opens it. Call on every rank, before the start."""
        if self.started:
            raise ValueError("extend_structure: the writer has created its file already; add the structure before")
        self._extensions.append(add)

    @property
    def h5file(self) -> Any | None:
        """The open partial file (h5py.File) the sink writes into: on every rank with the MPI-IO sink, on rank 0 with
        the gather sink; None elsewhere, before the start and after the close."""
        return getattr(self.sink, "h5file", None)

    # ------------------------------------------------------------------ start
    def start(
        self,
        *,
        tables: list[Table],
        series: dict[str, SeriesSpec],
        nwbfile: Any,
        cell_order: str | None,
        block_steps: int | None,
        compression: str | None,
    ) -> None:
        """Collective: plan the columns, write the NWB structure (rank 0), open the sink."""
        self.started = True
        plans, self.ids = plan_tables(
            self.comm, [t.local for t in tables], names=[t.name for t in tables], cell_order=cell_order
        )
        for table, plan in zip(tables, plans):
            table.plan = plan
        error = None
        skeleton = None
        if self.rank == 0:
            try:
                self.output.keep_stale_partial()
                skeleton = self._write_skeleton(tables, series, nwbfile, block_steps, compression)
            except (OSError, ValueError, TypeError) as exc:
                error = exc
        mpi.raise_if_any(self.comm, error)
        skeleton = mpi.bcast(self.comm, skeleton)
        by_name = {t.name: t for t in tables}
        error = None
        try:
            self.sink.open(
                self.output.tmp_path, skeleton=skeleton, plans={s.name: by_name[s.table].plan for s in series.values()}
            )
        except IO_ERRORS as exc:
            error = self.write_error(exc, "opening it to write the series", series)
        mpi.raise_if_any(self.comm, error)
        logger.info(
            "writing %d series to %s (moved to %s on close; %s sink)",
            len(series), self.output.tmp_path, self.output.path, self.sink.kind,
        )  # fmt: skip

    def _write_skeleton(self, tables, series, nwbfile, block_steps, compression) -> Any:
        """Rank 0: write the structure under a temporary name, then rename it to the partial file.

        A partial file therefore only ever exists complete; a failed write removes its incomplete structure.
        """
        where = self.output.skeleton_path
        try:
            skeleton = write_skeleton(
                where,
                nwbfile=nwbfile,
                tables=[TableSpec(t.name, t.description, t.plan.layout, t.plan.order_by) for t in tables],
                series=list(series.values()),
                block_steps=block_steps,
                compression=compression,
            )
            for add in self._extensions:
                add(where)
            os.replace(where, self.output.tmp_path)
        except IO_ERRORS as exc:
            where.unlink(missing_ok=True)
            code, reason = os_error_reason(exc)
            raise OutputWriteError(
                f"could not create '{self.output.tmp_path}' (the NWB structure: tables and empty series): {reason}. "
                f"Nothing was recorded; the output '{self.output.path}' is untouched.",
                errno=code,
            ) from exc
        return skeleton

    def write_error(self, exc: BaseException, doing: str, series: dict[str, SeriesSpec]) -> OutputWriteError:
        """The error for a failed write into the partial file: file, what was written, why, what is left."""
        code, reason = os_error_reason(exc)
        kept = ", ".join(f"'{s.name}': {s.steps_written} of {s.n_steps}" for s in series.values())
        return OutputWriteError(
            f"writing '{self.output.tmp_path}' failed while {doing}: {reason}. The output '{self.output.path}' is "
            f"untouched. Steps written before the failure ({kept or 'no series'}) are in the partial file up to its "
            "last flush, as its simout_steps_written attributes say: `simout info` shows them, `simout recover` "
            "makes it a valid NWB file.",
            errno=code,
        )

    # ------------------------------------------------------------------ blocks
    def write(self, s: SeriesSpec, step0: int, block: np.ndarray, series: dict[str, SeriesSpec]) -> None:
        """Collective: one checked block of series ``s`` into the sink; then ``s.steps_written`` counts it."""
        try:
            self.sink.write(s.name, step0, block)
        except IO_ERRORS as exc:
            raise self.write_error(
                exc, f"writing steps {step0}..{step0 + len(block) - 1} of '{s.name}'", series
            ) from exc
        s.steps_written = step0 + block.shape[0]

    # ------------------------------------------------------------------ finish
    def finish(
        self,
        *,
        series: dict[str, SeriesSpec],
        tables: dict[str, Table],
        spikes: SpikeCollector,
        cell_order: str | None,
        trim: bool,
    ) -> None:
        """Collective: end every series, close the sink, add the spikes, move the file onto the output."""
        error = None
        try:
            for s in series.values():  # every rank knows steps_written: write_block is collective
                if s.steps_written == s.n_steps:
                    continue
                if trim or s.precision is not None:  # int counts (precision) have no NaN for unwritten samples
                    self.sink.trim(s.name, s.steps_written)
                else:
                    self._fill_unwritten(s, tables[s.table])
        except IO_ERRORS as exc:
            error = self.write_error(exc, "trimming the series to the steps written", series)
        try:
            self.sink.close()  # collective with MPI-IO: every rank calls it, failed or not; its last flush
        except IO_ERRORS as exc:
            error = error or self.write_error(exc, "flushing and closing it", series)
        mpi.raise_if_any(self.comm, error)
        order = cell_order or "population"
        try:
            units = spikes.gather_units(
                self.comm,
                order=order,
                id_offsets=self.ids.offsets if self.ids else {},
                id_end=self.ids.end if self.ids else 0,
            )
        except ValueError as exc:
            units, error = None, exc
        if self.rank == 0 and error is None:
            try:
                if units is not None:
                    # HDF5 adds the table in one burst of metadata writes: a kill in the middle could leave a file
                    # that no longer opens; the journal lets `simout recover` undo it (simout_plugins.write.journal)
                    journal.save(self.output.tmp_path)
                    reserve_units_space(self.output.tmp_path, units)
                    write_units(self.output.tmp_path, units, order=order)
                    journal.discard(self.output.tmp_path)
            except IO_ERRORS as exc:
                error = self.write_error(exc, "writing the spikes (Units)", series)
            else:
                error = self._commit()
        mpi.raise_if_any(self.comm, error)

    def _fill_unwritten(self, s: SeriesSpec, table: Table) -> None:
        """Collective: NaN into the samples never written (the data are allocated unfilled), a few MB at a time."""
        if self.rank == 0:
            logger.warning("series '%s': %d of %d steps written; the rest hold NaN", s.name, s.steps_written, s.n_steps)
        per_block = max(1, (4 << 20) // max(1, table.plan.n_columns * s.dtype.itemsize))  # same on every rank
        n_local = table.local.n_compartments
        for step0 in range(s.steps_written, s.n_steps, per_block):
            n = min(per_block, s.n_steps - step0)
            self.sink.write(s.name, step0, np.full((n, n_local), np.nan, dtype=s.dtype), count=False)

    def _commit(self) -> OutputWriteError | None:
        """Rank 0: move the finished file onto the output name; the error (not raised) when that fails."""
        try:
            self.output.commit()
        except OSError as exc:
            code, reason = os_error_reason(exc)
            return OutputWriteError(
                f"could not move the finished '{self.output.tmp_path}' onto '{self.output.path}': {reason}. "
                f"The output is untouched; the finished file is '{self.output.tmp_path}'.",
                errno=code,
            )
        return None

    # ------------------------------------------------------------------ abort
    def abort(self, exc: BaseException) -> None:
        """Leave after an error inside ``with``: the old output untouched, the partial file kept.

        A collective error (raised on every rank at the same point) closes the file on every rank (the sink's last
        flush keeps every block written) and lets the error propagate. A local error under MPI ends the job
        (:func:`simout_plugins.failstop.abort_job`): the other ranks are, or soon will be, waiting for this one in a
        collective call that it will never make.
        """
        local = self.comm is not None and not failstop.is_collective(exc)
        if self.sink is not None:
            try:
                self.sink.abandon() if local else self.sink.close()
            except (OSError, RuntimeError, ValueError) as close_exc:  # a disk that failed a write may fail the close
                logger.debug("closing the partial file after an error failed too: %s", close_exc)
        kept = f"the output '{self.output.path}' is untouched" + (
            f"; partial output kept at {self.output.tmp_path}" if self.started else ""
        )
        if local:
            failstop.abort_job(self.comm, exc, context=kept)
        if self.started and self.rank == 0:
            logger.warning("run failed: %s", kept)
