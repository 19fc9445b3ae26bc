"""``plot_ecp_file``: channels x time by depth plus traces, saved as an image; clear errors for files without ECP."""

from __future__ import annotations

import numpy as np
import pytest

from simout_plugins.nwb import make_probe
from simout_plugins.plot.ecp import load_ecp, plot_ecp_file
from simout_plugins.write import ElectricalSeriesWriter

pytest.importorskip("matplotlib")


def test_plot_saves_an_image(tmp_path, rng):
    path = tmp_path / "ecp.nwb"
    pos = np.c_[np.zeros(8), np.arange(8)[::-1] * 20.0, np.zeros(8)]  # depth decreasing with the channel number
    probe = make_probe(name="probe", positions_um=pos, method="test")
    with ElectricalSeriesWriter(path, probes=[probe], n_steps=30, dt_ms=0.1, tstart_ms=0.1) as w:
        w.write_block(0, rng.normal(size=(30, 8)) * 0.01)
    fig = plot_ecp_file(path, tstart_ms=0.5, tstop_ms=2.0, output=tmp_path / "ecp.png")
    assert (tmp_path / "ecp.png").stat().st_size > 1000
    top = fig.axes[0]
    assert any(ax.get_xlabel() == "time (ms)" for ax in fig.axes)
    assert "channel y" in top.get_ylabel()
    assert top.get_yticklabels()[0].get_text() == "0"  # rows sorted by depth
    assert "0.5..2 ms" in top.get_title()
    name, frame = load_ecp(path, channels=[2, 5])
    assert name == "probe" and frame.data.shape == (30, 2)


def test_file_without_ecp(tmp_path):
    from simout_plugins import CompartmentSeriesWriter, build_compartments

    path = tmp_path / "v.nwb"
    comps = build_compartments(node_ids=[0], counts=[1], number=[0], position=[0.5])
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=2, dt_ms=0.1) as w:
        w.write_block(0, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="no ElectricalSeries"):
        plot_ecp_file(path)
