"""The ECP through the package's front doors: open_report(...).ecp(), simout info, simout plot --kind ecp, simout
convert ecp.h5 <-> NWB."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simout_plugins import open_report
from simout_plugins.cli.app import main
from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ecp_nwb(tmp_path, rng):
    path = tmp_path / "ecp.nwb"
    pos = np.c_[np.zeros(4), np.arange(4) * 50.0, np.zeros(4)]
    probe = make_probe(name="probe", positions_um=pos, channel_ids=[3, 4, 5, 6], method="test")
    data = rng.normal(size=(30, 4))
    with ElectricalSeriesWriter(path, probes=[probe], n_steps=30, dt_ms=0.1, tstart_ms=0.1, dtype="float64") as w:
        w.write_block(0, data)
    return path, data


def test_open_report_ecp(ecp_nwb):
    path, data = ecp_nwb
    with open_report(path) as r:
        assert r.ecp_names == ["probe"]
        frame = r.ecp(channels=[5], tstart=0.0005, tstop=0.0007)
        np.testing.assert_array_equal(frame.data[:, 0], data[4:7, 2] * 1e-3)
        np.testing.assert_array_equal(frame.channel_ids, [5])
        np.testing.assert_array_equal(r.ecp("probe").positions_um[:, 1], [0, 50, 100, 150])
        with pytest.raises(KeyError, match="no ElectricalSeries 'nope'"):
            r.ecp("nope")


def test_info_lists_probes_and_channels(ecp_nwb, capsys):
    path, _ = ecp_nwb
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ecp 'probe': 30 times x 4 channels" in out
    assert "channels 3..6" in out and "y 0..150" in out


def test_plot_kind_ecp(ecp_nwb, tmp_path):
    pytest.importorskip("matplotlib")
    path, _ = ecp_nwb
    out = tmp_path / "ecp.png"
    assert main(["plot", str(path), "--kind", "ecp", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG


def test_convert_bmtk_ecp_and_back(tmp_path, rng):
    data = rng.normal(size=(20, 3))
    src = tmp_path / "ecp.h5"
    with h5py.File(src, "w") as h5:
        h5.create_dataset("ecp/data", data=data).attrs["units"] = "mV"
        h5.create_dataset("ecp/time", data=(0.0, 2.0, 0.1))
        h5.create_dataset("ecp/channel_id", data=np.arange(3))
    csv = tmp_path / "el.csv"
    csv.write_text("channel x_pos y_pos z_pos\n0 0 0 0\n1 0 10 0\n2 0 20 0\n")
    assert main(["convert", str(src), str(tmp_path / "ecp.nwb"), "--electrodes", str(csv)]) == 0
    with open_report(tmp_path / "ecp.nwb") as r:
        np.testing.assert_array_equal(r.ecp(scaled=False).data, data)
    assert main(["convert", str(tmp_path / "ecp.nwb"), str(tmp_path / "back.h5")]) == 0
    with h5py.File(tmp_path / "back.h5", "r") as h5:
        np.testing.assert_array_equal(h5["ecp/data"][()], data)
        np.testing.assert_array_equal(h5["ecp/time"][()], [0.0, 2.0, 0.1])
