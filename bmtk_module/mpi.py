"""MPI for BMTK runs: make NEURON join MPI before bionet is imported, and refuse N silent copies of one run.

NEURON 9 joins MPI only after ``h.nrnmpi_init()`` (with ``MPI_LIB_NRN_PATH`` naming ``libmpi``), and
``bmtk.simulator.bionet`` reads the rank count at import. Without both, every rank of ``mpiexec -n N`` simulates
the whole network and BMTK's native report lists every cell N times. On Linux NEURON looks for the system's
``libmpi.so`` before ``MPI_LIB_NRN_PATH``, so once a system MPI is installed it would load that one while this
environment's mpi4py needs the ``mpich`` wheel's: the library ``MPI_LIB_NRN_PATH`` names is loaded first (as
``LD_PRELOAD`` would). Nothing here runs at import.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path
from typing import Any

from simout_plugins.failstop import install_hook
from simout_plugins.mpi import end_mpi_at_exit, launcher_size, loaded_mpi_libraries, neuron_comm

logger = logging.getLogger(__name__)


def init_neuron_mpi() -> tuple[int, int]:
    """Make NEURON join MPI when launched by ``mpiexec``; return ``(rank, n_ranks)``.

    Must run before ``bmtk.simulator.bionet`` is imported. Sets ``MPI_LIB_NRN_PATH`` to this environment's
    ``lib/libmpi.so.12`` (the ``mpich`` wheel) when it is unset, and loads that library before NEURON looks for
    one (see :func:`preload_mpi_library`). On several ranks, an uncaught error on one rank then ends the whole job
    (:func:`simout_plugins.failstop.install_hook`) instead of leaving the others waiting.

    Raises
    ------
    RuntimeError
        When launched on several processes but NEURON did not join MPI (each rank would run the whole
        network), when ``MPI_LIB_NRN_PATH`` cannot be loaded, or when bionet was imported before NEURON joined MPI.
    """
    n_launched = launcher_size()
    if n_launched > 1:
        lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
        if "MPI_LIB_NRN_PATH" not in os.environ and lib.exists():
            os.environ["MPI_LIB_NRN_PATH"] = str(lib)
        preload_mpi_library(os.environ.get("MPI_LIB_NRN_PATH"))
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
    install_hook(check_ranks(n_ranks))  # from here on, an uncaught error on one rank ends the job
    end_mpi_at_exit()  # closes MPI-IO files BMTK leaves open (its input spikes), then finalizes MPI
    return rank, n_ranks


def preload_mpi_library(path: str | None) -> None:
    """Load ``path`` (``MPI_LIB_NRN_PATH``) into the process's global symbol scope before NEURON looks for MPI.

    NEURON takes an MPI library already in the process first; on Linux it then tries the loader's ``libmpi.so``
    and only after that ``MPI_LIB_NRN_PATH``. With a system MPI installed, NEURON would otherwise load the
    system's library and this environment's mpi4py (built for ``path``) could not load: loading ``path`` first
    gives both the same library, as ``LD_PRELOAD=path`` does (``path`` loaded already, by mpi4py for instance, is
    made global). Nothing is done when ``path`` is empty or another MPI library is loaded already (``LD_PRELOAD``).

    Raises
    ------
    RuntimeError
        ``path`` does not exist or cannot be loaded (NEURON would silently take whichever MPI library the system
        has instead).
    """
    if not path:
        return
    fix = (
        f"set it to the libmpi of the mpiexec you use (this environment's: {Path(sys.prefix) / 'lib' / 'libmpi.so.12'})"
        " or unset it"
    )
    if os.sep in path and not os.path.exists(path):
        raise RuntimeError(f"MPI_LIB_NRN_PATH={path} does not exist; {fix}")
    loaded = {os.path.realpath(lib) for lib in loaded_mpi_libraries()}
    if loaded and os.path.realpath(path) not in loaded:
        return
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise RuntimeError(f"MPI_LIB_NRN_PATH={path} cannot be loaded ({exc}); {fix}") from exc


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
