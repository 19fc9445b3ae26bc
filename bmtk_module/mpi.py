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

from simout_plugins.mpi import launcher_size, neuron_comm

logger = logging.getLogger(__name__)


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


def check_ranks(n_ranks: int) -> Any | None:
    """The communicator for NEURON's ranks (None on one rank); refuse to go on with N silent copies."""
    return neuron_comm(
        n_ranks,
        hint=(
            "Set MPI_LIB_NRN_PATH to the libmpi of the mpiexec you use (e.g. "
            f"{Path(sys.prefix) / 'lib' / 'libmpi.so.12'}) and call h.nrnmpi_init() before importing bionet "
            "(python -m bmtk_module run does both)"
        ),
    )
