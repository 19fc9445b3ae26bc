"""SONATA ⇄ NWB on a real BMTK 1.2 run: two populations whose node ids overlap (cortex 0..11, thalamus 0..3),
BMTK's native ``membrane_report`` (every segment) and ``spikes.h5``; read back with BMTK's CompartmentReport,
plain pynwb, libsonata's ElementReportReader / SpikeReader; checked with nwbinspector and pynwb.validate."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins.cli.app import main
from simout_plugins.sonata import to_nwb, to_sonata
from tests.bmtk.conftest import BmtkNetwork, native, nwb, run_bmtk

libsonata = pytest.importorskip("libsonata")
pytestmark = [pytest.mark.simulator]

POPS = ("cortex", "thalamus")
METADATA = {
    "session_description": "BMTK two-population network, SONATA report converted to NWB",
    "experimenter": ["Doe, Jane"],
    "institution": "simout_plugins tests",
    "lab": "simout_plugins",
    "keywords": ["simulation", "BMTK", "SONATA"],
    "subject": {"subject_id": "sim", "species": "Mus musculus", "age": "P90D", "sex": "U"},
}


@pytest.fixture(scope="module")
def bmtk_out(tmp_path_factory) -> Path:
    """One BMTK run: native SONATA report of every segment + spikes, and the project's own NWB report beside it."""
    net = BmtkNetwork(tmp_path_factory.mktemp("sonata_net"))
    out = net.root / "run"
    run_bmtk(net.config(out, {"native": native("v", file_name="report.h5"), "nwb": nwb("v", file_name="v.nwb")}))
    return out


