"""Optional mpi4py shim: nothing is imported or initialised at import time.

Every function accepts ``comm=None`` (serial run) or an mpi4py communicator.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

# process-count variables set by MPI launchers (MPICH/Hydra, Open MPI, PMIx)
LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launcher_size() -> int:
    """Number of processes the MPI launcher started (1 when not launched by ``mpiexec``)."""
    for key in LAUNCHER_SIZE_VARS:
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 1


def neuron_comm(n_ranks: int, *, hint: str) -> Any | None:
    """mpi4py's ``COMM_WORLD`` when NEURON runs on ``n_ranks`` > 1 ranks, None on one rank.

    Refuses N silent copies: when ``mpiexec`` started more processes than NEURON has ranks (NEURON did not join
    MPI), every process would simulate the whole model and write the same files.

    Parameters
    ----------
    n_ranks : int
        ``ParallelContext().nhost()``.
    hint : str
        How to make NEURON join MPI in the caller's setting (ends the error message).

    Raises
    ------
    RuntimeError
        NEURON's rank count differs from the launcher's or from mpi4py's, or mpi4py is missing.
    """
    launched = launcher_size()
    if launched > 1 and n_ranks != launched:
        raise RuntimeError(
            f"mpiexec started {launched} processes but NEURON runs on {n_ranks} rank(s): each process would run "
            f"its own copy of the model and write the same files. {hint}"
        )
    if n_ranks <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError("NWB output on several MPI ranks needs mpi4py: pip install 'simout_plugins[mpi]'") from exc
    comm = MPI.COMM_WORLD
    if comm.Get_size() != n_ranks:
        raise RuntimeError(f"mpi4py sees {comm.Get_size()} ranks but NEURON {n_ranks}; both must use the same MPI")
    return comm


def rank_size(comm: Any | None) -> tuple[int, int]:
    """(rank, size) of ``comm``; (0, 1) when ``comm`` is None."""
    if comm is None:
        return 0, 1
    return int(comm.Get_rank()), int(comm.Get_size())


def raise_if_any(comm: Any | None, error: BaseException | None) -> None:
    """Collective: raise on every rank when any rank has an error (so no rank hangs in a later collective).

    The error of the lowest failing rank is re-raised, with its rank named when it is not this rank's own.
    """
    if comm is None or comm.Get_size() == 1:
        if error is not None:
            raise error
        return
    messages = comm.allgather(None if error is None else (type(error).__name__, str(error)))
    if error is not None:
        raise error
    for rank, item in enumerate(messages):
        if item is not None:
            kind, text = item
            exc_type = {"ValueError": ValueError, "TypeError": TypeError, "FileExistsError": FileExistsError}.get(
                kind, RuntimeError
            )
            raise exc_type(f"on rank {rank}: {text}")


def bcast(comm: Any | None, value: Any, root: int = 0) -> Any:
    """Broadcast a picklable value from ``root`` (identity when serial)."""
    return value if comm is None else comm.bcast(value, root=root)


def gather(comm: Any | None, value: Any, root: int = 0) -> list | None:
    """Gather picklable values to ``root`` (``[value]`` when serial); None on other ranks."""
    return [value] if comm is None else comm.gather(value, root=root)


def gather_columns(comm: Any, block: np.ndarray, col_counts: np.ndarray | None, root: int = 0) -> np.ndarray | None:
    """Gather per-rank column blocks to ``root`` with one ``Gatherv``.

    Parameters
    ----------
    block : numpy.ndarray, shape (n_t, n_local)
        This rank's columns (any float dtype; all ranks the same dtype and n_t).
    col_counts : numpy.ndarray, shape (n_ranks,)
        Number of columns of each rank (needed on ``root`` only).

    Returns
    -------
    numpy.ndarray, shape (n_t, sum(col_counts)) on ``root`` (rank-major columns), None elsewhere.
    """
    from mpi4py import MPI

    n_t = block.shape[0]
    send = np.ascontiguousarray(block)
    if comm.Get_rank() != root:
        comm.Gatherv(send, None, root=root)
        return None
    sizes = np.asarray(col_counts, dtype=np.int64) * n_t
    flat = np.empty(int(sizes.sum()), dtype=block.dtype)
    displs = np.zeros_like(sizes)
    np.cumsum(sizes[:-1], out=displs[1:])
    comm.Gatherv(send, [flat, sizes, displs, MPI._typedict[block.dtype.char]], root=root)
    parts = [flat[d : d + s].reshape(n_t, -1) for d, s in zip(displs, sizes)]
    return np.concatenate(parts, axis=1) if parts else flat.reshape(n_t, 0)
