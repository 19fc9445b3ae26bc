"""Populations and ids: unique table ids, simulator addresses kept, selection by address (docs/file_layout.md)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynwb import NWBHDF5IO, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.nwb.ids import derive_cell_ids, extend_offsets, population_offsets
from simout_plugins.read.tables import TableError

# two populations whose node ids overlap, given interleaved as ranks / simulators deal them
TWO_POPS = dict(
    node_ids=[0, 0, 1, 2, 1, 3],
    population=["thalamus", "cortex", "cortex", "cortex", "thalamus", "cortex"],
    counts=[1, 2, 0, 3, 2, 1],
)


def _write_two_pops(path, *, spikes=True, cell_ids=None, metadata=None):
    n_comp = sum(TWO_POPS["counts"])
    comps = build_compartments(
        node_ids=TWO_POPS["node_ids"],
        counts=TWO_POPS["counts"],
        number=np.arange(n_comp),
        position=np.linspace(0, 1, n_comp),
        label=[f"sec{i}" for i in range(n_comp)],
        population=TWO_POPS["population"],
        cell_ids=cell_ids,
    )
    block = np.arange(12 * n_comp, dtype=np.float64).reshape(12, n_comp)
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=12, dt_ms=0.5, nwb_metadata=metadata) as w:
        w.write_block(0, block)
        if spikes:
            w.add_spikes(
                node_ids=[1, 1, 0, 3],
                times_ms=[3.0, 1.0, 2.0, 0.5],
                population=["cortex", "thalamus", "cortex", "cortex"],
                units_node_ids=TWO_POPS["node_ids"],
                units_population=TWO_POPS["population"],
                resolution_ms=0.5,
            )
    return block


def test_ids_are_unique_and_addresses_kept(nwb_path):
    _write_two_pops(nwb_path)
    with h5py.File(nwb_path) as f:
        table = f["acquisition/compartments"]
        # file order: (population, node_id); cortex node ids 0..3 -> ids 0..3, thalamus offset 4
        assert [p.decode() if isinstance(p, bytes) else p for p in table["population"][()]] == ["cortex"] * 4 + [
            "thalamus"
        ] * 2
        np.testing.assert_array_equal(table["node_id"][()], [0, 1, 2, 3, 0, 1])
        np.testing.assert_array_equal(table["id"][()], [0, 1, 2, 3, 4, 5])
        np.testing.assert_array_equal(f["units/id"][()], table["id"][()])  # same cell, same id in every table
        np.testing.assert_array_equal(f["units/node_id"][()], table["node_id"][()])
    with NWBHDF5IO(str(nwb_path), "r") as io:
        assert validate(io=io) == []
        nwb = io.read()
        units = nwb.units.to_dataframe()
        assert list(units["population"]) == ["cortex"] * 4 + ["thalamus"] * 2


def test_nwbinspector_finds_no_duplicate_ids(nwb_path):
    from nwbinspector import Importance, inspect_nwbfile

    meta = {
        "subject": {"subject_id": "sim-1", "species": "Mus musculus", "age": "P90D", "sex": "U"},
        "experimenter": ["Doe, Jane"],
        "institution": "Lab",
        "keywords": ["simulation"],
    }
    _write_two_pops(nwb_path, metadata=meta)
    issues = list(inspect_nwbfile(nwbfile_path=nwb_path, importance_threshold=Importance.BEST_PRACTICE_VIOLATION))
    assert [i for i in issues if i.check_function_name == "check_ids_unique"] == []
    assert issues == []


def test_select_by_population_and_node_id(nwb_path):
    block = _write_two_pops(nwb_path)
    # columns of each cell in the block (given order): cell k owns cumsum(counts) runs
    offsets = np.concatenate([[0], np.cumsum(TWO_POPS["counts"])])
    given_cols = {
        (p, n): np.arange(offsets[k], offsets[k + 1])
        for k, (p, n) in enumerate(zip(TWO_POPS["population"], TWO_POPS["node_ids"]))
    }
    with open_report(nwb_path) as r:
        s = r["v"]
        assert s.populations == ["cortex", "thalamus"]
        frame = s.get(population="thalamus", node_ids=[1, 0], scaled=False)
        expected = np.concatenate([given_cols[("thalamus", 1)], given_cols[("thalamus", 0)]])
        np.testing.assert_array_equal(frame.data, block[:, expected])
        np.testing.assert_array_equal(frame.number, expected)  # number was the given column index
        assert list(frame.population) == ["thalamus"] * expected.size
        np.testing.assert_array_equal(frame.node_ids, [1, 1, 0])
        np.testing.assert_array_equal(frame.cell_ids, [5, 5, 4])
        whole = s.get(population="cortex", scaled=False)
        exp = np.concatenate([given_cols[("cortex", n)] for n in (0, 1, 2, 3)])
        np.testing.assert_array_equal(whole.data, block[:, exp])
        np.testing.assert_array_equal(whole.label, [f"sec{i}" for i in exp])
        # node 3 exists only in cortex: unambiguous without population
        np.testing.assert_array_equal(s.get(node_ids=[3], scaled=False).data, block[:, given_cols[("cortex", 3)]])
        with pytest.raises(TableError, match="several populations"):
            s.get(node_ids=[1])
        with pytest.raises(TableError, match="population 'hippocampus' is not in"):
            s.get(population="hippocampus")
        with pytest.raises(TableError, match="node_ids \\[7\\] are not in population 'cortex'"):
            s.get(population="cortex", node_ids=[7])
        spikes = r.spikes(population="cortex")
        np.testing.assert_array_equal(spikes.node_ids, [0, 1, 3])
        np.testing.assert_allclose(spikes.times, [0.002, 0.003, 0.0005])
        np.testing.assert_array_equal(r.spikes(population="thalamus", node_ids=[1]).times, [0.001])
        assert r.spikes().times.size == 4


def test_explicit_cell_ids_are_the_table_ids(nwb_path):
    gids = [100, 7, 8, 9, 101, 10]
    _write_two_pops(nwb_path, spikes=False, cell_ids=gids)
    with open_report(nwb_path) as r:
        np.testing.assert_array_equal(r["v"].cell_ids, [7, 8, 9, 10, 100, 101])
        np.testing.assert_array_equal(r["v"].node_ids, [0, 1, 2, 3, 0, 1])
    with pytest.raises(ValueError, match="duplicate cell_ids \\[7\\]"):
        build_compartments(node_ids=[0, 1], counts=[1, 1], number=[0, 0], cell_ids=[7, 7])


def test_cells_without_population_get_default(nwb_path):
    comps = build_compartments(node_ids=[3, 1], counts=[1, 1], number=[0, 0])
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0) as w:
        w.write_block(0, np.array([[3.0, 1.0]]))
        w.add_spikes(node_ids=[3], times_ms=[0.5])
    with open_report(nwb_path) as r:
        assert r["v"].populations == ["default"]
        np.testing.assert_array_equal(r["v"].cell_ids, [1, 3])
        np.testing.assert_array_equal(r.spikes(population="default").node_ids, [3])
        np.testing.assert_array_equal(r.spikes().cell_ids, [3])


def test_units_of_cells_outside_the_tables_get_fresh_ids(nwb_path):
    comps = build_compartments(node_ids=[0, 1], counts=[1, 1], number=[0, 0], population="a")
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0) as w:
        w.write_block(0, np.zeros((1, 2)))
        w.add_spikes(node_ids=[0, 0], times_ms=[1.0, 2.0], population=["a", "b"])
    with h5py.File(nwb_path) as f:
        np.testing.assert_array_equal(f["units/id"][()], [0, 2])  # b starts after a's ids 0..1
    comps = build_compartments(node_ids=[0], counts=[1], number=[0], population=["a", "b"][:1])
    comps2 = build_compartments(node_ids=[0], counts=[1], number=[0], population="b", name="other")
    with pytest.raises(ValueError, match="beyond the ids reserved"):
        with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0) as w:
            w.add_series(name="w", unit="mV", compartments=comps2)
            w.write_block(0, np.zeros((1, 1)))
            w.write_block(0, np.zeros((1, 1)), series="w")
            w.add_spikes(node_ids=[5], times_ms=[1.0], population=["a"])


def test_reads_files_written_before_node_id_column(tmp_path):
    """0.3.0 files so far: id = node id, population column, no node_id column, no row-order attribute."""
    path = tmp_path / "old.nwb"
    _write_two_pops(path, spikes=False, cell_ids=None)
    with h5py.File(path, "r+") as f:
        table = f["acquisition/compartments"]
        del table["node_id"]
        del table.attrs["simout_row_order"]
        table.attrs["colnames"] = [c for c in table.attrs["colnames"] if c != "node_id"]
        table["id"][...] = [0, 1, 2, 3, 0, 1]
    with open_report(path) as r:
        s = r["v"]
        assert s.populations == ["cortex", "thalamus"]
        np.testing.assert_array_equal(s.get(population="thalamus", node_ids=[1]).node_ids, [1, 1])


@st.composite
def _multi_population_layouts(draw):
    n_pops = draw(st.integers(1, 3))
    names = [f"p{i}" for i in range(n_pops)]
    cells = []
    for name in names:
        ids = draw(st.lists(st.integers(0, 20), min_size=0, max_size=6, unique=True))
        cells += [(name, i) for i in ids]
    cells = draw(st.permutations(cells))
    counts = [draw(st.integers(0, 3)) for _ in cells]
    return cells, counts


@given(layout=_multi_population_layouts(), n_sel=st.integers(0, 4), data=st.data())
def test_selection_roundtrip_any_populations(tmp_path_factory, layout, n_sel, data):
    cells, counts = layout
    if not cells:
        return
    path = tmp_path_factory.mktemp("pops") / "p.nwb"
    n_comp = sum(counts)
    comps = build_compartments(
        node_ids=[c[1] for c in cells], population=[c[0] for c in cells], counts=counts, number=np.arange(n_comp)
    )
    block = np.random.default_rng(1).normal(size=(3, n_comp))
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=3, dt_ms=1.0, dtype="float64") as w:
        w.write_block(0, block)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    pop = data.draw(st.sampled_from(sorted({c[0] for c in cells})))
    members = [c[1] for c in cells if c[0] == pop]
    chosen = data.draw(st.lists(st.sampled_from(members), max_size=n_sel, unique=True)) if members else []
    with open_report(path) as r:
        frame = r["v"].get(population=pop, node_ids=chosen or None, scaled=False)
    want = chosen or sorted(members)
    cols = np.concatenate([np.arange(offsets[cells.index((pop, n))], offsets[cells.index((pop, n)) + 1]) for n in want])
    np.testing.assert_array_equal(frame.data, block[:, cols])
    np.testing.assert_array_equal(frame.number, cols)
    ids = derive_cell_ids(population=[c[0] for c in cells], node_ids=[c[1] for c in cells])
    assert len(set(ids.tolist())) == len(cells)


def test_offsets_follow_bmtk_gid_arithmetic():
    offsets = population_offsets(population=["b", "a", "a"], node_ids=[2, 0, 4])
    assert offsets == {"a": 0, "b": 5}
    assert derive_cell_ids(population=["b", "a"], node_ids=[2, 4], offsets=offsets).tolist() == [7, 4]
    assert extend_offsets(offsets, end=8, population=["c", "b"], node_ids=[1, 2]) == {"a": 0, "b": 5, "c": 8}
    with pytest.raises(ValueError, match="node id 5 of population 'a'"):
        extend_offsets(offsets, end=8, population=["a"], node_ids=[5])


def test_spikes_only_file(nwb_path):
    with CompartmentSeriesWriter(nwb_path, compartments=None) as w:
        w.add_spikes(node_ids=[2, 0, 2], times_ms=[5.0, 1.0, 3.0], population=["b", "a", "b"], resolution_ms=0.025)
        with pytest.raises(ValueError, match="no series"):
            w.write_block(0, np.zeros((1, 1)))
    with NWBHDF5IO(str(nwb_path), "r") as io:
        assert validate(io=io) == []
        units = io.read().units
        assert units.resolution == 0.025e-3
        np.testing.assert_array_equal(units.id[:], [0, 3])  # a: node 0 -> 0; b: offset 1, node 2 -> 3
    with open_report(nwb_path) as r:
        assert r.series_names == []
        np.testing.assert_allclose(r.spikes(population="b").times, [0.003, 0.005])


def test_tables_of_discarded_containers_are_not_confused(nwb_path):
    """Series given tables built on the fly: a freed container's id() must not map a later table onto it."""
    import gc

    with CompartmentSeriesWriter(nwb_path, compartments=None) as w:
        for k in range(20):
            w.add_series(
                name=f"s{k}",
                unit="mV",
                n_steps=1,
                dt_ms=1.0,
                compartments=build_compartments(node_ids=[k], counts=[1], number=[k], name=f"t{k}"),
            )
            gc.collect()
        for k in range(20):
            w.write_block(0, np.array([[float(k)]]), series=f"s{k}")
    with open_report(nwb_path) as r:
        for k in range(20):
            frame = r[f"s{k}"].get(scaled=False)
            assert frame.node_ids.tolist() == [k] and frame.number.tolist() == [k] and frame.data[0, 0] == k
