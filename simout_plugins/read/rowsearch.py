"""Finding rows in sorted table columns with a constant number of small reads, whatever the number of rows.

A cell table written by this package keeps its rows ordered (``simout_row_order``): by (population, node id), so
each population is one contiguous run of rows and node ids ascend within it, or by node id. A selection of a few
cells in a cold file then costs a few chunk reads, not whole 1M-row columns (8 MB each) nor a bisection of
~20 reads per lookup:

- :func:`population_runs` finds where each population starts from the end of the table backwards. Node ids are
  unique, ascending, non-negative integers within a population, so a run ending at row ``r`` starts at or after
  ``r - node_id[r]``; with the usual node ids ``0..n-1`` it starts exactly there. The guess is checked by reading
  the population at the guessed start and just before it (what the file says decides, never the guess); a wrong
  guess costs a bisection of the range left. Two populations: about 4 text reads and 2 integer reads.
- :class:`SortedColumn` finds a value in a sorted integer column between rows whose values it knows, by
  interpolation (exact for consecutive node ids: one read), then bisection; each read is a small window
  (:data:`WINDOW` entries each side of the guess), which lies in one HDF5 chunk.

Every value read is kept (a dict per column), so repeated lookups in the same places read nothing again.
:func:`direct` opens a table column without HDF5's chunk cache, so that such a window is read as its own few
hundred bytes, not as the whole chunk (128 KiB) it lies in: measured cold at 1M cells, a further one-cell ``get``
went from 5.5 to ~3 ms. (The series data keeps the cache: a trace crosses each chunk row by row.)
"""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

__all__ = ["WINDOW", "SortedColumn", "direct", "population_runs"]

#: entries read on each side of a guessed row (a window of 2 * WINDOW + 1 values, a few hundred bytes)
WINDOW = 32
#: interpolation steps before falling back to bisection (interpolation is only fast on evenly spread values)
_INTERPOLATE = 3


def direct(group: h5py.Group, name: str) -> h5py.Dataset | None:
    """Dataset ``name`` of ``group`` opened without a chunk cache when it is chunked and unfiltered; None when
    ``name`` is not a dataset.

    Without a cache HDF5 reads a selection of an unfiltered chunk straight from the file, only its bytes; with one,
    it reads the whole chunk first. Filtered (compressed) chunks keep the file's cache: they are decoded whole.
    HDF5 shares one open object per dataset, so this takes effect only when no other handle of it is open.
    """
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(0, 0, 1.0)
    try:  # (not group.get(name, getclass=True): its H5Oget_info walks the whole chunk index of a dataset)
        dataset = h5py.Dataset(h5py.h5d.open(group.id, name.encode(), dapl=dapl))
    except KeyError:  # not a dataset (a group, a dangling link)
        obj = group.get(name)
        return obj if isinstance(obj, h5py.Dataset) else None
    if dataset.chunks is None or dataset.id.get_create_plist().get_nfilters():
        del dataset
        return group[name]
    return dataset


class SortedColumn:
    """A 1-D integer dataset whose values ascend over the row ranges it is searched in; reads cached by row.

    Parameters
    ----------
    dataset : h5py.Dataset
        Shape (n_rows,), integers (e.g. ``node_id`` or ``id``).
    """

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.dataset = dataset
        self._values: dict[int, int] = {}

    def value(self, row: int) -> int:
        """The value at ``row`` (one read the first time)."""
        if row not in self._values:
            self._values[row] = int(self.dataset[row])
        return self._values[row]

    def _window(self, lo: int, hi: int) -> np.ndarray:
        """Values of rows [lo, hi] (inclusive), one read; remembered at both ends."""
        values = np.asarray(self.dataset[lo : hi + 1], dtype=np.int64)
        if values.shape != (hi + 1 - lo,):
            raise IndexError(f"read {values.shape} values of rows {lo}..{hi}")
        self._values.setdefault(lo, int(values[0]))
        self._values.setdefault(hi, int(values[-1]))
        return values

    def find(self, target: int, a: int, b: int) -> tuple[int, int]:
        """Row of ``target`` in rows [a, b) (values ascending there) and how many rows hold it.

        Returns
        -------
        (row, count) : tuple of int
            ``(-1, 0)`` when absent; otherwise the first row holding ``target`` and 1, or 2 when at least one more
            row holds it (a count above 1 means "ambiguous", it is not the exact number).
        """
        if b <= a:
            return -1, 0
        lo, hi = a, b - 1
        vlo, vhi = self.value(lo), self.value(hi)
        for step in range(130):  # each step at least halves [lo, hi] after _INTERPOLATE steps: 2**127 rows
            if target < vlo or target > vhi:
                return -1, 0
            if hi - lo <= 2 * WINDOW:
                w0, w1 = lo, hi
            else:
                if step < _INTERPOLATE and vhi > vlo:
                    guess = lo + int((hi - lo) * ((target - vlo) / (vhi - vlo)))
                else:
                    guess = (lo + hi) // 2
                guess = min(max(guess, lo), hi)
                w0, w1 = max(lo, guess - WINDOW), min(hi, guess + WINDOW)
            values = self._window(w0, w1)
            i = int(np.searchsorted(values, target, side="left"))
            j = int(np.searchsorted(values, target, side="right"))
            if j > i:
                count = j - i
                if i == 0 and w0 > lo and self.value(w0 - 1) == target:
                    return w0 - 1, 2
                if j == values.size and w1 < hi and self.value(w1 + 1) == target:
                    count += 1
                return w0 + i, min(count, 2)
            if (w0, w1) == (lo, hi):
                return -1, 0
            if j == 0:  # every value of the window is above target: it lies in [lo, w0)
                if w0 == lo:
                    return -1, 0
                hi, vhi = w0, int(values[0])
            elif i == values.size:  # every value below target: it lies in (w1, hi]
                if w1 == hi:
                    return -1, 0
                lo, vlo = w1, int(values[-1])
            else:  # target falls between two neighbouring values of the window
                return -1, 0
        raise IndexError(f"no convergence searching {target} in rows {a}..{b} (values not sorted?)")


def population_runs(
    n_rows: int, population_at: Callable[[int], str], node_id_at: Callable[[int], int] | None
) -> list[tuple[str, int, int]]:
    """``[(population, start, stop), ...]`` of a table whose rows are grouped by population, in row order.

    Parameters
    ----------
    n_rows : int
        Rows of the table.
    population_at : callable
        Population of one row (a read; the caller caches).
    node_id_at : callable or None
        Node id of one row, used only to guess where a run starts (None: bisection only).

    Returns
    -------
    list of (str, int, int)
        Each run ``[start, stop)`` holds one population (rows between two rows of one population are of that
        population: the grouping the writer promises). A name coming back is left to the caller to report.
    """
    runs: list[tuple[str, int, int]] = []
    stop = n_rows
    while stop > 0:
        last = stop - 1
        name = population_at(last)
        outside, inside = -1, last  # population_at(outside) != name (or outside = -1); population_at(inside) == name
        if node_id_at is not None:
            node = node_id_at(last)
            guess = last - node if 0 <= node <= last else 0
            if guess < last and population_at(guess) != name:
                outside = guess
            else:  # the guess is in the run: its start, when the row before it is not
                inside = guess
                if guess > 0:
                    if population_at(guess - 1) != name:
                        outside = guess - 1
                    else:
                        inside = guess - 1
        while inside - outside > 1:
            mid = (outside + inside) // 2
            if population_at(mid) == name:
                inside = mid
            else:
                outside = mid
        runs.append((name, inside, stop))
        stop = inside
    runs.reverse()
    return runs
