"""Reading ElectricalSeries back: windows, channel selection by id, scaling, positions, and what info reports."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simout_plugins.nwb import make_probe
from simout_plugins.read.ecp import describe_ecp, find_ecp
from simout_plugins.write import ElectricalSeriesWriter


@pytest.fixture
def ecp_file(tmp_path, rng):
    data = rng.normal(size=(40, 5))
    pos = np.c_[np.zeros(5), np.arange(5) * 25.0, np.full(5, 3.0)]
    probe = make_probe(name="probe", positions_um=pos, channel_ids=[7, 3, 9, 1, 5], method="test")
    path = tmp_path / "ecp.nwb"
    with ElectricalSeriesWriter(path, probes=[probe], n_steps=40, dt_ms=0.5, tstart_ms=0.5, dtype="float64") as w:
        w.write_block(0, data)
    return path, data, pos


def test_window_channels_and_scaling(ecp_file):
    path, data, pos = ecp_file
    with h5py.File(path, "r") as f:
        r = find_ecp(f, path=str(path))["probe"]
        assert r.n_channels == 5 and r.shape == (40, 5)
        np.testing.assert_array_equal(r.channel_ids, [7, 3, 9, 1, 5])
        full = r.get()
        np.testing.assert_array_equal(full.data, data * 1e-3)
        np.testing.assert_allclose(full.times, 0.0005 + np.arange(40) * 0.0005)
        assert full.unit == "volts"
        fr = r.get(channels=[9, 7, 1], tstart=0.002, tstop=0.004, scaled=False)
        np.testing.assert_array_equal(fr.times, [0.002, 0.0025, 0.003, 0.0035, 0.004])
        np.testing.assert_array_equal(fr.data, data[3:8][:, [2, 0, 3]])
        np.testing.assert_array_equal(fr.channel_ids, [9, 7, 1])
        np.testing.assert_array_equal(fr.positions_um, pos[[2, 0, 3]])
        assert fr.unit == "volts" and fr.conversion == 1e-3
        strided = r.get(tstride=4)
        np.testing.assert_array_equal(strided.data, data[::4] * 1e-3)
        with pytest.raises(ValueError, match=r"no channel\(s\) \[2\]"):
            r.get(channels=[2])


def test_describe(ecp_file):
    path, _, _ = ecp_file
    with h5py.File(path, "r") as f:
        (info,) = describe_ecp(f, path=str(path))
    assert info["name"] == "probe" and info["n_channels"] == 5 and info["probes"] == ["probe"]
    assert info["rate_hz"] == pytest.approx(2000.0) and info["starting_time_s"] == pytest.approx(5e-4)
    assert info["extent_um"] == [[0.0, 0.0, 3.0], [0.0, 100.0, 3.0]]
    assert info["locations"] == ["simulated"]
