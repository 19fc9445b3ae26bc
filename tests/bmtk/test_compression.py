"""BMTK report entries with ``compression`` / ``precision``: a real run against the native membrane_report, and bad
values stopping the run before it starts."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, validate

from bmtk_module.config import parse_reports
from simout_plugins import open_report

from .conftest import native, nwb, run_bmtk

pytestmark = [pytest.mark.simulator]

REPORTS = {
    "native_all": native("v", file_name="native_all.h5"),
    "plain": nwb("v", file_name="plain.nwb"),
    "gzip": nwb("v", file_name="gzip.nwb", compression="gzip"),
    "lzf": nwb("v", file_name="lzf.nwb", compression="lzf"),
    "counts": nwb("v", file_name="counts.nwb", compression={"codec": "gzip", "level": 4}, precision=3),
    "counts_two": nwb(["v", "ina"], cells="exc", sections="soma", file_name="two.nwb", compression="lzf", precision=6),
    "native_v_exc": native("v", cells="exc", sections="soma", file_name="native_v_exc.h5"),
    "native_ina_exc": native("ina", cells="exc", sections="soma", file_name="native_ina_exc.h5"),
}


@pytest.fixture(scope="module")
def compressed_run(bmtk_network):
    out = bmtk_network.root / "compression"
    run_bmtk(bmtk_network.config(out, REPORTS))
    return out


def _native(path):
    """The native report's data (time, columns), populations in name order (the NWB file's column order)."""
    with h5py.File(path) as f:
        return np.concatenate([f["report"][p]["data"][()] for p in sorted(f["report"])], axis=1)


def test_lossless_reports_equal_native_float32(compressed_run):
    expected = _native(compressed_run / "native_all.h5").astype(np.float32)
    sizes = {}
    for name, codec in (("plain", None), ("gzip", "gzip"), ("lzf", "lzf")):
        path = compressed_run / f"{name}.nwb"
        with h5py.File(path) as f:
            ds = f["acquisition/v/data"]
            assert ds.compression == codec
            sizes[name] = ds.id.get_storage_size()
        with open_report(path) as r:
            np.testing.assert_array_equal(r["v"].get(scaled=False).data, expected)
        with NWBHDF5IO(path, "r") as io:
            assert validate(io=io) == []
    assert sizes["gzip"] < sizes["plain"] and sizes["lzf"] < sizes["plain"]


def test_precision_report_within_half_a_microvolt(compressed_run):
    path = compressed_run / "counts.nwb"
    v = _native(compressed_run / "native_all.h5")
    with NWBHDF5IO(path, "r") as io:
        assert validate(io=io) == []
        s = io.read().acquisition["v"]
        assert s.data.dtype == np.int32 and s.conversion == pytest.approx(1e-6) and "precision 3" in s.comments
        v_mv = s.data[:] * s.conversion * 1e3  # plain pynwb
    assert np.abs(v_mv - v).max() <= 0.5e-3 + 1e-9
    with open_report(path) as r:
        np.testing.assert_allclose(r["v"].get().data * 1e3, v_mv, rtol=1e-12)
    with h5py.File(path) as f:
        assert f["acquisition/v/data"].compression == "gzip" and f["acquisition/v/data"].compression_opts == 4


def test_precision_on_two_variables(compressed_run):
    """precision counts digits in each series' own unit: mV for v, mA/cm2 (NEURON's, conversion 1) for ina."""
    with open_report(compressed_run / "two.nwb") as r:
        v = r["v"].get(scaled=True).data * 1e3
        ina = r["ina"].get(scaled=True).data
        assert r["ina"].conversion == pytest.approx(1e-6)
    assert np.abs(v - _native(compressed_run / "native_v_exc.h5")).max() <= 0.5e-6 + 1e-9
    assert np.abs(ina - _native(compressed_run / "native_ina_exc.h5")).max() <= 0.5e-6 + 1e-12


@pytest.mark.parametrize(
    ("key", "value"),
    [("compression", "zstd"), ("compression", {"codec": "gzip", "level": 11}), ("precision", 3.5), ("precision", -1)],
)
def test_bad_values_are_config_errors(tmp_path, key, value):
    with pytest.raises(ValueError) as err:
        parse_reports(reports={"v_nwb": nwb("v", **{key: value})}, output_dir=tmp_path)
    msg = str(err.value)
    assert "report 'v_nwb'" in msg and key in msg and repr(value) in msg


def test_bad_compression_stops_the_run_before_it_starts(bmtk_network):
    out = bmtk_network.root / "bad_compression"
    result = run_bmtk(bmtk_network.config(out, {"bad": nwb("v", compression="brotli")}), check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1 and "'bad'" in errors[0] and "'brotli'" in errors[0], result.stderr[-2000:]
    assert "Running simulation" not in result.stderr + result.stdout
