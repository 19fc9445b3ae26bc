"""xarray / pandas / dask views of what the reader returns: values, coordinates, laziness, missing extras."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from simout_plugins import open_report
from tests.factories import COUNTS, DT_MS, LABELS, N_STEPS, NODE_IDS, SPIKES, TSTART_MS, make_nwb

xr = pytest.importorskip("xarray")
pd = pytest.importorskip("pandas")
da = pytest.importorskip("dask.array")


@pytest.fixture
def nwb(tmp_path):
    return make_nwb(tmp_path / "a.nwb")


def _expected_raw() -> np.ndarray:
    """What make_nwb writes as v: value(step, column) = -65 + 0.1 * step + column (stored float32, mV)."""
    values = -65.0 + np.arange(N_STEPS)[:, None] * 0.1 + np.arange(sum(COUNTS))[None, :]
    return values.astype(np.float32)


def test_trace_to_xarray_has_dims_coords_and_unit(nwb):
    with open_report(nwb) as r:
        frame = r["v"].get(population="thalamus")
        arr = frame.to_xarray()
    assert arr.dims == ("time", "compartment")
    np.testing.assert_array_equal(arr.values, frame.data)
    np.testing.assert_allclose(arr["time"].values, (TSTART_MS + DT_MS * np.arange(N_STEPS)) / 1000.0)
    assert arr["time"].attrs["units"] == "s" and arr.attrs["unit"] == "volts"
    thal = slice(sum(COUNTS[:3]), None)
    np.testing.assert_array_equal(arr["node_id"].values, np.repeat(NODE_IDS[3:], COUNTS[3:]))
    assert list(arr["population"].values) == ["thalamus"] * sum(COUNTS[3:])
    assert list(arr["label"].values) == LABELS[thal]
    assert arr["number"].dtype.kind == "i" and arr["position"].dtype.kind == "f"
    # select one cell's compartments the xarray way
    one = arr.where(arr["node_id"] == 1, drop=True)
    assert one.sizes["compartment"] == COUNTS[4]


def test_trace_values_equal_what_was_written(nwb):
    with open_report(nwb) as r:
        arr = r["v"].get(scaled=False).to_xarray()
    np.testing.assert_array_equal(arr.values, _expected_raw())


def test_spikes_to_pandas_one_row_per_spike(nwb):
    with open_report(nwb) as r:
        df = r.spikes().to_pandas()
    assert list(df.columns[:3]) == ["population", "node_id", "time"]
    got = sorted(zip(df["population"], df["node_id"], np.round(df["time"] * 1000.0, 9)))
    want = sorted(zip(SPIKES["population"], SPIKES["node_ids"], SPIKES["times_ms"]))
    assert got == want
    assert df["node_id"].dtype == np.int64 and df["time"].dtype == np.float64


def test_to_dask_is_lazy_chunked_as_on_disk_and_equal_when_computed(nwb, monkeypatch):
    with open_report(nwb) as r:
        s = r["v"]
        reads = []
        arr = s.to_dask(scaled=False)
        dataset = s._data  # noqa: SLF001 - the test watches the reads
        original = type(dataset).__getitem__
        monkeypatch.setattr(type(dataset), "__getitem__", lambda self, key: reads.append(key) or original(self, key))
        lazy_mean = arr.mean(axis=1)
        assert reads == []  # building the graph read nothing
        assert arr.chunksize == tuple(min(a, b) for a, b in zip(dataset.chunks, arr.shape))
        np.testing.assert_allclose(lazy_mean.compute(), _expected_raw().mean(axis=1), rtol=1e-6)
        assert reads
        np.testing.assert_allclose(s.to_dask().compute(), _expected_raw() * 1e-3, rtol=1e-6)


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("xarray", lambda r: r["v"].get().to_xarray()),
        ("pandas", lambda r: r.spikes().to_pandas()),
        ("dask", lambda r: r["v"].to_dask()),
    ],
)
def test_a_missing_extra_is_one_clear_import_error(nwb, monkeypatch, module, call):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with open_report(nwb) as r, pytest.raises(ImportError, match=rf"simout_plugins\[analysis\].*{module}"):
        call(r)
