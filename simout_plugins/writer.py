"""CompartmentSeriesWriter: allocate (T, C) once, write blocks as the simulation runs, move into place on close.

Life cycle (every call is collective under MPI):

1. ``__init__`` / ``add_series`` validate everything and check that the output folder is writable; nothing is
   created yet.
2. The first ``write_block`` (or ``add_spikes`` / ``close``) gathers the compartment layouts to rank 0, orders
   cells by (population, node_id), and writes the NWB structure with every series allocated empty
   (``H5DataIO(shape, dtype, chunks, fillvalue=NaN)``) to a temporary ``<stem>.partial.nwb`` beside the output.
3. ``write_block(step0, block)`` writes whole blocks with h5py, updates the ``simout_steps_written`` attribute
   and flushes, so every flushed block survives a crash.
4. ``close()`` writes the spikes (``Units``) and moves the temporary file onto the output name. An exception
   inside the ``with`` block leaves the old output untouched and keeps the partial file for inspection.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from numpy.typing import ArrayLike
from pynwb import NWBHDF5IO

from . import mpi
from .builders import compartments_from_layout, layout_from_compartments
from .chunking import TABLE_CHUNK_BYTES, cache_bytes, choose_chunks
from .ids import DEFAULT_POPULATION, population_offsets
from .layout import CELL_ORDERS, CompartmentLayout, check_unique, concat_layouts, with_addresses
from .nwbfile import build_manager, make_nwbfile
from .schema import Compartments, CompartmentSeries
from .sink import ROW_ORDER_ATTR, RootGatherSink
from .spikes import SpikeCollector
from .units import unit_and_conversion

logger = logging.getLogger(__name__)


@dataclass
class _Table:
    container: Compartments
    local: CompartmentLayout
    name: str
    col_counts: np.ndarray | None = None  # columns per rank (rank 0 only)
    perm: np.ndarray | None = None  # rank-major column -> file column permutation (rank 0; None = identity)
    global_layout: CompartmentLayout | None = None  # rank 0 only
    written: Compartments | None = None  # the container written to the file (rank 0 only)
    order_by: str = "population"  # row order of the written table (rank 0 only)


@dataclass
class _Series:
    name: str
    table: _Table
    n_steps: int
    dt_ms: float
    tstart_ms: float
    unit: str
    dtype: np.dtype
    description: str
    comments: str
    chunks: tuple[int, int] | None = None
    steps_written: int = 0


class CompartmentSeriesWriter:
    """Stream (n_steps, n_compartments) recordings into an NWB file, block by block, on one or many MPI ranks.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.nwb`` file. Replaced only when :meth:`close` succeeds.
    compartments : Compartments or None
        This rank's recorded compartments (from :func:`build_compartments`); block columns follow its order.
        None: no first series (a spikes-only file, or series added with :meth:`add_series`).
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
        File-level NWBFile arguments (see :func:`simout_plugins.nwbfile.make_nwbfile`).
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
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compartments: Compartments | None,
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
    ) -> None:
        self._comm = comm if comm is not None and comm.Get_size() > 1 else None
        self._rank, self._size = mpi.rank_size(self._comm)
        self._path = Path(path)
        self._tmp_path = self._path.with_name(f"{self._path.stem}.partial.nwb")
        self._defaults = dict(n_steps=n_steps, dt_ms=dt_ms, tstart_ms=tstart_ms, dtype=dtype)
        self._block_steps = block_steps
        self._cell_order = cell_order
        self._trim = bool(trim_unwritten)
        self._compression = compression
        self._tables: dict[int, _Table] = {}
        self._series: dict[str, _Series] = {}
        self._spikes = SpikeCollector()
        self._sink = RootGatherSink(self._comm)
        self._started = False
        self._closed = False
        self._id_offsets: dict[str, int] = {}
        self._id_end = 0
        error = None
        try:
            if cell_order is not None and cell_order not in CELL_ORDERS:
                raise ValueError(f"cell_order must be one of {CELL_ORDERS}, got {cell_order!r}")
            self._check_output(overwrite)
            self._nwbfile = make_nwbfile(nwb_metadata) if self._rank == 0 else None
            if compartments is not None:
                self._add(name=name, compartments=compartments, unit=unit, description=description, comments=None)
        except (ValueError, TypeError, FileExistsError, PermissionError) as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    # ------------------------------------------------------------------ declaration
    def add_series(
        self,
        *,
        name: str,
        unit: str,
        compartments: Compartments | None = None,
        n_steps: int | None = None,
        dt_ms: float | None = None,
        tstart_ms: float | None = None,
        dtype: str | np.dtype | None = None,
        description: str | None = None,
        comments: str | None = None,
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
            if compartments is None:
                compartments = next(iter(self._series.values())).table.container
            self._add(
                name=name,
                compartments=compartments,
                unit=unit,
                description=description,
                comments=comments,
                n_steps=n_steps,
                dt_ms=dt_ms,
                tstart_ms=tstart_ms,
                dtype=dtype,
            )
        except (ValueError, TypeError) as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    def _add(self, *, name, compartments, unit, description, comments, **overrides) -> None:
        opts = {k: (v if v is not None else self._defaults[k]) for k, v in {**self._defaults, **overrides}.items()}
        if name in self._series:
            raise ValueError(f"series name '{name}' is used twice; give each series its own name")
        if not isinstance(compartments, Compartments):
            raise TypeError(
                f"series '{name}': compartments must be a simout_plugins.Compartments (from build_compartments), "
                f"got {type(compartments).__name__}"
            )
        n_steps = opts["n_steps"]
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"series '{name}': n_steps must be a positive integer, got {n_steps!r}")
        if not isinstance(opts["dt_ms"], (int, float, np.integer, np.floating)) or isinstance(opts["dt_ms"], bool):
            raise ValueError(f"series '{name}': dt_ms must be a positive number of milliseconds, got {opts['dt_ms']!r}")
        dt_ms = float(opts["dt_ms"])
        if not np.isfinite(dt_ms) or dt_ms <= 0:
            raise ValueError(f"series '{name}': dt_ms must be a positive number of milliseconds, got {dt_ms!r}")
        tstart_ms = float(opts["tstart_ms"])
        try:
            dtype = np.dtype(opts["dtype"])
        except TypeError as exc:
            raise ValueError(f"series '{name}': dtype {opts['dtype']!r} is not a numpy dtype") from exc
        if dtype.kind != "f":
            raise ValueError(f"series '{name}': dtype must be a float type such as 'float32' or 'float64', got {dtype}")
        unit_and_conversion(unit)  # validates
        key = id(compartments)
        if key not in self._tables:
            taken = {t.name for t in self._tables.values()}
            if compartments.name in taken or compartments.name in self._series or compartments.name == name:
                raise ValueError(
                    f"series '{name}': a different Compartments table named '{compartments.name}' is already used; "
                    "give each table its own name (build_compartments(name=...))"
                )
            self._tables[key] = _Table(compartments, layout_from_compartments(compartments), compartments.name)
        if name in {t.name for t in self._tables.values()}:
            raise ValueError(f"series name '{name}' is also a Compartments table name; pick another")
        self._series[name] = _Series(
            name=name,
            table=self._tables[key],
            n_steps=int(n_steps),
            dt_ms=dt_ms,
            tstart_ms=tstart_ms,
            unit=unit,
            dtype=dtype,
            description=description or f"'{name}' recorded from every listed compartment",
            comments=comments or "Sample k is the value at t = starting_time + k / rate.",
        )

    def _check_output(self, overwrite: bool) -> None:
        if self._path.suffix != ".nwb":
            raise ValueError(f"output file '{self._path}' must end in '.nwb'")
        folder = self._path.parent.resolve()
        if self._rank == 0:
            if not folder.is_dir():
                raise ValueError(f"output folder '{folder}' does not exist; create it first")
            if not os.access(folder, os.W_OK | os.X_OK) or not can_create_file_in(folder):
                raise PermissionError(f"output folder '{folder}' is not writable; choose another output path")
            if self._path.exists() and not overwrite:
                raise FileExistsError(f"output file '{self._path}' exists and overwrite=False")

    # ------------------------------------------------------------------ start: layouts + skeleton
    def open(self) -> None:
        """Create the file now (collective): gather the layouts and write the NWB structure.

        Optional: the first :meth:`write_block` does it otherwise. Simulator adapters call it before the run starts
        (e.g. in BMTK's ``initialize``) so that no set-up cost lands inside the timed simulation loop. After it, no
        series can be added.
        """
        self._start()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        error = None
        try:
            for table in self._tables.values():
                self._plan_table(table)
            if self._rank == 0:
                self._assign_cell_ids()
        except ValueError as exc:
            error = exc
        error = mpi.bcast(self._comm, error)
        if error is not None:
            raise error
        error = None
        if self._rank == 0:
            try:
                self._write_skeleton()
            except (OSError, ValueError, TypeError) as exc:
                error = exc
        mpi.raise_if_any(self._comm, error)

    def _plan_table(self, table: _Table) -> None:
        gathered = mpi.gather(self._comm, table.local)
        if self._rank != 0:
            return
        col_counts = np.array([lay.n_compartments for lay in gathered], dtype=np.int64)
        what = f"Compartments table '{table.name}'"
        merged = concat_layouts(gathered, what=what)
        by = self._order_of(merged.population is not None)
        order = merged.sort_order(by)
        check_unique(merged, what=what, by=by, order=order)
        ordered, perm = merged.sorted(by, order=order)
        table.col_counts = col_counts
        table.order_by = by
        table.global_layout = ordered
        table.perm = perm

    def _assign_cell_ids(self) -> None:
        """Give every table a population per cell and global cell ids, derived over all tables (rank 0)."""
        lays = [t.global_layout for t in self._tables.values()]
        if not lays:  # a spikes-only file
            return
        pops = np.concatenate(
            [lay.population if lay.population is not None else np.full(lay.n_cells, DEFAULT_POPULATION) for lay in lays]
        )
        nodes = np.concatenate([lay.node_ids for lay in lays])
        if self._cell_order == "node_id":  # node ids are global (e.g. NetPyNE gids): they are the ids
            self._id_offsets = {name: 0 for name in np.unique(pops.astype(str)).tolist()}
        else:
            self._id_offsets = population_offsets(population=pops.astype(str), node_ids=nodes)
        self._id_end = 0
        for table in self._tables.values():
            lay = with_addresses(table.global_layout, offsets=self._id_offsets)
            if lay.cell_ids.size:
                ids = np.sort(lay.cell_ids)
                if (ids[1:] == ids[:-1]).any():
                    dup = np.unique(ids[1:][ids[1:] == ids[:-1]])[:10].tolist()
                    raise ValueError(f"Compartments table '{table.name}': duplicate cell_ids {dup}")
                self._id_end = max(self._id_end, int(ids[-1]) + 1)
            table.global_layout = lay

    def _order_of(self, has_population: bool) -> str:
        if self._cell_order is not None:
            return self._cell_order
        return "population" if has_population else "node_id"

    def _write_skeleton(self) -> None:
        nwbfile = self._nwbfile
        for table in self._tables.values():
            container = compartments_from_layout(
                table.global_layout,
                name=table.name,
                description=table.container.description,
                chunk_bytes=TABLE_CHUNK_BYTES,
            )
            table.written = container
            nwbfile.add_acquisition(container)
        biggest = 0
        for s in self._series.values():
            n_comp = s.table.global_layout.n_compartments
            s.chunks = choose_chunks(
                n_steps=s.n_steps, n_compartments=n_comp, itemsize=s.dtype.itemsize, block_steps=self._block_steps
            )
            biggest = max(
                biggest,
                cache_bytes(
                    chunks=s.chunks, n_compartments=n_comp, itemsize=s.dtype.itemsize, block_steps=self._block_steps
                ),
            )
            unit, conversion = unit_and_conversion(s.unit)
            data = H5DataIO(
                shape=(s.n_steps, n_comp),
                dtype=s.dtype,
                chunks=s.chunks,
                fillvalue=np.nan,
                compression=self._compression,
            )
            nwbfile.add_acquisition(
                CompartmentSeries(
                    name=s.name,
                    data=data,
                    compartments=s.table.written,
                    unit=unit,
                    conversion=conversion,
                    starting_time=s.tstart_ms / 1000.0,
                    rate=1000.0 / s.dt_ms,
                    description=s.description,
                    comments=s.comments,
                )
            )
        if self._tmp_path.exists():
            logger.warning("replacing a partial file left by an earlier run: %s", self._tmp_path)
            self._tmp_path.unlink()
        with NWBHDF5IO(str(self._tmp_path), "w", manager=build_manager()) as io:
            io.write(nwbfile)
        self._nwbfile = None
        self._sink.open(
            self._tmp_path,
            datasets={s.name: f"acquisition/{s.name}/data" for s in self._series.values()},
            cache_bytes=biggest,
            group_attrs={f"acquisition/{t.name}": {ROW_ORDER_ATTR: t.order_by} for t in self._tables.values()},
        )
        logger.info("writing %d series to %s (moved to %s on close)", len(self._series), self._tmp_path, self._path)

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
            infos = self._comm.allgather((None if error is None else str(error), int(step0), block.shape[0]))
            if error is None:
                bad = [(r, e) for r, (e, _, _) in enumerate(infos) if e is not None]
                if bad:
                    error = ValueError(f"on rank {bad[0][0]}: {bad[0][1]}")
                elif len({(a, b) for _, a, b in infos}) != 1:
                    error = ValueError(
                        f"write_block of '{s.name}': ranks disagree on (step0, n_steps) {[i[1:] for i in infos]}; "
                        "every rank must write the same steps in the same call"
                    )
        if error is not None:
            raise error
        self._start()
        self._sink.write(s.name, step0, block, col_counts=s.table.col_counts, perm=s.table.perm)
        s.steps_written = step0 + block.shape[0]

    def _check_block(self, step0, block, series) -> tuple[_Series, np.ndarray, ValueError | None]:
        if not self._series:
            raise ValueError("write_block: the writer has no series (it was created with compartments=None)")
        name = series if series is not None else next(iter(self._series))
        if name not in self._series:
            raise ValueError(f"write_block: unknown series '{name}'; declared: {list(self._series)}")
        s = self._series[name]
        arr = np.asarray(block)
        n_local = s.table.local.n_compartments
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

    def _write_units(self) -> None:
        order = self._cell_order or "population"
        units = self._spikes.gather_units(self._comm, order=order, id_offsets=self._id_offsets, id_end=self._id_end)
        if units is None:
            return
        with NWBHDF5IO(str(self._tmp_path), "a") as io:
            nwbfile = io.read()
            nwbfile.units = units
            io.write(nwbfile)
        with h5py.File(self._tmp_path, "r+") as h5:
            h5["units"].attrs[ROW_ORDER_ATTR] = order

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Write spikes, close the file and move it onto the output path (collective)."""
        if self._closed:
            return
        self._start()
        self._closed = True
        error = None
        if self._rank == 0:
            for s in self._series.values():
                if s.steps_written == s.n_steps:
                    continue
                if self._trim:
                    self._sink.trim(s.name, s.steps_written)
                else:
                    logger.warning(
                        "series '%s': %d of %d steps written; the rest hold NaN", s.name, s.steps_written, s.n_steps
                    )
        self._sink.close()
        try:
            self._write_units()
        except (ValueError, OSError) as exc:
            error = exc
        if self._rank == 0 and error is None:
            os.replace(self._tmp_path, self._path)
            logger.info("wrote %s", self._path)
        mpi.raise_if_any(self._comm, error)

    def _abort(self) -> None:
        self._closed = True
        self._sink.close()
        if self._started and self._rank == 0:
            logger.warning("run failed: '%s' left untouched; partial output kept at %s", self._path, self._tmp_path)

    @property
    def path(self) -> Path:
        """The output path."""
        return self._path

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    def __enter__(self) -> CompartmentSeriesWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()


def can_create_file_in(folder: Path) -> bool:
    """Probe by creating and removing a file: permission bits alone miss read-only mounts and root's view."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".simout-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
