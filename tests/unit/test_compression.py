"""``compression`` and ``precision``: lossless round trips, the rounding bound, scaled reads (ours, plain pynwb,
SONATA export), nwbinspector's compression check, the unwritten-sample and bad-value rules."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from nwbinspector import Importance, inspect_nwbfile
from nwbinspector.checks import check_small_dataset_compression
from pynwb import NWBHDF5IO, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report, recover
from simout_plugins.nwb.compression import (
    COUNT_FILL,
    PRECISION_ATTR,
    CompressionSpec,
    parse_compression,
    parse_precision,
    to_counts,
)
from simout_plugins.sonata import to_nwb, to_sonata
from simout_plugins.write.deflate import ChunkDeflater
from tests.data.generate_sonata import simple_pops, write_report

META = {
    "session_description": "unit test of compression and precision",
    "identifier": "compression-test",
    "session_start_time": "2024-05-01T10:00:00+00:00",
    "institution": "simout_plugins tests",
    "experimenter": ["Doe, Jane"],
    "keywords": ["simulation"],
    "experiment_description": "random walks standing in for membrane potentials",
    "subject": {"subject_id": "model-1", "species": "Mus musculus", "age": "P60D", "sex": "U",
                "description": "simulated cell population"},
}  # fmt: skip


def _comps():
    return build_compartments(
        node_ids=[0, 1, 5], counts=[3, 0, 2], number=[0, 1, 2, 0, 3], position=[0.5, 0.5, 0.5, 0.1, 0.9]
    )


def _traces(rng, n_steps=60, n_cols=5, dtype="float32"):
    return (-65.0 + np.cumsum(rng.normal(0.0, 0.7, (n_steps, n_cols)), axis=0)).astype(dtype)


def _write(path, data, *, block=16, n_steps=None, **opts):
    with CompartmentSeriesWriter(
        path, compartments=_comps(), name="v", n_steps=n_steps or data.shape[0], dt_ms=0.1, overwrite=True,
        nwb_metadata=META, dtype=data.dtype, **opts,
    ) as w:  # fmt: skip
        for s0 in range(0, data.shape[0], block):
            w.write_block(s0, data[s0 : s0 + block])
    return path


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("none", None),
        ("gzip", CompressionSpec("gzip", 4)),
        ("GZIP:9", CompressionSpec("gzip", 9)),
        ("lzf", CompressionSpec("lzf")),
        ({"codec": "gzip", "level": 1}, CompressionSpec("gzip", 1)),
        ({"codec": "gzip"}, CompressionSpec("gzip", 4)),
        ({"codec": "lzf"}, CompressionSpec("lzf")),
        (CompressionSpec("lzf"), CompressionSpec("lzf")),
    ],
)
def test_parse_compression_forms(value, expected):
    assert parse_compression(value, where="here") == expected


def test_h5py_kwargs_shuffle_first():
    assert CompressionSpec("gzip", 4).h5py_kwargs() == {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    assert CompressionSpec("lzf").h5py_kwargs() == {"compression": "lzf", "shuffle": True}


@pytest.mark.parametrize(
    "value", ["zip", "gzip:10", "gzip:x", "lzf:2", True, 4, {"codec": "gzip", "level": 12}, {"codec": "szip"},
              {"codec": "gzip", "lvl": 3}, {"codec": "lzf", "level": 2}, ["gzip"]],
)  # fmt: skip
def test_parse_compression_bad_values_name_key_value_and_forms(value):
    with pytest.raises(ValueError) as err:
        parse_compression(value, where="report 'v_nwb'")
    msg = str(err.value)
    assert "report 'v_nwb'" in msg and "compression" in msg and repr(value) in msg and "'lzf'" in msg


@pytest.mark.parametrize("value", [-1, 10, 2.0, "3", True])
def test_parse_precision_bad_values(value):
    with pytest.raises(ValueError, match=r"cfg.saveNWB: precision .* int from 0 to 9"):
        parse_precision(value, where="cfg.saveNWB")
    assert parse_precision(None, where="x") is None
    assert parse_precision(np.int64(3), where="x") == 3


def test_writer_rejects_bad_options_before_creating_anything(tmp_path):
    out = tmp_path / "x.nwb"
    with pytest.raises(ValueError, match="CompartmentSeriesWriter: compression 'zstd'"):
        CompartmentSeriesWriter(out, compartments=_comps(), n_steps=3, dt_ms=0.1, compression="zstd", overwrite=True)
    with pytest.raises(ValueError, match="series 'v': precision 12"):
        CompartmentSeriesWriter(out, compartments=_comps(), n_steps=3, dt_ms=0.1, precision=12, overwrite=True)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- lossless
@pytest.mark.parametrize("compression", ["gzip", "gzip:1", "lzf", {"codec": "gzip", "level": 6}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lossless_round_trip_exact(tmp_path, rng, compression, dtype):
    data = _traces(rng, dtype=dtype)
    path = _write(tmp_path / "c.nwb", data, compression=compression)
    spec = parse_compression(compression, where="test")
    with h5py.File(path) as f:
        ds = f["acquisition/v/data"]
        assert ds.compression == spec.codec and ds.shuffle and ds.dtype == np.dtype(dtype)
        if spec.level is not None:
            assert ds.compression_opts == spec.level
        np.testing.assert_array_equal(ds[()], data)
        assert ds.attrs["conversion"] == 1e-3 and PRECISION_ATTR not in ds.attrs
    with open_report(path) as r:
        np.testing.assert_array_equal(r["v"].get(scaled=False).data, data)
    with NWBHDF5IO(path, "r") as io:
        assert validate(io=io) == []


def test_compressed_file_is_smaller_and_inspector_is_quiet(tmp_path, rng):
    data = _traces(rng, n_steps=2000)
    plain, packed = _write(tmp_path / "p.nwb", data), _write(tmp_path / "g.nwb", data, compression="gzip")
    counts = _write(tmp_path / "q.nwb", data, compression="gzip", precision=3)
    sizes = {}
    for name, path in (("plain", plain), ("gzip", packed), ("counts", counts)):
        with h5py.File(path) as f:
            sizes[name] = f["acquisition/v/data"].id.get_storage_size()
        with NWBHDF5IO(path, "r") as io:
            series = io.read().acquisition["v"]
            message = check_small_dataset_compression(series, mb_lower_bound=0.0)
            assert (message is None) == (name != "plain"), name
        found = inspect_nwbfile(nwbfile_path=str(path), importance_threshold=Importance.BEST_PRACTICE_VIOLATION)
        assert list(found) == [], name
    assert sizes["counts"] < sizes["gzip"] < sizes["plain"]


# ---------------------------------------------------------------------- precision
@settings(max_examples=30, deadline=None)
@given(
    precision=st.integers(0, 6),
    dtype=st.sampled_from(["float32", "float64"]),
    data=arrays(np.float64, st.tuples(st.integers(1, 40), st.just(5)), elements=st.floats(-200.0, 200.0)),
)
def test_precision_bound(tmp_path_factory, precision, dtype, data):
    """max |stored - recorded| <= 0.5 * 10**-p in the recorded unit, plus the float32 rounding of the input."""
    values = data.astype(dtype)
    path = _write(tmp_path_factory.mktemp("p") / "p.nwb", values, block=7, precision=precision, compression="lzf")
    with h5py.File(path) as f:
        ds = f["acquisition/v/data"]
        assert ds.dtype == np.int32 and ds.attrs[PRECISION_ATTR] == precision and ds.fillvalue == COUNT_FILL
        assert ds.attrs["conversion"] == pytest.approx(1e-3 / 10**precision, rel=1e-15)
        counts = ds[()]
    back_mv = counts / 10.0**precision
    tol = 0.5 * 10.0**-precision * (1 + 1e-9) + 1e-12 * np.abs(values.astype(np.float64)).max()
    assert np.abs(back_mv - values.astype(np.float64)).max() <= tol
    if dtype == "float32":  # against the exact value before the input was rounded to float32
        f32 = np.abs(values.astype(np.float64) - data).max()
        assert np.abs(back_mv - data).max() <= tol + f32
    with open_report(path) as r:  # our reader: SI (volts)
        np.testing.assert_allclose(r["v"].get().data * 1e3, back_mv, rtol=1e-12, atol=1e-12)


def test_precision_read_by_pynwb_and_reader_and_described(tmp_path, rng):
    data = _traces(rng, dtype="float64")
    path = _write(tmp_path / "q.nwb", data, precision=3, compression={"codec": "gzip", "level": 4})
    with NWBHDF5IO(path, "r") as io:
        assert validate(io=io) == []
        s = io.read().acquisition["v"]
        volts = s.data[:] * s.conversion  # the plain pynwb way
        assert s.unit == "volts" and "int32 counts of 1e-3 mV" in s.comments and "precision 3" in s.comments
    assert np.abs(volts * 1e3 - data).max() <= 0.5e-3 + 1e-12
    with open_report(path) as r:
        np.testing.assert_allclose(r["v"].get().data, volts, rtol=1e-15)
        np.testing.assert_array_equal(r["v"].get(scaled=False).data, np.rint(data * 1e3).astype(np.int32))


def test_precision_cuts_unwritten_samples(tmp_path, rng):
    data = _traces(rng, n_steps=30)
    path = _write(tmp_path / "u.nwb", data, n_steps=50, precision=2)  # 20 samples never written
    with h5py.File(path) as f:
        assert f["acquisition/v/data"].shape == (30, 5)
        assert (f["acquisition/v/data"][()] != COUNT_FILL).all()


@pytest.mark.parametrize(("value", "text"), [(np.nan, "nan"), (np.inf, "inf"), (3e6, "3000000.0")])
def test_precision_value_that_does_not_fit_is_an_error_old_output_kept(tmp_path, rng, value, text):
    out = tmp_path / "bad.nwb"
    out.write_bytes(b"old")
    data = _traces(rng, n_steps=20, dtype="float64")
    data[12, 3] = value
    with pytest.raises(ValueError, match=rf"'v' at step 0: value {text} at block index \(12, 3\).*precision 3"):
        _write(out, data, block=20, precision=3)
    assert out.read_bytes() == b"old"


def test_to_counts_rounds_to_nearest():
    counts, problem = to_counts(np.array([[0.0004, 0.0006, -0.0006, 1.2346, -65.0004]]), precision=3)
    assert problem is None and counts.dtype == np.int32
    assert counts.tolist() == [[0, 1, -1, 1235, -65000]]


def test_recover_partial_compressed_counts(tmp_path, rng):
    """A run that failed after some blocks: the partial file's flushed counts recover, the rest is cut."""
    data = _traces(rng, n_steps=64)
    out = tmp_path / "r.nwb"
    with pytest.raises(RuntimeError, match="simulated crash"):
        with CompartmentSeriesWriter(
            out, compartments=_comps(), n_steps=64, dt_ms=0.1, overwrite=True, nwb_metadata=META, precision=3,
            compression="gzip", flush_interval_s=0,
        ) as w:  # fmt: skip
            w.write_block(0, data[:16])
            w.write_block(16, data[16:32])
            raise RuntimeError("simulated crash")
    partial = next(tmp_path.glob("r.partial*.nwb"))
    report = recover(partial, out=tmp_path / "rec.nwb")
    assert report.series[0].steps_valid == 32
    with open_report(tmp_path / "rec.nwb") as r:
        np.testing.assert_array_equal(r["v"].get(scaled=False).data, np.rint(data[:32] * 1e3).astype(np.int32))


