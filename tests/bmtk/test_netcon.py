"""``nwb_netcon_report``: synaptic variables per synapse hold what BMTK's native ``netcon_report`` holds (cells,
element ids, positions, values), on 1 rank and on 2 ranks (``mpiexec -n 2 python -m bmtk_module run``); the
per-synapse columns name the synapse type and the presynaptic node as BMTK's edges do; the files pass pynwb's
validator and nwbinspector; a bad ``syn_type`` / variable stops the run with one config error before it starts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

from .conftest import run_bmtk

pytestmark = [pytest.mark.simulator, pytest.mark.slow]


def netcon(variable, *, nwb_file=None, native_file=None, **extra) -> dict:
    if nwb_file is not None:
        return {"module": "nwb_netcon_report", "variable_name": variable, "cells": "all", "file_name": nwb_file,
                "syn_type": "Exp2Syn", "dtype": "float64", **extra}  # fmt: skip
    return {"module": "netcon_report", "variable_name": variable, "cells": "all", "file_name": native_file,
            "syn_type": "Exp2Syn", "sections": "all", **extra}  # fmt: skip


SIM_DT_MS = 0.1  # the example config's run dt
WINDOW = {"start_time": 20.0, "end_time": 60.0, "dt": 0.2}
NATIVE = {
    "native_g": netcon("g", native_file="native_g.h5"),
    "native_i": netcon("i", native_file="native_i.h5"),
    "native_win": netcon("g", native_file="native_win.h5", **WINDOW),
}
OURS = {
    "syn": netcon(["g", "i"], nwb_file="syn.nwb"),
    "syn_win": netcon("g", nwb_file="syn_win.nwb", **WINDOW),
}


def cortex_only(bmtk_network) -> dict:
    """The network without the thalamus population: BMTK 1.2's native netcon_report raises KeyError in its
    initialize (``_gid_lookup`` is keyed by ``node.gid`` without the population offsets) when a run has more than one
    population of built cells, so the native comparison runs on cortex + its virtual inputs."""
    net = bmtk_network.network
    nodes = [{"nodes_file": str(net / f"{p}_nodes.h5"), "node_types_file": str(net / f"{p}_node_types.csv")}
             for p in ("cortex", "inputs")]  # fmt: skip
    edges = [{"edges_file": str(net / f"{s}_{t}_edges.h5"), "edge_types_file": str(net / f"{s}_{t}_edge_types.csv")}
             for s, t in (("inputs", "cortex"), ("cortex", "cortex"))]  # fmt: skip
    return {"networks": {"nodes": nodes, "edges": edges}}


@pytest.fixture(scope="module")
def netcon_runs(bmtk_network):
    """Native + ours on 1 rank (cortex only), ours on 2 ranks (cortex only), ours on the whole network (1 rank)."""
    from tests.integration.test_dandi import METADATA

    one = bmtk_network.root / "netcon1"
    run_bmtk(bmtk_network.config(one, {**NATIVE, **OURS}, **cortex_only(bmtk_network)))
    two = None
    if (Path(sys.prefix) / "bin" / "mpiexec").exists() and importlib.util.find_spec("mpi4py") is not None:
        two = bmtk_network.root / "netcon2"
        run_bmtk(bmtk_network.config(two, OURS, **cortex_only(bmtk_network)), n_ranks=2)
    whole = bmtk_network.root / "netcon_whole"
    reports = {
        "syn": netcon(["g", "i"], nwb_file="syn.nwb", spikes=True, nwb_metadata=METADATA),
        "syn_dend": netcon("g", nwb_file="syn_dend.nwb", cells="exc", sections="dend"),
    }
    run_bmtk(bmtk_network.config(whole, reports))
    return {"one": one, "two": two, "whole": whole}


def assert_matches_native(nwb_path, native_path, series):
    with open_report(nwb_path) as r, h5py.File(native_path, "r") as nat:
        s = r[series]
        n_cols = 0
        assert sorted(nat["report"]) == sorted(set(s.get(scaled=False).columns["population"]))
        for pop in sorted(nat["report"]):
            g = nat["report"][pop]
            fr = s.get(population=pop, scaled=False)
            offsets = g["mapping/index_pointer"][()].astype(np.int64)
            np.testing.assert_array_equal(np.repeat(g["mapping/node_ids"][()], np.diff(offsets)), fr.node_ids)
            np.testing.assert_array_equal(fr.number, g["mapping/element_ids"][()])
            np.testing.assert_array_equal(fr.position, g["mapping/element_pos"][()])
            expected = g["data"][()]
            assert fr.data.shape == expected.shape
            np.testing.assert_array_equal(fr.data, expected)
            tstart, _, dt = g["mapping/time"][()]
            # sample 0 is taken one simulation step (0.1 ms) after the window start, as in the membrane report
            np.testing.assert_allclose(s.times[0] * 1000.0, tstart + SIM_DT_MS)
            np.testing.assert_allclose(np.diff(s.times[:2]) * 1000.0, dt)
            n_cols += fr.data.shape[1]
        assert n_cols == s.get(scaled=False).data.shape[1]


def test_values_equal_native_netcon_report(netcon_runs):
    one = netcon_runs["one"]
    assert_matches_native(one / "syn.nwb", one / "native_g.h5", "g")
    assert_matches_native(one / "syn.nwb", one / "native_i.h5", "i")
    assert_matches_native(one / "syn_win.nwb", one / "native_win.h5", "g")


@pytest.mark.mpi
def test_two_ranks_equal_native_and_one_rank(netcon_runs):
    one, two = netcon_runs["one"], netcon_runs["two"]
    if two is None:
        pytest.skip("mpiexec / mpi4py not found in this environment (pip install 'simout_plugins[mpi]')")
    assert_matches_native(two / "syn.nwb", one / "native_g.h5", "g")
    assert_matches_native(two / "syn.nwb", one / "native_i.h5", "i")
    assert_matches_native(two / "syn_win.nwb", one / "native_win.h5", "g")
    for name in ("syn.nwb", "syn_win.nwb"):
        with open_report(one / name) as a, open_report(two / name) as b:
            assert a.series_names == b.series_names
            for series in a.series_names:
                x, y = a[series].get(scaled=False), b[series].get(scaled=False)
                np.testing.assert_array_equal(x.data, y.data)
                np.testing.assert_array_equal(x.node_ids, y.node_ids)
                np.testing.assert_array_equal(x.number, y.number)
                np.testing.assert_array_equal(x.position, y.position)
                for col in ("population", "synapse_type", "source_population", "source_node_id"):
                    np.testing.assert_array_equal(x.columns[col], y.columns[col])


def test_synapse_columns_name_type_and_source(netcon_runs):
    with open_report(netcon_runs["whole"] / "syn.nwb") as r:
        assert r["g"].unit == "siemens" and r["g"].conversion == pytest.approx(1e-6)  # Exp2Syn g is in uS
        assert r["i"].unit == "amperes" and r["i"].conversion == pytest.approx(1e-9)  # Exp2Syn i is in nA
        fr = r["g"].get(scaled=False)
        assert set(fr.columns["synapse_type"]) == {"Exp2Syn"}
        # the example network's edges: inputs -> cortex, thalamus; thalamus -> cortex exc; cortex exc -> cortex
        assert set(fr.columns["source_population"]) == {"inputs", "thalamus", "cortex"}
        src = np.asarray(fr.columns["source_node_id"])
        pops = np.asarray(fr.columns["source_population"])
        assert (src >= 0).all() and (src[pops == "inputs"] < 30).all() and (src[pops == "thalamus"] < 4).all()
        assert (src[pops == "cortex"] < 8).all()  # only excitatory cortex cells (node ids 0..7) project
        thal = fr.columns["population"] == "thalamus"
        assert set(pops[thal]) == {"inputs"}
        assert all(lab.split("[")[0] in ("soma", "dend", "apic") for lab in fr.label)
        assert len(r.spikes().times) > 0


def test_sections_filter_keeps_only_those_synapses(netcon_runs):
    whole = netcon_runs["whole"]
    with open_report(whole / "syn_dend.nwb") as d, open_report(whole / "syn.nwb") as a:
        sub, full = d["g"].get(scaled=False), a["g"].get(population="cortex", node_ids=list(range(8)), scaled=False)
        keep = np.array([lab.startswith("dend") for lab in full.label])
        assert 0 < keep.sum() < keep.size
        np.testing.assert_array_equal(sub.number, full.number[keep])
        np.testing.assert_array_equal(sub.data, full.data[:, keep])


def test_reading_synapse_k_of_cell_n(netcon_runs):
    """The docs/bmtk.md recipe: our reader and plain pynwb give the same trace."""
    from pynwb import NWBHDF5IO

    import simout_plugins  # noqa: F401  (loads the ndx-simulation-output namespace for pynwb)

    path = netcon_runs["whole"] / "syn.nwb"
    with open_report(path) as r:
        fr = r["g"].get(population="cortex", node_ids=[3])
        k = 1
        ours, src = fr.data[:, k], (fr.columns["source_population"][k], fr.columns["source_node_id"][k])
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        series = nwb.acquisition["g"]
        table = series.compartments
        row = int(np.flatnonzero((table["population"].data[:] == "cortex") & (table["node_id"].data[:] == 3))[0])
        start = int(table["number"].data[row - 1]) if row else 0  # a ragged column is its index: row ends
        plain = series.data[:, start + k] * series.conversion
        assert (table["source_population"][row][k], int(table["source_node_id"][row][k])) == src
    np.testing.assert_array_equal(ours, plain)


def test_files_validate_and_pass_nwbinspector(netcon_runs):
    pytest.importorskip("nwbinspector")
    from pynwb import validate

    from tests.integration.test_dandi import assert_dandi_clean

    assert_dandi_clean(netcon_runs["whole"] / "syn.nwb", allow_wide_series=True)
    for path in (netcon_runs["whole"] / "syn_dend.nwb", netcon_runs["one"] / "syn_win.nwb"):
        assert not validate(path=str(path)), path


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (netcon("g", nwb_file="bad.nwb", syn_type="AlphaSynapse"), ["'bad'", "syn_type", "'AlphaSynapse'", "Exp2Syn"]),
        (netcon("gg", nwb_file="bad.nwb"), ["'bad'", "variable_name", "'gg'", "Exp2Syn"]),
        (netcon("g", nwb_file="bad.nwb", syn_type=3), ["'bad'", "syn_type", "3"]),
        (netcon("g", nwb_file="bad.nwb", sections="basal dend"), ["'bad'", "section", "basal dend"]),
    ],
    ids=["syn_type_no_cell_has", "unknown_variable", "syn_type_not_a_name", "unknown_section"],
)
def test_bad_entry_is_one_config_error(bmtk_network, entry, expected):
    out = bmtk_network.root / f"netcon_bad_{abs(hash(str(entry)))}"
    result = run_bmtk(bmtk_network.config(out, {"bad": entry}), check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    for text in expected:
        assert text in errors[0], errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert "Unrecognized module" not in result.stderr + result.stdout
    assert not list(out.glob("*.nwb"))
