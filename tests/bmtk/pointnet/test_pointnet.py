"""PointNet (NEST): an ``nwb_compartment_report`` entry in a pointnet config holds what BMTK's native
``multimeter_report`` holds (same cells, times and values), streamed from NEST's memory backend chunk by chunk.

BMTK's native report goes through NEST's ascii backend, which prints 3 decimals: its values are the NWB file's
rounded to 3 decimals, exactly. The NWB values are NEST's own (float64). Each configuration runs in a subprocess
(NEST keeps global state), once per session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

from ..conftest import run_env
from .conftest import nwb
from .network import DT_MS, point_config

pytestmark = [pytest.mark.simulator]


def assert_matches_native(nwb_path: Path, native_path: Path, *, series: str = "V_m", float32: bool = False) -> None:
    with open_report(nwb_path) as r, h5py.File(native_path, "r") as nat:
        s = r[series]
        (pop,) = list(nat["report"])
        g = nat["report"][pop]
        fr = s.get(population=pop, scaled=False)
        np.testing.assert_array_equal(fr.node_ids, g["mapping/node_ids"][()])
        np.testing.assert_array_equal(fr.number, g["mapping/element_ids"][()])
        np.testing.assert_array_equal(fr.position, g["mapping/element_pos"][()])
        assert set(fr.label) == {"soma"}
        expected = g["data"][()]
        assert fr.data.shape == expected.shape
        tstart, _, dt = g["mapping/time"][()]
        np.testing.assert_allclose(s.times[[0, -1]] * 1000.0, [tstart, tstart + (expected.shape[0] - 1) * dt])
        if float32:  # float32 of NEST's value, within float32's resolution of the 3-decimal text
            assert fr.data.dtype == np.float32
            np.testing.assert_array_less(np.abs(fr.data - expected), 5e-4 + 1e-5)
        else:
            np.testing.assert_array_equal(np.round(fr.data, 3), expected)
            assert np.abs(fr.data - expected).max() > 0  # the NWB file keeps NEST's full precision


def test_values_equal_native_multimeter(point_run):
    assert_matches_native(point_run / "cortex.nwb", point_run / "native_cortex.h5")


def test_second_population_two_variables(point_run):
    assert_matches_native(point_run / "lgn.nwb", point_run / "native_lgn_v.h5", series="V_m")
    assert_matches_native(point_run / "lgn.nwb", point_run / "native_lgn_g.h5", series="g_ex")
    with open_report(point_run / "lgn.nwb") as r:
        assert r["V_m"].unit == "volts" and r["V_m"].conversion == pytest.approx(1e-3)
        assert r["g_ex"].unit == "siemens" and r["g_ex"].conversion == pytest.approx(1e-9)


def test_time_base_is_start_plus_k_plus_one_dt(point_run):
    with open_report(point_run / "cortex.nwb") as r:
        s = r["V_m"]
        np.testing.assert_allclose(s.times[:3], np.array([1, 2, 3]) * DT_MS / 1000.0)
        # NEST never delivers the run's last min_delay slice (1 ms here): 59.0 ms is the last sample, as native
        assert s.n_steps_written == 590


def test_window_equals_native_tstart_tstop_interval(point_run):
    assert_matches_native(point_run / "win.nwb", point_run / "native_win.h5")
    with open_report(point_run / "win.nwb") as r:
        np.testing.assert_allclose(r["V_m"].times[:2], [0.0105, 0.011])


def test_all_cells_both_populations_float32(point_run):
    with open_report(point_run / "all32.nwb") as r:
        fr = r["V_m"].get(scaled=False)
        assert fr.data.dtype == np.float32
        pops = list(dict.fromkeys(fr.columns["population"]))
        assert pops == ["cortex", "lgn"]  # built cells only: the virtual thalamus has no membrane
        assert fr.data.shape[1] == 15 + 4
    assert_matches_native(point_run / "all32.nwb", point_run / "native_cortex.h5", float32=True)
    with open_report(point_run / "all32.nwb") as a, open_report(point_run / "cortex.nwb") as b:
        x, y = a["V_m"].get(population="cortex", scaled=False), b["V_m"].get(scaled=False)
        np.testing.assert_array_equal(x.data, y.data.astype(np.float32))


def test_node_id_list_selection_in_node_order(point_run):
    with open_report(point_run / "some.nwb") as r:
        assert list(r["V_m"].node_ids) == [1, 3, 12]


def test_spikes_equal_native_spikes_file(point_run):
    with open_report(point_run / "cortex.nwb") as r, h5py.File(point_run / "spikes.h5", "r") as nat:
        sp = r.spikes()
        g = nat["spikes/cortex"]
        ours = sorted(zip(sp.node_ids.tolist(), np.round(sp.times * 1000.0, 6).tolist()))
        theirs = sorted(zip(g["node_ids"][()].tolist(), np.round(g["timestamps"][()], 6).tolist()))
        assert ours and ours == theirs


def test_chunked_and_threaded_run_gives_the_same_file(point_run, point_run_chunked):
    for name in ("cortex.nwb", "lgn.nwb", "all32.nwb", "win.nwb"):
        with open_report(point_run / name) as a, open_report(point_run_chunked / name) as b:
            for series in a.series_names:
                x, y = a[series].get(scaled=False), b[series].get(scaled=False)
                np.testing.assert_array_equal(x.data, y.data)
                np.testing.assert_array_equal(x.node_ids, y.node_ids)


def test_plain_from_config_still_raises_and_sections_soma_works_natively(point_root):
    """Why the runner / the one-line change exist: BMTK's own from_config refuses the entry."""
    out = point_root / "plain_bmtk"
    config = point_config(point_root, out, {"v": nwb("V_m", file_name="v.nwb")})
    code = (
        "import sys; from bmtk.simulator import pointnet; c = pointnet.Config.from_json(sys.argv[1]); c.build_env(); "
        "pointnet.PointSimulator.from_config(c, pointnet.PointNetwork.from_config(c))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(config)], env=run_env(), capture_output=True, text=True)
    assert result.returncode != 0 and "Unknown report type nwb_compartment_report" in result.stderr
