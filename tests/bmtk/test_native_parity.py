"""The NWB report holds what BMTK's native membrane_report holds: same cells, elements, positions and values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

pytestmark = [pytest.mark.simulator, pytest.mark.slow]

DT_MS = 0.1


def assert_matches_native(nwb_path, native_path, *, variable="v", series=None, float32=False):
    with open_report(nwb_path) as r, h5py.File(native_path, "r") as nat:
        s = r[series or variable]
        pops = sorted(nat["report"])
        assert pops
        n_cols = 0
        for pop in pops:
            g = nat["report"][pop]
            fr = s.get(population=pop, scaled=False)
            np.testing.assert_array_equal(np.unique(fr.node_ids), g["mapping/node_ids"][()])
            np.testing.assert_array_equal(fr.number, g["mapping/element_ids"][()])
            np.testing.assert_array_equal(fr.position, g["mapping/element_pos"][()])
            expected = g["data"][()][: fr.data.shape[0]]
            assert fr.data.shape == (s.n_steps_written, g["mapping/element_ids"].size)
            if float32:
                assert fr.data.dtype == np.float32
                np.testing.assert_array_equal(fr.data, expected.astype(np.float32))
            else:
                np.testing.assert_array_equal(fr.data, expected)
            n_cols += fr.data.shape[1]
        assert n_cols == s.get(scaled=False).data.shape[1]  # nothing recorded that native did not


def test_all_sections_float64_exact(serial_run):
    assert_matches_native(serial_run / "all64.nwb", serial_run / "native_all.h5")


def test_all_sections_float32(serial_run):
    assert_matches_native(serial_run / "all32.nwb", serial_run / "native_all.h5", float32=True)


def test_soma(serial_run):
    assert_matches_native(serial_run / "soma.nwb", serial_run / "native_soma.h5")


def test_two_variables_on_a_node_set(serial_run):
    path = serial_run / "two.nwb"
    with open_report(path) as r:
        assert sorted(r.series_names) == ["ina", "v"]
        assert list(r["v"].node_ids) == list(range(8))  # node set "exc": cortex 0..7
        assert r["ina"].unit == "mA/cm2"
    assert_matches_native(path, serial_run / "native_v_exc.h5", series="v")
    assert_matches_native(path, serial_run / "native_ina_exc.h5", series="ina")


def test_window_and_report_dt(serial_run):
    assert_matches_native(serial_run / "win.nwb", serial_run / "native_win.h5")
    with open_report(serial_run / "win.nwb") as r:
        s = r["v"]
        # steps 200, 202, ..., 598 are recorded; step k holds t = (k + 1) * dt
        assert s.n_steps_written == 200
        np.testing.assert_allclose(s.times[0], (200 + 1) * DT_MS / 1000.0)
        np.testing.assert_allclose(np.diff(s.times), 0.2e-3)
        labels = set(s.get(scaled=False).label)
        assert labels and all(lab.startswith(("dend[", "apic[")) for lab in labels)


def test_time_base_populations_and_labels(serial_run):
    with open_report(serial_run / "all64.nwb") as r:
        s = r["v"]
        assert s.unit == "volts" and s.conversion == pytest.approx(1e-3)
        np.testing.assert_allclose(s.times[:3], np.array([1, 2, 3]) * DT_MS / 1000.0)
        cortex, thalamus = s.get(population="cortex"), s.get(population="thalamus")
        assert set(cortex.columns["population"]) == {"cortex"} and set(thalamus.columns["population"]) == {"thalamus"}
        assert cortex.label[0] == "soma[0]" and any(lab.startswith("apic[") for lab in cortex.label)
        assert np.all(np.diff(np.unique(cortex.node_ids)) > 0)


def test_spikes_in_units_match_bmtk(serial_run):
    with open_report(serial_run / "all64.nwb") as r, h5py.File(serial_run / "spikes.h5", "r") as f:
        sp = r.spikes()
        assert sp.times.size > 0
        for pop in f["spikes"]:
            mine = sp.population == pop
            theirs = f["spikes"][pop]
            got = sorted(zip(sp.node_ids[mine], np.round(sp.times[mine] * 1000.0, 6)))
            want = sorted(zip(theirs["node_ids"][()], np.round(theirs["timestamps"][()], 6)))
            assert got == want


def test_provenance(serial_run):
    with h5py.File(serial_run / "all64.nwb", "r") as f:
        script = f["general/source_script"][()]
        script = script.decode() if isinstance(script, bytes) else script
        assert '"nwb_compartment_report"' in script and str(serial_run) in script  # substituted config
        notes = f["general/notes"][()]
        notes = notes.decode() if isinstance(notes, bytes) else notes
        assert "bmtk" in notes and "neuron" in notes
