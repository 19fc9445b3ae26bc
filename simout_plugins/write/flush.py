"""When the sinks flush: at most once per ``flush_interval_s`` while blocks come, and always at close.

Crash safety used to cost a flush (and a rewrite of the steps-written attribute) after every block. A flush writes
out every chunk the block touched, also the partly filled ones that the next block fills again, so the writer ran at
about half the speed of raw h5py. Every sink (:mod:`.sink`, :mod:`.sink_mpio`) now follows this one policy:

- a block is written at once; at the first ``write_block`` at least ``flush_interval_s`` after the previous flush
  (0: every block) the sink flushes the data, *then* records the steps written in the ``simout_steps_written``
  attribute, so the attribute never claims steps that are not in the file;
- ``close`` always flushes;
- so when a ``write_block`` call returns, every block whose ``write_block`` returned at least ``flush_interval_s``
  before that call began is flushed: a killed run keeps every flushed block and loses at most the blocks of the
  last ``flush_interval_s`` (while blocks keep coming; nothing flushes between calls).

Under MPI rank 0's clock decides and the decision is broadcast, so every rank flushes (and counts) together.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["DEFAULT_FLUSH_INTERVAL_S", "FlushClock", "check_interval"]

#: Default shortest time between two flushes, in seconds.
DEFAULT_FLUSH_INTERVAL_S = 1.0
#: The clock (seconds, monotonic); looked up at each call, so a test can replace it.
now = time.monotonic


def check_interval(value: Any) -> float:
    """``value`` as a flush interval in seconds (a number >= 0); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"flush_interval_s must be a number of seconds >= 0 (0: flush every block), got {value!r}")
    return float(value)


class FlushClock:
    """Says when a flush is due; the same answer on every rank.

    Parameters
    ----------
    interval_s : float
        Shortest time between two flushes (0: every block).
    comm : mpi4py communicator or None
        With one, rank 0 decides and broadcasts (one small ``bcast`` per block).
    """

    def __init__(self, interval_s: float, *, comm: Any | None = None) -> None:
        self.interval_s = check_interval(interval_s)
        self._comm = comm
        self._last = now()

    def due(self) -> bool:
        """Collective with ``comm``: True when the next flush is due (every rank gets rank 0's answer)."""
        due = self.interval_s == 0 or now() - self._last >= self.interval_s
        if self._comm is not None:
            due = self._comm.bcast(due, root=0)
        return due

    def flushed(self) -> None:
        """Note that a flush just ended."""
        self._last = now()
