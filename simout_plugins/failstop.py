"""Fail-stop under MPI: an error on one rank ends the whole job, with that rank's error in the output.

An exception raised on one rank while the others wait in a collective call (the writer's next block, a gather,
NEURON's own collectives) would hang the job until its allocation runs out: MPI has no way to cancel a collective,
and ``MPI_Finalize`` at interpreter exit waits for the ranks that never arrive. The only cure is ``MPI_Abort``,
which ``mpiexec`` turns into the end of every process of the job. This module does that, after logging the
failing rank's error (rank, type, message, traceback) so that the job's output says what happened.

Two kinds of errors, told apart by :func:`is_collective`:

- *collective* errors are raised on every rank at the same point (the writer's checks made through
  :func:`simout_plugins.mpi.raise_if_any`): every rank leaves the collective sequence together, so nothing hangs
  and the exception propagates normally on every rank (the same type on every rank);
- every other error is *local*: the writer's ``__exit__`` and the uncaught-exception hook (:func:`install_hook`)
  end the job with :func:`abort_job`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

logger = logging.getLogger(__name__)

_COLLECTIVE_ATTR = "_simout_collective"
_FORWARD_S = 0.5
_hook_lock = threading.Lock()
_hook_comm: Any | None = None


def mark_collective(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised on every rank at the same point (returns it, to ``raise mark_collective(e)``)."""
    setattr(exc, _COLLECTIVE_ATTR, True)
    return exc


def is_collective(exc: BaseException | None) -> bool:
    """True when ``exc`` was raised on every rank at the same point (see :func:`mark_collective`)."""
    return bool(getattr(exc, _COLLECTIVE_ATTR, False))


def abort_job(comm: Any, exc: BaseException, *, context: str = "") -> NoReturn:
    """Log this rank's error and end the whole MPI job with ``MPI_Abort`` (exit code 1 for every process).

    Parameters
    ----------
    comm : mpi4py communicator
        The job's communicator (``Abort`` on it ends every process of the job).
    exc : BaseException
        The error; logged with its traceback at level CRITICAL (printed to stderr even where the application set up
        no logging).
    context : str, optional
        What this rank was doing (e.g. the output file), appended to the message.
    """
    rank, size = int(comm.Get_rank()), int(comm.Get_size())
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    logger.critical(
        "rank %d of %d failed: %s: %s%s\nending the MPI job (MPI_Abort) so that the other ranks do not wait "
        "forever\n%s",
        rank, size, type(exc).__name__, exc, f" ({context})" if context else "", text,
    )  # fmt: skip
    for handler in logging.getLogger().handlers + logger.handlers:
        handler.flush()
    sys.stderr.flush()
    time.sleep(_FORWARD_S)  # let mpiexec forward the message: it drops output still in flight when it kills the job
    comm.Abort(1)
    # MPI_Abort should not return, but with some MPI/PMI pairs it does, after asking the launcher to end the job:
    # leave at once (no atexit MPI_Finalize, which would wait for the other ranks), as a rank that dies does
    os._exit(1)


def install_hook(comm: Any | None) -> None:
    """Make an uncaught exception on any rank end the whole job (as ``python -m mpi4py`` does).

    With more than one rank, ``sys.excepthook`` is wrapped once per process: an uncaught local exception is logged
    with the rank and the job is aborted (:func:`abort_job`); a collective one (raised on every rank alike) goes to
    the previous hook, and every rank exits normally. Idempotent; nothing happens on one rank.

    Parameters
    ----------
    comm : mpi4py communicator or None
    """
    global _hook_comm
    if comm is None or comm.Get_size() < 2 or not type(comm).__module__.startswith("mpi4py"):
        return  # serial, or a stand-in communicator (tests simulate ranks with threads in one process)
    with _hook_lock:
        if _hook_comm is not None:
            return
        _hook_comm = comm
        previous = sys.excepthook

        def hook(exc_type, exc, tb):
            if exc is not None and not is_collective(exc) and not issubclass(exc_type, SystemExit):
                abort_job(comm, exc, context="uncaught exception")
            previous(exc_type, exc, tb)

        sys.excepthook = hook


@contextmanager
def ending_job_on_error(comm: Any | None, context: str) -> Iterator[None]:
    """Run a block whose local errors must end the whole MPI job (a simulator callback, say).

    NEURON turns an exception raised in a Python callback (BMTK's module hooks run inside ``fadvance``) into its own
    ``MPI_Abort`` with a generic message; this reports the rank and the real error first. Collective errors and
    serial runs propagate unchanged.

    Parameters
    ----------
    comm : mpi4py communicator or None
    context : str
        What the block does (named in the message).
    """
    try:
        yield
    except Exception as exc:
        if comm is not None and comm.Get_size() > 1 and not is_collective(exc):
            abort_job(comm, exc, context=context)
        raise
