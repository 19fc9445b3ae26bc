"""The reader as a mapping, the one time-window rule, the ``scaled`` defaults, and errors that stay what they are."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simout_plugins import open_report
from simout_plugins.errors import FileFormatError
from simout_plugins.nwb.window import TIME_TOLERANCE_S, sample_range
from simout_plugins.plot import load as plot_load
from tests.factories import make_nwb, make_sonata_report


@pytest.fixture
def nwb(tmp_path):
    return make_nwb(tmp_path / "a.nwb")


# ---------------------------------------------------------------------------------------------- Mapping


def test_report_reader_is_a_mapping_of_series_readers(nwb):
    with open_report(nwb) as r:
        assert isinstance(r, Mapping)
        names = r.series_names
        assert names and list(r) == names == list(r.keys())
        assert len(r) == len(names)
        assert all(name in r for name in names) and "nope" not in r and 3 not in r
        assert [s.name for s in r.values()] == names
        assert dict(r.items())[names[0]] is r[names[0]]  # readers are made once per name
        assert [s.name for s in (r[n] for n in r)] == names  # ``for s in report`` iterates names
        assert r.get("nope") is None
        with pytest.raises(KeyError, match="no CompartmentSeries 'nope'"):
            r["nope"]
        assert r == r and r != open_report  # identity, no data compared
        assert hash(r) == id(r) or isinstance(hash(r), int)


def test_iterating_while_reading_is_safe(nwb):
    with open_report(nwb) as r:
        for name in r:
            r[name].get(tstart=0.0, tstop=0.0)


# ---------------------------------------------------------------------------------------------- time window


def test_sample_range_regular_grid_is_inclusive_with_tolerance():
    # samples at 10.0, 10.5, ..., 24.5 ms
    grid = dict(n_samples=30, starting_time=0.010, rate=2000.0)
    assert sample_range(**grid) == (0, 30)
    assert sample_range(**grid, tstart=0.011, tstop=0.012) == (2, 5)
    assert sample_range(**grid, tstart=0.011 + 0.5 * TIME_TOLERANCE_S, tstop=0.011 + TIME_TOLERANCE_S) == (2, 3)  # 1 ns
    assert sample_range(**grid, tstart=0.0105, tstop=0.0105) == (1, 2)
    assert sample_range(**grid, tstart=0.01051, tstop=0.01099) == (2, 2)  # between two samples: empty
    assert sample_range(**grid, tstart=1.0) == (30, 30)
    assert sample_range(**grid, tstop=0.0) == (0, 0)
    assert sample_range(**grid, tstart=-math.inf, tstop=math.inf) == (0, 30)
    assert sample_range(n_samples=0, rate=1.0) == (0, 0)


def test_sample_range_rejects_bad_windows():
    with pytest.raises(ValueError, match="before tstart"):
        sample_range(n_samples=3, rate=1.0, tstart=2.0, tstop=1.0)
    with pytest.raises(ValueError, match="NaN"):
        sample_range(n_samples=3, rate=1.0, tstart=math.nan)
    with pytest.raises(ValueError, match="rate"):
        sample_range(n_samples=3)
    with pytest.raises(ValueError, match="rate"):
        sample_range(n_samples=3, rate=0.0)


window = st.floats(min_value=-1.0, max_value=2.0, allow_nan=False) | st.none()


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 200),
    t0=st.floats(-0.5, 0.5, allow_nan=False),
    rate=st.sampled_from([10.0, 1000.0, 2000.0, 40000.0]),
    a=window,
    b=window,
)
def test_grid_and_timestamps_give_the_samples_inside_the_window(n, t0, rate, a, b):
    if a is not None and b is not None and b < a:
        a, b = b, a
    times = t0 + np.arange(n) / rate
    i0, i1 = sample_range(n_samples=n, tstart=a, tstop=b, starting_time=t0, rate=rate)
    j0, j1 = sample_range(n_samples=n, tstart=a, tstop=b, timestamps=times)
    assert 0 <= i0 <= i1 <= n and 0 <= j0 <= j1 <= n
    lo = -np.inf if a is None else a
    hi = np.inf if b is None else b
    inside = np.flatnonzero((times >= lo - TIME_TOLERANCE_S) & (times <= hi + TIME_TOLERANCE_S))
    # the two forms agree with the definition except for a sample within float rounding of a bound
    for k0, k1 in ((i0, i1), (j0, j1)):
        chosen = np.arange(k0, k1)
        for k in np.setxor1d(chosen, inside):
            near = min(abs(times[k] - lo), abs(times[k] - hi))
            assert near <= TIME_TOLERANCE_S + 1e-12, (k, times[k], a, b)


def test_reader_and_plot_loader_pick_the_same_samples(nwb):
    with open_report(nwb) as r:
        s = r["v"]
        fr = s.get(tstart=0.004, tstop=0.008)
    frame = plot_load.load_traces(nwb, population="thalamus", node_ids=[1, 0], tstart_ms=4.0, tstop_ms=8.0)
    np.testing.assert_array_equal(frame.times, fr.times)


# ---------------------------------------------------------------------------------------------- scaled


def test_scaled_defaults_agree(nwb):
    with open_report(nwb) as r:
        s = r["v"]
        fr = s.get(population="cortex", node_ids=[0])
        np.testing.assert_array_equal(s.read(0, s.n_steps_written, fr_cols := s.select(population="cortex",
                                             node_ids=[0]).cols, scaled=True), fr.data)  # fmt: skip
        raw = s.read(0, s.n_steps_written, fr_cols, scaled=False)
        with pytest.warns(DeprecationWarning, match="scaled=True"):
            old = s.read(0, s.n_steps_written, fr_cols)
        np.testing.assert_array_equal(old, raw)  # unchanged for one release
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s.read(0, 1, fr_cols, scaled=False)
    loaded = plot_load.load_traces(nwb, population="cortex", node_ids=[0])
    np.testing.assert_array_equal(loaded.data, fr.data)
    unscaled = plot_load.load_traces(nwb, population="cortex", node_ids=[0], scaled=False)
    np.testing.assert_array_equal(unscaled.data, raw)
    heat, _ = plot_load.load_heatmap(nwb, population="cortex", node_ids=[0], scaled=False)
    np.testing.assert_array_equal(heat.data, raw)
    assert heat.unit == unscaled.unit


# ---------------------------------------------------------------------------------------------- errors


def test_a_bug_in_our_code_is_not_a_corrupted_file(nwb, tmp_path, monkeypatch):
    import simout_plugins.cli.describe_nwb as describe_nwb
    import simout_plugins.read.reader as reader
    from simout_plugins.cli.info import describe_file

    def bug(*args, **kwargs):
        raise KeyError("a bug of ours")

    with monkeypatch.context() as m:
        m.setattr(reader, "CellTable", bug)
        with open_report(nwb) as r, pytest.raises(KeyError, match="a bug of ours"):
            r["v"]
    with monkeypatch.context() as m:
        m.setattr(describe_nwb, "_series_summary", bug)
        with pytest.raises(KeyError, match="a bug of ours"):
            describe_file(nwb)
    with monkeypatch.context() as m:
        m.setattr(plot_load, "pick_series", bug)
        with pytest.raises(KeyError, match="a bug of ours"):
            plot_load.load_traces(nwb)
    with monkeypatch.context() as m:
        m.setattr(plot_load, "choose_population", lambda *a, **k: (_ for _ in ()).throw(TypeError("ours")))
        with pytest.raises(TypeError, match="ours"):
            plot_load.load_traces(make_sonata_report(tmp_path / "r.h5"))


def test_a_damaged_file_still_is_a_file_format_error(tmp_path):
    path = make_nwb(tmp_path / "a.nwb")
    import h5py

    with h5py.File(path, "r+") as f:
        del f["acquisition/v/data"]
    with pytest.raises(FileFormatError, match="missing"):
        with open_report(path) as r:
            r["v"]
