"""What a read returns: :class:`TraceFrame` (a selection of a CompartmentSeries) and :class:`SpikeFrame` (spikes of
the ``Units`` table or of a SONATA spike file). Plain frozen dataclasses of numpy arrays, shared by the reader and
the plot loaders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TraceFrame", "SpikeFrame"]


@dataclass(frozen=True)
class TraceFrame:
    """A selection of a CompartmentSeries.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_t,), seconds
    data : numpy.ndarray, shape (n_t, n_cols)
        SI units (``data * conversion``) unless read with ``scaled=False`` (then the stored values).
    node_ids : numpy.ndarray, shape (n_cols,), int64
        Node id (within its population) of each column's cell.
    number : numpy.ndarray, shape (n_cols,), int64
    position : numpy.ndarray or None, shape (n_cols,), float64
    label : numpy.ndarray or None, shape (n_cols,), str
    columns : dict of str to numpy.ndarray, each shape (n_cols,)
        Other per-column values (``population``, per-cell and per-compartment extra columns).
    unit : str
        Unit of ``data`` (e.g. ``"volts"``).
    population : numpy.ndarray or None, shape (n_cols,), str
        Population of each column's cell (None for files without populations).
    cell_ids : numpy.ndarray or None, shape (n_cols,), int64
        Global cell id (the table's ``id``) of each column's cell.
    """

    times: np.ndarray
    data: np.ndarray
    node_ids: np.ndarray
    number: np.ndarray
    position: np.ndarray | None
    label: np.ndarray | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    unit: str = ""
    population: np.ndarray | None = None
    cell_ids: np.ndarray | None = None

    def to_xarray(self, *, name: str | None = None):
        """This frame as an ``xarray.DataArray`` with dims (time, compartment), time in s and each compartment's
        address (node_id, population, cell_id) and place (number, position, label) as coordinates; needs the
        ``analysis`` extra. See :func:`simout_plugins.read.views.trace_to_xarray`."""
        from .views import trace_to_xarray

        return trace_to_xarray(self, name=name)


@dataclass(frozen=True)
class SpikeFrame:
    """Spikes from the ``Units`` table: one entry per spike, ordered by unit row then time.

    Attributes
    ----------
    node_ids : numpy.ndarray, shape (n_spikes,), int64
    times : numpy.ndarray, shape (n_spikes,), seconds
    population : numpy.ndarray or None, shape (n_spikes,), str
    cell_ids : numpy.ndarray or None, shape (n_spikes,), int64
        Global cell id (the Units ``id``) of each spike's cell.
    """

    node_ids: np.ndarray
    times: np.ndarray
    population: np.ndarray | None = None
    cell_ids: np.ndarray | None = None

    def to_pandas(self):
        """One row per spike: ``population``, ``node_id``, ``time`` (s), ``cell_id``, as a ``pandas.DataFrame``;
        needs the ``analysis`` extra. See :func:`simout_plugins.read.views.spikes_to_pandas`."""
        from .views import spikes_to_pandas

        return spikes_to_pandas(self)
