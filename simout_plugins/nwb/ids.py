"""Global cell ids: one unique integer per cell of a file, from its simulator address (population, node id).

NWB tables need unique ids (nwbinspector ``check_ids_unique`` is CRITICAL), while SONATA node ids repeat across
populations. Adapters pass the simulator's own global id (BMTK's gid, NetPyNE's gid); everything else gets the
arithmetic of BMTK's bionet gid pool, with populations in name order: ``id = offset[population] + node_id``, the
first offset 0 and each next offset the previous one plus the previous population's largest node id + 1. With a
single population, ``id == node_id``. See docs/file_layout.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

#: Population of cells given without one (SONATA needs a population name).
DEFAULT_POPULATION = "default"


def repeated(values: ArrayLike, *, limit: int = 10) -> list[int]:
    """The values that occur more than once (sorted, at most ``limit``), e.g. duplicate cell ids."""
    srt = np.sort(np.asarray(values, dtype=np.int64).ravel())
    same = srt[1:] == srt[:-1]
    return np.unique(srt[1:][same])[:limit].tolist() if same.any() else []


def factorize(values: ArrayLike) -> tuple[list[str], np.ndarray]:
    """Sorted distinct names and the code of each value, shape (n,) int64 (hash-based: ~50 ms per million).

    ``np.unique`` on object strings sorts them in Python (~0.5 s per million).
    """
    import pandas as pd  # hdmf's own dependency

    arr = np.asarray(values, dtype=object).ravel()
    if arr.size == 0:
        return [], np.zeros(0, dtype=np.int64)
    codes, names = pd.factorize(arr, sort=True)
    return [str(n) for n in names.tolist()], codes.astype(np.int64)


def population_offsets(*, population: ArrayLike, node_ids: ArrayLike) -> dict[str, int]:
    """Offset of each population (name order), so that ``offset + node_id`` is unique over all populations.

    Parameters
    ----------
    population : array-like of str, shape (n_cells,)
    node_ids : array-like of int, shape (n_cells,)

    Returns
    -------
    dict of str to int
        Population name → offset added to its node ids.
    """
    ids = np.asarray(node_ids, dtype=np.int64)
    offsets: dict[str, int] = {}
    names, codes = factorize(population)
    if not names:
        return offsets
    top = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(top, codes, ids)
    acc = 0
    for name, hi in zip(names, top.tolist()):
        offsets[name] = acc
        acc += hi + 1
    return offsets


def derive_cell_ids(
    *, population: ArrayLike, node_ids: ArrayLike, offsets: Mapping[str, int] | None = None
) -> np.ndarray:
    """Global ids ``offset[population] + node_id``, shape (n_cells,) int64.

    ``offsets`` defaults to :func:`population_offsets` of these cells; a population missing from a given
    ``offsets`` raises ValueError.
    """
    ids = np.asarray(node_ids, dtype=np.int64)
    names, codes = factorize(population)
    if offsets is None:
        offsets = population_offsets(population=population, node_ids=ids)
    if not names:
        return ids.copy()
    missing = [n for n in names if n not in offsets]
    if missing:
        raise ValueError(f"no id offset for populations {missing}")
    base = np.array([offsets[n] for n in names], dtype=np.int64)
    return base[codes] + ids


def extend_offsets(
    offsets: Mapping[str, int], *, end: int, population: ArrayLike, node_ids: ArrayLike
) -> dict[str, int]:
    """Offsets that keep every given population's offset and add new populations after the last one.

    Used for cells that arrive after ids were written (e.g. ``Units`` rows after the Compartments tables): ids
    already in the file stay valid.

    Parameters
    ----------
    offsets : dict of str to int
        Offsets already in use.
    end : int
        First id not used yet (largest id written + 1).
    population : array-like of str, shape (n_cells,)
    node_ids : array-like of int, shape (n_cells,)

    Raises
    ------
    ValueError
        A known population has a node id beyond the range its offset reserves (it would take another
        population's ids): give explicit cell ids.
    """
    ids = np.asarray(node_ids, dtype=np.int64)
    out = dict(offsets)
    names, codes = factorize(population)
    if not names:
        return out
    top = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(top, codes, ids)
    known = sorted(offsets.items(), key=lambda kv: kv[1])
    limits = {name: (known[i + 1][1] - off if i + 1 < len(known) else None) for i, (name, off) in enumerate(known)}
    tops = dict(zip(names, top.tolist()))
    for name, hi in tops.items():
        if name in out:
            limit = limits[name]
            if limit is not None and hi >= limit:
                raise ValueError(
                    f"node id {hi} of population '{name}' is beyond the ids reserved for it (node ids < {limit}, "
                    "from the cells of the Compartments tables); pass explicit cell ids (units_cell_ids=)"
                )
            end = max(end, out[name] + hi + 1)
    for name in sorted(set(tops) - set(out)):
        out[name] = end
        end += tops[name] + 1
    return out
