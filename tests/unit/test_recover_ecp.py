"""recover() on the partial file of a killed ECP run: the ElectricalSeries are cut to their flushed steps, alone or
beside the CompartmentSeries of a host writer."""

import shutil

import numpy as np
import pynwb
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments, recover
from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter


def _probe(n):
    pos = np.c_[np.zeros(n), np.arange(n) * 20.0, np.zeros(n)]
    return make_probe(name="ecp", positions_um=pos, method="line source, sigma = 0.3 S/m")


def _check(out, ecp, steps, v=None):
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        np.testing.assert_array_equal(f.acquisition["ecp"].data[:], ecp[:steps])
        if v is not None:
            np.testing.assert_array_equal(f.acquisition["v"].data[:], v[:steps])
        assert pynwb.validate(io=io) == []


@pytest.mark.parametrize("with_host", [False, True], ids=["ecp-only", "with-host"])
def test_killed_run_recovers_the_flushed_steps(tmp_path, rng, with_host):
    ecp, v = rng.normal(size=(40, 4)), rng.normal(size=(40, 3))
    out, snapshot = tmp_path / "run.nwb", tmp_path / "killed.partial.nwb"
    kw = dict(probes=[_probe(4)], n_steps=40, dt_ms=0.1, dtype="float64", flush_interval_s=0)
    comps = build_compartments(node_ids=[0, 1], counts=[2, 1], number=[0, 1, 0], position=[0.5, 0.5, 0.5])
    if with_host:
        host = CompartmentSeriesWriter(out, compartments=comps, n_steps=40, dt_ms=0.1, dtype="float64",
                                       overwrite=False, flush_interval_s=0)  # fmt: skip
        w = ElectricalSeriesWriter(out, host=host, **kw)
        w.open()
    else:
        host, w = None, ElectricalSeriesWriter(out, overwrite=False, **kw)
    for s in (0, 10):
        if host is not None:
            host.write_block(s, v[s : s + 10])
        w.write_block(s, ecp[s : s + 10])
    shutil.copyfile(tmp_path / "run.partial.nwb", snapshot)  # what a kill -9 leaves: 20 flushed steps
    for s in (20, 30):
        if host is not None:
            host.write_block(s, v[s : s + 10])
        w.write_block(s, ecp[s : s + 10])
    w.close()
    if host is not None:
        host.close()
    report = recover(snapshot, out=tmp_path / "recovered.nwb")
    assert {s.name: s.steps_valid for s in report.series}["ecp"] == 20
    _check(tmp_path / "recovered.nwb", ecp, 20, v if with_host else None)
    _check(out, ecp, 40, v if with_host else None)  # the finished run, for comparison
