"""cfg.saveNWB ``compression`` / ``precision``: real NetPyNE runs against NetPyNE's own traces, 2 ranks = 1 rank,
and bad values as config errors before anything is built."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

pytest.importorskip("netpyne")

from netpyne_module import parse_save_nwb  # noqa: E402
from simout_plugins import open_report  # noqa: E402

from .test_config import make_cfg  # noqa: E402
from .test_netpyne_nwb import FILE, assert_columns_match, run  # noqa: E402


def assert_counts_match(path, traces, *, precision: int) -> int:
    """Every column's counts, scaled back to the trace's unit, within 0.5 * 10**-precision of NetPyNE's values."""
    checked = 0
    with open_report(path) as r:
        for name in r.series_names:
            frame = r[name].get(scaled=False)
            assert frame.data.dtype == np.int32
            for j, (gid, key) in enumerate(zip(frame.node_ids, frame.columns["trace_key"])):
                expected = np.asarray(traces[key][f"cell_{gid}"])
                back = frame.data[:, j] / 10.0**precision
                assert np.abs(back - expected).max() <= 0.5 * 10.0**-precision * (1 + 1e-9), f"{name} {key} {gid}"
                checked += 1
    return checked


@pytest.mark.simulator
def test_gzip_exact_and_precision_within_bound(tmp_path):
    data, _ = run(tmp_path, "gz", save_nwb={"dtype": "float64", "gatherTraces": True, "compression": "gzip"})
    path = tmp_path / "gz" / FILE
    assert assert_columns_match(path, data["traces"], exact=True) == 40
    with h5py.File(path) as f:
        assert {f[f"acquisition/{s}/data"].compression for s in ("v", "hh_m", "exc_g")} == {"gzip"}
    opts = {"gatherTraces": True, "compression": {"codec": "lzf"}, "precision": 5}
    data, _ = run(tmp_path, "q", save_nwb=opts)
    path = tmp_path / "q" / FILE
    assert assert_counts_match(path, data["traces"], precision=5) == 40
    with h5py.File(path) as f:
        v = f["acquisition/v/data"]
        assert v.compression == "lzf" and v.attrs["conversion"] == pytest.approx(1e-8)  # 1e-5 mV per count


@pytest.mark.simulator
@pytest.mark.mpi
def test_two_ranks_give_the_one_rank_file_compressed(tmp_path):
    opts = {"gatherTraces": True, "compression": "gzip:2", "precision": 4}
    one, _ = run(tmp_path, "one", save_nwb=opts)
    two, _ = run(tmp_path, "two", mpi=True, save_nwb=opts)
    assert (one["nhosts"], two["nhosts"]) == (1, 2)
    with open_report(tmp_path / "one" / FILE) as r1, open_report(tmp_path / "two" / FILE) as r2:
        for name in r1.series_names:
            np.testing.assert_array_equal(r1[name].get(scaled=False).data, r2[name].get(scaled=False).data)
    assert assert_counts_match(tmp_path / "two" / FILE, two["traces"], precision=4) == 40


@pytest.mark.parametrize(
    ("key", "value"), [("compression", "gz"), ("compression", {"codec": "lzf", "level": 1}), ("precision", "3")]
)
def test_bad_values_are_config_errors(key, value):
    with pytest.raises(ValueError) as err:
        parse_save_nwb(make_cfg({key: value}))
    msg = str(err.value)
    assert "cfg.saveNWB" in msg and f"'{key}'" in msg and repr(value) in msg


def test_options_parsed():
    opts = parse_save_nwb(make_cfg({"compression": "gzip", "precision": 3}))
    assert (str(opts.compression), opts.precision, opts.dtype) == ("gzip:4", 3, "float64")
