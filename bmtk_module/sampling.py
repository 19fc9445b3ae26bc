"""Copy the values behind many NEURON references once per time step, into a (steps, values) block.

Why this module: ``h.PtrVector.gather`` dereferences one NEURON 9 data handle per value, about 6 ns each: 40 us per
step for the 6700 segments of a 100-cell network, about a sixth of the simulation step itself. NEURON 9 keeps each
field (all node voltages, the ``ina`` of every sodium ion instance, ...) in one contiguous array, and a rank's
recorded segments cover most of one stretch of it. ``Vector.from_double(n, ref)`` copies the ``n`` doubles that
start at the row ``ref`` points to (one memcpy, 3.5 us for 7600 values) and one numpy take puts them into the
report's column order, cast to the file's dtype (11 us per step in all, against 34 us for the gather). The take is
per step, not per block: numpy takes from a small float64 row in cache at 0.9 ns a value, but columns of a
(steps, values) float32 block at 5-7 ns.

Where the rows come from: no NEURON API gives them, but a data handle's ``repr`` does
(``data_handle<double>{Node::field::Voltage row=8/11 val=-65}``). :meth:`StepSampler.prepare` reads them before
the run (BMTK's storage is sorted by then, so they are the run's rows); the first sample, after ``finitialize``
(which re-sorts the storage of a changed model), checks the field sizes and the rows of ``_N_SETTLE`` spread
handles and reads every row again if any moved. Then the first sample of every block must equal the gather's, and
before a block is handed out a spread sample of handles must still point to the same rows: a model changed during
the run (NEURON re-sorted its storage) fails with a clear error rather than writing wrong columns.
NOTE: the fast path is a NEURON 9 feature check: when a handle's ``repr`` has another form (NEURON 8, a future
NEURON) or a stretch holds more than ``MAX_SPAN_RATIO`` times the values it serves (e.g. somata only), the values
are taken with ``PtrVector.gather``, as before.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

__all__ = ["StepSampler", "MAX_SPAN_RATIO"]

logger = logging.getLogger(__name__)

#: A stretch of storage is copied whole when it holds at most this many times the values read from it.
MAX_SPAN_RATIO = 4.0
_HANDLE = re.compile(r"^data_handle<double>\{(?P<field>[^{}]+?) row=(?P<row>\d+)/(?P<size>\d+) ")
_N_CHECKED = 16  # handles whose rows are read again at every block
_N_SETTLE = 256  # handles whose rows are read again at the first sample


def handle_row(ref: Any) -> tuple[str, int, int] | None:
    """(storage field, row, field size) of a NEURON 9 data handle, or None when its ``repr`` does not say."""
    match = _HANDLE.match(repr(ref))
    if match is None:
        return None
    return match["field"], int(match["row"]), int(match["size"])


class _Stretch:
    """One contiguous run of rows of one storage field, copied whole at each step."""

    def __init__(self, h: Any, *, field: str, rows: np.ndarray, cols: np.ndarray, base: Any, size: int) -> None:
        self.field, self.size, self.base = field, size, base
        self.r0 = int(rows.min())
        self.span = int(rows.max()) - self.r0 + 1
        self.idx = (rows - self.r0).astype(np.intp)  # position in the stretch of each of ``cols``
        self.cols = cols.astype(np.intp)  # block columns served
        self.vec = h.Vector(self.span)
        self.view = self.vec.as_numpy()


class StepSampler:
    """Sample ``refs`` into rows of a reused block buffer; hand out whole blocks in ``refs`` order.

    Parameters
    ----------
    h : neuron.hoc.HocObject
        NEURON's ``h``.
    refs : list of NEURON references, length n
        ``seg._ref_<var>`` of every recorded value; block column j holds ``refs[j]``.
    dtype : numpy.dtype
        Block dtype (the file's): each sample is cast once, when it is copied in.
    n_rows : int
        Samples a block holds at most.
    fast : bool
        Allow the storage-stretch copy (False: ``PtrVector.gather`` only).
    """

    def __init__(self, h: Any, refs: list, *, dtype: np.dtype, n_rows: int, fast: bool = True) -> None:
        self._h, self._refs, self._dtype, self._n_rows = h, refs, np.dtype(dtype), n_rows
        self.n = len(refs)
        self._pv = h.PtrVector(self.n) if self.n else None
        for i, ref in enumerate(refs):
            self._pv.pset(i, ref)
        self._vec = h.Vector(max(self.n, 1))
        self._view = self._vec.as_numpy()[: self.n]
        self._buf = np.empty((n_rows, self.n), dtype=self._dtype)
        self._fast = fast and self.n > 0
        self._stretches: list[_Stretch] | None = None  # decided by prepare() or at the first sample
        self._rows_found: list[tuple[str, int, int]] = []
        self._settled = False
        self._checked: list[tuple[Any, tuple[str, int, int]]] = []
        self._whole = False  # one stretch serves every column, in order (one take per step)
        self.row = 0

    @property
    def mode(self) -> str:
        """``"stretch"`` (storage copied in stretches), ``"gather"`` or ``"undecided"`` (no sample yet)."""
        if self._stretches is None:
            return "gather" if not self._fast else "undecided"
        return "stretch" if self._stretches else "gather"

    def prepare(self) -> None:
        """Read the handles' rows now, before the run (optional: otherwise at the first sample)."""
        if self._stretches is None:
            self._decide()

    def sample(self) -> None:
        """Copy the current values into the next row (one call per recorded step)."""
        if not self._settled:
            self._settle()
        if self._stretches:
            if self._whole:
                s = self._stretches[0]
                s.vec.from_double(s.span, s.base)
                self._buf[self.row] = s.view[s.idx]
            else:
                out = self._buf[self.row]
                for s in self._stretches:
                    s.vec.from_double(s.span, s.base)
                    out[s.cols] = s.view[s.idx]
            if self.row == 0:
                self._check_values()  # the first sample of each block, against the gather (same instant)
        elif self.n:
            self._pv.gather(self._vec)
            self._buf[self.row] = self._view
        self.row += 1

    def take(self) -> np.ndarray:
        """The samples since the last ``take``, shape (rows, n), in ``refs`` order (a view, valid until the next
        ``sample``); checks first that the storage did not move under the stretches.

        Raises
        ------
        RuntimeError
            NEURON re-ordered its storage during the run (the model changed while recording).
        """
        rows, self.row = self.row, 0
        if self._stretches:
            self._check_rows()
        return self._buf[:rows]

    # ------------------------------------------------------------------ set-up and checks
    def _settle(self) -> None:
        """First sample: decide now, or confirm the rows :meth:`prepare` read (read them all again if they moved)."""
        self._settled = True
        if self._stretches is None:
            self._decide()
        elif self._stretches:
            spread = np.unique(np.linspace(0, self.n - 1, _N_SETTLE).astype(np.int64))
            if any(handle_row(self._refs[i]) != self._rows_found[i] for i in spread) or any(
                handle_row(s.base) != (s.field, s.r0, s.size) for s in self._stretches
            ):
                logger.debug("NEURON's storage moved between prepare() and the first sample: rows read again")
                self._decide()

    def _decide(self) -> None:
        """Read every handle's row (storage is sorted now) and choose stretches or gather."""
        self._stretches = []
        if not self._fast:
            return
        found = self._rows_found = [handle_row(ref) for ref in self._refs]
        if any(f is None for f in found):
            logger.info("recording with PtrVector.gather (NEURON data handles do not give their rows)")
            return
        fields = np.array([f[0] for f in found], dtype=object)
        rows = np.array([f[1] for f in found], dtype=np.int64)
        stretches = []
        for field in dict.fromkeys(fields.tolist()):
            cols = np.flatnonzero(fields == field)
            r = rows[cols]
            span = int(r.max() - r.min()) + 1
            if span > MAX_SPAN_RATIO * cols.size:
                logger.info("recording with PtrVector.gather (%d values spread over %d rows of %s)",
                            cols.size, span, field)  # fmt: skip
                return
            k = int(cols[np.argmin(r)])
            stretches.append(_Stretch(self._h, field=field, rows=r, cols=cols, base=self._refs[k], size=found[k][2]))
        self._whole = len(stretches) == 1  # one stretch serves every column, in order
        spread = np.unique(np.linspace(0, self.n - 1, _N_CHECKED).astype(np.int64))
        self._checked = [(self._refs[i], found[i]) for i in spread] + [(s.base, (s.field, s.r0, s.size)) for s in
                                                                      stretches]  # fmt: skip
        self._stretches = stretches
        logger.debug("recording %d values from %d storage stretches (%s)", self.n, len(stretches),
                     ", ".join(f"{s.field}: {s.span} rows" for s in stretches))  # fmt: skip

    def _check_rows(self) -> None:
        moved = [f"{want[0]} row {want[1]} -> {got}" for ref, want in self._checked if (got := handle_row(ref)) != want]
        if moved:
            self._moved("; ".join(moved[:3]))

    def _check_values(self) -> None:
        self._pv.gather(self._vec)  # the same values, read the safe way
        if not np.array_equal(self._buf[self.row], self._view.astype(self._dtype), equal_nan=True):
            self._moved("the copied values differ from the referenced ones")

    @staticmethod
    def _moved(what: str) -> None:
        raise RuntimeError(
            "NEURON re-ordered its data storage during the run (the model changed while recording: sections, "
            f"segments or mechanisms added or removed?): {what}. The report cannot follow the "
            "recorded values; change the model before sim.run()"
        )
