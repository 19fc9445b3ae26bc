"""Other people's tools read the simulated probe: SpikeInterface's NWB recording extractor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

se = pytest.importorskip("spikeinterface.extractors")


def test_spikeinterface_reads_traces_and_locations(tmp_path, rng):
    path = tmp_path / "ecp.nwb"
    pos = np.c_[np.full(6, 10.0), np.arange(6) * 20.0 - 50.0, np.full(6, 5.0)]
    data = rng.normal(scale=0.2, size=(400, 6))  # mV
    probe = make_probe(name="probe", positions_um=pos, channel_ids=np.arange(6) + 10, method="test")
    with ElectricalSeriesWriter(path, probes=[probe], n_steps=400, dt_ms=0.1, tstart_ms=0.1, dtype="float64") as w:
        for s in range(0, 400, 100):
            w.write_block(s, data[s : s + 100])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SpikeInterface warns about its optional dependencies
        rec = se.read_nwb_recording(file_path=str(path))
        traces = rec.get_traces(return_in_uV=True)
    assert rec.get_num_channels() == 6 and rec.get_num_samples() == 400
    assert rec.get_sampling_frequency() == pytest.approx(1e4)
    np.testing.assert_allclose(traces, data * 1e3, rtol=1e-6, atol=1e-9)  # µV (its gain is float32)
    np.testing.assert_array_equal(rec.get_channel_locations(), pos[:, :2])  # from rel_x / rel_y
    np.testing.assert_allclose(rec.get_times()[:2], [1e-4, 2e-4])
