"""Layout-fuzz cases: a global ragged layout, its split over ranks, what each rank writes, what the file must hold.

Shared by ``tests/unit/test_layout_fuzz.py`` (hypothesis draws the case; ranks are threads, ``tests/threadcomm.py``)
and ``tests/mpi/layout_fuzz_job.py`` (``random_case(seed, n_ranks)``; ranks are ``mpiexec`` processes).

A case is a pool of cells (population, node id; node ids overlap across populations, given unsorted), the rank
owning each cell, 0..2 Compartments tables over subsets of the pool (ragged, zero-compartment cells allowed,
possibly no cell at all), series over those tables with their own ``n_steps`` and block partitions (written in
an interleaved order every rank follows), and optional spikes. :func:`write_part` is one rank's share of the
write; :func:`expected` is the file's content in file order (rows by (population, node id), or node id without
populations; docs/file_layout.md); :func:`check_file` reads the file back with ``open_report`` and with plain
pynwb and compares everything exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
from pynwb import NWBHDF5IO

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.nwb.layout import make_layout

META = {
    "session_description": "layout fuzz",
    "identifier": "layout-fuzz",
    "session_start_time": "2024-01-01T00:00:00+00:00",
}
#: Datasets that differ between two writes of the same data.
VOLATILE = {"file_create_date"}
POPULATION_NAMES = ("thalamus", "cortex", "hippocampus")
SERIES_PLAN = (  # name, table index, unit, dtype
    ("v", 0, "mV", "float32"),
    ("cai", 0, "mM", "float64"),
    ("ina", 1, "nA", "float32"),
)
TABLE_NAMES = ("compartments", "soma")


@dataclass
class TableCase:
    name: str
    rows: np.ndarray  # pool index of each cell, in the order given to the writer
    counts: np.ndarray
    number: np.ndarray
    position: np.ndarray
    label: np.ndarray | None

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    @property
    def n_compartments(self) -> int:
        return int(self.counts.sum())

    def cols_of(self, cells: np.ndarray) -> np.ndarray:
        """Flat compartment columns (given order) of the table's cells ``cells`` (positions in ``rows``)."""
        off = self.offsets
        parts = [np.arange(off[i], off[i + 1]) for i in cells]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


@dataclass
class SeriesCase:
    name: str
    table: int
    unit: str
    dtype: str
    n_steps: int
    data: np.ndarray  # (n_steps, n_compartments of the table), given column order, stored dtype


@dataclass
class FuzzCase:
    pop: np.ndarray  # (n_pool,) object
    node: np.ndarray  # (n_pool,) int64
    with_population: bool
    owner: np.ndarray  # (n_pool,) rank of each cell
    n_ranks: int
    tables: list[TableCase]
    series: list[SeriesCase]
    schedule: list[tuple[str, int, int]]  # (series, step0, n) in call order, the same on every rank
    spike_cells: np.ndarray | None  # pool index of each spike's cell; None: add_spikes is not called
    spike_times_ms: np.ndarray | None
    units: np.ndarray | None  # explicit Units rows (pool indices), or None: the spiking cells
    as_layout: bool  # pass CompartmentLayout objects instead of Compartments containers
    block_steps: int | None
    cell_order: str | None = None  # the writer's cell_order ("node_id" needs node ids unique over the pool)
    dt_ms: float = 0.25
    tstart_ms: float = 1.5
    notes: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        tabs = ", ".join(f"{t.name}: {t.rows.size} cells / {t.n_compartments} cols" for t in self.tables)
        spikes = "no add_spikes" if self.spike_cells is None else f"{self.spike_cells.size} spikes"
        order = self.cell_order or "population"
        return f"{order} order, {self.n_ranks} ranks, [{tabs}], {spikes}, owners {self.owner.tolist()}"


