"""SONATA ⇄ NWB: lossless round trips (hypothesis-generated ragged layouts), time bases, units, spikes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.sonata import to_nwb, to_sonata
from tests.data.generate_sonata import simple_pops, write_report, write_spikes

MAPPING = ("node_ids", "element_ids", "element_pos", "index_pointers", "index_pointer", "time")


@st.composite
def sonata_reports(draw) -> tuple[dict, str, str]:
    """1-3 populations, node ids overlapping across populations and in any order, 0..4 elements per node."""
    n_rows = draw(st.integers(1, 7))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    pops = {}
    for name in draw(st.lists(st.sampled_from(["a", "pop_b", "thalamus"]), min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 6))
        ids = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n, unique=True))
        counts = draw(arrays(np.int64, n, elements=st.integers(0, 4)))
        e = int(counts.sum())
        pops[name] = {
            "node_ids": ids,
            "counts": counts,
            "element_ids": draw(arrays(np.int64, e, elements=st.integers(0, 500))),
            "element_pos": draw(arrays(np.float64, e, elements=st.floats(0, 1))) if draw(st.booleans()) else None,
            "data": draw(arrays(dtype, (n_rows, e), elements=st.floats(-100, 100, width=32))),
        }
    return pops, draw(st.sampled_from(["bmtk", "libsonatareport"])), dtype


@settings(max_examples=20, deadline=None)
@given(case=sonata_reports())
def test_sonata_nwb_sonata_is_lossless(tmp_path_factory, case):
    pops, style, dtype = case
    tmp = tmp_path_factory.mktemp("rt")
    src = write_report(
        tmp / "src.h5", pops, style=style, time=(5.0, 5.0 + 0.25 * len(next(iter(pops.values()))["data"]), 0.25)
    )
    to_nwb(report=src, out=tmp / "mid.nwb", keep_dtype=True)
    to_sonata(nwb=tmp / "mid.nwb", out=tmp / "back.h5", keep_dtype=True)
    with h5py.File(src) as a, h5py.File(tmp / "back.h5") as b:
        assert sorted(b["report"]) == sorted(pops)
        for name in pops:
            ga, gb = a[f"report/{name}"], b[f"report/{name}"]
            for key in MAPPING:
                if key in ga["mapping"]:
                    np.testing.assert_array_equal(gb["mapping"][key][()], ga["mapping"][key][()], err_msg=key)
                    assert gb["mapping"][key].dtype == ga["mapping"][key].dtype, key
            assert ("element_pos" in gb["mapping"]) == ("element_pos" in ga["mapping"])
            assert gb["mapping/index_pointer"].id == gb["mapping/index_pointers"].id  # one dataset, two names
            assert gb["data"].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(gb["data"][()], ga["data"][()])
            assert gb["data"].attrs["units"] == "mV" and gb["mapping/time"].attrs["units"] == "ms"


@pytest.mark.parametrize(
    "style, time_base, expected_t0",
    [("bmtk", None, 5.1), ("libsonatareport", None, 5.0), ("bmtk", "start", 5.0), ("libsonatareport", "end", 5.1)],
)
def test_time_base_is_decided_from_the_file_or_given(tmp_path, style, time_base, expected_t0, caplog):
    src = write_report(tmp_path / "r.h5", simple_pops(n_rows=10), style=style, time=(5.0, 6.0, 0.1))
    caplog.set_level("INFO", logger="simout_plugins.sonata")
    to_nwb(report=src, out=tmp_path / "o.nwb", time_base=time_base)
    assert "time base" in caplog.text
    with h5py.File(tmp_path / "o.nwb") as f:
        st_ = f["acquisition/v/starting_time"]
        assert st_[()] == expected_t0 / 1000.0
        assert st_.attrs["rate"] == 1000.0 / 0.1
        assert f["acquisition/v/data"].dtype == np.float32


def test_all_rows_including_tstop_means_start_base(tmp_path):
    src = write_report(tmp_path / "r.h5", simple_pops(n_rows=11), style="bmtk", time=(0.0, 1.0, 0.1))
    to_nwb(report=src, out=tmp_path / "o.nwb")
    with h5py.File(tmp_path / "o.nwb") as f:
        assert f["acquisition/v/starting_time"][()] == 0.0


def test_nwb_table_keeps_populations_and_values(tmp_path, caplog):
    pops = simple_pops(n_rows=6)
    src = write_report(tmp_path / "r.h5", pops, style="bmtk", time=(0.0, 0.6, 0.1))
    with caplog.at_level("WARNING"):
        to_nwb(report=src, out=tmp_path / "o.nwb", keep_dtype=True)
    assert "assumed 'mV'" in caplog.text
    with h5py.File(tmp_path / "o.nwb") as f:
        table = f["acquisition/compartments"]
        pop = table["population"][()].astype(str)
        node_id = table["node_id"][()] if "node_id" in table else table["id"][()]
        assert pop.tolist() == ["cortex"] * 3 + ["thalamus"] * 2
        assert node_id.tolist() == [0, 1, 2, 0, 1]
        assert np.unique(table["id"][()]).size == 5  # unique NWB ids although node ids overlap
        data = f["acquisition/v/data"]
        assert data.attrs["unit"] == "volts" and data.attrs["conversion"] == 1e-3
        np.testing.assert_array_equal(data[()], np.hstack([pops["cortex"]["data"], pops["thalamus"]["data"]]))


def test_spikes_go_to_units_and_back_both_layouts(tmp_path):
    src = write_report(tmp_path / "r.h5", simple_pops(), style="bmtk")
    spk = write_spikes(tmp_path / "s.h5", {"cortex": ([2, 0, 2], [0.5, 0.25, 0.125]), "thalamus": ([0], [0.75])})
    to_nwb(report=src, spikes=spk, out=tmp_path / "o.nwb")
    to_sonata(nwb=tmp_path / "o.nwb", out=tmp_path / "b.h5", spikes_out=tmp_path / "bs.h5")
    with h5py.File(tmp_path / "bs.h5") as f:
        g = f["spikes/cortex"]
        assert h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype) == {"none": 0, "by_id": 1, "by_time": 2}
        assert g.attrs["sorting"] == 2
        np.testing.assert_array_equal(g["timestamps"][()], [0.125, 0.25, 0.5])
        np.testing.assert_array_equal(g["node_ids"][()], [2, 0, 2])
        assert g["timestamps"].attrs["units"] == "ms"
        np.testing.assert_array_equal(f["spikes/thalamus/node_ids"][()], [0])
    with h5py.File(tmp_path / "b.h5") as f:
        assert "spikes" not in f
    # the older /spikes/{gids, timestamps} layout, one population
    one = write_report(tmp_path / "one.h5", {"cortex": simple_pops()["cortex"]}, style="bmtk")
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f["spikes/gids"] = np.array([1, 0])
        f["spikes/timestamps"] = np.array([0.3, 0.1])
    to_nwb(report=one, spikes=tmp_path / "old.h5", out=tmp_path / "old.nwb")
    with h5py.File(tmp_path / "old.nwb") as f:
        assert f["units/population"][()].astype(str).tolist() == ["cortex", "cortex"]
        np.testing.assert_allclose(f["units/spike_times"][()], [0.0001, 0.0003])


def test_nwb_written_by_the_core_writer_goes_to_sonata(tmp_path):
    """No sidecar: mapping/time = [t0, t0 + n*dt, dt] (libsonata's row k = tstart + k*dt), mV from volts*1e-3."""
    comps = build_compartments(node_ids=[3, 1], counts=[2, 1], number=[0, 1, 0], population=["p", "p"])
    block = np.arange(12, dtype=np.float32).reshape(4, 3)
    with CompartmentSeriesWriter(tmp_path / "w.nwb", compartments=comps, n_steps=4, dt_ms=0.5, tstart_ms=2.5) as w:
        w.write_block(0, block)
    to_sonata(nwb=tmp_path / "w.nwb", out=tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f:
        g = f["report/p"]
        np.testing.assert_array_equal(g["mapping/time"][()], [2.5, 4.5, 0.5])
        np.testing.assert_array_equal(g["mapping/node_ids"][()], [1, 3])
        np.testing.assert_array_equal(g["mapping/index_pointers"][()], [0, 1, 3])
        assert g["data"].attrs["units"] == "mV" and g["data"].dtype == np.float32
        np.testing.assert_array_equal(g["data"][()], block[:, [2, 0, 1]])
        assert "element_pos" not in g["mapping"]


@settings(max_examples=10, deadline=None)
@given(case=sonata_reports())
def test_libsonata_reads_what_to_sonata_writes(tmp_path_factory, case):
    libsonata = pytest.importorskip("libsonata")
    pops, style, _ = case
    tmp = tmp_path_factory.mktemp("ls")
    n_rows = len(next(iter(pops.values()))["data"])
    src = write_report(tmp / "src.h5", pops, style=style, time=(1.0, 1.0 + 0.5 * n_rows, 0.5))
    to_nwb(report=src, out=tmp / "mid.nwb")
    to_sonata(nwb=tmp / "mid.nwb", out=tmp / "back.h5")
    reader = libsonata.ElementReportReader(str(tmp / "back.h5"))
    assert sorted(reader.get_population_names()) == sorted(pops)
    for name, p in pops.items():
        pop = reader[name]
        assert pop.times == (1.0, 1.0 + 0.5 * n_rows, 0.5)
        offsets = np.concatenate([[0], np.cumsum(p["counts"])])
        for i, node in enumerate(p["node_ids"]):
            if p["counts"][i] == 0:
                continue
            frame = pop.get(node_ids=[node])
            np.testing.assert_array_equal(
                np.asarray(frame.data), p["data"][:, offsets[i] : offsets[i + 1]].astype(np.float32)
            )
            np.testing.assert_array_equal(np.asarray(frame.ids)[:, 1], p["element_ids"][offsets[i] : offsets[i + 1]])


@st.composite
def spike_files(draw) -> dict[str, tuple[list[int], np.ndarray]]:
    """1-3 populations with overlapping node ids, spikes in any order, times in ms (multiples of dt or not)."""
    out = {}
    for name in draw(st.lists(st.sampled_from(["a", "pop_b", "thalamus"]), min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 12))
        ids = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
        on_grid = draw(st.booleans())
        times = draw(
            arrays(
                np.float64,
                n,
                elements=st.floats(0, 5000, allow_nan=False, allow_subnormal=False).filter(
                    lambda t: t == 0 or t > 1e-6
                ),
            )
        )
        out[name] = (ids, np.round(times / 0.025) * 0.025 if on_grid else times)
    return out


def _by_time(ids, times) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((np.asarray(ids), np.asarray(times)))
    return np.asarray(ids)[order], np.asarray(times)[order]


@settings(max_examples=20, deadline=None)
@given(spikes=spike_files())
def test_spikes_only_sonata_nwb_sonata(tmp_path_factory, spikes):
    """A spike file alone → NWB holding only Units → SONATA spikes that libsonata's SpikeReader reads."""
    libsonata = pytest.importorskip("libsonata")
    from simout_plugins import open_report

    tmp = tmp_path_factory.mktemp("spk")
    src = write_spikes(tmp / "spikes.h5", spikes, compress=True)  # BMTK writes gzip, libsonata cannot read it
    to_nwb(spikes=src, out=tmp / "spikes.nwb", resolution_ms=0.025)
    with open_report(tmp / "spikes.nwb") as r:
        assert r.series_names == [] and r.units.populations == sorted(spikes)
        assert np.unique(r.units.cell_ids).size == r.units.n_rows  # unique NWB ids, overlapping node ids
        for pop, (ids, times) in spikes.items():
            frame = r.spikes(population=pop)
            got, want = _by_time(frame.node_ids, frame.times * 1000.0), _by_time(ids, times)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_max_ulp(got[1], want[1], maxulp=1)  # ms -> s -> ms: float64 rounding only
    to_sonata(nwb=tmp / "spikes.nwb", out=tmp / "back.h5")
    with h5py.File(tmp / "spikes.nwb") as f:
        nwb_ms = f["units/spike_times"][()] * 1000.0
    reader = libsonata.SpikeReader(str(tmp / "back.h5"))
    assert sorted(reader.get_population_names()) == sorted(spikes)
    for pop, (ids, times) in spikes.items():
        got = np.array(reader[pop].get(), dtype=float).reshape(-1, 2)
        assert reader[pop].sorting == "by_time"
        want_ids, want_t = _by_time(ids, times)
        got_ids, got_t = _by_time(got[:, 0].astype(np.int64), got[:, 1])
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_max_ulp(got_t, want_t, maxulp=1)
        assert np.isin(got_t, nwb_ms).all()  # exactly the NWB values, in ms


def test_spikes_only_file_contents(tmp_path, caplog):
    spk = write_spikes(tmp_path / "s.h5", {"cortex": ([2, 0, 2], [0.5, 0.25, 0.125]), "thalamus": ([0], [0.75])})
    with caplog.at_level("WARNING"):
        to_nwb(spikes=spk, out=tmp_path / "o.nwb", metadata={"session_description": "spikes"})
    assert "Units.resolution not set" in caplog.text
    with h5py.File(tmp_path / "o.nwb") as f:
        assert "acquisition" not in f or len(f["acquisition"]) == 0
        assert f["units/population"][()].astype(str).tolist() == ["cortex", "cortex", "thalamus"]
        assert f["units/node_id"][()].tolist() == [0, 2, 0] and f["units/id"][()].tolist() == [0, 2, 3]
        assert f["session_description"][()] == b"spikes"
        assert b'"sonata-conversion"' in f["general/notes"][()]
    to_nwb(spikes=spk, out=tmp_path / "r.nwb", resolution_ms=0.1)
    with h5py.File(tmp_path / "r.nwb") as f:
        assert f["units/spike_times"].attrs["resolution"] == pytest.approx(1e-4)
    # the older /spikes/{gids, timestamps} layout: population "default"
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f["spikes/gids"] = np.array([1, 0])
        f["spikes/timestamps"] = np.array([0.3, 0.1])
    to_nwb(spikes=tmp_path / "old.h5", out=tmp_path / "old.nwb")
    to_sonata(nwb=tmp_path / "old.nwb", out=tmp_path / "old_back.h5")
    with h5py.File(tmp_path / "old_back.h5") as f:
        assert sorted(f) == ["spikes"] and list(f["spikes"]) == ["default"]
        np.testing.assert_array_equal(f["spikes/default/node_ids"][()], [0, 1])
        np.testing.assert_allclose(f["spikes/default/timestamps"][()], [0.1, 0.3], rtol=1e-15)


def test_extra_mapping_datasets_round_trip(tmp_path):
    """Per-element mapping datasets other than SONATA's (e.g. BMTK's seg_types) come back with their dtype."""
    pops = simple_pops(n_rows=4)
    src = write_report(tmp_path / "r.h5", pops, style="bmtk", time=(0.0, 0.4, 0.1))
    with h5py.File(src, "r+") as f:
        for name, p in pops.items():
            f[f"report/{name}/mapping/seg_types"] = (np.arange(len(p["element_ids"])) % 3).astype(np.uint8)
    to_nwb(report=src, out=tmp_path / "o.nwb", keep_dtype=True)
    to_sonata(nwb=tmp_path / "o.nwb", out=tmp_path / "b.h5", keep_dtype=True)
    with h5py.File(src) as a, h5py.File(tmp_path / "b.h5") as b:
        for name in pops:
            got, want = b[f"report/{name}/mapping/seg_types"], a[f"report/{name}/mapping/seg_types"]
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got[()], want[()])
