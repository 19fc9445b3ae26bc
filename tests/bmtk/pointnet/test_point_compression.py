"""PointNet report entries with ``compression`` / ``precision`` against BMTK's native multimeter_report (NEST's
values as 3-decimal text): gzip keeps NEST's float64 values, precision 3 their rounding to 1 uV."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

from .conftest import CORTEX, native, nwb, run_job
from .network import point_config

pytestmark = [pytest.mark.simulator]

REPORTS = {
    "native_cortex": native("V_m", CORTEX, file_name="native_cortex.h5"),
    "gzip": nwb("V_m", cells="cortex", file_name="gzip.nwb", dtype="float64", compression="gzip"),
    "counts": nwb("V_m", cells="cortex", file_name="counts.nwb", compression="lzf", precision=3),
}


def test_compressed_point_reports(point_root):
    out = point_root / "compression"
    run_job(point_config(point_root, out, REPORTS))
    with h5py.File(out / "native_cortex.h5") as f:
        expected = f["report/cortex/data"][()]
    with open_report(out / "gzip.nwb") as r:
        got = r["V_m"].get(scaled=False).data
    np.testing.assert_array_equal(np.round(got, 3), expected)  # native: NEST's values as 3-decimal text
    with open_report(out / "counts.nwb") as r:
        counts = r["V_m"].get(scaled=False).data
        volts = r["V_m"].get().data
    assert counts.dtype == np.int32 and counts.shape == got.shape
    np.testing.assert_array_equal(counts, np.rint(got * 1e3))  # rounded once from NEST's float64 values
    assert np.abs(volts * 1e3 - got).max() <= 0.5e-3 + 1e-9
    assert np.abs(volts * 1e3 - expected).max() <= 1e-3 + 1e-9
    with h5py.File(out / "gzip.nwb") as f, h5py.File(out / "counts.nwb") as g:
        assert f["acquisition/V_m/data"].compression == "gzip" and g["acquisition/V_m/data"].compression == "lzf"