# ---------------------------------------------------------------------- SONATA and the CLI
def test_to_nwb_compressed_and_counts_to_sonata_floats(tmp_path):
    pops = simple_pops(n_rows=40)
    src = write_report(tmp_path / "r.h5", pops, style="bmtk", time=(0.0, 4.0, 0.1))
    lossless = to_nwb(report=src, out=tmp_path / "g.nwb", keep_dtype=True, compression="gzip")
    counts = to_nwb(report=src, out=tmp_path / "c.nwb", precision=3, compression="lzf")
    with h5py.File(lossless) as f, h5py.File(counts) as g:
        assert f["acquisition/v/data"].compression == "gzip" and f["acquisition/v/data"].dtype == np.float64
        assert g["acquisition/v/data"].compression == "lzf" and g["acquisition/v/data"].dtype == np.int32
    for nwb, bound in ((lossless, 0.0), (counts, 0.5e-3 + 1e-9)):
        back = to_sonata(nwb=nwb, out=tmp_path / f"{nwb.stem}.h5", keep_dtype=True)
        with h5py.File(back) as b:
            for name, pop in pops.items():
                ds = b[f"report/{name}/data"]
                assert ds.attrs["units"] == "mV" and ds.dtype.kind == "f"  # values in mV, not counts or volts
                assert np.abs(ds[()].astype(np.float64) - pop["data"]).max() <= bound + 1e-5 * (bound > 0)


