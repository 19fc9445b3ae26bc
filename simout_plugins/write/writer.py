"""CompartmentSeriesWriter: allocate (T, C) once, write blocks as the simulation runs, move into place on close.

The façade over one module per job: option checks (:mod:`.series`), output-path policy (:mod:`.outputs`), the
cross-rank column plan (:mod:`.plan`), the NWB structure (:mod:`.skeleton`), where blocks go (:mod:`.sink`,
:mod:`.sink_mpio`) and spikes (:mod:`.spikes`). Life cycle (every call is collective under MPI):

1. ``__init__`` / ``add_series`` validate everything and check that the output folder is writable; nothing is
   created yet.
2. :meth:`open` (or the first ``write_block`` / ``add_spikes`` / ``close``) plans the columns (cells ordered by
   (population, node_id), global cell ids), rank 0 writes the NWB structure with every series allocated empty
   to ``<stem>.partial.nwb`` beside the output, and the sink opens it (rank 0, or every rank with MPI-IO).
3. ``write_block(step0, block)`` writes whole blocks, updates the ``simout_steps_written`` attribute and
   flushes, so every flushed block survives a crash.
4. ``close()`` writes the spikes (``Units``) and moves the temporary file onto the output name. An exception
   inside the ``with`` block leaves the old output untouched and keeps the partial file for inspection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import failstop, mpi
from ..errors import OutputWriteError, os_error_reason
from ..nwb.builders import layout_from_compartments
from ..nwb.layout import CELL_ORDERS, CompartmentLayout
from ..nwb.nwbfile import make_nwbfile
from ..nwb.schema import Compartments
from . import journal
from .outputs import OutputPath
from .plan import ColumnPlan, IdSpace, plan_tables
from .series import SeriesSpec, make_series_spec
from .sink import choose_sink
from .skeleton import TableSpec, write_skeleton
from .spikes import SpikeCollector, reserve_units_space, write_units

__all__ = ["CompartmentSeriesWriter"]

logger = logging.getLogger(__name__)
#: What a failed HDF5 write raises: OSError, or RuntimeError for a failed flush ("Unable to synchronously flush")
_IO_ERRORS = (OSError, RuntimeError)
_DEFAULT_TABLE_DESCRIPTION = "Recorded compartments: one row per cell, one entry per data column."


@dataclass
class _Table:
    name: str
    description: str
    local: CompartmentLayout
    plan: ColumnPlan | None = None


class CompartmentSeriesWriter:
    """Stream (n_steps, n_compartments) recordings into an NWB file, block by block, on one or many MPI ranks.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.nwb`` file. Replaced only when :meth:`close` succeeds.
    compartments : Compartments, CompartmentLayout or None
        This rank's recorded compartments (from :func:`build_compartments`, or the layout value object itself);
        block columns follow its order. None: no first series (a spikes-only file, or series added with
        :meth:`add_series`).
    name : str
        Name of the first CompartmentSeries (e.g. ``"v"``).
    n_steps : int
        Number of time samples the series will hold (T); required with ``compartments``.
    dt_ms : float
        Sampling interval in ms; stored as ``rate = 1000 / dt_ms`` Hz; required with ``compartments``.
    tstart_ms : float
        Time of sample 0 in ms; stored as ``starting_time`` in s.
    unit : str
        Unit of the values as recorded (``"mV"`` is stored as ``unit="volts"``, ``conversion=1e-3``).
    dtype : str or numpy.dtype
        Floating-point storage type (``"float32"`` or ``"float64"``).
    comm : mpi4py communicator, optional
        With more than one rank, every rank passes its own cells and writes its own columns.
    nwb_metadata : dict, optional
        File-level NWBFile arguments (see :func:`simout_plugins.nwb.nwbfile.make_nwbfile`).
    description : str, optional
        Description of the first series.
    block_steps : int, optional
        Typical block length (steps); used to align the chunk shape with the blocks.
    overwrite : bool
        When False, refuse to start if ``path`` exists.
    compression : str, optional
        HDF5 filter for the data (e.g. ``"gzip"``); None (default) writes fastest.
    cell_order : {"population", "node_id"}, optional
        Row order of the tables (and of ``Units``): by (population, node id), the default when the table has a
        population column, or by node id alone (node ids must then be unique across populations).
    trim_unwritten : bool
        When True, ``n_steps`` is an upper bound: :meth:`close` shrinks each series to the samples written
        (for simulators whose last sample depends on float rounding). When False (default), unwritten samples
        stay NaN and a warning names the series.
    sink : {"auto", "gather", "mpio"}
        How blocks reach the file under MPI: ``"gather"`` sends every block to rank 0, which writes;
        ``"mpio"`` has every rank write its own columns collectively (h5py built with parallel HDF5);
        ``"auto"`` (default) takes ``"mpio"`` with more than one rank when h5py has MPI.
    table_name : str, optional
        Name of the Compartments table when ``compartments`` is a layout (default ``"compartments"``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compartments: Compartments | CompartmentLayout | None,
        name: str = "v",
        n_steps: int | None = None,
        dt_ms: float | None = None,
        tstart_ms: float = 0.0,
        unit: str = "mV",
        dtype: str | np.dtype = "float32",
        comm: Any | None = None,
        nwb_metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        block_steps: int | None = None,
        overwrite: bool = True,
        compression: str | None = None,
        cell_order: str | None = None,
        trim_unwritten: bool = False,
        sink: str = "auto",
        table_name: str | None = None,
    ) -> None:
        self._comm = comm if comm is not None and comm.Get_size() > 1 else None
        self._rank, self._size = mpi.rank_size(self._comm)
        failstop.install_hook(self._comm)  # an uncaught error on one rank ends the job instead of hanging it
        self._output = OutputPath(path)
        self._defaults = dict(n_steps=n_steps, dt_ms=dt_ms, tstart_ms=tstart_ms, dtype=dtype)
        self._block_steps = block_steps
        self._cell_order = cell_order
        self._trim = bool(trim_unwritten)
        self._compression = compression
        self._tables: dict[str, _Table] = {}
        # id() of a given Compartments / layout -> (that object, table name); the object is kept so that its id() is
        # not reused by another object while the writer lives
        self._table_keys: dict[int, tuple[Any, str]] = {}
        self._series: dict[str, SeriesSpec] = {}
        self._spikes = SpikeCollector()
        self._ids: IdSpace | None = None
        self._started = False
        self._closed = False
        self._sink = None
        self._nwbfile = None
        error = None
        try:
            if cell_order is not None and cell_order not in CELL_ORDERS:
                raise ValueError(f"cell_order must be one of {CELL_ORDERS}, got {cell_order!r}")
            self._sink = choose_sink(self._comm, sink)
            if self._rank == 0:
                self._output.check(overwrite=overwrite)
                self._nwbfile = make_nwbfile(nwb_metadata)
            if compartments is not None:
                self._add(
                    name=name,
                    compartments=compartments,
                    unit=unit,
                    description=description,
                    comments=None,
                    table_name=table_name,
                )
        except (ValueError, TypeError, FileExistsError, PermissionError) as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    # ------------------------------------------------------------------ declaration
    def add_series(
        self,
        *,
        name: str,
        unit: str,
        compartments: Compartments | CompartmentLayout | None = None,
        n_steps: int | None = None,
        dt_ms: float | None = None,
        tstart_ms: float | None = None,
        dtype: str | np.dtype | None = None,
        description: str | None = None,
        comments: str | None = None,
        table_name: str | None = None,
    ) -> None:
        """Declare another CompartmentSeries (before the first :meth:`write_block`).

        ``compartments=None`` shares the first series' table; other arguments default to the writer's.
        """
        error = None
        try:
            if self._started:
                raise ValueError(f"add_series('{name}'): series must be declared before the first write_block")
            if compartments is None and not self._series:
                raise ValueError(f"add_series('{name}'): give compartments (the writer has no series to share)")
            self._add(
                name=name,
                compartments=compartments,
                unit=unit,
                description=description,
                comments=comments,
                table_name=table_name,
                n_steps=n_steps,
                dt_ms=dt_ms,
                tstart_ms=tstart_ms,
                dtype=dtype,
            )
        except (ValueError, TypeError) as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    def _add(self, *, name, compartments, unit, description, comments, table_name, **overrides) -> None:
        opts = {k: (v if v is not None else self._defaults[k]) for k, v in {**self._defaults, **overrides}.items()}
        if name in self._series:
            raise ValueError(f"series name '{name}' is used twice; give each series its own name")
        table = (
            next(iter(self._series.values())).table
            if compartments is None
            else self._table_for(name, compartments, table_name)
        )
        if name in self._tables:
            raise ValueError(f"series name '{name}' is also a Compartments table name; pick another")
        self._series[name] = make_series_spec(name=name, table=table, unit=unit, description=description,
                                              comments=comments, **opts)  # fmt: skip

    def _table_for(self, name: str, compartments: Any, table_name: str | None) -> str:
        """The table name of ``compartments`` (registering it on first use)."""
        key = id(compartments)
        if key in self._table_keys:
            return self._table_keys[key][1]
        if isinstance(compartments, CompartmentLayout):
            local, tname, doc = compartments, table_name or "compartments", _DEFAULT_TABLE_DESCRIPTION
        elif isinstance(compartments, Compartments):
            local, tname, doc = layout_from_compartments(compartments), compartments.name, compartments.description
        else:
            raise TypeError(
                f"series '{name}': compartments must be a simout_plugins.Compartments (from build_compartments) "
                f"or a CompartmentLayout, got {type(compartments).__name__}"
            )
        if tname in self._tables or tname in self._series or tname == name:
            raise ValueError(
                f"series '{name}': a different Compartments table named '{tname}' is already used; "
                "give each table its own name (build_compartments(name=...))"
            )
        self._tables[tname] = _Table(name=tname, description=doc, local=local)
        self._table_keys[key] = (compartments, tname)
        return tname

    # ------------------------------------------------------------------ start: plan + skeleton
    def open(self) -> None:
        """Create the file now (collective): plan the columns, write the NWB structure, open the sink.

        Optional: the first :meth:`write_block` does it otherwise. Simulator adapters call it before the run starts
        (e.g. in BMTK's ``initialize``) so that no set-up cost lands inside the timed simulation loop. After it, no
        series can be added.
        """
        self._start()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        tables = list(self._tables.values())
        plans, self._ids = plan_tables(
            self._comm, [t.local for t in tables], names=[t.name for t in tables], cell_order=self._cell_order
        )
        for table, plan in zip(tables, plans):
            table.plan = plan
        error = None
        skeleton = None
        if self._rank == 0:
            try:
                self._output.keep_stale_partial()
                skeleton = self._write_skeleton(tables)
            except (OSError, ValueError, TypeError) as exc:
                error = exc
        mpi.raise_if_any(self._comm, error)
        skeleton = mpi.bcast(self._comm, skeleton)
        error = None
        try:
            self._sink.open(
                self._output.tmp_path,
                skeleton=skeleton,
                plans={s.name: self._tables[s.table].plan for s in self._series.values()},
            )
        except _IO_ERRORS as exc:
            error = self._write_error(exc, "opening it to write the series")
        mpi.raise_if_any(self._comm, error)
        logger.info(
            "writing %d series to %s (moved to %s on close; %s sink)",
            len(self._series), self._output.tmp_path, self._output.path, self._sink.kind,
        )  # fmt: skip

    def _write_skeleton(self, tables: list[_Table]) -> Any:
        """Rank 0: write the structure under a temporary name, then rename it to the partial file.

        A partial file therefore only ever exists complete; a failed write removes its incomplete structure.
        """
        where = self._output.skeleton_path
        try:
            skeleton = write_skeleton(
                where,
                nwbfile=self._nwbfile,
                tables=[TableSpec(t.name, t.description, t.plan.layout, t.plan.order_by) for t in tables],
                series=list(self._series.values()),
                block_steps=self._block_steps,
                compression=self._compression,
            )
            os.replace(where, self._output.tmp_path)
        except _IO_ERRORS as exc:
            where.unlink(missing_ok=True)
            code, reason = os_error_reason(exc)
            raise OutputWriteError(
                f"could not create '{self._output.tmp_path}' (the NWB structure: tables and empty series): {reason}. "
                f"Nothing was recorded; the output '{self._output.path}' is untouched.",
                errno=code,
            ) from exc
        self._nwbfile = None
        return skeleton

    def _write_error(self, exc: BaseException, doing: str) -> OutputWriteError:
        """The error for a failed write into the partial file: file, what was written, why, what is left."""
        code, reason = os_error_reason(exc)
        kept = ", ".join(f"'{s.name}': {s.steps_written} of {s.n_steps}" for s in self._series.values())
        return OutputWriteError(
            f"writing '{self._output.tmp_path}' failed while {doing}: {reason}. The output '{self._output.path}' is "
            f"untouched. Steps written before the failure ({kept or 'no series'}) stay in the partial file, as its "
            f"simout_steps_written attributes say: `simout info` shows them, `simout recover` makes it a valid NWB "
            "file.",
            errno=code,
        )

    # ------------------------------------------------------------------ blocks
    def write_block(self, step0: int, block: ArrayLike, *, series: str | None = None) -> None:
        """Write samples ``step0 .. step0 + n - 1`` of a series.

        Parameters
        ----------
        step0 : int
            Index of the block's first sample; blocks come in order without gaps or overlaps.
        block : array-like, shape (n, n_local_compartments)
            Values in the series' unit (e.g. mV), columns in this rank's Compartments order.
        series : str, optional
            Series name; default the first series.
        """
        if self._closed:
            raise ValueError("write_block: the writer is closed")
        s, block, error = self._check_block(step0, block, series)
        if self._comm is not None:
            mine = (
                None if error is None else str(error),
                s.name if s is not None else series,
                int(step0),
                int(block.shape[0]) if block.ndim else 0,
            )
            infos = self._comm.allgather(mine)
            if error is None:
                bad = [(r, e) for r, (e, _, _, _) in enumerate(infos) if e is not None]
                if bad:
                    error = ValueError(f"on rank {bad[0][0]}: {bad[0][1]}")
                elif len({i[1:] for i in infos}) != 1:
                    error = ValueError(
                        f"write_block: ranks disagree on (series, step0, n_steps) {[i[1:] for i in infos]}; every "
                        "rank must write the same steps of the same series in the same call"
                    )
            if error is not None:
                raise failstop.mark_collective(error)
        if error is not None:
            raise error
        self._start()
        try:
            self._sink.write(s.name, step0, block)
        except _IO_ERRORS as exc:
            raise self._write_error(exc, f"writing steps {step0}..{step0 + len(block) - 1} of '{s.name}'") from exc
        s.steps_written = step0 + block.shape[0]

    def _check_block(self, step0, block, series) -> tuple[SeriesSpec | None, np.ndarray, ValueError | None]:
        """The series, the block as an array of the series' dtype, and what is wrong with them (None: nothing)."""
        arr = np.asarray(block)
        if not self._series:
            return None, arr, ValueError("write_block: the writer has no series (created with compartments=None)")
        name = series if series is not None else next(iter(self._series))
        if name not in self._series:
            return None, arr, ValueError(f"write_block: unknown series '{name}'; declared: {list(self._series)}")
        s = self._series[name]
        n_local = self._tables[s.table].local.n_compartments
        if arr.ndim == 1 and n_local == 1:
            arr = arr[:, None]
        error = None
        if arr.ndim != 2 or arr.shape[1] != n_local:
            hint = " (it looks transposed)" if arr.ndim == 2 and arr.shape[0] == n_local else ""
            error = ValueError(
                f"write_block of '{name}': block has shape {arr.shape}, expected (n_steps, {n_local}) for this "
                f"rank's {n_local} compartments{hint}"
            )
        elif step0 != s.steps_written:
            error = ValueError(
                f"write_block of '{name}': step0={step0} but {s.steps_written} steps are written; blocks must come "
                f"in order without gaps or overlaps (next step0 is {s.steps_written})"
            )
        elif step0 + arr.shape[0] > s.n_steps:
            error = ValueError(
                f"write_block of '{name}': steps {step0}..{step0 + arr.shape[0] - 1} run past n_steps={s.n_steps}"
            )
        if error is None:
            arr = np.ascontiguousarray(arr, dtype=s.dtype)
        return s, arr, error

    # ------------------------------------------------------------------ spikes
    def add_spikes(
        self,
        *,
        node_ids: ArrayLike,
        times_ms: ArrayLike,
        population: str | ArrayLike | None = None,
        units_node_ids: ArrayLike | None = None,
        units_population: str | ArrayLike | None = None,
        unit_columns: Mapping[str, ArrayLike] | None = None,
        resolution_ms: float | None = None,
        units_cell_ids: ArrayLike | None = None,
    ) -> None:
        """Add this rank's spikes to the file's ``Units`` table (written on close). Collective; call once.

        Parameters
        ----------
        node_ids : array-like of int, shape (n_spikes,)
            Node id / gid of the cell of each spike (this rank's spikes).
        times_ms : array-like of float, shape (n_spikes,), ms
            Spike times; stored in seconds.
        population : str or array-like of str, shape (n_spikes,), optional
            Population of each spike's cell.
        units_node_ids : array-like of int, shape (n_units,), optional
            The cells (this rank's) that get a Units row, spiking or not; default every cell that spiked.
        units_population : str or array-like of str, shape (n_units,), optional
            Population of each of ``units_node_ids``.
        unit_columns : dict of str to array-like, each shape (n_units,), optional
            Extra per-unit columns (e.g. cell type), aligned with ``units_node_ids``.
        resolution_ms : float, optional
            Temporal resolution of the spike times (usually the simulation dt), stored as ``Units.resolution`` in s.
        units_cell_ids : array-like of int, shape (n_units,), optional
            Global cell id (the Units ``id``, e.g. the simulator's gid) of each of ``units_node_ids``; default
            derived as for the Compartments tables (docs/file_layout.md).
        """
        error = None
        try:
            self._spikes.add(
                node_ids=node_ids,
                times_ms=times_ms,
                population=population,
                units_node_ids=units_node_ids,
                units_population=units_population,
                unit_columns=unit_columns,
                resolution_ms=resolution_ms,
                units_cell_ids=units_cell_ids,
            )
        except ValueError as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Write spikes, close the file and move it onto the output path (collective)."""
        if self._closed:
            return
        self._start()
        self._closed = True
        error = None
        try:
            for s in self._series.values():  # every rank knows steps_written: write_block is collective
                if s.steps_written == s.n_steps:
                    continue
                if self._trim:
                    self._sink.trim(s.name, s.steps_written)
                else:
                    self._fill_unwritten(s)
        except _IO_ERRORS as exc:
            error = self._write_error(exc, "trimming the series to the steps written")
        try:
            self._sink.close()  # collective with MPI-IO: every rank calls it, failed or not
        except _IO_ERRORS as exc:
            error = error or self._write_error(exc, "flushing and closing it")
        mpi.raise_if_any(self._comm, error)
        try:
            units = self._spikes.gather_units(
                self._comm,
                order=self._cell_order or "population",
                id_offsets=self._ids.offsets if self._ids else {},
                id_end=self._ids.end if self._ids else 0,
            )
        except ValueError as exc:
            units, error = None, exc
        if self._rank == 0 and error is None:
            try:
                if units is not None:
                    # HDF5 adds the table in one burst of metadata writes: a kill in the middle could leave a file
                    # that no longer opens; the journal lets `simout recover` undo it (simout_plugins.write.journal)
                    journal.save(self._output.tmp_path)
                    reserve_units_space(self._output.tmp_path, units)
                    write_units(self._output.tmp_path, units, order=self._cell_order or "population")
                    journal.discard(self._output.tmp_path)
            except _IO_ERRORS as exc:
                error = self._write_error(exc, "writing the spikes (Units)")
            else:
                error = self._commit()
        mpi.raise_if_any(self._comm, error)

    def _fill_unwritten(self, s: SeriesSpec) -> None:
        """Collective: NaN into the samples never written (the data are allocated unfilled), a few MB at a time."""
        if self._rank == 0:
            logger.warning("series '%s': %d of %d steps written; the rest hold NaN", s.name, s.steps_written, s.n_steps)
        plan = self._tables[s.table].plan
        per_block = max(1, (4 << 20) // max(1, plan.n_columns * s.dtype.itemsize))  # same on every rank
        n_local = self._tables[s.table].local.n_compartments
        for step0 in range(s.steps_written, s.n_steps, per_block):
            n = min(per_block, s.n_steps - step0)
            self._sink.write(s.name, step0, np.full((n, n_local), np.nan, dtype=s.dtype), count=False)

    def _commit(self) -> OutputWriteError | None:
        """Rank 0: move the finished file onto the output name; the error (not raised) when that fails."""
        try:
            self._output.commit()
        except OSError as exc:
            code, reason = os_error_reason(exc)
            return OutputWriteError(
                f"could not move the finished '{self._output.tmp_path}' onto '{self._output.path}': {reason}. "
                f"The output is untouched; the finished file is '{self._output.tmp_path}'.",
                errno=code,
            )
        return None

    def _abort(self, exc: BaseException) -> None:
        """Leave after an error inside ``with``: the old output untouched, the partial file kept.

        A collective error (raised on every rank at the same point) closes the file on every rank and lets the
        error propagate. A local error under MPI ends the job (:func:`simout_plugins.failstop.abort_job`): the other
        ranks are, or soon will be, waiting for this one in a collective call that it will never make.
        """
        self._closed = True
        local = self._comm is not None and not failstop.is_collective(exc)
        if self._sink is not None:
            try:
                self._sink.abandon() if local else self._sink.close()
            except (OSError, RuntimeError, ValueError) as close_exc:  # a disk that failed a write may fail the close
                logger.debug("closing the partial file after an error failed too: %s", close_exc)
        kept = f"the output '{self._output.path}' is untouched" + (
            f"; partial output kept at {self._output.tmp_path}" if self._started else ""
        )
        if local:
            failstop.abort_job(self._comm, exc, context=kept)
        if self._started and self._rank == 0:
            logger.warning("run failed: %s", kept)

    @property
    def path(self) -> Path:
        """The output path."""
        return self._output.path

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    @property
    def sink_kind(self) -> str:
        """``"gather"`` or ``"mpio"``: how blocks reach the file."""
        return self._sink.kind

    def __enter__(self) -> CompartmentSeriesWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc)
