"""NEST multimeters in groups of cells, read as arrays: the recording side of the PointNet NWB report.

PyNEST (3.10) hands a device's events to Python by converting its whole status: every buffered sample of every
recorded variable, with its sender and time, becomes a Python float in a list and then a numpy array. That costs
about 170 ns per event while a read holds a few hundred thousand events, and more per event as it grows (≈ 550 ns at
2 M events, 2-core machine): at 1M cells one ``min_delay`` slice alone is 10 M events. So the report's cells are split
over several multimeters of at most ``cells_per_group`` cells each, chosen so that one read stays near
:data:`EVENTS_PER_READ` events; each device's events are scattered on their own. Clearing goes through the kernel
call directly (:func:`bmtk_module._point_compat.clear_events`), which reads nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ._point_compat import clear_events

__all__ = ["EVENTS_PER_READ", "MultimeterGroups", "cells_per_group"]

logger = logging.getLogger(__name__)

#: events per multimeter read that keep PyNEST's conversion near its per-event floor (measured, see module text)
EVENTS_PER_READ = 250_000


def cells_per_group(*, rows_per_chunk: int, n_variables: int, events_per_read: int | None = None) -> int:
    """Cells per multimeter so that one chunk's read of one multimeter holds about ``events_per_read`` events.

    Parameters
    ----------
    rows_per_chunk : int
        Samples per cell in one chunk of simulated time.
    n_variables : int
        Recorded variables per cell.
    events_per_read : int, optional
        Target events per read; :data:`EVENTS_PER_READ` when not given.

    Returns
    -------
    int
        At least 1.
    """
    target = EVENTS_PER_READ if events_per_read is None else int(events_per_read)
    return max(1, target // max(1, int(rows_per_chunk) * int(n_variables)))


class MultimeterGroups:
    """Multimeters (memory backend) over consecutive groups of cells, created and connected at construction.

    Parameters
    ----------
    nest_ids : numpy.ndarray of int, shape (n_cells,)
        NEST node ids of the cells to record (this process's cells; any order, no repeats).
    params : dict
        The multimeter's parameters (``record_from``, ``interval``, ``start``, ``stop``; ``record_to`` is set to
        ``"memory"``).
    cells_per_group : int
        Cells per multimeter (:func:`cells_per_group`).
    """

    def __init__(self, *, nest_ids: np.ndarray, params: dict[str, Any], cells_per_group: int) -> None:
        import nest

        ids = np.unique(np.asarray(nest_ids, dtype=np.int64))
        step = max(1, int(cells_per_group))
        self.variables: tuple[str, ...] = tuple(params["record_from"])
        self.devices: list[Any] = []
        for start in range(0, ids.size, step):
            mm = nest.Create("multimeter", params={**params, "record_to": "memory"})
            nest.Connect(mm, nest.NodeCollection(ids[start : start + step].tolist()))
            self.devices.append(mm)
        logger.info("%d cells on %d multimeters (up to %d cells each)", ids.size, len(self.devices), step)

    def read(self) -> list[dict[str, np.ndarray]]:
        """Every group's buffered events, one dict per multimeter (no concatenation: each is scattered on its own).

        Returns
        -------
        list of dict of str to numpy.ndarray, each array shape (n_events_of_that_device,)
            ``"senders"`` (int64 NEST ids), ``"times"`` (float64, ms) and one float64 array per variable (its unit
            is NEST's: mV, nS, pA, ...). An empty list when no cell is recorded.
        """
        keys = ("senders", "times", *self.variables)
        out = []
        for mm in self.devices:
            ev = mm.get("events")
            out.append(
                {key: np.asarray(ev.get(key, ()), dtype=np.int64 if key == "senders" else np.float64) for key in keys}
            )
        return out

    def clear(self) -> None:
        """Drop every group's buffered events (``n_events = 0``)."""
        for mm in self.devices:
            clear_events(mm)