@pytest.fixture(scope="module")
def converted(bmtk_out, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sonata_conv")
    paths = {"nwb": tmp / "report.nwb", "sonata": tmp / "back.h5", "nwb32": tmp / "report32.nwb"}
    paths.update({"spikes_nwb": tmp / "spikes.nwb", "spikes_sonata": tmp / "spikes_back.h5"})
    report, spikes = bmtk_out / "report.h5", bmtk_out / "spikes.h5"
    to_nwb(report=report, spikes=spikes, out=paths["nwb"], metadata=METADATA, keep_dtype=True)
    to_nwb(report=report, spikes=spikes, out=paths["nwb32"], metadata=METADATA)
    to_sonata(nwb=paths["nwb"], out=paths["sonata"])
    to_nwb(spikes=spikes, out=paths["spikes_nwb"], metadata=METADATA, resolution_ms=0.1)  # spikes alone
    to_sonata(nwb=paths["spikes_nwb"], out=paths["spikes_sonata"])
    return paths


def _bmtk_spikes(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {p: np.stack([f[f"spikes/{p}/node_ids"][()], f[f"spikes/{p}/timestamps"][()]], 1) for p in POPS}


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def test_nwb_holds_every_bmtk_value(bmtk_out, converted):
    from bmtk.utils.reports import CompartmentReport
    from pynwb import NWBHDF5IO

    ref = CompartmentReport(str(bmtk_out / "report.h5"), mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = NWBHDF5IO(str(converted["nwb"]), "r")
        f = io.read()
    try:
        series, table = f.acquisition["v"], f.acquisition["compartments"]
        data = series.data[()]
        pops = np.asarray(table["population"].data[:]).astype(str)
        node_ids = np.asarray(table["node_id"].data[:] if "node_id" in table.colnames else table.id.data[:])
        offsets = np.concatenate([[0], np.asarray(table["number_index"].data[:])])
        numbers = np.asarray(table["number"].target.data[:])
        positions = np.asarray(table["position"].target.data[:])
        assert np.unique(np.asarray(table.id.data[:])).size == len(pops) == 16
        for row, (pop, nid) in enumerate(zip(pops, node_ids)):
            cols = slice(int(offsets[row]), int(offsets[row + 1]))
            np.testing.assert_array_equal(data[:, cols], ref.data(node_id=int(nid), population=pop))
            np.testing.assert_array_equal(numbers[cols], ref.element_ids(node_id=int(nid), population=pop))
            np.testing.assert_array_equal(positions[cols], ref.element_pos(node_id=int(nid), population=pop))
        assert series.unit == "volts" and series.conversion == 1e-3 and series.rate == 10_000.0
        # BMTK's row k is tstart + (k+1)*dt: the same times as the project's own adapter wrote in the same run
        with h5py.File(bmtk_out / "v.nwb") as own:
            assert series.starting_time == own["acquisition/v/starting_time"][()] == 0.0001
            assert own["acquisition/v/starting_time"].attrs["rate"] == series.rate
            np.testing.assert_array_equal(own["acquisition/v/data"][()], data.astype(np.float32))
        units = f.units.to_dataframe().explode("spike_times")
        spikes = _bmtk_spikes(bmtk_out / "spikes.h5")
        for p in POPS:
            u = units[units["population"] == p]
            got = np.stack([u["node_id"].to_numpy(float), u["spike_times"].to_numpy(float) * 1000.0], 1)
            np.testing.assert_allclose(_sorted(got), _sorted(spikes[p]), rtol=0, atol=1e-9)
        assert f.units.resolution == 0.0001
    finally:
        io.close()


def test_sonata_back_reads_in_libsonata_and_bmtk(bmtk_out, converted):
    from bmtk.utils.reports import CompartmentReport

    ref = CompartmentReport(str(bmtk_out / "report.h5"), mode="r")
    reader = libsonata.ElementReportReader(str(converted["sonata"]))
    assert sorted(reader.get_population_names()) == list(POPS)
    back = CompartmentReport(str(converted["sonata"]), mode="r")
    for pop in POPS:
        p = reader[pop]
        assert p.times == (0.0, 100.0, 0.1) and p.data_units == "mV" and p.time_units == "ms"
        frame = p.get()
        np.testing.assert_allclose(np.asarray(frame.times), np.arange(1000) * 0.1, atol=1e-9)  # tstart + k*dt
        got = np.asarray(frame.data)
        assert got.dtype == np.float32
        for nid in ref.node_ids(population=pop):
            expected = ref.data(node_id=int(nid), population=pop).astype(np.float32)
            np.testing.assert_array_equal(np.asarray(p.get(node_ids=[int(nid)]).data), expected)
            np.testing.assert_array_equal(back.data(node_id=int(nid), population=pop), expected)
        np.testing.assert_array_equal(back.element_pos(population=pop), ref.element_pos(population=pop))
    spikes = _bmtk_spikes(bmtk_out / "spikes.h5")
    sr = libsonata.SpikeReader(str(converted["sonata"]))
    for pop in POPS:
        got = np.array(sr[pop].get(), dtype=float).reshape(-1, 2)
        np.testing.assert_allclose(_sorted(got), _sorted(spikes[pop]), rtol=0, atol=1e-9)
        assert sr[pop].sorting == "by_time"


def test_cli_makes_a_bmtk_report_readable_by_libsonata(bmtk_out, tmp_path):
    with pytest.raises((libsonata.SonataError, RuntimeError)):  # BMTK 1.2's own file: index_pointer, no units
        libsonata.ElementReportReader(str(bmtk_out / "report.h5"))["cortex"].get()
    fixed = tmp_path / "fixed.h5"
    assert main(["convert", str(bmtk_out / "report.h5"), str(fixed), "-q"]) == 0
    with h5py.File(bmtk_out / "report.h5") as f:
        ref = f["report/thalamus/data"][()].astype(np.float32)
    np.testing.assert_array_equal(np.asarray(libsonata.ElementReportReader(str(fixed))["thalamus"].get().data), ref)


def test_bmtk_spikes_alone_both_ways(bmtk_out, converted, tmp_path):
    """BMTK's gzip-compressed spikes.h5 (libsonata's wheel cannot read it) → Units-only NWB → SONATA, and directly."""
    from simout_plugins import open_report

    with pytest.raises((libsonata.SonataError, RuntimeError)):
        libsonata.SpikeReader(str(bmtk_out / "spikes.h5"))["cortex"].get()
    fixed = tmp_path / "spikes_fixed.h5"
    assert main(["convert", str(bmtk_out / "spikes.h5"), str(fixed), "-q"]) == 0
    spikes = _bmtk_spikes(bmtk_out / "spikes.h5")
    with open_report(converted["spikes_nwb"]) as r:
        assert r.series_names == [] and r.units.populations == list(POPS)
        assert np.unique(r.units.cell_ids).size == r.units.n_rows
        for p in POPS:
            frame = r.spikes(population=p)
            got = _sorted(np.stack([frame.node_ids, frame.times * 1000.0], 1))
            np.testing.assert_array_equal(got[:, 0], _sorted(spikes[p])[:, 0])
            np.testing.assert_array_max_ulp(got[:, 1], _sorted(spikes[p])[:, 1], maxulp=1)
    for path, maxulp in ((converted["spikes_sonata"], 1), (fixed, 0)):  # via NWB (s): float64 rounding; direct: exact
        sr = libsonata.SpikeReader(str(path))
        assert sorted(sr.get_population_names()) == list(POPS)
        for p in POPS:
            got = _sorted(np.array(sr[p].get(), dtype=float).reshape(-1, 2))
            np.testing.assert_array_equal(got[:, 0], _sorted(spikes[p])[:, 0])
            np.testing.assert_array_max_ulp(got[:, 1], _sorted(spikes[p])[:, 1], maxulp=maxulp)
            assert sr[p].sorting == "by_time"


def test_converted_nwb_passes_nwbinspector_and_validation(converted):
    nwbinspector = pytest.importorskip("nwbinspector")
    from pynwb import validate

    for path in (converted["nwb32"], converted["nwb"], converted["spikes_nwb"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert not validate(path=str(path)), path.name
            messages = [
                m
                for config in (None, nwbinspector.load_config("dandi"))
                for m in nwbinspector.inspect_nwbfile(
                    nwbfile_path=str(path), config=config,
                    importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
                )
            ]  # fmt: skip
        # 1000 samples x 1072 compartments: check_data_orientation's "time is the longest axis" heuristic fires on
        # the CompartmentSeries although its first axis is time (NWB's order); everything else must be clean
        bad = [
            f"{m.importance.name} {m.check_function_name} {m.location}: {m.message[:150]}"
            for m in messages
            if not (m.check_function_name == "check_data_orientation" and m.location == "/acquisition/v")
        ]
        assert not bad, "\n".join(bad)
