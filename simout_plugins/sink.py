"""Where blocks go once the NWB structure exists: the HDF5 side of the writer.

``RootGatherSink`` is the path for the default install (h5py without MPI): every block is gathered to rank 0 with one
``Gatherv``, put into file column order with one permutation, written as one hyperslab and flushed. A collective
parallel-HDF5 sink (``driver="mpio"``, each rank writing its own columns) implements the same ``open`` / ``write`` /
``close`` methods and slots in behind the writer unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from . import mpi

STEPS_WRITTEN_ATTR = "simout_steps_written"
#: Attribute of a cell table (Compartments, Units) saying how its rows are ordered: "population" = by
#: (population, node_id), so each population is one contiguous row range (readers find it by bisection).
ROW_ORDER_ATTR = "simout_row_order"


class RootGatherSink:
    """Rank 0 owns the open HDF5 file; other ranks only send their columns.

    Parameters
    ----------
    comm : mpi4py communicator or None
    """

    def __init__(self, comm: Any | None) -> None:
        self._comm = comm
        self._rank, _ = mpi.rank_size(comm)
        self._h5: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}

    def open(
        self,
        path: str | os.PathLike,
        *,
        datasets: Mapping[str, str],
        cache_bytes: int,
        group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Open the skeleton file rank 0 has written; ``datasets`` maps series name to its data dataset path.

        ``group_attrs`` maps a group path to attributes set on it once (e.g. the row order of the tables).
        """
        if self._rank != 0:
            return
        self._h5 = h5py.File(path, "r+", rdcc_nbytes=cache_bytes, rdcc_nslots=100_003)
        for where, attrs in (group_attrs or {}).items():
            self._h5[where].attrs.update(attrs)
        for name, where in datasets.items():
            self._datasets[name] = self._h5[where]
            self._datasets[name].attrs[STEPS_WRITTEN_ATTR] = 0
        self._h5.flush()

    def write(
        self, name: str, step0: int, block: np.ndarray, *, col_counts: np.ndarray | None, perm: np.ndarray | None
    ) -> None:
        """Collective: write this rank's ``block`` (n_t, n_local) at ``step0``.

        ``col_counts`` (columns per rank) and ``perm`` (rank-major column → file column order, None = identity)
        are needed on rank 0 only.
        """
        full = block if self._comm is None else mpi.gather_columns(self._comm, block, col_counts)
        if self._rank != 0:
            return
        if perm is not None:
            full = full[:, perm]
        dataset = self._datasets[name]
        stop = step0 + full.shape[0]
        dataset[step0:stop, :] = full
        dataset.attrs[STEPS_WRITTEN_ATTR] = stop
        self._h5.flush()

    def trim(self, name: str, n_steps: int) -> None:
        """Shrink a series' data to its first ``n_steps`` samples (rank 0; chunked datasets shrink in place)."""
        if self._rank != 0:
            return
        dataset = self._datasets[name]
        dataset.resize(n_steps, axis=0)
        self._h5.flush()

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
            self._datasets = {}