# ---------------------------------------------------------------------------------------------------- building
def make_case(
    *,
    pop: list[str],
    node: list[int],
    with_population: bool,
    owner: list[int],
    n_ranks: int,
    tables: list[tuple[list[int], list[int]]],
    n_steps: list[int],
    blocks: list[list[int]],
    order: list[int],
    spike_cells: list[int] | None,
    units: list[int] | None,
    labels: bool,
    as_layout: bool,
    block_steps: int | None,
    seed: int,
    cell_order: str | None = None,
) -> FuzzCase:
    """A case from its structure; numbers (compartment ids, positions, data, spike times) come from ``seed``.

    Parameters
    ----------
    tables : list of (rows, counts)
        Pool indices of each table's cells (given order) and their compartment counts; ``[]`` = spikes only.
    n_steps : list of int
        ``n_steps`` of each series of :data:`SERIES_PLAN` whose table exists.
    blocks : list of list of int
        Block lengths of each series (each sums to its ``n_steps``).
    order : list of int
        Series index of each write call, in call order (each series index as often as it has blocks).
    """
    rng = np.random.default_rng(seed)
    table_cases = []
    for k, (rows, counts) in enumerate(tables):
        counts_a = np.asarray(counts, dtype=np.int64)
        n = int(counts_a.sum())
        names = np.array(["soma", "dend[0]", "apic[12]", "axon_µ", "sec·3"], dtype=object)  # non-ASCII too
        label = names[rng.integers(0, names.size, n)] if labels else None
        position = rng.random(n)
        position[rng.random(n) < 0.1] = np.nan  # NaN: "no position"
        table_cases.append(
            TableCase(
                name=TABLE_NAMES[k],
                rows=np.asarray(rows, dtype=np.int64),
                counts=counts_a,
                number=rng.integers(0, 5000, n),
                position=position,
                label=label,
            )
        )
    series = []
    plan = [p for p in SERIES_PLAN if p[1] < len(table_cases)]
    for (name, t, unit, dtype), steps in zip(plan, n_steps):
        data = rng.standard_normal((steps, table_cases[t].n_compartments)) * 10 - 65
        series.append(SeriesCase(name, t, unit, dtype, steps, data.astype(dtype)))
    schedule, next_block, step = [], [0] * len(series), [0] * len(series)
    for s in order:
        n = blocks[s][next_block[s]]
        schedule.append((series[s].name, step[s], n))
        next_block[s] += 1
        step[s] += n
    assert step == [s.n_steps for s in series], (step, n_steps)
    times = None
    if spike_cells is not None:
        t_end = max(n_steps, default=10) * 0.25
        times = np.round(rng.random(len(spike_cells)) * t_end, 3)
    return FuzzCase(
        pop=np.asarray(pop, dtype=object),
        node=np.asarray(node, dtype=np.int64),
        with_population=with_population,
        owner=np.asarray(owner, dtype=np.int64),
        n_ranks=n_ranks,
        tables=table_cases,
        series=series,
        schedule=schedule,
        spike_cells=None if spike_cells is None else np.asarray(spike_cells, dtype=np.int64),
        spike_times_ms=times,
        units=None if units is None else np.asarray(units, dtype=np.int64),
        as_layout=as_layout,
        block_steps=block_steps,
        cell_order=cell_order,
    )


