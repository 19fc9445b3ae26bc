"""MPI for BMTK runs: make NEURON join MPI before bionet is imported, and refuse N silent copies of one run.

NEURON 9 joins MPI only after ``h.nrnmpi_init()`` (with ``MPI_LIB_NRN_PATH`` naming ``libmpi``), and
``bmtk.simulator.bionet`` reads the rank count at import. Without both, every rank of ``mpiexec -n N`` simulates
the whole network and BMTK's native report lists every cell N times. Nothing here runs at import.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# process-count variables set by MPI launchers (MPICH/Hydra, Open MPI, PMIx)
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launcher_size() -> int:
    """Number of processes the MPI launcher started (1 when not launched by ``mpiexec``)."""
    for key in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 1


def init_neuron_mpi() -> tuple[int, int]:
    """Make NEURON join MPI when launched by ``mpiexec``; return ``(rank, n_ranks)``.

    Must run before ``bmtk.simulator.bionet`` is imported. Sets ``MPI_LIB_NRN_PATH`` to this environment's
    ``lib/libmpi.so.12`` (the ``mpich`` wheel) when it is unset.

    Raises
    ------
    RuntimeError
        When launched on several processes but NEURON did not join MPI (each rank would run the whole
        network), or when bionet was imported before NEURON joined MPI.
    """
    n_launched = launcher_size()
    if n_launched > 1:
        lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
        if "MPI_LIB_NRN_PATH" not in os.environ and lib.exists():
            os.environ["MPI_LIB_NRN_PATH"] = str(lib)
        if "bmtk.simulator.bionet" in sys.modules:
            from neuron import h

            if int(h.ParallelContext().nhost()) != n_launched:
                raise RuntimeError(
                    "bmtk.simulator.bionet was imported before NEURON joined MPI, so it counts 1 rank out of "
                    f"{n_launched}; call bmtk_module.init_neuron_mpi() before importing bionet"
                )
    from neuron import h

    if n_launched > 1:
        h.nrnmpi_init()
    pc = h.ParallelContext()
    rank, n_ranks = int(pc.id()), int(pc.nhost())
    check_ranks(n_ranks)
    return rank, n_ranks


def check_ranks(n_ranks: int) -> None:
    """Refuse to go on when the launcher started more processes than NEURON has ranks."""
    n_launched = launcher_size()
    if n_launched > 1 and n_ranks != n_launched:
        raise RuntimeError(
            f"mpiexec started {n_launched} processes but NEURON runs on {n_ranks} rank(s): every process would "
            "simulate the whole network. Set MPI_LIB_NRN_PATH to the libmpi of the mpiexec you use (e.g. "
            f"{Path(sys.prefix) / 'lib' / 'libmpi.so.12'}) and call h.nrnmpi_init() before importing bionet "
            "(python -m bmtk_module run does both)"
        )


def world_comm(n_ranks: int) -> Any | None:
    """mpi4py's COMM_WORLD when NEURON runs on several ranks, else None."""
    if n_ranks <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError("NWB reports on several MPI ranks need mpi4py (pip install 'simout_plugins[mpi]')") from exc
    comm = MPI.COMM_WORLD
    if comm.Get_size() != n_ranks:
        raise RuntimeError(f"mpi4py sees {comm.Get_size()} ranks but NEURON {n_ranks}; use one MPI library for both")
    return comm


def allgather_errors(comm: Any | None, error: BaseException | None) -> None:
    """Collective: raise on every rank when any rank failed (the lowest failing rank's error, its rank named)."""
    if comm is None:
        if error is not None:
            raise error
        return
    messages = comm.allgather(None if error is None else str(error))
    if error is not None:
        raise error
    for rank, message in enumerate(messages):
        if message is not None:
            raise ValueError(f"on rank {rank}: {message}")
