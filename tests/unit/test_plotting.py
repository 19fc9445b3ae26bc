"""simout_plugins.plot.draw: figures from NWB and SONATA files (inspected through the returned matplotlib Figure)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from simout_plugins import open_report
from simout_plugins.plot import draw as plotting
from simout_plugins.plot import load as plot_data
from simout_plugins.plot import render
from tests.factories import DT_MS, make_flat_sonata_spikes, make_nwb, make_sonata_report, make_sonata_spikes


@pytest.fixture
def nwb(tmp_path):
    return make_nwb(tmp_path / "a.nwb")


def test_traces_lines_are_the_selected_compartments_in_ms_and_mv(nwb):
    frame = plot_data.load_traces(nwb, population="thalamus", node_ids=[1, 0], tstart_ms=4.0, tstop_ms=8.0)
    fig = plotting.plot_traces(frame=frame)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == frame.data.shape[1] == 4
    with open_report(nwb) as r:
        ref = r["v"].get(population="thalamus", node_ids=[1, 0], tstart=4e-3, tstop=8e-3)
    np.testing.assert_allclose(lines[0].get_xdata(), ref.times * 1e3)
    np.testing.assert_allclose(lines[0].get_ydata(), ref.data[:, 0] * 1e3, rtol=1e-6)
    assert lines[0].get_xdata()[0] == pytest.approx(4.0) and lines[0].get_xdata()[-1] == pytest.approx(8.0)
    assert ax.get_xlabel() == "time (ms)" and ax.get_ylabel() == "mV"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["thalamus 1 soma/0", "thalamus 1 axon/1", "thalamus 0 soma/0", "thalamus 0 axon/1"]


def test_default_cells_are_the_first_of_the_first_population(nwb):
    frame = plot_data.load_traces(nwb, max_cells=2)
    assert frame.node_ids.tolist() == [0, 0, 0, 1, 1]
    assert set(frame.population.tolist()) == {"cortex"}


def test_many_lines_get_one_legend_entry_per_cell(nwb):
    frame = plot_data.load_traces(nwb, population="cortex")
    fig = plotting.plot_traces(frame=frame, legend_max=2)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["cortex 0 (3 compartments)", "cortex 1 (2 compartments)"]


def test_heatmap_caps_columns_and_decimates_time(nwb):
    frame, note = plot_data.load_heatmap(nwb, max_columns=7, max_times=10)
    # whole cells only: cortex 3 + 2 + 1 = 6 columns fit, thalamus 0 (2 more) would not
    assert frame.data.shape == (10, 6)
    assert "first 3 of 5 cells" in note and "every 4th of 40 steps" in note
    with open_report(nwb) as r:
        ref = r["v"].get(population="cortex")
    np.testing.assert_allclose(frame.data, ref.data[::4], rtol=1e-6)
    np.testing.assert_allclose(frame.times, ref.times[::4])
    fig = plotting.plot_heatmap(frame=frame, title=note)
    ax = fig.axes[0]
    (image,) = ax.get_images()
    assert image.get_array().shape == (6, 10)
    assert ax.get_xlabel() == "time (ms)"


def test_heatmap_strided_row_reads_match(nwb):
    frame, note = plot_data.load_heatmap(nwb, population="thalamus", max_times=2)
    assert "every 20th" in note and frame.data.shape == (2, 4)
    with open_report(nwb) as r:
        ref = r["v"].get(population="thalamus")
    np.testing.assert_allclose(frame.data, ref.data[::20], rtol=1e-6)


def test_raster_stacks_populations_by_global_id(nwb):
    spikes = plot_data.load_spikes(nwb)
    fig = plotting.plot_raster(spikes=spikes)
    ax = fig.axes[0]
    cortex, thalamus = ax.get_lines()[:2]
    np.testing.assert_allclose(sorted(cortex.get_xdata()), [3.0, 5.0, 9.0])
    # cortex node ids 0..2 -> thalamus offset 3 (the file's global ids)
    assert sorted(thalamus.get_ydata().tolist()) == [3, 4]
    assert ax.get_xlabel() == "time (ms)"


def test_no_spikes_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no spikes"):
        plot_data.load_spikes(make_nwb(tmp_path / "a.nwb", spikes=False))


def test_sonata_report_traces_and_heatmap(tmp_path):
    path = make_sonata_report(tmp_path / "r.h5")
    frame = plot_data.load_traces(path, population="a", node_ids=[7, 3], tstart_ms=1.0, tstop_ms=3.0)
    assert frame.node_ids.tolist() == [7, 3, 3] and frame.number.tolist() == [2, 0, 1]
    assert frame.unit == "mV"
    np.testing.assert_allclose(frame.times * 1e3, [1.0, 1.5, 2.0, 2.5, 3.0])  # row k = tstart + k * dt
    np.testing.assert_allclose(frame.data[:, 0], np.arange(2, 7) + 200)
    fig = plotting.plot_traces(frame=frame)
    assert fig.axes[0].get_ylabel() == "mV" and len(fig.axes[0].get_lines()) == 3
    frame, _ = plot_data.load_heatmap(path, population="b")
    assert frame.data.shape == (20, 2)


def test_sonata_spikes_raster(tmp_path):
    spikes = plot_data.load_spikes(make_sonata_spikes(tmp_path / "s.h5"), population="a")
    assert spikes.node_ids.tolist() == [3, 7, 3]
    np.testing.assert_allclose(spikes.times, [1e-3, 2.5e-3, 8e-3])
    fig = plotting.plot_raster(spikes=spikes)
    assert len(fig.axes[0].get_lines()) == 1


def test_sonata_flat_spikes_and_unknown_population(tmp_path):
    path = make_flat_sonata_spikes(tmp_path / "s.h5")
    spikes = plot_data.load_spikes(path, node_ids=[5])
    assert spikes.node_ids.tolist() == [5, 5] and spikes.population.tolist() == ["default", "default"]
    np.testing.assert_allclose(spikes.times, [0.001, 0.004])
    with pytest.raises(ValueError, match="population 'x' not in /spikes"):
        plot_data.load_spikes(path, population="x")


def test_plot_file_writes_png(tmp_path, nwb):
    out = tmp_path / "t.png"
    fig = render.plot_file(nwb, kind="traces", population="cortex", node_ids=[2], output=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "series 'v'" in fig.axes[0].get_title()
    assert len(fig.axes[0].get_lines()) == 1


def test_plot_file_default_kind_of_a_spike_file_is_raster(tmp_path):
    fig = render.plot_file(make_sonata_spikes(tmp_path / "s.h5"), tstart_ms=2.0)
    xs = np.concatenate([line.get_xdata() for line in fig.axes[0].get_lines() if line.get_marker() == "|"])
    assert xs.min() >= 2.0


def test_check_image_path(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        plotting.check_image_path(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        plotting.check_image_path(tmp_path / "no" / "x.png")
    with pytest.raises(ValueError, match="unknown image format"):
        plotting.check_image_path(tmp_path / "x.nwb")


def test_display_units():
    assert plotting.display_unit("volts") == (1e3, "mV")
    assert plotting.display_unit("mV") == (1.0, "mV")
    assert plotting.display_unit("mA/cm2") == (1.0, "mA/cm2")


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path, nwb):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'simout_plugins\[plot\]'"):
        plotting.new_figure()
    with pytest.raises(ImportError, match="simout_plugins"):
        render.plot_file(nwb, output=tmp_path / "x.png")


def test_import_does_not_load_matplotlib():
    import subprocess

    mods = "simout_plugins, simout_plugins.cli, simout_plugins.plot.draw, simout_plugins.plot.load"
    code = f"import sys, {mods}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert DT_MS  # shared constants import
