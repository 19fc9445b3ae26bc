"""Where blocks go once the NWB structure exists: the HDF5 side of the writer.

One interface, called by every rank (each call is collective): ``open`` / ``write`` / ``trim`` / ``close``.

- :class:`RootGatherSink` (default install, h5py without MPI): every block is gathered to rank 0 with one
  ``Gatherv`` into a reused buffer, put into file column order with one indexed copy, written as one hyperslab
  and flushed. Serial runs write directly.
- :class:`simout_plugins.write.sink_mpio.MpioSink` (h5py built with MPI): every rank opens the file with
  ``driver="mpio"`` and writes its own columns collectively; no rank holds another rank's columns.

:func:`choose_sink` picks one. After each block the data's ``simout_steps_written`` attribute says how many samples
are valid, and the file is flushed, so every flushed block survives a crash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import mpi
from ..nwb.attrs import STEPS_WRITTEN_ATTR

if TYPE_CHECKING:
    from .plan import ColumnPlan
    from .skeleton import Skeleton

#: ``"mpio-selection"`` is MPI-IO with the other column strategy (see :mod:`simout_plugins.write.sink_mpio`), kept to
#: measure it (``bench/mpi_write.py``).
SINKS = ("auto", "gather", "mpio", "mpio-selection")


def h5py_has_mpi() -> bool:
    """True when h5py was built against parallel HDF5 (``driver="mpio"`` available)."""
    return bool(h5py.get_config().mpi)


def choose_sink(comm: Any | None, kind: str = "auto") -> Any:
    """The sink for ``kind``: ``"auto"`` = MPI-IO with more than one rank when h5py has MPI, else gather.

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

        return MpioSink(comm, strategy="selection" if kind == "mpio-selection" else "alltoall")
    return RootGatherSink(comm)


class RootGatherSink:
    """Rank 0 owns the open HDF5 file; other ranks only send their columns.

    Parameters
    ----------
    comm : mpi4py communicator or None
    """

    kind = "gather"

    def __init__(self, comm: Any | None) -> None:
        self._comm = comm
        self._rank, _ = mpi.rank_size(comm)
        self._h5: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._plans: dict[str, ColumnPlan] = {}
        self._dest: dict[str, list[np.ndarray]] = {}  # per rank: file column of each of its columns (rank 0)
        self._recv: dict[str, np.ndarray] = {}  # Gatherv buffers, reused block after block (rank 0)
        self._out: dict[str, np.ndarray] = {}  # file-ordered blocks, reused (rank 0)

    def open(self, path: str | os.PathLike, *, skeleton: Skeleton, plans: Mapping[str, ColumnPlan]) -> None:
        """Open the skeleton file rank 0 has written (collective; only rank 0 opens it)."""
        self._plans = dict(plans)
        if self._rank != 0:
            return
        self._h5 = h5py.File(path, "r+", rdcc_nbytes=skeleton.cache_bytes, rdcc_nslots=100_003)
        for name, where in skeleton.datasets.items():  # the skeleton holds every attribute: nothing to write here
            self._datasets[name] = self._h5[where]

    def write(self, name: str, step0: int, block: np.ndarray, *, count: bool = True) -> None:
        """Collective: write this rank's ``block`` (n_t, n_local) at ``step0``.

        ``count=False`` (the NaN the writer puts into samples never recorded) leaves ``simout_steps_written``.
        """
        if self._comm is None:
            full = block
            perm = self._plans[name].perm
            if perm is not None:
                full = block[:, perm]
        else:
            full = self._gather(name, block)
            if self._rank != 0:
                return
        dataset = self._datasets[name]
        stop = step0 + full.shape[0]
        dataset[step0:stop, :] = full
        self._h5.flush()  # the block first: the count below never claims steps that are not in the file yet
        if count:
            dataset.attrs[STEPS_WRITTEN_ATTR] = stop
            self._h5.flush()

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
        for dest, d, c in zip(self._destinations(name), displs, counts):
            if c:
                full[:, dest] = flat[d : d + c * n_t].reshape(n_t, c)
        return full

    def _destinations(self, name: str) -> list[np.ndarray]:
        """File column of each rank's columns (rank 0), from the plan's permutation."""
        if name not in self._dest:
            plan = self._plans[name]
            file_of = np.arange(plan.n_columns, dtype=np.int64)
            if plan.perm is not None:
                file_of[plan.perm] = np.arange(plan.n_columns, dtype=np.int64)
            bounds = np.concatenate([[0], np.cumsum(plan.col_counts)])
            self._dest[name] = [file_of[bounds[r] : bounds[r + 1]] for r in range(plan.col_counts.size)]
        return self._dest[name]

    def trim(self, name: str, n_steps: int) -> None:
        """Collective: shrink a series' data to its first ``n_steps`` samples (chunked datasets shrink in place)."""
        if self._rank != 0:
            return
        dataset = self._datasets[name]
        dataset.resize(n_steps, axis=0)
        self._h5.flush()

    def abandon(self) -> None:
        """Local (not collective): close what this rank holds after a failure that ends the job; here the same as
        :meth:`close`, which only rank 0's file needs."""
        self.close()

    def close(self) -> None:
        """Collective: close the file (any rank may call it again; then nothing happens)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
            self._datasets = {}
