"""netpyne_module: real NetPyNE runs (each in its own process) compared with NetPyNE's own gathered data."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import mpi_env, mpiexec

pytest.importorskip("netpyne")
pytest.importorskip("neuron")

from simout_plugins import open_report  # noqa: E402

DRIVER = Path(__file__).with_name("driver.py")
FILE = "tiny.nwb"  # default name: <saveFolder>/<simLabel or filename>.nwb


def run(tmp_path: Path, name: str, *, mpi: bool = False, check: bool = True, **params) -> tuple[dict | None, str]:
    """Run the driver in a fresh process; return (dumped NetPyNE data or None, stderr)."""
    folder = tmp_path / name
    params.setdefault("save_folder", str(folder))
    params.setdefault("dump", str(tmp_path / f"{name}.pkl"))
    params.setdefault("mpi", mpi)
    job = tmp_path / f"{name}.json"
    job.write_text(json.dumps(params))
    cmd = [*mpiexec(), sys.executable, str(DRIVER), str(job)] if mpi else [sys.executable, str(DRIVER), str(job)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300, cwd=tmp_path)
    if check:
        # stdout too: mpiexec reports a rank killed by a signal there ("BAD TERMINATION")
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-3000:]}\n{result.stdout[-1500:]}"
    dump = Path(params["dump"])
    data = pickle.loads(dump.read_bytes()) if result.returncode == 0 and dump.exists() else None
    return data, result.stderr


def assert_columns_match(path: Path, traces: dict, *, exact: bool) -> int:
    """Every NWB column equals sim.allSimData[trace_key]['cell_<gid>']; return the number of columns checked."""
    checked = 0
    with open_report(path) as r:
        for name in r.series_names:
            frame = r[name].get(scaled=False)
            for j, (gid, key) in enumerate(zip(frame.node_ids, frame.columns["trace_key"])):
                expected = np.asarray(traces[key][f"cell_{gid}"])
                assert expected.size == frame.data.shape[0], f"{name} {key} {gid}: every recorded sample"
                if exact:
                    np.testing.assert_array_equal(frame.data[:, j], expected, err_msg=f"{name} {key} {gid}")
                else:
                    np.testing.assert_allclose(frame.data[:, j], expected, rtol=1e-6, atol=1e-6 * 70)
                checked += 1
    return checked


def spikes_of(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open_report(path) as r:
        sp = r.spikes()
    order = np.lexsort((sp.node_ids, sp.times))
    return sp.times[order], sp.node_ids[order], sp.population[order]


def assert_spikes_match(path: Path, data: dict) -> None:
    times, ids, pops = spikes_of(path)
    ref = sorted(zip(data["spkt"], data["spkid"]))
    np.testing.assert_array_equal(times * 1000.0, np.array([t for t, _ in ref]))  # s in file, ms in NetPyNE
    np.testing.assert_array_equal(ids, np.array([int(g) for _, g in ref]))
    assert [data["tags"][g]["pop"] for g in ids] == list(pops)


@pytest.mark.simulator
def test_float64_every_column_exact_with_layout_units_and_provenance(tmp_path):
    data, stderr = run(tmp_path, "f64", save_nwb={"dtype": "float64", "gatherTraces": True})
    path = tmp_path / "f64" / FILE
    assert assert_columns_match(path, data["traces"], exact=True) == 40  # v: E 3 + I 1 per cell; hh_m 1; exc_g 1
    assert_spikes_match(path, data)
    # BAS cells have no dend: NetPyNE skips them silently, we list them once
    assert "V_dend: gids [5, 6, 7, 8, 9]" in stderr and "V_dend1: gids [5, 6, 7, 8, 9]" in stderr
    with open_report(path) as r:
        assert sorted(r.series_names) == ["exc_g", "hh_m", "v"]
        v = r["v"]
        assert (v.unit, v.conversion) == ("volts", 1e-3)
        assert (r["exc_g"].unit, r["exc_g"].conversion) == ("siemens", 1e-6)  # Exp2Syn.g is in uS
        np.testing.assert_allclose(v.times[:3], [0.0, 1e-4, 2e-4])
        recorded = len(data["traces"]["V_soma"]["cell_0"])
        assert v.n_steps_written == v.times.size == recorded  # every sample NEURON recorded
        assert recorded in (1000, 1001)  # t = 0 .. 100 ms; the last one depends on NEURON's rounding
        fr = v.get(node_ids=[0, 7])
        assert list(fr.node_ids) == [0, 0, 0, 7]
        assert list(fr.label) == ["soma", "dend", "dend", "soma"]
        assert list(fr.number) == [0, 1, 2, 0]  # dend nseg=3: loc 0.5 -> 1, loc 1 -> end node next to segment 2
        assert list(fr.position) == [0.5, 0.5, 1.0, 0.5]
        assert list(fr.columns["end_node"]) == [False, False, True, False]
        assert list(fr.columns["trace_key"]) == ["V_soma", "V_dend", "V_dend1", "V_soma"]
        assert list(fr.columns["population"]) == ["E", "E", "E", "I"]
        assert list(fr.columns["cell_type"]) == ["PYR", "PYR", "PYR", "BAS"]
        assert list(r["v"].node_ids) == list(range(10))  # rows = cells by gid
        config = json.loads(r.attrs["source_script"])  # provenance layout: simout_plugins.nwb.provenance
        assert config["simConfig"]["recordStep"] == 0.1
        assert "PYR" in config["netParams"]["cellParams"]
        assert json.loads(r.attrs["notes"])["simulator"] == "netpyne"
    with h5py.File(path) as f:
        assert f["acquisition/v/data"].dtype == np.float64
        assert f["acquisition/v/starting_time"][()] == 0.0
        assert f["acquisition/v/starting_time"].attrs["rate"] == pytest.approx(1e4)
        assert list(f["units/population"].asstr()[()]) == ["E"] * 5 + ["I"] * 5
    with h5py.File(path) as f:  # no partial file left beside the output
        assert not (tmp_path / "f64" / "tiny.partial.nwb").exists()


@pytest.mark.simulator
def test_float32_default_does_not_gather_traces_and_matches_plain_netpyne(tmp_path):
    """create/simulate/analyze sequence, default options; the interval run equals NetPyNE's plain run."""
    data, _ = run(tmp_path, "seq", mode="sequence", save_nwb=True)
    assert data["traces"] == {}, "traces must not be gathered to rank 0 by default"
    plain, _ = run(tmp_path, "plain", mode="plain", save_nwb=False)
    assert not (tmp_path / "plain" / FILE).exists()
    path = tmp_path / "seq" / FILE
    with h5py.File(path) as f:
        assert f["acquisition/v/data"].dtype == np.float32
    assert assert_columns_match(path, plain["traces"], exact=False) == 40
    assert_spikes_match(path, plain)


