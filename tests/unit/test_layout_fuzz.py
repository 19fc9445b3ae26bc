"""Layout fuzzing (issue 7, section 4): random ragged layouts, block sizes and rank splits round-trip exactly.

Ranks are threads with an in-process communicator (tests/threadcomm.py) running the real writer with the gather
sink; the case model, the per-rank write and the read-back checks (``open_report`` and plain pynwb) are in
tests/layout_cases.py, shared with the ``mpiexec`` cases of tests/mpi/test_layout_fuzz_mpi.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import event, given, note
from pynwb import NWBHDF5IO, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from tests.layout_cases import assert_same_datasets, check_file, expected, make_case, write_part
from tests.strategies import layout_fuzz_cases
from tests.threadcomm import CollectiveDeadlock, CollectiveMismatch, CollectiveTimeout, ThreadComm


def write(case, path, *, serial=False):
    """Write ``case`` on its simulated ranks (on one rank, ``comm=None``, when it has one or with ``serial``)."""
    if serial or case.n_ranks == 1:
        write_part(case, path)
    else:
        kinds = ThreadComm.run(case.n_ranks, lambda comm: write_part(case, path, comm, sink="gather"))
        assert kinds == ["gather"] * case.n_ranks
    return path


def _events(case) -> None:
    note(case.describe())
    event(f"ranks={case.n_ranks}")
    if not case.tables:
        event("spikes-only file")
    for t in case.tables:
        if t.rows.size == 0:
            event("table without cells")
        elif t.n_compartments == 0:
            event("table without compartments")
        if (t.counts == 500).any():
            event("cell with 500 compartments")
    if case.n_ranks > 1 and len(set(case.owner.tolist())) < case.n_ranks:
        event("some rank owns no cell")
    if case.spike_cells is None:
        event("no add_spikes")
    if any(n == 1 for _, _, n in case.schedule):
        event("1-step block")
    if case.cell_order == "node_id":
        event("cell_order=node_id")
    if case.as_layout:
        event("CompartmentLayout given")


@given(case=layout_fuzz_cases())
def test_random_layouts_and_rank_splits_roundtrip(tmp_path_factory, case):
    _events(case)
    tmp = tmp_path_factory.mktemp("fuzz")
    split = write(case, tmp / "split.nwb")
    check_file(split, case)
    if case.n_ranks > 1:
        assert_same_datasets(write(case, tmp / "one.nwb", serial=True), split)


def _case(**overrides):
    base = dict(
        pop=["b", "a", "b", "a", "c"],
        node=[3, 3, 0, 7, 1],
        with_population=True,
        owner=[0, 1, 2, 0, 1],
        n_ranks=3,
        tables=[([0, 1, 2, 3, 4], [2, 0, 1, 3, 1]), ([4, 0], [1, 1])],
        n_steps=[5, 3, 4],
        blocks=[[1, 4], [3], [2, 1, 1]],
        order=[0, 2, 1, 2, 0, 2],
        spike_cells=[0, 4, 4, 1],
        units=None,
        labels=True,
        as_layout=False,
        block_steps=None,
        seed=7,
    )
    return make_case(**{**base, **overrides})


EDGE_CASES = {
    "no-cells-anywhere": dict(tables=[([], []), ([], [])], spike_cells=None),
    "cells-without-compartments": dict(tables=[([0, 1, 2, 3, 4], [0] * 5), ([1], [0])]),
    "one-big-cell-on-the-last-rank": dict(
        owner=[0, 0, 2, 0, 0], tables=[([2], [500]), ([2, 0], [1, 0])], spike_cells=[2, 2]
    ),
    "all-cells-on-one-rank": dict(owner=[1] * 5, n_ranks=4, units=[0, 1, 2, 3, 4]),
    "spikes-only": dict(tables=[], n_steps=[], blocks=[], order=[], spike_cells=[0, 4, 4, 1, 3]),
    "spikes-only-explicit-units": dict(tables=[], n_steps=[], blocks=[], order=[], units=[0, 1, 2, 3, 4]),
    "spikes-only-without-populations": dict(
        pop=["x"] * 5, node=[9, 3, 0, 7, 1], with_population=False, tables=[], n_steps=[], blocks=[], order=[]
    ),
    "no-spikes-no-populations": dict(
        pop=["x"] * 5, node=[9, 3, 0, 7, 1], with_population=False, spike_cells=None, as_layout=True
    ),
    "empty-spike-list": dict(spike_cells=[]),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_layouts_roundtrip_and_validate(tmp_path, name):
    case = _case(**EDGE_CASES[name])
    path = write(case, tmp_path / "split.nwb")
    check_file(path, case)
    with NWBHDF5IO(str(path), "r") as io:
        assert validate(io=io) == []
    assert_same_datasets(write(case, tmp_path / "one.nwb", serial=True), path)


def test_edge_cases_cover_what_they_claim():
    exp = expected(_case(**EDGE_CASES["no-cells-anywhere"]))
    assert all(t["node_id"].size == 0 for t in exp["tables"].values()) and exp["units"] is None
    exp = expected(_case(**EDGE_CASES["spikes-only"]))
    assert exp["tables"] == {} and exp["series"] == {} and exp["units"]["spike_times"].size == 5
    # cortex-like overlap: node 3 is in populations a and b; rows ordered (population, node id)
    exp = expected(_case())
    t = exp["tables"]["compartments"]
    assert list(zip(t["population"], t["node_id"].tolist())) == [("a", 3), ("a", 7), ("b", 0), ("b", 3), ("c", 1)]
    np.testing.assert_array_equal(t["cell_id"], [3, 7, 8, 11, 13])  # offsets a 0, b 8, c 12


# ------------------------------------------------------------------------------------------ found by fuzzing, fixed
def test_spike_populations_survive_a_rank_without_spikes(tmp_path):
    path = tmp_path / "s.nwb"

    def fn(comm):
        ids = [[], [1]][comm.Get_rank()]
        comps = build_compartments(node_ids=ids, counts=[1] * len(ids), number=[0] * len(ids), population="cortex")
        with CompartmentSeriesWriter(path, compartments=comps, n_steps=1, dt_ms=1.0, comm=comm, sink="gather") as w:
            w.write_block(0, np.zeros((1, len(ids))))
            if comm.Get_rank() == 0:  # no spikes here: no population to give
                w.add_spikes(node_ids=[], times_ms=[])
            else:
                w.add_spikes(node_ids=[1], times_ms=[1.0], population=["cortex"])

    try:
        ThreadComm.run(2, fn)
    except ValueError as exc:  # a clear error naming the mismatch would do as well
        assert "population" in str(exc)
        return
    with open_report(path) as r:
        spikes = r.spikes()
        assert spikes.population is not None and list(spikes.population) == ["cortex"]  # is None: dropped
        np.testing.assert_array_equal(spikes.cell_ids, r["v"].cell_ids)  # [3] (fresh "default" id) vs [1]


@pytest.mark.parametrize("rank_with_units", [1, 0])
def test_units_rows_survive_a_rank_without_units(tmp_path, rank_with_units):
    path = tmp_path / "u.nwb"

    def fn(comm):
        r = comm.Get_rank()
        comps = build_compartments(node_ids=[r + 1], counts=[1], number=[0])
        with CompartmentSeriesWriter(path, compartments=comps, n_steps=1, dt_ms=1.0, comm=comm, sink="gather") as w:
            w.write_block(0, np.zeros((1, 1)))
            if r == rank_with_units:
                w.add_spikes(
                    node_ids=[1], times_ms=[1.0], units_node_ids=[1, 2], unit_columns={"cell_type": ["a", "b"]}
                )
            else:
                w.add_spikes(node_ids=[], times_ms=[])

    try:
        ThreadComm.run(2, fn)
    except ValueError as exc:  # a clear error naming the mismatch would do as well
        assert "units_node_ids" in str(exc)
        return
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        np.testing.assert_array_equal(units.id.data[:], [1, 2])  # [1]: unit 2 (no spikes) dropped
        assert list(units["cell_type"].data[:]) == ["a", "b"]


def test_integer_extra_columns_keep_their_dtype_on_any_split(tmp_path):
    def fn(comm, path):
        ids = [1, 2] if comm is None else [[], [1, 2]][comm.Get_rank()]
        comps = build_compartments(
            node_ids=ids,
            counts=[1] * len(ids),
            number=[0] * len(ids),
            cell_columns={"layer": [4 + i for i in ids]},  # a rank without cells passes []
            compartment_columns={"gid": [7 * i for i in ids]},
        )
        meta = {"identifier": "int-columns", "session_start_time": "2020-01-01T00:00:00+00:00"}
        with CompartmentSeriesWriter(
            path, compartments=comps, n_steps=1, dt_ms=1.0, comm=comm, sink="gather", nwb_metadata=meta
        ) as w:
            w.write_block(0, np.zeros((1, len(ids))))

    fn(None, tmp_path / "one.nwb")
    ThreadComm.run(2, lambda comm: fn(comm, tmp_path / "two.nwb"))
    assert_same_datasets(tmp_path / "one.nwb", tmp_path / "two.nwb")  # layer, gid: int64 vs float64


# ---------------------------------------------------------------------------------------------------- ThreadComm
def test_threadcomm_collectives():
    def fn(comm):
        r, n = comm.Get_rank(), comm.Get_size()
        out = {
            "allgather": comm.allgather(r * 10),
            "gather": comm.gather({"r": r}, root=1),
            "bcast": comm.bcast([r] if r == 2 else None, root=2),
            "scatter": comm.scatter([f"to{i}" for i in range(n)] if r == 0 else None, root=0),
            "alltoall": comm.alltoall([(r, i) for i in range(n)]),
        }
        comm.Barrier()
        send = np.full(r, r, dtype=np.float32)  # rank r sends r values
        if r == 0:
            counts = np.arange(n)
            displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
            buf = np.zeros(int(counts.sum()), np.float32)
            from mpi4py import MPI

            comm.Gatherv(send, [buf, counts, displs, MPI.FLOAT], root=0)
            out["Gatherv"] = buf
        else:
            comm.Gatherv(send, None, root=0)
        return out

    res = ThreadComm.run(3, fn)
    assert [r["allgather"] for r in res] == [[0, 10, 20]] * 3
    assert res[1]["gather"] == [{"r": 0}, {"r": 1}, {"r": 2}] and res[0]["gather"] is None
    assert [r["bcast"] for r in res] == [[2]] * 3
    assert [r["scatter"] for r in res] == ["to0", "to1", "to2"]
    assert res[1]["alltoall"] == [(0, 1), (1, 1), (2, 1)]
    np.testing.assert_array_equal(res[0]["Gatherv"], [1, 2, 2])


def test_threadcomm_objects_are_copies():
    shared = [1]

    def fn(comm):
        got = comm.bcast(shared, root=0)
        return got is shared

    assert ThreadComm.run(2, fn) == [False, False]


def test_threadcomm_skipped_collective_fails_fast():
    def fn(comm):
        if comm.Get_rank() == 0:
            comm.allgather(0)

    t0 = time.monotonic()
    with pytest.raises(CollectiveDeadlock, match="rank 0 waits in allgather"):
        ThreadComm.run(2, fn)
    assert time.monotonic() - t0 < 5


def test_threadcomm_mismatched_collectives_fail():
    def fn(comm):
        return comm.bcast(1) if comm.Get_rank() == 0 else comm.gather(1)

    with pytest.raises(CollectiveMismatch, match="rank 0 bcast.*rank 1 gather"):
        ThreadComm.run(2, fn)


def test_threadcomm_waits_time_out():
    def fn(comm):
        if comm.Get_rank() == 1:
            time.sleep(1.0)
        comm.Barrier()

    with pytest.raises(CollectiveTimeout, match="rank 0 waited 0.2 s in Barrier"):
        ThreadComm.run(2, fn, timeout=0.2)


def test_threadcomm_reraises_the_rank_error_not_the_follow_ups():
    def fn(comm):
        if comm.Get_rank() == 2:
            raise KeyError("boom")
        comm.Barrier()

    with pytest.raises(KeyError, match="boom") as info:
        ThreadComm.run(3, fn)
    assert "simulated rank 2 of 3" in "".join(info.value.__notes__)


def test_threadcomm_gatherv_checks_counts():
    from mpi4py import MPI

    def fn(comm):
        send = np.zeros(2, np.float64)
        spec = [np.zeros(3), [1, 2], [0, 1], MPI.DOUBLE] if comm.Get_rank() == 0 else None
        comm.Gatherv(send, spec, root=0)

    with pytest.raises(ValueError, match="rank 0 sends 2 items but root expects 1"):
        ThreadComm.run(2, fn)
