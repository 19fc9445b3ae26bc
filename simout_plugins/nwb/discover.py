"""Finding typed groups (e.g. every CompartmentSeries) in an open NWB file: the one rule the reader, ``simout info``
and ``simout recover`` share.

A group counts when its ``neurodata_type`` attribute names the type. Only hard links are followed (a series'
``compartments`` link points at a table found elsewhere), and the cached specs (``/specifications``) and the
``/units`` table are not visited. Paths come back in name order, group by group.
"""

from __future__ import annotations

import h5py

from .columns import as_text

__all__ = ["SKIPPED_ROOT_GROUPS", "find_typed_groups", "find_series"]

#: Root groups never searched: the cached namespaces, and the Units table (checked apart by its readers).
SKIPPED_ROOT_GROUPS = ("specifications", "units")


def find_typed_groups(f: h5py.File | h5py.Group, neurodata_type: str) -> list[str]:
    """HDF5 paths of the groups below ``f`` whose ``neurodata_type`` is ``neurodata_type`` (not searched inside).

    Parameters
    ----------
    f : h5py.File or h5py.Group
        Where to search (the whole file for a File).
    neurodata_type : str
        e.g. ``"CompartmentSeries"``.

    Returns
    -------
    list of str
        Absolute HDF5 paths, in name order.
    """
    found: list[str] = []

    def walk(group: h5py.Group) -> None:
        for key in group:
            if group.name == "/" and key in SKIPPED_ROOT_GROUPS:
                continue
            if not isinstance(group.get(key, getlink=True), h5py.HardLink):
                continue
            obj = group[key]
            if not isinstance(obj, h5py.Group):
                continue
            if as_text(obj.attrs.get("neurodata_type")) == neurodata_type:
                found.append(obj.name)
            else:
                walk(obj)

    walk(f)
    return found


def find_series(f: h5py.File | h5py.Group) -> list[str]:
    """HDF5 paths of every CompartmentSeries in ``f`` (see :func:`find_typed_groups`)."""
    return find_typed_groups(f, "CompartmentSeries")