@pytest.mark.simulator
def test_subsets_record_step_odd_duration_and_filename(tmp_path):
    out = tmp_path / "custom" / "run.nwb"
    data, _ = run(
        tmp_path,
        "subset",
        mode="wrapper",
        duration_ms=60.3,  # NetPyNE's own interval loop never ends here (round(60.3) < 60.3)
        record_step_ms=0.25,
        record_cells=[["E", [0, 2]], 7],
        save_nwb={"filename": str(out), "traces": ["V_soma", "m_soma"], "intervalMs": 7.0, "dtype": "float64"},
    )
    assert not (tmp_path / "subset" / FILE).exists()
    assert set(data["traces"]) == {"V_dend", "V_dend1", "g_exc"}, "traces not written to NWB are still gathered"
    with open_report(out) as r:
        assert sorted(r.series_names) == ["hh_m", "v"]
        v = r["v"]
        assert list(v.node_ids) == [0, 2, 7]
        assert v.times.size == int(60.3 / 0.25) + 1 == v.n_steps_written
        assert v.times[1] == pytest.approx(0.25e-3)
        assert not np.isnan(v.get(scaled=False).data).any()
    assert spikes_of(out)[0].size == len(data["spkt"])


@pytest.mark.simulator
def test_trace_key_matching_no_cell_is_an_error_before_any_output(tmp_path):
    traces = {"V_soma": {"sec": "soma", "loc": 0.5, "var": "v"}, "V_axon": {"sec": "axon", "loc": 0.5, "var": "v"}}
    _, stderr = run(tmp_path, "badkey", check=False, record_traces=traces)
    assert "ValueError" in stderr and "['V_axon'] recorded no cell" in stderr
    assert not (tmp_path / "badkey").exists() or not any((tmp_path / "badkey").iterdir())