def split_blocks(n: int, rng: np.random.Generator) -> list[int]:
    """A random partition of ``n`` steps into blocks (1-step blocks likely)."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=rng.integers(0, n), replace=False)) if n > 1 else []
    return np.diff(np.concatenate([[0], cuts, [n]])).astype(int).tolist()


def random_case(seed: int, n_ranks: int) -> FuzzCase:
    """A random case from a seed with numpy alone (for ``mpiexec`` jobs: every rank builds the same case)."""
    rng = np.random.default_rng(seed)
    n_pops = int(rng.integers(1, 4))
    with_population = n_pops > 1 or bool(rng.integers(0, 2))
    pop, node = [], []
    for name in POPULATION_NAMES[:n_pops]:
        ids = rng.choice(30, size=int(rng.integers(0, 8)), replace=False)
        pop += [name] * ids.size
        node += ids.tolist()
    perm = rng.permutation(len(node))
    pop, node = [pop[i] for i in perm], [node[i] for i in perm]
    n_pool = len(node)
    split = ("round-robin", "random", "one-rank", "contiguous")[int(rng.integers(0, 4))]
    owner = _owners(split, n_pool, n_ranks, rng)
    spikes_only = rng.random() < 0.15
    tables = []
    if not spikes_only:
        rows = np.flatnonzero(rng.random(n_pool) < 0.8)
        counts = rng.integers(0, 5, rows.size) * (rng.random() > 0.15)  # sometimes every cell has none
        if rows.size and rng.random() < 0.3:
            counts[rng.integers(0, rows.size)] = 500  # one cell with many compartments
        soma = np.flatnonzero(rng.random(n_pool) < 0.5)
        tables = [(rows.tolist(), counts.tolist()), (soma.tolist(), rng.integers(0, 2, soma.size).tolist())]
    n_series = len([p for p in SERIES_PLAN if p[1] < len(tables)])
    n_steps = [int(rng.integers(1, 13)) for _ in range(n_series)]
    blocks = [split_blocks(n, rng) for n in n_steps]
    order = rng.permutation(np.repeat(np.arange(n_series), [len(b) for b in blocks])).tolist()
    in_tables = sorted({int(i) for rows, _ in tables for i in rows}) if tables else list(range(n_pool))
    spike_cells = units = None
    if in_tables and rng.random() < 0.8:
        spike_cells = rng.choice(in_tables, size=int(rng.integers(0, 20))).tolist()
        if rng.random() < 0.5:
            units = sorted(set(spike_cells) | set(rng.choice(in_tables, size=3).tolist()))
    unique_ids = len(set(node)) == len(node)
    return make_case(
        pop=pop, node=node, with_population=with_population, owner=owner, n_ranks=n_ranks, tables=tables,
        n_steps=n_steps, blocks=blocks, order=order, spike_cells=spike_cells, units=units,
        labels=bool(rng.integers(0, 2)), as_layout=bool(rng.integers(0, 2)), block_steps=None, seed=seed,
        cell_order="node_id" if unique_ids and rng.random() < 0.3 else None,
    )  # fmt: skip


def named_case(name: str, n_ranks: int) -> FuzzCase:
    """Small fixed cases (round-robin over ``n_ranks``): ``"zero-columns"``, three cells without compartments;
    ``"no-cells"``, a table without cells. Either way the series have no data column."""
    node = [4, 1, 2]
    rows, counts = {"zero-columns": ([0, 1, 2], [0, 0, 0]), "no-cells": ([], [])}[name]
    return make_case(
        pop=["default"] * 3, node=node, with_population=False, owner=_owners("round-robin", 3, n_ranks, None),
        n_ranks=n_ranks, tables=[(rows, counts)], n_steps=[4, 3], blocks=[[2, 2], [1, 2]], order=[0, 1, 0, 1],
        spike_cells=[0, 2], units=None, labels=True, as_layout=False, block_steps=None, seed=0,
    )  # fmt: skip


def _owners(split: str, n_pool: int, n_ranks: int, rng: np.random.Generator) -> list[int]:
    if split == "round-robin":
        return (np.arange(n_pool) % n_ranks).tolist()
    if split == "one-rank":
        return [int(rng.integers(0, n_ranks))] * n_pool
    if split == "contiguous":
        return np.sort(rng.integers(0, n_ranks, n_pool)).tolist()
    return rng.integers(0, n_ranks, n_pool).tolist()


# ---------------------------------------------------------------------------------------------------- writing
def write_part(case: FuzzCase, path, comm: Any | None = None, *, sink: str = "gather") -> str:
    """One rank's share of the write (all of it with ``comm=None``); returns the writer's sink kind."""
    rank = 0 if comm is None else comm.Get_rank()
    size = 1 if comm is None else comm.Get_size()
    if size > 1 and size != case.n_ranks:
        raise ValueError(f"case is split over {case.n_ranks} ranks, comm has {size}")
    mine = np.ones(case.node.size, bool) if size == 1 else case.owner == rank
    comps, local = [], {}
    for t in case.tables:
        cells = np.flatnonzero(mine[t.rows])
        rows, cols = t.rows[cells], t.cols_of(cells)
        kwargs = dict(
            node_ids=case.node[rows],
            counts=t.counts[cells],
            number=t.number[cols],
            position=t.position[cols],
            label=None if t.label is None else t.label[cols],
            population=case.pop[rows] if case.with_population else None,
            cell_columns={"cell_type": _cell_type(case.node[rows])},
        )
        comps.append(make_layout(**kwargs) if case.as_layout else build_compartments(name=t.name, **kwargs))
        local[t.name] = cols
    first = case.series[0] if case.series else None

    def table_kw(s):
        return {"table_name": case.tables[s.table].name} if case.as_layout else {}

    with CompartmentSeriesWriter(
        path,
        compartments=None if first is None else comps[first.table],
        name="v" if first is None else first.name,
        n_steps=None if first is None else first.n_steps,
        dt_ms=case.dt_ms,
        tstart_ms=case.tstart_ms,
        unit="mV" if first is None else first.unit,
        dtype="float32" if first is None else first.dtype,
        comm=comm,
        sink=sink,
        nwb_metadata=META,
        block_steps=case.block_steps,
        cell_order=case.cell_order,
        **({} if first is None else table_kw(first)),
    ) as w:
        for s in case.series[1:]:
            shared = s.table == first.table
            w.add_series(
                name=s.name,
                unit=s.unit,
                compartments=None if shared else comps[s.table],
                n_steps=s.n_steps,
                dtype=s.dtype,
                **({} if shared else table_kw(s)),
            )
        by_name = {s.name: s for s in case.series}
        for name, step0, n in case.schedule:
            s = by_name[name]
            w.write_block(step0, s.data[step0 : step0 + n, local[case.tables[s.table].name]], series=name)
        if case.spike_cells is not None:
            sp = case.spike_cells[mine[case.spike_cells]]
            kwargs = dict(
                node_ids=case.node[sp],
                times_ms=case.spike_times_ms[mine[case.spike_cells]],
                population=case.pop[sp] if case.with_population else None,
                resolution_ms=case.dt_ms,
            )
            if case.units is not None:
                u = case.units[mine[case.units]]
                kwargs.update(
                    units_node_ids=case.node[u],
                    units_population=case.pop[u] if case.with_population else None,
                    unit_columns={"cell_type": _cell_type(case.node[u])},
                )
            w.add_spikes(**kwargs)
        return w.sink_kind


def _cell_type(node_ids: np.ndarray) -> np.ndarray:
    return np.array([f"type{i % 3}" for i in node_ids], dtype=object)


# ---------------------------------------------------------------------------------------------------- expected
def cell_ids(case: FuzzCase, pool: np.ndarray) -> np.ndarray:
    """Global cell id of pool cells: ``offset[population] + node_id``, populations in name order, offsets over
    every table's cells (over the Units cells in a spikes-only file); ``node_id`` without populations or with
    ``cell_order="node_id"``."""
    if not case.with_population or case.cell_order == "node_id":
        return case.node[pool]
    basis = np.concatenate([t.rows for t in case.tables] + [np.zeros(0, np.int64)])
    if basis.size == 0 and case.spike_cells is not None:
        basis = case.spike_cells if case.units is None else case.units
    offsets, acc = {}, 0
    for name in sorted(set(case.pop[basis])):
        offsets[name] = acc
        acc += int(case.node[basis][case.pop[basis] == name].max()) + 1
    return np.array([offsets[case.pop[i]] + case.node[i] for i in pool], dtype=np.int64)


def file_order(case: FuzzCase, pool: np.ndarray) -> np.ndarray:
    """Positions of ``pool`` cells in file order: by (population, node id), or by node id (without populations or
    with ``cell_order="node_id"``)."""
    if case.with_population and case.cell_order != "node_id":
        return np.lexsort((case.node[pool], case.pop[pool].astype(str)))
    return np.argsort(case.node[pool], kind="stable")


def expected(case: FuzzCase) -> dict:
    """The file's content: ``tables``, ``series`` (data in file column order) and ``units`` (or None)."""
    tables = {}
    for t in case.tables:
        order = file_order(case, t.rows)
        rows, cols = t.rows[order], t.cols_of(order)
        counts = t.counts[order]
        tables[t.name] = dict(
            cols=cols,
            rows=rows,
            node_id=case.node[rows],
            population=case.pop[rows].astype(str) if case.with_population else None,
            cell_id=cell_ids(case, rows),
            counts=counts,
            number_index=np.cumsum(counts),
            number=t.number[cols],
            position=t.position[cols],
            label=None if t.label is None else t.label[cols].astype(str),
            cell_type=_cell_type(case.node[rows]).astype(str),
        )
    series = {s.name: s.data[:, tables[case.tables[s.table].name]["cols"]] for s in case.series}
    units = None
    if case.spike_cells is not None:
        pool = np.unique(case.spike_cells) if case.units is None else np.unique(case.units)
        pool = pool[file_order(case, pool)]
        times_s = case.spike_times_ms / 1000.0
        per_unit = [np.sort(times_s[case.spike_cells == i]) for i in pool]
        units = dict(
            rows=pool,
            node_id=case.node[pool],
            population=case.pop[pool].astype(str) if case.with_population else None,
            cell_id=cell_ids(case, pool),
            spike_times=np.concatenate(per_unit + [np.zeros(0)]),
            spike_times_index=np.cumsum([p.size for p in per_unit]).astype(np.int64),
            cell_type=None if case.units is None else _cell_type(case.node[pool]).astype(str),
        )
    return dict(tables=tables, series=series, units=units)


