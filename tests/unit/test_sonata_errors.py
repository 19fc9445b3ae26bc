"""Bad input to the SONATA converters: one clear error naming file and dataset, nothing left at the output."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.cli.app import main
from simout_plugins.errors import FileFormatError
from simout_plugins.sonata import ConversionError, to_nwb, to_sonata
from tests.data.generate_sonata import simple_pops, write_report, write_spikes


def _report(tmp_path, **edits):
    path = write_report(tmp_path / "in.h5", simple_pops(), style="libsonatareport")
    with h5py.File(path, "r+") as f:
        for key, value in edits.items():
            del f[key]
            if value is not None:
                f[key] = value
    return path


def _assert_nothing_left(tmp_path, keep=("in.h5", "in.nwb")):
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in keep) == []


CASES = {
    "not monotonic": ({"report/cortex/mapping/index_pointers": np.array([0, 3, 2, 5], np.uint64)}, "not monotonic"),
    "past the data": ({"report/cortex/mapping/index_pointers": np.array([0, 2, 2, 6], np.uint64)}, "past the end"),
    "wrong length": ({"report/cortex/mapping/index_pointers": np.array([0, 2, 5], np.uint64)}, "expected 4"),
    "ids vs elements": ({"report/thalamus/mapping/element_ids": np.array([0, 1], np.uint32)}, "disagree"),
    "zero nodes": (
        {
            "report/thalamus/mapping/node_ids": np.zeros(0, np.uint64),
            "report/thalamus/mapping/index_pointers": np.zeros(1, np.uint64),
        },
        "zero nodes",
    ),
    "no index": ({"report/cortex/mapping/index_pointers": None}, "neither index_pointers nor index_pointer"),
    "bad time": ({"report/cortex/mapping/time": np.array([0.0, 1.0])}, "[tstart, tstop, dt]"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_report_names_file_and_dataset(tmp_path, case):
    edits, words = CASES[case]
    src = _report(tmp_path, **edits)
    with pytest.raises(ConversionError) as info:
        to_nwb(report=src, out=tmp_path / "out.nwb")
    msg = str(info.value)
    assert str(src) in msg and words in msg and "/report/" in msg and info.value.dataset
    _assert_nothing_left(tmp_path)


def test_not_hdf5_truncated_and_foreign_hdf5(tmp_path):
    text = tmp_path / "in.h5"
    text.write_text("not hdf5 at all")
    with pytest.raises(ConversionError, match="not an HDF5 file"):
        to_nwb(report=text, out=tmp_path / "out.nwb")
    src = write_report(tmp_path / "in.h5", simple_pops(n_rows=2000), style="bmtk")
    size = os.path.getsize(src)
    with open(src, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(ConversionError, match="truncated"):
        to_nwb(report=src, out=tmp_path / "out.nwb")
    _assert_nothing_left(tmp_path)
    with h5py.File(src, "w") as f:
        f["something/else"] = np.zeros(3)
    assert main(["convert", str(src), str(tmp_path / "out.nwb"), "-q"]) == 2
    _assert_nothing_left(tmp_path)


def test_data_truncated_mid_stream_leaves_no_output(tmp_path):
    pops = simple_pops(n_rows=50_000)
    src = write_report(tmp_path / "in.h5", pops, style="bmtk")
    with h5py.File(src) as f:  # the data of the last population sits at the end of the file
        last = max(f["report/cortex/data"].id.get_offset(), f["report/thalamus/data"].id.get_offset())
    with open(src, "r+b") as fh:
        fh.truncate(last + 1000)
    with pytest.raises(ConversionError, match="truncated") as info:
        to_nwb(report=src, out=tmp_path / "out.nwb", block_steps=1000)
    assert str(src) in str(info.value)
    _assert_nothing_left(tmp_path)


def test_output_path_policy(tmp_path):
    src = write_report(tmp_path / "in.h5", simple_pops(), style="bmtk")
    (tmp_path / "dir.nwb").mkdir()
    with pytest.raises(IsADirectoryError):
        to_nwb(report=src, out=tmp_path / "dir.nwb")
    with pytest.raises(ConversionError, match="is the input"):
        to_nwb(report=src, out=src, overwrite=True)
    out = tmp_path / "out.nwb"
    out.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite"):
        to_nwb(report=src, out=out)
    assert out.read_bytes() == b"old"
    to_nwb(report=src, out=out, overwrite=True)
    with pytest.raises(ConversionError, match="is the input"):
        to_sonata(nwb=out, out=out, overwrite=True)


def test_nwb_side_errors(tmp_path):
    comps = build_compartments(node_ids=[0], counts=[1], number=[0])
    nwb = tmp_path / "in.nwb"
    with CompartmentSeriesWriter(nwb, compartments=comps, n_steps=2, dt_ms=0.1) as w:
        w.add_series(name="ina", unit="mA/cm2")
        w.write_block(0, np.zeros((2, 1)))
        w.write_block(0, np.zeros((2, 1)), series="ina")
    with pytest.raises(ConversionError, match="several CompartmentSeries"):
        to_sonata(nwb=nwb, out=tmp_path / "o.h5")
    with pytest.raises(ConversionError, match="no CompartmentSeries 'x'"):
        to_sonata(nwb=nwb, out=tmp_path / "o.h5", series="x")
    with h5py.File(nwb, "r+") as f:
        del f["acquisition/v/compartments"]
    with pytest.raises(ConversionError, match="no Compartments link") as info:
        to_sonata(nwb=nwb, out=tmp_path / "o.h5", series="v")
    assert info.value.dataset == "/acquisition/v/compartments"
    to_sonata(nwb=nwb, out=tmp_path / "o.h5", series="ina")
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["report/default/data"].attrs["units"] == "mA/cm2"
    os.unlink(tmp_path / "o.h5")
    _assert_nothing_left(tmp_path)


def test_spikes_only_bad_input(tmp_path):
    with pytest.raises(ValueError, match="report= .* spikes="):
        to_nwb(out=tmp_path / "out.nwb")
    empty = write_spikes(tmp_path / "in.h5", {"cortex": ([], [])})
    with pytest.raises(ConversionError, match="holds no spike") as info:
        to_nwb(spikes=empty, out=tmp_path / "out.nwb")
    assert str(empty) in str(info.value)
    report = write_report(tmp_path / "in.h5", simple_pops(), style="bmtk")
    with pytest.raises(ConversionError, match="no /spikes group"):
        to_nwb(spikes=report, out=tmp_path / "out.nwb")
    _assert_nothing_left(tmp_path)


def test_nwb_without_series_or_spikes(tmp_path):
    nwb = tmp_path / "in.nwb"
    with CompartmentSeriesWriter(nwb, compartments=None):
        pass
    with pytest.raises(ConversionError, match="no CompartmentSeries and no Units"):
        to_sonata(nwb=nwb, out=tmp_path / "o.h5")
    with CompartmentSeriesWriter(nwb, compartments=None, overwrite=True) as w:
        w.add_spikes(node_ids=[0], times_ms=[1.0], population="p", resolution_ms=0.1)
    with pytest.raises(ConversionError, match="spikes only"):
        to_sonata(nwb=nwb, out=tmp_path / "o.h5", spikes_out=tmp_path / "s.h5")
    sonata = write_report(tmp_path / "in.h5", simple_pops(), style="bmtk")
    with pytest.raises(ConversionError, match="not NWB"):
        to_sonata(nwb=sonata, out=tmp_path / "o.h5")
    _assert_nothing_left(tmp_path)


def test_units_index_that_does_not_match_the_spikes(tmp_path):
    nwb = tmp_path / "in.nwb"
    with CompartmentSeriesWriter(nwb, compartments=None, overwrite=True) as w:
        w.add_spikes(node_ids=[0, 1, 1], times_ms=[1.0, 2.0, 3.0], resolution_ms=0.1)
    with h5py.File(nwb, "r+") as f:
        del f["units/spike_times_index"]
        f["units/spike_times_index"] = np.array([1, 4], np.uint8)
    with pytest.raises(FileFormatError, match="past the end") as info:  # raised by the reader's Units table
        to_sonata(nwb=nwb, out=tmp_path / "o.h5")
    assert info.value.dataset == "/units/spike_times_index" and str(nwb) in str(info.value)
    _assert_nothing_left(tmp_path)
