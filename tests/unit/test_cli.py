import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.cli import main


def test_info_lists_series_cells_time_and_units(nwb_path, small_layout, capsys):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=4, dt_ms=0.5, tstart_ms=1.0) as w:
        w.write_block(0, np.zeros((4, 5)))
        w.add_spikes(node_ids=[0], times_ms=[1.5])
    assert main(["info", str(nwb_path)]) == 0
    out = capsys.readouterr().out
    assert "series 'v': shape (4 times, 5 compartments) float32, 3 cells (node ids 0..5)" in out
    assert "time 0.001 .. 0.0025 s (2000 Hz); 4/4 steps written; unit volts (conversion 0.001)" in out
    assert "units: 1 cells with 1 spikes" in out


def test_info_missing_file_is_an_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.nwb")]) == 2
    assert "no such file" in capsys.readouterr().err