# ---------------------------------------------------------------------------------------------------- checking
def _eq(actual, wanted, what: str) -> None:
    actual, wanted = np.asarray(actual), np.asarray(wanted)
    if wanted.dtype.kind in "OUS":
        actual, wanted = actual.astype(str), wanted.astype(str)
    assert actual.shape == wanted.shape, f"{what}: shape {actual.shape} != {wanted.shape}"
    np.testing.assert_array_equal(actual, wanted, err_msg=what)


def _text(values) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()], dtype=str)


def check_file(path, case: FuzzCase) -> None:
    """Read ``path`` back with ``open_report`` and with pynwb; everything must equal :func:`expected`."""
    exp = expected(case)
    check_with_reader(path, case, exp)
    check_with_pynwb(path, case, exp)


def check_with_reader(path, case: FuzzCase, exp: dict) -> None:
    with open_report(path) as r:
        assert sorted(r.series_names) == sorted(exp["series"]), r.series_names
        for s in case.series:
            t = exp["tables"][case.tables[s.table].name]
            sr = r[s.name]
            want = exp["series"][s.name]
            assert sr.shape == want.shape and sr.dtype == np.dtype(s.dtype), (s.name, sr.shape, sr.dtype)
            assert sr.n_steps_written == s.n_steps
            _eq(sr.read(0, s.n_steps), want, f"{s.name}: read")
            _eq(sr.node_ids, t["node_id"], f"{s.name}: node_ids")
            _eq(sr.cell_ids, t["cell_id"], f"{s.name}: cell_ids")
            if t["population"] is None:
                assert sr.population is None
                pops = ["default"]
            else:
                _eq(sr.population, t["population"], f"{s.name}: population")
                pops = sorted(set(t["population"]))
            assert sr.populations == pops, (sr.populations, pops)
            np.testing.assert_allclose(sr.times, case.tstart_ms / 1000 + np.arange(s.n_steps) * case.dt_ms / 1000)
            whole = sr.get(scaled=False)
            _eq(whole.data, want, f"{s.name}: get()")
            _eq(whole.node_ids, np.repeat(t["node_id"], t["counts"]), f"{s.name}: get() node_ids")
            for p in pops if t["node_id"].size else []:
                in_p = np.ones(t["node_id"].size, bool) if t["population"] is None else t["population"] == p
                _check_selection(sr, s.name, t, want, p, np.flatnonzero(in_p))
                rev = np.flatnonzero(in_p)[::-1]  # node ids asked in another order: columns follow it
                _check_selection(sr, s.name, t, want, p, rev, node_ids=t["node_id"][rev])
            scaled = sr.get()
            np.testing.assert_allclose(scaled.data, want * sr.conversion, rtol=1e-6)
            # a time window given by sample times (both ends inclusive), and an empty cell selection
            i0, i1 = s.n_steps // 3, max(s.n_steps // 3 + 1, 2 * s.n_steps // 3)
            window = sr.get(tstart=sr.times[i0], tstop=sr.times[i1 - 1], scaled=False)
            _eq(window.data, want[i0:i1], f"{s.name}: get(tstart, tstop) samples {i0}..{i1 - 1}")
            _eq(window.times, sr.times[i0:i1], f"{s.name}: get(tstart, tstop) times")
            none = sr.get(population=pops[0], node_ids=[], scaled=False) if t["node_id"].size else whole
            assert none.data.shape == (s.n_steps, 0) or not t["node_id"].size
        units = exp["units"]
        sf = r.spikes()
        if units is None:
            assert r.units is None and sf.times.size == 0
            return
        counts = np.diff(np.concatenate([[0], units["spike_times_index"]]))
        _eq(sf.times, units["spike_times"], "spikes(): times")
        _eq(sf.node_ids, np.repeat(units["node_id"], counts), "spikes(): node_ids")
        _eq(sf.cell_ids, np.repeat(units["cell_id"], counts), "spikes(): cell_ids")
        if units["population"] is not None:
            _eq(sf.population, np.repeat(units["population"], counts), "spikes(): population")
            for p in sorted(set(units["population"])):
                in_p = units["population"] == p
                sp = r.spikes(population=p)
                _eq(sp.times, units["spike_times"][np.repeat(in_p, counts)], f"spikes({p}): times")
                _eq(sp.node_ids, np.repeat(units["node_id"][in_p], counts[in_p]), f"spikes({p}): node_ids")
                rev = np.flatnonzero(in_p)[::-1]  # by node ids, in another order: spikes follow that order
                sp = r.spikes(population=p, node_ids=units["node_id"][rev])
                starts = np.concatenate([[0], units["spike_times_index"]])
                want_t = np.concatenate([units["spike_times"][starts[i] : starts[i + 1]] for i in rev])
                _eq(sp.times, want_t, f"spikes({p}, node_ids): times")
                _eq(sp.cell_ids, np.repeat(units["cell_id"][rev], counts[rev]), f"spikes({p}, node_ids): cell_ids")
        else:
            assert sf.population is None


