"""Optional mpi4py shim: nothing is imported or initialised at import time.

Every function accepts ``comm=None`` (serial run) or an mpi4py communicator.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
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
    MPI), every process would simulate the whole model and write the same files. On several ranks MPI is finalized
    at exit (:func:`end_mpi_at_exit`).

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
    comm = simulator_comm(n_ranks, simulator="NEURON", hint=hint)
    if comm is not None:
        end_mpi_at_exit()
    return comm


def simulator_comm(n_ranks: int, *, simulator: str, hint: str) -> Any | None:
    """mpi4py's ``COMM_WORLD`` when ``simulator`` runs on ``n_ranks`` > 1 MPI processes, None on one (the checks only).

    Parameters
    ----------
    n_ranks : int
        The simulator's own process count (NEURON's ``nhost()``, ``nest.NumProcesses()``).
    simulator : str
        Its name, for the messages.
    hint : str
        How to make the simulator join MPI in the caller's setting (ends the error message).

    Raises
    ------
    RuntimeError
        The simulator's process count differs from the launcher's or from mpi4py's, mpi4py is missing, or two MPI
        libraries are loaded.
    """
    launched = launcher_size()
    if launched > 1 and n_ranks != launched:
        raise RuntimeError(
            f"mpiexec started {launched} processes but {simulator} runs on {n_ranks} rank(s): each process would "
            f"run its own copy of the model and write the same files. {hint}"
        )
    if n_ranks <= 1:
        return None
    try:
        from mpi4py import MPI
    except ModuleNotFoundError as exc:
        if exc.name != "mpi4py":
            raise RuntimeError(mpi4py_failure(exc)) from exc
        raise RuntimeError("NWB output on several MPI ranks needs mpi4py: pip install 'simout_plugins[mpi]'") from exc
    except (ImportError, RuntimeError, OSError) as exc:  # installed, but built for another MPI than the one loaded
        raise RuntimeError(mpi4py_failure(exc)) from exc
    comm = MPI.COMM_WORLD
    if comm.Get_size() != n_ranks:
        raise RuntimeError(
            f"mpi4py sees {comm.Get_size()} ranks but {simulator} {n_ranks}; both must use the same MPI. "
            + mpi_library_report()
        )
    clash = mpi_library_clash()
    if clash:
        raise RuntimeError(clash)
    return comm


def end_mpi_at_exit() -> None:
    """Finalize MPI at interpreter exit (an ``atexit`` handler, registered once), after closing HDF5 MPI-IO files.

    When NEURON started MPI (``h.nrnmpi_init()``), mpi4py leaves its finalization to NEURON, and NEURON 9.0's exit
    teardown under MPICH kills a rank now and then: ``mpiexec -n 2`` of a 4-line NEURON script ended with "Killed
    (signal 9)" in 5 of 40 runs here, after all its work; with MPI finalized in an ``atexit`` handler, 0 of 50.
    HDF5 files still open with the MPI-IO driver (BMTK leaves its input spike files open) are closed first, in name
    order on every rank (closing one is collective), while MPI is alive. Called by :func:`neuron_comm` on several
    ranks; call it yourself in a NEURON + MPI script that does not go through it.
    """
    import atexit

    if getattr(end_mpi_at_exit, "registered", False):
        return
    neuron = sys.modules.get("neuron")
    if "mpi4py.MPI" not in sys.modules and neuron is not None and int(neuron.h.ParallelContext().nhost()) > 1:
        # a plain NEURON script on several ranks: mpi4py is needed to end MPI (NEURON started it)
        try:
            import mpi4py
        except ImportError:
            return
        mpi4py.rc.initialize = mpi4py.rc.finalize = False
        from mpi4py import MPI  # noqa: F401
    atexit.register(_end_mpi)  # otherwise: whatever imports mpi4py later (BMTK) is ended by it
    end_mpi_at_exit.registered = True


def _end_mpi() -> None:
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not mpi.Is_initialized() or mpi.Is_finalized():
        return
    h5py = sys.modules.get("h5py")
    if h5py is not None and h5py.get_config().mpi:
        ids = [fid for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE) if fid.valid]
        mpio = [fid for fid in ids if fid.get_access_plist().get_driver() == h5py.h5fd.MPIO]
        for fid in sorted(mpio, key=lambda fid: fid.name):
            h5py.File(fid).close()
    mpi.Finalize()


# ---------------------------------------------------------------------------------------------------- MPI libraries
# the MPI library proper (libmpi.so.12 MPICH/Intel, libmpi.so.40 Open MPI, libmpich.so.12 Debian/Cray MPICH,
# libmpi_abi.so standard ABI); not the C++/Fortran bindings (libmpichcxx, libmpi_mpifh, ...)
_MPI_LIBRARY = re.compile(r"^lib(?:mpi|mpich)(?:_abi)?\.so(?:\.\d+)*$")


def venv_mpi_library(prefix: str | os.PathLike | None = None) -> Path | None:
    """This environment's MPI library, ``<prefix>/lib/libmpi.so.12``, or None when there is none.

    The default install puts the ``mpich`` wheel's library there (mpi4py's wheel loads it, NEURON is pointed at it
    with ``MPI_LIB_NRN_PATH``); ``make install-mpio`` links the system MPICH there, which its mpi4py and h5py are
    built against. ``prefix`` defaults to ``sys.prefix``.
    """
    lib = Path(sys.prefix if prefix is None else prefix) / "lib" / "libmpi.so.12"
    return lib if lib.exists() else None


def loaded_mpi_libraries(maps: str | None = None) -> list[str]:
    """Files of the MPI libraries mapped into this process, in the order they appear in ``/proc/self/maps``.

    Parameters
    ----------
    maps : str, optional
        Text in the format of ``/proc/<pid>/maps`` (default: this process's; an empty list where there is none).
    """
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return []
    found: list[str] = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        path = fields[5].removesuffix(" (deleted)")
        if _MPI_LIBRARY.match(os.path.basename(path)) and path not in found:
            found.append(path)
    return found


def mpi_library_clash(maps: str | None = None) -> str | None:
    """Why NEURON and mpi4py cannot share MPI in this process, or None when at most one MPI library is loaded.

    Two different MPI libraries in one process (for example the ``mpich`` wheel's and a system MPICH) kill the
    first MPI call or split the ranks. ``maps`` as in :func:`loaded_mpi_libraries`.
    """
    libs = loaded_mpi_libraries(maps)
    if len({os.path.realpath(lib) for lib in libs}) < 2:
        return None
    text = f"{len(libs)} MPI libraries are loaded in this process: {', '.join(libs)}; only one may be. "
    return text + _mpi_fix(venv_mpi_library())


def mpi4py_failure(exc: BaseException, maps: str | None = None, prefix: str | os.PathLike | None = None) -> str:
    """The error for an mpi4py that is installed but cannot load: the MPI libraries loaded and what to do.

    Parameters
    ----------
    exc : BaseException
        What ``from mpi4py import MPI`` raised.
    maps : str, optional
        As in :func:`loaded_mpi_libraries` (default: this process's).
    prefix : path, optional
        The environment (default: ``sys.prefix``); see :func:`venv_mpi_library`.
    """
    return (
        f"NEURON runs on several MPI ranks but mpi4py, which is installed, cannot load ({type(exc).__name__}: "
        f"{exc}). {mpi_library_report(maps, prefix)}"
    )


def mpi_library_report(maps: str | None = None, prefix: str | os.PathLike | None = None) -> str:
    """The MPI libraries loaded in this process, this environment's one, and how to make them one library."""
    libs = loaded_mpi_libraries(maps)
    own = venv_mpi_library(prefix)
    text = f"MPI libraries loaded in this process: {', '.join(libs) if libs else 'none'}. "
    if len({os.path.realpath(lib) for lib in libs}) > 1:
        text += "Two MPI libraries in one process cannot work together. "
    if own is not None and os.path.realpath(own) not in {os.path.realpath(lib) for lib in libs}:
        text += (
            f"This environment's mpi4py uses {own}, but NEURON loaded another one: on Linux NEURON takes the "
            "system's libmpi.so (found once a system MPI is installed) before MPI_LIB_NRN_PATH. "
        )
    return text + _mpi_fix(own)


def _mpi_fix(own: Path | None) -> str:
    if own is None:
        return (
            "Give NEURON and mpi4py one MPI: preload the library mpi4py was built for (LD_PRELOAD=/path/to/libmpi.so "
            "mpiexec ...), or build mpi4py against the MPI NEURON loads (pip install --no-binary=mpi4py mpi4py "
            "with that MPI's mpicc)."
        )
    text = (
        f"Fix: preload this environment's library so NEURON and mpi4py share it: LD_PRELOAD={own} "
        f"{own.parent.parent / 'bin' / 'mpiexec'} -n N python ... (python -m bmtk_module run does this itself)"
    )
    if own.is_symlink():  # make install-mpio links the system MPICH here: that environment already is the other way
        return text + "."
    return (
        text + "; or use the parallel-HDF5 environment of `make install-mpio`, where NEURON, mpi4py and h5py all "
        "use the system MPICH."
    )


def rank_size(comm: Any | None) -> tuple[int, int]:
    """(rank, size) of ``comm``; (0, 1) when ``comm`` is None."""
    if comm is None:
        return 0, 1
    return int(comm.Get_rank()), int(comm.Get_size())


def raise_if_any(comm: Any | None, error: BaseException | None) -> None:
    """Collective: raise on every rank when any rank has an error (so no rank hangs in a later collective).

    The error of the lowest failing rank is re-raised, with its rank named when it is not this rank's own, as the
    same type on every rank for the project's own errors and the built-in ones the writer raises (others become
    RuntimeError). The raised error is marked collective (:func:`simout_plugins.failstop.is_collective`): every rank
    raises it at this point, so it may propagate normally without ending the job.
    """
    from .failstop import mark_collective

    if comm is None or comm.Get_size() == 1:
        if error is not None:
            raise error
        return
    messages = comm.allgather(None if error is None else (type(error).__name__, str(error)))
    if error is not None:
        raise mark_collective(error)
    for rank, item in enumerate(messages):
        if item is not None:
            kind, text = item
            raise mark_collective(_same_type(kind, f"on rank {rank}: {text}"))


def _same_type(kind: str, text: str) -> BaseException:
    """An exception of the type named ``kind`` (when known here) carrying ``text``; else RuntimeError."""
    from .errors import FileFormatError, OutputWriteError

    if kind == "FileFormatError":
        exc = FileFormatError("", "")
        exc.args = (text,)
        return exc
    known = {
        "ValueError": ValueError,
        "TypeError": TypeError,
        "FileExistsError": FileExistsError,
        "PermissionError": PermissionError,
        "FileNotFoundError": FileNotFoundError,
        "OutputWriteError": OutputWriteError,
        "OSError": OSError,
        "KeyError": KeyError,
        "RuntimeError": RuntimeError,
    }
    return known.get(kind, RuntimeError)(text)


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
