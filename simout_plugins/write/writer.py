"""CompartmentSeriesWriter: allocate (T, C) once, write blocks as the simulation runs, move into place on close.

The public façade: it declares what is recorded (tables, series, spikes) and hands each job to one module: option
checks (:mod:`.series`), the block protocol (:mod:`.blocks`), the file's life cycle from plan and structure to
commit or abort (:mod:`.lifecycle`, over :mod:`.plan`, :mod:`.skeleton`, :mod:`.outputs`, :mod:`.spikes`) and where
blocks go (:mod:`.sink`, :mod:`.sink_mpio`). Life cycle (every call is collective under MPI):

1. ``__init__`` / ``add_series`` validate everything and check the output path (the one policy of
   :class:`~simout_plugins.write.outputs.OutputPath`); nothing is created yet.
2. :meth:`open` (or the first ``write_block`` / ``add_spikes`` / ``close``) plans the columns (cells ordered by
   (population, node_id), global cell ids), rank 0 writes the NWB structure with every series allocated empty
   to ``<stem>.partial.nwb`` beside the output, and the sink opens it (rank 0, or every rank with MPI-IO).
3. ``write_block(step0, block)`` writes whole blocks. The sink flushes the data, then the steps written
   (``simout_steps_written``), at most once per ``flush_interval_s`` (default 1 s; 0: every block) and at close: a
   killed run loses at most the blocks of the last ``flush_interval_s`` (:mod:`.flush`).
4. ``close()`` flushes, writes the spikes (``Units``) and moves the temporary file onto the output name. An
   exception inside the ``with`` block leaves the old output untouched and keeps the partial file for inspection.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import failstop, mpi
from ..nwb.builders import layout_from_compartments
from ..nwb.compression import CompressionSpec, parse_compression
from ..nwb.layout import CELL_ORDERS, CompartmentLayout
from ..nwb.nwbfile import make_nwbfile
from ..nwb.schema import Compartments
from .blocks import agree_across_ranks, check_block
from .flush import DEFAULT_FLUSH_INTERVAL_S, check_interval
from .lifecycle import Table, WriterRun
from .outputs import OutputPath
from .series import SeriesSpec, make_series_spec
from .sink import choose_sink
from .spikes import SpikeCollector

__all__ = ["CompartmentSeriesWriter"]

logger = logging.getLogger(__name__)
_DEFAULT_TABLE_DESCRIPTION = "Recorded compartments: one row per cell, one entry per data column."


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
    overwrite : bool, optional
        Replace an existing output (it is replaced only when :meth:`close` succeeds). False refuses to start when
        ``path`` exists. Not given: replaced as before, with a DeprecationWarning when the file exists: the default
        becomes False in the next release, as in ``to_nwb``, ``to_sonata``, ``recover`` and the CLI; simulator
        adapters pass ``overwrite=True``.
    compression, precision : optional
        Lossless filter of the data (``"gzip"``, ``"gzip:<0-9>"``, ``"lzf"``; None: fastest) and decimal digits kept
        in the recorded unit (int32 counts; unwritten samples cut at close): see :mod:`simout_plugins.nwb.compression`.
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
    flush_interval_s : float
        Shortest time in seconds between two flushes of the file (data, then the ``simout_steps_written`` count);
        default 1.0; 0 flushes after every block. The file is always flushed at close. A killed run keeps every
        flushed block, so it loses at most the blocks of the last ``flush_interval_s``.
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
        overwrite: bool | None = None,
        compression: str | Mapping[str, Any] | CompressionSpec | None = None,
        precision: int | None = None,
        cell_order: str | None = None,
        trim_unwritten: bool = False,
        sink: str = "auto",
        table_name: str | None = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> None:
        self._comm = comm if comm is not None and comm.Get_size() > 1 else None
        self._rank, self._size = mpi.rank_size(self._comm)
        failstop.install_hook(self._comm)  # an uncaught error on one rank ends the job instead of hanging it
        self._defaults = dict(n_steps=n_steps, dt_ms=dt_ms, tstart_ms=tstart_ms, dtype=dtype, precision=precision)
        self._block_steps = block_steps
        self._cell_order = cell_order
        self._trim = bool(trim_unwritten)
        self._tables: dict[str, Table] = {}
        # id() of a given Compartments / layout -> (that object, table name); the object is kept so that its id() is
        # not reused by another object while the writer lives
        self._table_keys: dict[int, tuple[Any, str]] = {}
        self._series: dict[str, SeriesSpec] = {}
        self._spikes = SpikeCollector()
        self._closed = False
        self._nwbfile = None
        output = OutputPath(path)
        self._run = WriterRun(comm=self._comm, output=output, sink=None)
        error = None
        try:
            self._compression = parse_compression(compression, where="CompartmentSeriesWriter")
            if cell_order is not None and cell_order not in CELL_ORDERS:
                raise ValueError(f"cell_order must be one of {CELL_ORDERS}, got {cell_order!r}")
            self._run.sink = choose_sink(self._comm, sink, flush_interval_s=check_interval(flush_interval_s))
            if self._rank == 0:
                output.check(overwrite=overwrite is not False)
                if overwrite is None and output.path.exists():
                    warnings.warn(
                        f"CompartmentSeriesWriter: '{output.path}' exists and is replaced because overwrite= was not "
                        "given; the default becomes overwrite=False (as in to_nwb, to_sonata, recover and the CLI) in "
                        "the next release: pass overwrite=True to keep replacing it",
                        DeprecationWarning,
                        stacklevel=2,
                    )
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
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> None:
        """Declare another CompartmentSeries (before the first :meth:`write_block`).

        ``compartments=None`` shares the first series' table; other arguments default to the writer's.
        """
        error = None
        try:
            if self._run.started:
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
        first = next(iter(self._series.values()), None)
        table = first.table if compartments is None else self._table_for(name, compartments, table_name)
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
        self._tables[tname] = Table(name=tname, description=doc, local=local)
        self._table_keys[key] = (compartments, tname)
        return tname

    # ------------------------------------------------------------------ start
    def open(self) -> None:
        """Create the file now (collective): plan the columns, write the NWB structure, open the sink.

        Optional: the first :meth:`write_block` does it otherwise. Simulator adapters call it before the run starts
        (e.g. in BMTK's ``initialize``) so that no set-up cost lands inside the timed simulation loop. After it, no
        series can be added.
        """
        self._start()

    def _start(self) -> None:
        if self._run.started:
            return
        self._run.start(
            tables=list(self._tables.values()),
            series=self._series,
            nwbfile=self._nwbfile,
            cell_order=self._cell_order,
            block_steps=self._block_steps,
            compression=self._compression,
        )
        self._nwbfile = None

    # ------------------------------------------------------------------ blocks
    def write_block(self, step0: int, block: ArrayLike, *, series: str | None = None) -> None:
        """Write samples ``step0 .. step0 + n - 1`` of a series.

        The block is on disk, and counted in the file's ``simout_steps_written``, after the next flush: at the
        first ``write_block`` at least ``flush_interval_s`` after the previous flush, and at :meth:`close`.

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
        n_local = {name: t.local.n_compartments for name, t in self._tables.items()}
        s, arr, error = check_block(series=self._series, n_local=n_local, step0=step0, block=block, name=series)
        agree_across_ranks(self._comm, s=s, name=series, step0=step0, block=arr, error=error)
        self._start()
        self._run.write(s, step0, arr, self._series)

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
        """Flush and close the file, write the spikes and move it onto the output path (collective)."""
        if self._closed:
            return
        self._start()
        self._closed = True
        self._run.finish(
            series=self._series, tables=self._tables, spikes=self._spikes, cell_order=self._cell_order, trim=self._trim
        )

    @property
    def path(self) -> Path:
        """The output path."""
        return self._run.output.path

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    @property
    def file_host(self) -> WriterRun:
        """For a writer sharing this file: ``extend_structure(add)`` before the start, ``h5file`` after it."""
        return self._run

    @property
    def sink_kind(self) -> str:
        """``"gather"`` or ``"mpio"``: how blocks reach the file."""
        return self._run.sink.kind

    @property
    def steps_flushed(self) -> dict[str, int]:
        """Per series, the steps in the file and counted by its ``simout_steps_written`` (what a killed run keeps;
        the same on every rank: rank 0's flush decision is shared)."""
        flushed = getattr(self._run.sink, "steps_flushed", {})
        return {name: flushed.get(name, 0) for name in self._series}

    def __enter__(self) -> CompartmentSeriesWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
            self._run.abort(exc)