def _check_selection(sr, name: str, t: dict, want: np.ndarray, pop: str, rows: np.ndarray, node_ids=None) -> None:
    fr = sr.get(population=pop, node_ids=node_ids, scaled=False)
    cols = _cols(t, rows)
    what = f"{name}.get(population={pop!r}, node_ids={node_ids})"
    _eq(fr.data, want[:, cols], f"{what}: data")
    _eq(fr.node_ids, np.repeat(t["node_id"][rows], t["counts"][rows]), f"{what}: node_ids")
    _eq(fr.cell_ids, np.repeat(t["cell_id"][rows], t["counts"][rows]), f"{what}: cell_ids")
    _eq(fr.number, t["number"][cols], f"{what}: number")
    _eq(fr.position, t["position"][cols], f"{what}: position")
    if t["label"] is not None:
        _eq(fr.label, t["label"][cols], f"{what}: label")
    if t["population"] is not None:
        _eq(fr.population, np.repeat(t["population"][rows], t["counts"][rows]), f"{what}: population")
    _eq(fr.columns["cell_type"], np.repeat(t["cell_type"][rows], t["counts"][rows]), f"{what}: cell_type")
    ids, n = np.unique(t["node_id"], return_counts=True)
    alone = rows[n[np.searchsorted(ids, t["node_id"][rows])] == 1] if rows.size else rows
    if node_ids is not None and alone.size:  # node ids in one population only: no population= needed
        fr = sr.get(node_ids=t["node_id"][alone], scaled=False)
        _eq(fr.data, want[:, _cols(t, alone)], f"{name}.get(node_ids={t['node_id'][alone]}): data")