def test_cli_convert_compression_round_trip(tmp_path, capsys):
    from simout_plugins.cli.app import main

    pops = simple_pops(n_rows=30)
    src = write_report(tmp_path / "r.h5", pops, style="bmtk", time=(0.0, 3.0, 0.1))
    assert main(["convert", str(src), str(tmp_path / "o.nwb"), "--compression", "gzip", "--keep-dtype", "-q"]) == 0
    assert main(["convert", str(tmp_path / "o.nwb"), str(tmp_path / "b.h5"), "--keep-dtype", "-q"]) == 0
    with h5py.File(tmp_path / "o.nwb") as f, h5py.File(tmp_path / "b.h5") as b:
        assert f["acquisition/v/data"].compression == "gzip"
        for name, pop in pops.items():
            np.testing.assert_array_equal(b[f"report/{name}/data"][()], pop["data"])
    argv = ["convert", str(src), str(tmp_path / "p.nwb"), "--compression", "gzip:4", "--precision", "2", "-q"]
    assert main(argv) == 0
    with open_report(tmp_path / "p.nwb") as r:
        assert r["v"].get(scaled=False).data.dtype == np.int32
    capsys.readouterr()
    assert main(["convert", str(src), str(tmp_path / "x.nwb"), "--compression", "brotli"]) == 2
    err = capsys.readouterr().err
    assert "--compression 'brotli'" in err and "'gzip'" in err
    assert not (tmp_path / "x.nwb").exists()
    assert main(["convert", str(tmp_path / "o.nwb"), str(tmp_path / "y.h5"), "--precision", "3"]) == 2
    assert "apply to NWB output" in capsys.readouterr().err