@pytest.mark.simulator
def test_failing_run_keeps_the_old_file(tmp_path):
    folder = tmp_path / "fail"
    folder.mkdir()
    old = folder / FILE
    old.write_bytes(b"previous results")
    _, stderr = run(tmp_path, "fail", check=False, fail_after_ms=40.0, save_nwb={"intervalMs": 20.0})
    assert "simulated failure" in stderr
    assert old.read_bytes() == b"previous results"
    partial = folder / "tiny.partial.nwb"
    with h5py.File(partial) as f:  # blocks flushed before the failure are readable
        assert f["acquisition/v/data"].attrs["simout_steps_written"] >= 200


@pytest.mark.simulator
@pytest.mark.mpi
def test_two_ranks_give_the_one_rank_file(tmp_path):
    opts = {"dtype": "float64", "gatherTraces": True}
    one, _ = run(tmp_path, "one", save_nwb=opts)
    two, _ = run(tmp_path, "two", mpi=True, save_nwb=opts)
    assert (one["nhosts"], two["nhosts"]) == (1, 2)
    p1, p2 = tmp_path / "one" / FILE, tmp_path / "two" / FILE
    assert assert_columns_match(p2, two["traces"], exact=True) == 40
    assert_spikes_match(p2, two)
    with open_report(p1) as r1, open_report(p2) as r2:
        assert r1.series_names == r2.series_names
        for name in r1.series_names:
            a, b = r1[name].get(scaled=False), r2[name].get(scaled=False)
            for attr in ("node_ids", "number", "position", "label", "times"):
                np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=f"{name}.{attr}")
            for col in a.columns:
                np.testing.assert_array_equal(a.columns[col], b.columns[col], err_msg=f"{name}.{col}")
            np.testing.assert_allclose(b.data, a.data, rtol=0, atol=1e-9)
    for x, y in zip(spikes_of(p1), spikes_of(p2)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.simulator
@pytest.mark.mpi
def test_mpiexec_without_nrnmpi_init_is_refused(tmp_path):
    _, stderr = run(tmp_path, "copies", mpi=True, nrnmpi=False, check=False)
    assert "NEURON runs on 1 rank(s)" in stderr and "h.nrnmpi_init()" in stderr
    assert not (tmp_path / "copies" / FILE).exists()


@pytest.mark.simulator
@pytest.mark.mpi
def test_two_ranks_with_a_rank_recording_nothing(tmp_path):
    """gids 0, 2, 4 all live on rank 0 (NetPyNE deals gids round-robin): rank 1 has no column in any series."""
    data, _ = run(tmp_path, "empty", mpi=True, record_cells=[0, 2, 4], save_nwb={"dtype": "float64",
                                                                               "gatherTraces": True})  # fmt: skip
    path = tmp_path / "empty" / FILE
    assert assert_columns_match(path, data["traces"], exact=True) == 3 * 3 + 3 + 3
    with open_report(path) as r:
        assert all(list(r[name].node_ids) == [0, 2, 4] for name in r.series_names)
    assert_spikes_match(path, data)


@pytest.mark.simulator
def test_stimulus_and_every_synapse_traces(tmp_path):
    """A stim variable (IClamp i, nA) and a synMech trace without 'sec' (every synapse of the label, any section)."""
    traces = {
        "I_clamp": {"sec": "soma", "loc": 0.5, "stim": "clamp->E", "var": "i", "conds": {"pop": "E"}},
        "g_all": {"synMech": "exc", "var": "g"},
    }
    data, stderr = run(
        tmp_path, "stim", iclamp=True, record_traces=traces, save_nwb={"dtype": "float64", "gatherTraces": True}
    )
    assert "did not record" not in stderr  # conds exclude the I cells: nothing is skipped
    path = tmp_path / "stim" / FILE
    with open_report(path) as r:
        assert sorted(r.series_names) == ["clamp_E_i", "exc_g"]
        assert (r["clamp_E_i"].unit, r["clamp_E_i"].conversion) == ("amperes", 1e-9)
        assert list(r["clamp_E_i"].node_ids) == [0, 1, 2, 3, 4]
        frame = r["exc_g"].get(scaled=False)
    for j, (gid, label, pos) in enumerate(zip(frame.node_ids, frame.label, frame.position)):
        expected = np.asarray(data["traces"]["g_all"][f"cell_{gid}"][f"{label}_{pos}"])[: frame.data.shape[0]]
        np.testing.assert_array_equal(frame.data[:, j], expected)
    assert frame.data.shape[1] == 10
