"""Where blocks go once the NWB structure exists: the HDF5 side of the writer.

One interface, called by every rank (each call is collective): ``open`` / ``write`` / ``trim`` / ``close``.

- :class:`RootGatherSink` (default install, h5py without MPI): every block is gathered to rank 0 with one
  ``Gatherv`` into a reused buffer, put into file column order with one indexed copy and written as one hyperslab.
  Serial runs write directly.
- :class:`simout_plugins.write.sink_mpio.MpioSink` (h5py built with MPI): every rank opens the file with
  ``driver="mpio"`` and writes its own columns collectively; no rank holds another rank's columns.

:func:`choose_sink` picks one. Both flush by the one policy of :mod:`.flush`: data first, then the data's
``simout_steps_written`` attribute, at most once per ``flush_interval_s`` and at close; every flushed block survives
a crash, and the attribute never claims a step that is not in the file. :attr:`steps_flushed` says what is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import mpi
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from .columncopy import Runs, column_runs, scatter_columns
from .deflate import ChunkDeflater, gzip_level
from .flush import DEFAULT_FLUSH_INTERVAL_S, FlushClock

if TYPE_CHECKING:
    from .plan import ColumnPlan
    from .skeleton import Skeleton

#: ``"mpio-selection"`` is MPI-IO with the other column strategy (see :mod:`simout_plugins.write.sink_mpio`), kept to
#: measure it (``bench/mpi_write.py``).
SINKS = ("auto", "gather", "mpio", "mpio-selection")


def h5py_has_mpi() -> bool:
    """True when h5py was built against parallel HDF5 (``driver="mpio"`` available)."""
    return bool(h5py.get_config().mpi)


def choose_sink(comm: Any | None, kind: str = "auto", *, flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S) -> Any:
    """The sink for ``kind``: ``"auto"`` = MPI-IO with more than one rank when h5py has MPI, else gather.

    ``flush_interval_s`` is the sink's flush policy (:mod:`simout_plugins.write.flush`).

    Raises
    ------
    ValueError
        Unknown ``kind``, or ``"mpio"`` with an h5py built without MPI.
    """
    if kind not in SINKS:
        raise ValueError(f"sink must be one of {SINKS}, got {kind!r}")
    several = comm is not None and comm.Get_size() > 1
    if kind.startswith("mpio") and not h5py_has_mpi():
        raise ValueError(
            "sink='mpio' needs h5py built with parallel HDF5 (h5py.get_config().mpi is False here); "
            "use sink='gather' or install the MPI-IO environment (make install-mpio, README 'MPI')"
        )
    if kind.startswith("mpio") and comm is None:
        raise ValueError(f"sink={kind!r} needs an MPI communicator with more than one rank (comm=)")
    if kind.startswith("mpio") or (kind == "auto" and several and h5py_has_mpi()):
        from .sink_mpio import MpioSink

        strategy = "selection" if kind == "mpio-selection" else "alltoall"
        return MpioSink(comm, strategy=strategy, flush_interval_s=flush_interval_s)
    return RootGatherSink(comm, flush_interval_s=flush_interval_s)


class RootGatherSink:
    """Rank 0 owns the open HDF5 file; other ranks only send their columns.

    Parameters
    ----------
    comm : mpi4py communicator or None
    flush_interval_s : float
        Shortest time between two flushes (0: after every block); the file is always flushed at close.
    """

    kind = "gather"

    def __init__(self, comm: Any | None, *, flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S) -> None:
        self._comm = comm
        self._rank, _ = mpi.rank_size(comm)
        self._flush_interval = flush_interval_s
        self._clock: FlushClock | None = None
        self._written: dict[str, int] = {}  # steps written per series (flushed or not), known on every rank
        self._failed = False  # a write or flush failed: the counts are never written again (they could overclaim)
        #: steps per series that are in the file and counted by its ``simout_steps_written`` (every rank)
        self.steps_flushed: dict[str, int] = {}
        self._h5: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._plans: dict[str, ColumnPlan] = {}
        self._dest: dict[str, list[np.ndarray]] = {}  # per rank: file column of each of its columns (rank 0)
        self._recv: dict[str, np.ndarray] = {}  # Gatherv buffers, reused block after block (rank 0)
        self._out: dict[str, np.ndarray] = {}  # file-ordered blocks, reused (rank 0)
        self._deflaters: dict[str, ChunkDeflater] = {}  # gzip data: chunks deflated on a worker thread (rank 0)
        self._executor = None

    @property
    def h5file(self) -> h5py.File | None:
        """The open file (None where this rank holds none)."""
        return self._h5

    def open(self, path: str | os.PathLike, *, skeleton: Skeleton, plans: Mapping[str, ColumnPlan]) -> None:
        """Open the skeleton file rank 0 has written (collective; only rank 0 opens it)."""
        self._plans = dict(plans)
        self._clock = FlushClock(self._flush_interval, comm=self._comm)
        self._written = {name: 0 for name in plans}
        self.steps_flushed = dict(self._written)
        if self._rank != 0:
            return
        self._h5 = h5py.File(path, "r+", rdcc_nbytes=skeleton.cache_bytes, rdcc_nslots=100_003)
        for name, where in skeleton.datasets.items():  # the skeleton holds every attribute: nothing to write here
            self._datasets[name] = self._h5[where]
            if gzip_level(self._datasets[name]) is not None:  # simout_plugins.write.deflate
                if self._executor is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simout-deflate")
                self._deflaters[name] = ChunkDeflater(self._datasets[name], executor=self._executor)

    def write(self, name: str, step0: int, block: np.ndarray, *, count: bool = True) -> None:
        """Collective: write this rank's ``block`` (n_t, n_local) at ``step0``.

        ``count=False`` (the NaN the writer puts into samples never recorded) leaves ``simout_steps_written``.
        Flushes when the policy says so (:mod:`simout_plugins.write.flush`).
        """
        if self._comm is None:
            full = block
            perm = self._plans[name].perm
            if perm is not None:
                full = block[:, perm]
        else:
            full = self._gather(name, block)
        if self._rank == 0:
            try:
                deflater = self._deflaters.get(name)
                if deflater is not None and deflater.takes(step0, full.shape[0]):
                    deflater.submit(step0, full)  # deflated beside the simulation, written at the next call
                else:
                    self._datasets[name][step0 : step0 + full.shape[0], :] = full
            except BaseException:
                self._failed = True
                raise
        if count:
            self._written[name] = step0 + block.shape[0]
        if self._clock.due():
            self._flush()

    def _flush(self) -> None:
        """The data first, then the counts, then flush again: the counts never claim steps not in the file yet."""
        if self._rank == 0 and self._failed:
            return  # a failed write's data may be missing: the counts stay at the last good flush
        if self._rank == 0:
            try:
                for deflater in self._deflaters.values():
                    deflater.drain()  # every deflated chunk in the file before the counts claim it
                self._h5.flush()
            except BaseException:
                self._failed = True
                raise
            changed = False
            for name, steps in self._written.items():
                if steps != self.steps_flushed.get(name):
                    self._datasets[name].attrs[STEPS_WRITTEN_ATTR] = steps
                    changed = True
            if changed:
                self._h5.flush()
        self.steps_flushed = dict(self._written)
        self._clock.flushed()

    def _gather(self, name: str, block: np.ndarray) -> np.ndarray | None:
        """Gatherv into a reused buffer on rank 0, then one copy per rank into a reused file-ordered block."""
        from mpi4py import MPI

        plan = self._plans[name]
        n_t = block.shape[0]
        send = np.ascontiguousarray(block)
        if self._rank != 0:
            self._comm.Gatherv(send, None, root=0)
            return None
        counts = plan.col_counts
        sizes = counts * n_t
        displs = np.zeros_like(sizes)
        np.cumsum(sizes[:-1], out=displs[1:])
        total = int(sizes.sum())
        buf = self._recv.get(name)
        if buf is None or buf.size < total or buf.dtype != block.dtype:
            buf = self._recv[name] = np.empty(total, dtype=block.dtype)
        flat = buf[:total]
        self._comm.Gatherv(send, [flat, sizes, displs, MPI._typedict[block.dtype.char]], root=0)
        out = self._out.get(name)
        if out is None or out.shape[0] < n_t or out.dtype != block.dtype:
            out = self._out[name] = np.empty((n_t, plan.n_columns), dtype=block.dtype)
        full = out[:n_t]
        for (dest, runs), d, c in zip(self._destinations(name), displs, counts):
            if not c:
                continue
            scatter_columns(full, flat[d : d + c * n_t].reshape(n_t, c), dest, runs)
        return full

    def _destinations(self, name: str) -> list[tuple[np.ndarray, Runs | None]]:
        """Per rank (rank 0): the file column of each of its columns, from the plan's permutation, and their runs
        (:func:`column_runs`)."""
        if name not in self._dest:
            plan = self._plans[name]
            file_of = np.arange(plan.n_columns, dtype=np.int64)
            if plan.perm is not None:
                file_of[plan.perm] = np.arange(plan.n_columns, dtype=np.int64)
            bounds = np.concatenate([[0], np.cumsum(plan.col_counts)])
            dests = [file_of[bounds[r] : bounds[r + 1]] for r in range(plan.col_counts.size)]
            self._dest[name] = [(dest, column_runs(dest)) for dest in dests]
        return self._dest[name]

    def _stop_deflating(self) -> None:
        """Drop what is still pending (after a flush nothing is) and end the worker thread."""
        for deflater in self._deflaters.values():
            deflater.cancel()
        self._deflaters = {}
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def trim(self, name: str, n_steps: int) -> None:
        """Collective: shrink a series' data to its first ``n_steps`` samples (chunked datasets shrink in place)."""
        self._written[name] = min(self._written.get(name, 0), n_steps)
        if self._rank != 0:
            return
        if name in self._deflaters:
            self._deflaters[name].drain()
        self._datasets[name].resize(n_steps, axis=0)

    def abandon(self) -> None:
        """Local (not collective): close what this rank holds after a failure that ends the job, without a flush
        (no collective call; the file keeps what the last flush wrote, HDF5's close may write out more)."""
        self._clock = None
        self._stop_deflating()
        h5, self._h5 = self._h5, None
        if h5 is not None:
            h5.close()  # before the datasets are let go: freeing their ids first fails again on a failed file
        self._datasets = {}

    def close(self) -> None:
        """Collective: flush (data, then counts) and close the file (any rank may call it again; then nothing
        happens). When the flush fails the file is closed anyway and the counts keep their last flushed value."""
        if self._clock is None:
            return
        try:
            self._flush()
        finally:
            self._clock = None
            self._stop_deflating()
            h5, self._h5 = self._h5, None
            if h5 is not None:
                h5.close()  # before the datasets are let go (see abandon)
            self._datasets = {}