def _cols(t: dict, rows: np.ndarray) -> np.ndarray:
    """Data columns (file order) of table rows ``rows``, row after row."""
    off = np.concatenate([[0], np.cumsum(t["counts"])])
    return np.concatenate([np.arange(off[i], off[i + 1]) for i in rows] + [np.zeros(0, np.int64)]).astype(np.int64)


def check_with_pynwb(path, case: FuzzCase, exp: dict) -> None:
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        for name, t in exp["tables"].items():
            table = nwb.acquisition[name]
            _eq(table.id.data[:], t["cell_id"], f"pynwb {name}.id")
            _eq(table["node_id"].data[:], t["node_id"], f"pynwb {name}.node_id")
            if t["population"] is not None:
                _eq(_text(table["population"].data[:]), t["population"], f"pynwb {name}.population")
            else:
                assert "population" not in table.colnames
            _eq(_text(table["cell_type"].data[:]), t["cell_type"], f"pynwb {name}.cell_type")
            _eq(table["number_index"].data[:].astype(np.int64), t["number_index"], f"pynwb {name}.number_index")
            _eq(table["number"].target.data[:], t["number"], f"pynwb {name}.number")
            _eq(table["position"].target.data[:], t["position"], f"pynwb {name}.position")
            if t["label"] is not None:
                _eq(_text(table["label"].target.data[:]), t["label"], f"pynwb {name}.label")
            else:
                assert "label" not in table.colnames
        for s in case.series:
            ts = nwb.acquisition[s.name]
            _eq(ts.data[:], exp["series"][s.name], f"pynwb {s.name}.data")
            assert ts.data.dtype == np.dtype(s.dtype)
            assert ts.compartments is nwb.acquisition[case.tables[s.table].name]
            assert ts.starting_time == case.tstart_ms / 1000 and ts.rate == 1000 / case.dt_ms
        units = exp["units"]
        if units is None:
            assert nwb.units is None
            return
        _eq(nwb.units.id.data[:], units["cell_id"], "pynwb units.id")
        _eq(nwb.units["node_id"].data[:], units["node_id"], "pynwb units.node_id")
        _eq(nwb.units["spike_times"].target.data[:], units["spike_times"], "pynwb units.spike_times")
        _eq(nwb.units["spike_times_index"].data[:].astype(np.int64), units["spike_times_index"], "pynwb index")
        if units["population"] is not None:
            _eq(_text(nwb.units["population"].data[:]), units["population"], "pynwb units.population")
        if units["cell_type"] is not None:
            _eq(_text(nwb.units["cell_type"].data[:]), units["cell_type"], "pynwb units.cell_type")


def datasets(path) -> dict[str, np.ndarray]:
    """Every dataset of a file (by path), but those that differ between two writes of the same data."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[-1] not in VOLATILE:
            out[name] = obj[()]

    with h5py.File(path) as f:
        f.visititems(visit)
    return out


def assert_same_datasets(a_path, b_path) -> None:
    a, b = datasets(a_path), datasets(b_path)
    assert sorted(a) == sorted(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype and x.shape == y.shape, (name, x.dtype, y.dtype, x.shape, y.shape)
        np.testing.assert_array_equal(x, y, err_msg=name)
