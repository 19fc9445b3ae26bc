"""Reading SONATA compartment reports and spike files (metadata only; data stays on disk until streamed), and the
column selection the plots read through (:meth:`ReportPopulation.rows_of`, :func:`read_columns`): the one SONATA
report reader of the package.

Accepts both spellings of the index (``mapping/index_pointers``, libsonata / libsonatareport; ``index_pointer``,
BMTK), reports without ``units`` attributes (BMTK: the unit is assumed from the variable and logged) and without
``element_pos`` (libsonatareport). Every structural problem raises :class:`ConversionError` naming the dataset.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import h5py
import numpy as np
from numpy.typing import ArrayLike

from ..nwb import ragged
from ..nwb.columns import as_text, take_columns
from ..read.validate import INTEGER, NUMERIC, check_plausible, guard
from ._common import TIME_BASE_ATTR, TIME_BASES, ConversionError

logger = logging.getLogger(__name__)

INDEX_NAMES = ("index_pointers", "index_pointer")
_KNOWN_MAPPING = {"node_ids", "element_ids", "element_pos", "time", *INDEX_NAMES}
# NEURON's units of the variables BMTK reports without a ``units`` attribute
_ASSUMED_UNITS = {
    "v": "mV",
    "cai": "mM", "cao": "mM", "nai": "mM", "nao": "mM", "ki": "mM", "ko": "mM",
    "ina": "mA/cm2", "ik": "mA/cm2", "ica": "mA/cm2", "i_pas": "mA/cm2", "ihcn": "mA/cm2",
    "i_membrane_": "nA", "i_membrane": "mA/cm2",
}  # fmt: skip


@dataclass(frozen=True)
class ReportPopulation:
    """One population of a SONATA compartment report.

    Attributes
    ----------
    name : str
        Population name (the group under ``/report``).
    node_ids : numpy.ndarray, shape (n_nodes,), int64
    offsets : numpy.ndarray, shape (n_nodes + 1,), int64
        ``mapping/index_pointers``: node i owns data columns ``offsets[i]:offsets[i + 1]``.
    element_ids : numpy.ndarray, shape (n_elements,)
    element_pos : numpy.ndarray or None, shape (n_elements,)
    time : numpy.ndarray, shape (3,), float64, ms
        ``mapping/time`` = [tstart, tstop, dt], as stored.
    n_rows : int
        Number of time rows of ``data``.
    dtype : numpy.dtype
        Type of ``data``.
    units : str or None
        ``data``'s ``units`` attribute (None when absent).
    variable : str or None
        ``data``'s ``variable`` attribute (BMTK), if any.
    index_names : tuple of str
        Which spellings of the index the file has.
    time_base : str or None
        The time base recorded by simout_plugins in ``mapping/time`` (None for files from other writers).
    extra : dict of str to numpy.ndarray, each shape (n_elements,)
        Other per-element mapping datasets (e.g. BMTK's ``seg_types``).
    dtypes : dict of str to str
        Stored dtype of every mapping dataset.
    """

    name: str
    node_ids: np.ndarray
    offsets: np.ndarray
    element_ids: np.ndarray
    element_pos: np.ndarray | None
    time: np.ndarray
    n_rows: int
    dtype: np.dtype
    units: str | None
    variable: str | None
    index_names: tuple[str, ...]
    time_base: str | None = None
    time_units: str | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)

    @property
    def data_path(self) -> str:
        return f"/report/{self.name}/data"

    @property
    def n_elements(self) -> int:
        return int(self.element_ids.size)

    def assumed_units(self) -> str:
        """``units``, or the unit NEURON records ``variable`` in (``"mV"`` for ``v`` or no variable)."""
        if self.units:
            return self.units
        return _ASSUMED_UNITS.get(self.variable or "v", "unknown")

    def times_ms(self, time_base: str) -> np.ndarray:
        """Time of every data row, shape (n_rows,), ms: ``tstart + k·dt`` (``"start"``) or ``tstart + (k + 1)·dt``
        (``"end"``), see :func:`decide_time_base`."""
        if time_base not in TIME_BASES:
            raise ValueError(f"time_base must be one of {TIME_BASES}, got {time_base!r}")
        tstart, _tstop, dt = (float(x) for x in self.time)
        return tstart + (np.arange(self.n_rows) + (1 if time_base == "end" else 0)) * dt

    def rows_of(self, node_ids: ArrayLike | None) -> np.ndarray:
        """Rows (positions in ``node_ids``) of the given node ids, in their order, shape (n,), int64; None: all.

        Raises
        ------
        ValueError
            A node id not in this population.
        """
        if node_ids is None:
            return np.arange(self.node_ids.size, dtype=np.int64)
        wanted = np.asarray(node_ids, dtype=np.int64).ravel()
        order = np.argsort(self.node_ids, kind="stable")
        sorted_ids = self.node_ids[order]
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), max(sorted_ids.size - 1, 0))
        found = sorted_ids[pos] == wanted if sorted_ids.size else np.zeros(wanted.size, dtype=bool)
        if not found.all():
            raise ValueError(
                f"node ids {wanted[~found][:10].tolist()} not in population '{self.name}' of {self.data_path}"
            )
        return order[pos].astype(np.int64)

    def columns_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data columns of ``rows``, row after row, shape (counts.sum(),), int64, and each row's count, (n,)."""
        rows = np.asarray(rows, dtype=np.int64)
        return ragged.rows_to_flat(self.offsets, rows).astype(np.int64), self.offsets[rows + 1] - self.offsets[rows]


def choose_population(pops: list[ReportPopulation], population: str | None, *, path: str | os.PathLike):
    """``population`` of :func:`read_report`'s result (default: the first by name).

    Raises
    ------
    ValueError
        ``population`` is not in the report (the message lists the populations).
    """
    by_name = {p.name: p for p in pops}
    names = sorted(by_name)
    if population is None:
        return by_name[names[0]]
    if population not in by_name:
        raise ValueError(f"population '{population}' not in /report of '{path}'; populations: {names}")
    return by_name[population]


def read_columns(
    f: h5py.File, pop: ReportPopulation, i0: int, i1: int, cols: ArrayLike, *, step: int = 1
) -> np.ndarray:
    """Rows ``i0, i0 + step, ... < i1`` of data columns ``cols`` of one population, shape
    (len(range(i0, i1, step)), n_cols), as stored (its units)."""
    with guard(f.filename, pop.data_path):
        return take_columns(f[pop.data_path], i0, i1, cols, step=step)


def read_report(f: h5py.File, path: str | os.PathLike) -> list[ReportPopulation]:
    """Read and validate every population of ``/report`` (mapping only; the data is not read).

    Parameters
    ----------
    f : h5py.File
        The open SONATA file.
    path : str or os.PathLike
        Its path (for error messages).

    Raises
    ------
    ConversionError
        No ``/report`` group or no population in it, a missing dataset, index pointers of the wrong length, not
        monotonic or past the data, element arrays of different lengths, a population with zero nodes.
    """
    with guard(path, "/report"):
        group = f.get("report")
        if not isinstance(group, h5py.Group):
            raise ConversionError(path, "no /report group: not a SONATA compartment report", dataset="/report")
        members = [(name, obj) for name, obj in group.items() if isinstance(obj, h5py.Group)]
    pops = []
    for name, obj in members:
        pops.append(_read_population(path, name, obj))
    if not pops:
        raise ConversionError(path, "/report holds no population group", dataset="/report")
    return pops


def _read_population(path, name: str, g: h5py.Group) -> ReportPopulation:
    where = f"/report/{name}"

    def need(key: str) -> h5py.Dataset:
        with guard(path, f"{where}/{key}"):
            obj = g.get(key)
            if isinstance(obj, h5py.Dataset):
                obj.shape, obj.dtype  # noqa: B018 (the object header is read here, inside the guard)
        if not isinstance(obj, h5py.Dataset):
            raise ConversionError(path, f"missing (population '{name}')", dataset=f"{where}/{key}")
        return obj

    def load(key: str, kinds: str = NUMERIC) -> np.ndarray:
        ds = need(key)
        if ds.ndim != 1 or ds.dtype.kind not in kinds:
            expected = "integer" if kinds == INTEGER else "numeric"
            raise ConversionError(path, f"must be a 1-D {expected} array, got {ds.dtype}{ds.shape}", dataset=ds.name)
        check_plausible(path, ds)
        with guard(path, ds.name):
            return ds[()]

    data = need("data")
    if data.ndim != 2 or data.dtype.kind not in "fiu":
        raise ConversionError(
            path, f"must be a 2-D numeric (time, element) array, got {data.shape} {data.dtype}", dataset=data.name
        )
    check_plausible(path, data)
    with guard(path, f"{where}/mapping"):
        index_names = tuple(k for k in INDEX_NAMES if isinstance(g.get(f"mapping/{k}"), h5py.Dataset))
    if not index_names:
        raise ConversionError(path, "missing (neither index_pointers nor index_pointer)", dataset=f"{where}/mapping")
    node_ids = load("mapping/node_ids", INTEGER)
    if node_ids.size == 0:
        raise ConversionError(path, f"population '{name}' has zero nodes", dataset=f"{where}/mapping/node_ids")
    ids = node_ids.astype(np.int64)
    if np.unique(ids).size != ids.size:
        raise ConversionError(path, "holds a node id twice", dataset=f"{where}/mapping/node_ids")
    element_ids = load("mapping/element_ids", INTEGER)
    n_el = int(element_ids.size)
    if n_el != data.shape[1]:
        raise ConversionError(
            path,
            f"has {n_el} entries but data has {data.shape[1]} columns; the lengths of "
            "node_ids / element_ids / data disagree",
            dataset=f"{where}/mapping/element_ids",
        )
    offsets = load(f"mapping/{index_names[0]}", INTEGER)
    problem = ragged.offsets_problem(offsets, n_rows=ids.size, n_elements=n_el)
    if problem:
        raise ConversionError(
            path, f"{problem} ({ids.size} node_ids, {n_el} element_ids)", dataset=f"{where}/mapping/{index_names[0]}"
        )
    with guard(path, f"{where}/mapping"):
        mapping = g["mapping"]
        has_pos = isinstance(mapping.get("element_pos"), h5py.Dataset)
    element_pos = load("mapping/element_pos") if has_pos else None
    if element_pos is not None and element_pos.size != n_el:
        raise ConversionError(
            path, f"has {element_pos.size} entries, element_ids {n_el}", dataset=f"{where}/mapping/element_pos"
        )
    if element_pos is not None and ((element_pos < 0) | (element_pos > 1)).any():
        raise ConversionError(path, "must lie in [0, 1] (a position along the section) or be NaN",
                              dataset=f"{where}/mapping/element_pos")  # fmt: skip
    time_ds = need("mapping/time")
    if time_ds.dtype.kind not in NUMERIC:
        raise ConversionError(path, f"must be numbers, got {time_ds.dtype}", dataset=time_ds.name)
    with guard(path, time_ds.name):
        time = time_ds[()].astype(np.float64).ravel()
    if time.size != 3 or not np.isfinite(time).all() or time[2] <= 0:
        raise ConversionError(
            path, f"must be [tstart, tstop, dt] with dt > 0, got {time.tolist()}", dataset=time_ds.name
        )
    extra = {}
    with guard(path, f"{where}/mapping"):
        for key, obj in mapping.items():
            if key not in _KNOWN_MAPPING and isinstance(obj, h5py.Dataset) and obj.shape == (n_el,):
                extra[key] = obj[()]
        present = [k for k in (*_KNOWN_MAPPING, *extra) if isinstance(mapping.get(k), h5py.Dataset)]
        dtypes = {k: str(mapping[k].dtype) for k in present}
    with guard(path, time_ds.name):
        base, time_units = _opt_text(time_ds.attrs.get(TIME_BASE_ATTR)), _opt_text(time_ds.attrs.get("units"))
    with guard(path, data.name):
        units, variable = _opt_text(data.attrs.get("units")), _opt_text(data.attrs.get("variable"))
    return ReportPopulation(
        name=name,
        node_ids=ids,
        offsets=offsets.astype(np.int64),
        element_ids=element_ids,
        element_pos=element_pos,
        time=time,
        n_rows=int(data.shape[0]),
        dtype=data.dtype,
        units=units or None,
        variable=variable,
        index_names=index_names,
        time_base=base if base in TIME_BASES else None,
        time_units=time_units,
        extra=extra,
        dtypes=dtypes,
    )


def decide_time_base(pop: ReportPopulation, requested: str | None) -> tuple[str, str]:
    """Which time row k holds: ``"start"`` (tstart + k·dt) or ``"end"`` (tstart + (k + 1)·dt), and why.

    Both BMTK 1.2 and libsonatareport write (tstop - tstart) / dt rows, so the row count alone cannot tell; the rule
    (in this order): ``requested``; the base simout_plugins recorded in ``mapping/time``; one row more than the
    window has steps → both ends stored → ``"start"``; a ``units`` attribute on ``data`` or the ``index_pointers``
    spelling (libsonatareport, libsonata-readable writers) → ``"start"``; otherwise (BMTK: no units,
    ``index_pointer``) → ``"end"``.
    """
    if requested is not None:
        if requested not in TIME_BASES:
            raise ValueError(f"time_base must be one of {TIME_BASES} or None, got {requested!r}")
        return requested, f"time_base='{requested}' was given"
    if pop.time_base is not None:
        return pop.time_base, f"mapping/time records {TIME_BASE_ATTR}='{pop.time_base}'"
    tstart, tstop, dt = pop.time
    steps = (tstop - tstart) / dt
    if abs(pop.n_rows - (steps + 1)) < 1e-6:
        return "start", f"{pop.n_rows} rows = (tstop - tstart) / dt + 1: tstart and tstop are both stored"
    if abs(pop.n_rows - steps) > 1e-6:
        logger.warning(
            "population '%s': %d rows but mapping/time %s implies %g; the run may have stopped early",
            pop.name,
            pop.n_rows,
            pop.time.tolist(),
            steps,
        )
    if pop.units or "index_pointers" in pop.index_names:
        return "start", "the file has units / index_pointers (libsonatareport convention: row k = tstart + k*dt)"
    return "end", "no units and 'index_pointer' (BMTK convention: row k = tstart + (k+1)*dt)"


def spike_groups(
    path: str | os.PathLike, f: h5py.File, *, default_population: str
) -> dict[str, tuple[h5py.Group, str]]:
    """The groups of a SONATA spike file per population and the name of their id dataset (nothing read).

    ``/spikes/<population>`` groups (id dataset ``node_ids``), or the older ``/spikes/{gids, timestamps}`` layout
    (the ``/spikes`` group itself, put in ``default_population``).

    Raises
    ------
    ConversionError
        No ``/spikes`` group.
    """
    with guard(path, "/spikes"):
        group = f.get("spikes")
        if not isinstance(group, h5py.Group):
            raise ConversionError(path, "no /spikes group: not a SONATA spike file", dataset="/spikes")
        if isinstance(group.get("timestamps"), h5py.Dataset):
            logger.info("'%s': old /spikes/{gids,timestamps} layout, population '%s' assumed", path, default_population)
            return {default_population: (group, "gids" if "gids" in group else "node_ids")}
        return {k: (g, "node_ids") for k, g in group.items() if isinstance(g, h5py.Group)}


def read_spikes(
    path: str | os.PathLike, f: h5py.File, *, default_population: str, population: str | None = None
) -> dict[str, tuple]:
    """Spikes of a SONATA spike file per population: ``{population: (node_ids int64 (n,), times_ms float64 (n,))}``.

    Reads ``/spikes/<population>/{node_ids, timestamps}`` and the older ``/spikes/{gids, timestamps}`` (put in
    ``default_population``), see :func:`spike_groups`; only ``population`` when given. ``timestamps`` in s
    (``units`` = "s") are converted to ms; no ``units`` means ms.
    """
    parts = spike_groups(path, f, default_population=default_population)
    if population is not None:
        if population not in parts:
            raise ConversionError(
                path, f"population '{population}' not in /spikes; populations: {sorted(parts)}", dataset="/spikes"
            )
        parts = {population: parts[population]}
    out = {}
    for pop, (g, id_key) in parts.items():
        with guard(path, g.name):
            ids, times = spike_arrays(path, g, id_key)
            units = as_text(g["timestamps"].attrs.get("units")) or "ms"
        if units not in ("ms", "s"):
            raise ConversionError(path, f"units '{units}' not understood (ms or s)", dataset=f"{g.name}/timestamps")
        out[pop] = (ids, times * 1000.0 if units == "s" else times)
    return out


def spike_arrays(path: str | os.PathLike, g: h5py.Group, id_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(node_ids int64 (n,), timestamps float64 (n,))`` of one spike group, checked: present, 1-D, integer ids,
    numeric times, equal lengths."""
    with guard(path, g.name):
        arrays = []
        for key, kinds in ((id_key, INTEGER), ("timestamps", NUMERIC)):
            ds = g.get(key)
            if not isinstance(ds, h5py.Dataset):
                raise ConversionError(path, "missing", dataset=f"{g.name}/{key}")
            if ds.ndim != 1 or ds.dtype.kind not in kinds:
                what = "integer" if kinds == INTEGER else "numeric"
                raise ConversionError(path, f"must be a 1-D {what} array, got {ds.dtype}{ds.shape}", dataset=ds.name)
            check_plausible(path, ds)
            arrays.append(ds[()])
        ids, times = arrays[0].astype(np.int64), arrays[1].astype(np.float64)
    if ids.shape != times.shape:
        raise ConversionError(path, f"{ids.size} node ids but {times.size} timestamps", dataset=g.name)
    return ids, times


def _opt_text(value: object) -> str | None:
    """A stored text attribute as str (:func:`~simout_plugins.nwb.columns.as_text`), None when absent."""
    return None if value is None else as_text(value)
