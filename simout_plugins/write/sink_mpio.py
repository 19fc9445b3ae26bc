"""Collective MPI-IO sink: every rank opens the file with ``driver="mpio"`` and writes its own columns.

No rank ever holds another rank's columns. The file lists cells by (population, node id) while simulators deal
cells round-robin, so a rank's columns are scattered over the file; two ways to write them are implemented and
measured in ``bench/mpi_write.py``:

- ``"alltoall"`` (default): an ``Alltoallv`` first moves the columns so that each rank holds one contiguous
  column range, then one collective hyperslab write per rank.
- ``"selection"``: one collective ``H5Dwrite`` per block whose file selection is the union of the rank's column
  runs (built once per block length and shifted to each block's first step). Measured 10-25x slower than
  ``"alltoall"`` (HDF5 turns thousands of runs into a derived datatype per write); kept for the benchmark.

Flushing follows the package's one policy (:mod:`simout_plugins.write.flush`): at most once per
``flush_interval_s`` (rank 0's clock decides, so all ranks flush together) and at close. Under MPI-IO ``H5Fflush``
ends in ``MPI_File_sync`` (an fsync: ~50 ms each on a local disk, 5x the write of a 40 MB block), so the policy
matters most here. One flush per interval suffices: parallel HDF5 never caches raw data (its collective writes
bypass the chunk cache), so when the counts are set every block they count is already in the file, and the flush
then writes the counts.

ROMIO hints: collective buffering and data sieving for writes are disabled by default (:data:`DEFAULT_HINTS`):
on a local disk they cost 2.5x on contiguous hyperslabs (0.46 s vs 0.18 s for 0.4 GB on 2 ranks). Parallel file
systems may want them back: pass ``hints={}`` (or your own).

Every call is collective and made by every rank, ranks without columns included (they write an empty
selection); attribute writes, resizes, flushes and close are collective too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.ragged import counts_to_offsets
from .columncopy import column_runs, gather_columns, scatter_columns
from .flush import DEFAULT_FLUSH_INTERVAL_S, FlushClock

if TYPE_CHECKING:
    from .plan import ColumnPlan
    from .skeleton import Skeleton

STRATEGIES = ("alltoall", "selection")
DEFAULT_HINTS = {"romio_cb_write": "disable", "romio_ds_write": "disable"}


class MpioSink:
    """Every rank writes its own columns collectively through parallel HDF5.

    Parameters
    ----------
    comm : mpi4py communicator
    strategy : {"alltoall", "selection"}
        How scattered columns are written (module docstring).
    hints : dict of str to str, optional
        MPI-IO (ROMIO) hints for opening the file; default :data:`DEFAULT_HINTS`.
    flush_interval_s : float
        Shortest time between two flushes (0: after every block).
    """

    kind = "mpio"

    def __init__(
        self,
        comm: Any,
        *,
        strategy: str = "alltoall",
        hints: Mapping[str, str] | None = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self._comm = comm
        self._strategy = strategy
        self._hints = dict(DEFAULT_HINTS if hints is None else hints)
        self._clock = FlushClock(flush_interval_s, comm=comm)
        self._written: dict[str, int] = {}  # steps written per series (flushed or not)
        self._failed = False  # a write failed: the counts are never written again (they could overclaim)
        #: steps per series that are in the file and counted by its ``simout_steps_written`` (every rank)
        self.steps_flushed: dict[str, int] = {}
        self._h5: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._plans: dict[str, ColumnPlan] = {}
        self._order: dict[str, np.ndarray] = {}  # local columns sorted by file column
        self._runs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # (first file column, length) of each run
        self._spaces: dict[tuple[str, int], h5py.h5s.SpaceID] = {}
        self._exchange: dict[str, dict[str, Any]] = {}
        self._bufs: dict[str, tuple] = {}
        self._dxpl = None

    @property
    def h5file(self) -> h5py.File | None:
        """The open file (None where this rank holds none)."""
        return self._h5

    def open(self, path: str | os.PathLike, *, skeleton: Skeleton, plans: Mapping[str, ColumnPlan]) -> None:
        """Collective: every rank opens the skeleton rank 0 has written (call after rank 0 closed it)."""
        self._plans = dict(plans)
        self._written = {name: 0 for name in plans}
        self.steps_flushed = dict(self._written)
        from mpi4py import MPI

        info = MPI.Info.Create()
        for key, value in self._hints.items():
            info.Set(key, value)
        self._h5 = h5py.File(path, "r+", driver="mpio", comm=self._comm, info=info)
        for name, where in skeleton.datasets.items():  # the skeleton holds every attribute
            self._datasets[name] = self._h5[where]
            cols = self._plans[name].file_cols
            order = np.argsort(cols, kind="stable")
            self._order[name] = order
            srt = cols[order]
            breaks = np.flatnonzero(np.diff(srt) != 1) + 1
            starts = np.concatenate([[0], breaks]).astype(np.int64) if srt.size else np.zeros(0, np.int64)
            stops = np.concatenate([breaks, [srt.size]]).astype(np.int64) if srt.size else np.zeros(0, np.int64)
            self._runs[name] = (srt[starts], stops - starts)
        self._dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
        self._dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
        self._h5.flush()
        self._clock.flushed()

    # ------------------------------------------------------------------ writing
    def write(self, name: str, step0: int, block: np.ndarray, *, count: bool = True) -> None:
        """Collective: write this rank's ``block`` (n_t, n_local) at ``step0`` into its own file columns.

        ``count=False`` (the NaN the writer puts into samples never recorded) leaves ``simout_steps_written``.
        """
        try:
            if self._plans[name].n_columns == 0:
                pass  # no column on any rank (every rank knows it): the dataset has no storage to write into
            elif self._strategy == "alltoall":
                self._write_alltoall(name, step0, block)
            else:
                self._write_selection(name, step0, block)
        except BaseException:
            self._failed = True
            raise
        if count:
            self._written[name] = step0 + block.shape[0]
        if self._clock.due():
            self._flush()

    def _flush(self) -> None:
        """Collective: record the steps written of every series (already in the file: module docstring), then flush
        (metadata + MPI_File_sync)."""
        if not self._failed:  # the same on every rank: a failed collective write fails on every rank
            for name, steps in self._written.items():
                if steps != self.steps_flushed.get(name):
                    self._datasets[name].attrs[STEPS_WRITTEN_ATTR] = steps
        self._h5.flush()
        self.steps_flushed = dict(self._written)
        self._clock.flushed()

    def _write_selection(self, name: str, step0: int, block: np.ndarray) -> None:
        dataset = self._datasets[name]
        n_t = block.shape[0]
        order = self._order[name]
        local = np.ascontiguousarray(block[:, order]) if order.size else np.zeros((n_t, 0), dtype=block.dtype)
        fspace = self._file_space(name, n_t)
        fspace.offset_simple((step0, 0))
        self._write(dataset, local, fspace)

    def _file_space(self, name: str, n_t: int) -> h5py.h5s.SpaceID:
        """File selection of this rank's column runs over ``n_t`` steps from step 0 (shifted per block)."""
        key = (name, n_t)
        if key not in self._spaces:
            space = self._datasets[name].id.get_space()
            first, lengths = self._runs[name]
            if first.size == 0 or n_t == 0:
                space.select_none()
            else:
                space.select_hyperslab((0, int(first[0])), (n_t, int(lengths[0])))
                for c0, n in zip(first[1:].tolist(), lengths[1:].tolist()):
                    space.select_hyperslab((0, c0), (n_t, n), op=h5py.h5s.SELECT_OR)
            self._spaces[key] = space
        return self._spaces[key]

    def _write(self, dataset: h5py.Dataset, local: np.ndarray, fspace: h5py.h5s.SpaceID) -> None:
        """One collective H5Dwrite (also for an empty selection: every rank must call it)."""
        if local.size == 0:
            mspace = h5py.h5s.create_simple((1,))
            mspace.select_none()
            buf = np.zeros(1, dtype=dataset.dtype)
            fspace = fspace.copy()
            fspace.select_none()
        else:
            mspace = h5py.h5s.create_simple(local.shape)
            buf = np.ascontiguousarray(local, dtype=dataset.dtype)
        dataset.id.write(mspace, fspace, buf, dxpl=self._dxpl)

    def _write_alltoall(self, name: str, step0: int, block: np.ndarray) -> None:
        from mpi4py import MPI

        ex = self._exchange_plan(name)
        n_t = block.shape[0]
        size = self._comm.Get_size()
        send, recv, own = self._buffers(name, n_t, block.dtype, ex)
        # row-major (n_t, c) piece per destination, each contiguous in the send buffer
        offs = ex["send_displs"] * n_t
        for d in range(size):
            c = int(ex["send_counts"][d])
            if c:
                piece = send[offs[d] : offs[d] + c * n_t].reshape(n_t, c)
                gather_columns(piece, block, ex["send_cols"][d], ex["send_runs"][d])
        mpi_type = MPI._typedict[block.dtype.char]
        self._comm.Alltoallv(
            [send, ex["send_counts"] * n_t, offs, mpi_type],
            [recv, ex["recv_counts"] * n_t, ex["recv_displs"] * n_t, mpi_type],
        )
        roffs = ex["recv_displs"] * n_t
        for s in range(size):
            c = int(ex["recv_counts"][s])
            if c:
                src = recv[roffs[s] : roffs[s] + c * n_t].reshape(n_t, c)
                scatter_columns(own, src, ex["recv_pos"][s], ex["recv_runs"][s])
        lo, hi = ex["own"]
        space = self._datasets[name].id.get_space()
        if hi > lo and n_t:
            space.select_hyperslab((step0, lo), (n_t, hi - lo))
        else:
            space.select_none()
        self._write(self._datasets[name], own, space)

    def _buffers(self, name: str, n_t: int, dtype: np.dtype, ex: dict[str, Any]) -> tuple[np.ndarray, ...]:
        """Send, receive and own-range buffers, reused block after block (reallocated for a longer block)."""
        key = (name, n_t, np.dtype(dtype).str)
        if self._bufs.get(name, (None,))[0] != key:
            lo, hi = ex["own"]
            self._bufs[name] = (
                key,
                np.empty(int(ex["send_counts"].sum()) * n_t, dtype=dtype),
                np.empty(ex["n_recv"] * n_t, dtype=dtype),
                np.empty((n_t, hi - lo), dtype=dtype),
            )
        return self._bufs[name][1:]

    def _exchange_plan(self, name: str) -> dict[str, Any]:
        """Alltoallv counts: rank r owns file columns [r*C/size, (r+1)*C/size); collective on first use."""
        if name not in self._exchange:
            size, rank = self._comm.Get_size(), self._comm.Get_rank()
            n = self._plans[name].n_columns
            bounds = (np.arange(size + 1, dtype=np.int64) * n) // size
            cols = self._plans[name].file_cols
            owner = np.searchsorted(bounds, cols, side="right") - 1
            send_order = np.lexsort((cols, owner))
            send_counts = np.bincount(owner, minlength=size).astype(np.int64)
            recv_counts = np.asarray(self._comm.alltoall(send_counts.tolist()), dtype=np.int64)
            # the file columns each source sends, in its send order: gathered once
            sent_cols = self._comm.alltoall(
                [
                    cols[send_order][int(a) : int(b)]
                    for a, b in zip(counts_to_offsets(send_counts), counts_to_offsets(send_counts)[1:])
                ]
            )
            lo, hi = int(bounds[rank]), int(bounds[rank + 1])
            starts = counts_to_offsets(send_counts)
            send_cols = [send_order[starts[d] : starts[d + 1]] for d in range(size)]  # local columns per dest
            recv_pos = [np.asarray(c, dtype=np.int64) - lo for c in sent_cols]  # own-range column per source
            self._exchange[name] = {
                "send_cols": send_cols,
                "send_runs": [column_runs(c) for c in send_cols],
                "send_counts": send_counts,
                "send_displs": starts[:-1],
                "recv_counts": recv_counts,
                "recv_displs": counts_to_offsets(recv_counts)[:-1],
                "n_recv": int(recv_counts.sum()),
                "recv_pos": recv_pos,
                "recv_runs": [column_runs(p) for p in recv_pos],
                "own": (lo, hi),
            }
        return self._exchange[name]

    # ------------------------------------------------------------------ end
    def trim(self, name: str, n_steps: int) -> None:
        """Collective: shrink a series' data to its first ``n_steps`` samples."""
        self._datasets[name].resize(n_steps, axis=0)
        self._written[name] = min(self._written.get(name, 0), n_steps)
        self._flush()

    def abandon(self) -> None:
        """Local: give up the file after a failure that ends the job, without any collective call (closing an MPI-IO
        file is collective, so it stays open; the job's end closes it). The file keeps what the last flush wrote."""
        self._abandoned = self._h5  # still referenced: freeing it would close the file, a collective call
        self._h5 = None
        self._datasets = {}

    def close(self) -> None:
        """Collective: close the file on every rank."""
        if self._h5 is not None:
            try:
                self._flush()
            finally:
                h5, self._h5 = self._h5, None
                h5.close()  # before the datasets are let go (freeing their ids first fails on a failed file)
                self._datasets = {}
                self._spaces = {}
