import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from tests.conftest import DATA


@pytest.fixture
def report(nwb_path, small_layout, rng):
    comps = build_compartments(**small_layout, cell_columns={"cell_type": ["a", "b", "c"]},
                               compartment_columns={"trace_key": ["k0", "k1", "k2", "k3", "k4"]})  # fmt: skip
    data = rng.normal(-65, 3, (30, 5)).astype(np.float32)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=30, dt_ms=0.5, tstart_ms=10.0) as w:
        w.write_block(0, data)
    return nwb_path, data


def test_get_selection_and_metadata(report):
    path, data = report
    with open_report(path) as r:
        s = r["v"]
        assert s.unit == "volts" and s.conversion == pytest.approx(1e-3)
        np.testing.assert_array_equal(s.node_ids, [0, 1, 5])
        fr = s.get(node_ids=[5, 0])
        np.testing.assert_array_equal(fr.node_ids, [5, 5, 0, 0, 0])
        np.testing.assert_array_equal(fr.number, [0, 3, 0, 1, 2])
        assert list(fr.label) == ["apic", "apic", "soma", "dend", "dend"]
        assert list(fr.columns["cell_type"]) == ["c", "c", "a", "a", "a"]
        assert list(fr.columns["trace_key"]) == ["k3", "k4", "k0", "k1", "k2"]
        np.testing.assert_allclose(fr.data, data[:, [3, 4, 0, 1, 2]] * 1e-3, rtol=1e-6)
        raw = s.get(node_ids=[5], scaled=False)
        np.testing.assert_array_equal(raw.data, data[:, 3:5])


def test_time_window_is_inclusive_in_seconds(report):
    path, data = report
    with open_report(path) as r:
        fr = r["v"].get(tstart=0.011, tstop=0.012, scaled=False)  # samples at 11.0, 11.5, 12.0 ms
        np.testing.assert_allclose(fr.times, [0.011, 0.0115, 0.012])
        np.testing.assert_array_equal(fr.data, data[2:5])
        one = r["v"].get(tstart=0.0105, tstop=0.0105)
        assert one.data.shape == (1, 5)
        assert r["v"].get(tstart=1.0).data.shape == (0, 5)
        with pytest.raises(ValueError, match="before tstart"):
            r["v"].get(tstart=0.02, tstop=0.01)


def test_empty_and_zero_compartment_selections(report):
    path, _ = report
    with open_report(path) as r:
        assert r["v"].get(node_ids=[]).data.shape == (30, 0)
        assert r["v"].get(node_ids=[1]).data.shape == (30, 0)


def test_unknown_names_are_clear_errors(report):
    path, _ = report
    with open_report(path) as r:
        with pytest.raises(KeyError, match="no CompartmentSeries 'nope'.*series: \\['v'\\]"):
            r["nope"]
        with pytest.raises(ValueError, match="node_ids \\[42\\] are not in"):
            r["v"].get(node_ids=[42])
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_report(path.with_name("missing.nwb"))


def test_reads_0_2_layout_with_table_under_simulation_metadata():
    from tests.data.generate_v0_2 import DATA as expected
    from tests.data.generate_v0_2 import NODE_IDS, NUMBER, POSITION

    with open_report(DATA / "v0_2_layout.nwb") as r:
        s = r["membrane_potential"]
        assert s.starting_time == pytest.approx(0.1) and s.rate == pytest.approx(1000.0)
        np.testing.assert_array_equal(s.node_ids, NODE_IDS)
        fr = s.get(node_ids=[7])
        np.testing.assert_array_equal(fr.number, NUMBER[1])
        np.testing.assert_array_equal(fr.position, POSITION[1])
        np.testing.assert_array_equal(fr.data, expected[:, 3:5])


def test_reads_0_2_layout_with_pynwb_and_validates():
    from pynwb import NWBHDF5IO, validate

    path = str(DATA / "v0_2_layout.nwb")
    with NWBHDF5IO(path, "r") as io:
        f = io.read()
        assert f.acquisition["membrane_potential"].compartments is f.lab_meta_data["simulation"].compartments
    assert validate(path=path) == []