# ---------------------------------------------------------------------- gzip on the worker thread
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_worker_deflated_chunks_are_hdf5s_own_bytes(tmp_path, rng, dtype, monkeypatch):
    """Blocks covering whole chunk rows are shuffled + deflated off the main thread (simout_plugins.write.deflate):
    every chunk equals, byte for byte, what HDF5's own filters make of the same data (edge chunks included)."""
    n_steps, counts = 300, np.full(100, 25)
    data = _traces(rng, n_steps=n_steps, n_cols=int(counts.sum()), dtype=dtype)
    comps = build_compartments(node_ids=np.arange(100), counts=counts, number=np.tile(np.arange(25), 100))
    submitted = []
    original = ChunkDeflater.submit
    monkeypatch.setattr(ChunkDeflater, "submit", lambda self, s0, b: (submitted.append(s0), original(self, s0, b)))
    out = tmp_path / "w.nwb"
    with CompartmentSeriesWriter(
        out, compartments=comps, n_steps=n_steps, dt_ms=0.1, dtype=dtype, overwrite=True, nwb_metadata=META,
        block_steps=128, compression={"codec": "gzip", "level": 3}, flush_interval_s=0,
    ) as w:  # fmt: skip
        for s0, n in ((0, 128), (128, 100), (228, 28), (256, 44)):  # aligned, unaligned, unaligned, the end
            buf = data[s0 : s0 + n].copy()
            w.write_block(s0, buf)
            buf[:] = 0.0  # the writer copied it
    assert submitted == [0, 256]
    ref = tmp_path / "ref.h5"
    with h5py.File(out) as f, h5py.File(ref, "w") as g:
        ds = f["acquisition/v/data"]
        np.testing.assert_array_equal(ds[()], data)
        t, c = ds.chunks
        assert t == 128 and c < data.shape[1]  # several chunk columns, the last time chunk partial
        opts = {"chunks": ds.chunks, "compression": "gzip", "compression_opts": 3, "shuffle": True}
        r = g.create_dataset("d", data=data, fillvalue=np.nan, **opts)
        for t0 in range(0, n_steps, t):
            for c0 in range(0, data.shape[1], c):
                assert ds.id.read_direct_chunk((t0, c0)) == r.id.read_direct_chunk((t0, c0)), (t0, c0)


def test_plot_loaders_and_cli_scale_counts_back(tmp_path, rng):
    from simout_plugins.cli.app import main
    from simout_plugins.plot import load_heatmap, load_traces

    data = _traces(rng, n_steps=200, dtype="float64")
    path = _write(tmp_path / "q.nwb", data, precision=3, compression="gzip")
    frame = load_traces(path, node_ids=[0])
    assert np.abs(frame.data * 1e3 - data[:, :3]).max() <= 0.5e-3 + 1e-12  # volts, not counts
    heat, _ = load_heatmap(path)
    assert np.abs(heat.data * 1e3 - data[: heat.data.shape[0]]).max() <= 0.5e-3 + 1e-12
    for kind in ("traces", "heatmap"):
        assert main(["plot", str(path), "--kind", kind, "-o", str(tmp_path / f"{kind}.png")]) == 0
        assert (tmp_path / f"{kind}.png").stat().st_size > 0


def test_info_names_the_filter_and_the_precision(tmp_path, capsys):
    from simout_plugins import CompartmentSeriesWriter, build_compartments
    from simout_plugins.cli.app import main

    comps = build_compartments(node_ids=[0, 1], counts=[2, 1], number=[0, 1, 0], position=[0.5, 0.5, 0.5])
    out = tmp_path / "c.nwb"
    with CompartmentSeriesWriter(out, compartments=comps, n_steps=10, dt_ms=0.1, overwrite=False,
                                 compression={"codec": "gzip", "level": 2}, precision=3) as w:  # fmt: skip
        w.write_block(0, np.ones((10, 3)))
    assert main(["info", str(out)]) == 0
    assert "gzip-2 + shuffle, precision 3 (counts of 1e-06 volts)" in capsys.readouterr().out
    assert main(["info", "--json", str(out)]) == 0
    (s,) = json.loads(capsys.readouterr().out)["series"]
    assert (s["compression"], s["level"], s["shuffle"], s["precision"]) == ("gzip", 2, True, 3)
