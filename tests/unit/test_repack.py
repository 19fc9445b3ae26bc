"""``simout repack``: the same file, values and all, with each column of chunks stored back to back; one cell's
trace then costs one or two range requests over HTTP."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.cli.app import main
from simout_plugins.read.remote import forget_remote_files
from simout_plugins.write.repack import default_repacked_path, repack
from tests.factories import datasets, make_nwb
from tests.remote_server import serve

N_CELLS, PER, STEPS, BLOCK = 120, 100, 600, 50  # 3 columns of 12 chunks (29 MB)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repack")
    path = folder / "run.nwb"
    comps = build_compartments(
        node_ids=np.arange(N_CELLS), counts=np.full(N_CELLS, PER), number=np.tile(np.arange(PER), N_CELLS)
    )
    data = np.random.default_rng(5).standard_normal((STEPS, N_CELLS * PER)).astype(np.float32)
    with CompartmentSeriesWriter(
        path, compartments=comps, name="v", n_steps=STEPS, dt_ms=0.1, unit="mV", block_steps=BLOCK
    ) as w:
        for s0 in range(0, STEPS, BLOCK):
            w.write_block(s0, data[s0 : s0 + BLOCK])
        w.add_spikes(node_ids=[1, 2, 2], times_ms=[1.0, 2.0, 3.0])
    return path, data


def _column_runs(path) -> list[int]:
    """For each column of chunks: how many pieces its chunks form in the file (1 = back to back)."""
    with h5py.File(path, "r") as f:
        d = f["acquisition/v/data"]
        t, c = d.chunks
        runs = []
        for c0 in range(0, d.shape[1], c):
            offsets = [d.id.get_chunk_info_by_coord((r0, c0)) for r0 in range(0, d.shape[0], t)]
            starts = np.array([i.byte_offset for i in offsets])
            ends = starts + np.array([i.size for i in offsets])
            runs.append(1 + int(np.sum(starts[1:] != ends[:-1])))
        return runs


def test_repack_keeps_every_value_and_object_and_stores_chunks_by_column(written, tmp_path):
    path, data = written
    report = repack(path, out=tmp_path / "out.nwb")
    assert report.series == ("v",) and report.output == tmp_path / "out.nwb"
    before, after = datasets(path), datasets(report.output)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    with h5py.File(path) as a, h5py.File(report.output) as b:
        da, db = a["acquisition/v/data"], b["acquisition/v/data"]
        assert (db.chunks, db.dtype, db.fillvalue is not None) == (da.chunks, da.dtype, True)
        assert dict(db.attrs) == dict(da.attrs)
    assert max(_column_runs(path)) > 1  # as written: time order
    assert set(_column_runs(report.output)) == {1}
    with NWBHDF5IO(str(report.output), "r") as io:
        assert validate(io=io) == []
        np.testing.assert_array_equal(io.read().acquisition["v"].data[:], data)
    assert abs(report.output.stat().st_size - path.stat().st_size) < 2 << 20  # the old data's space is reused


def test_one_cell_over_http_is_one_or_two_requests_after_repack(written, tmp_path):
    path, data = written
    (tmp_path / "served").mkdir()
    out = repack(path, out=tmp_path / "served" / "repacked.nwb").output
    shutil.copyfile(path, tmp_path / "served" / "as_written.nwb")
    counts = {}
    with serve(out.parent) as server:
        for name in ("as_written.nwb", "repacked.nwb"):
            forget_remote_files()
            with open_report(server.url(name)) as r:
                s = r["v"]
                server.reset()
                frame = s.get(node_ids=[17], scaled=False)
                counts[name] = server.stats.n_requests
            np.testing.assert_array_equal(frame.data, data[:, 17 * PER : 18 * PER])
    # as written: one request per chunk row (all in flight at once); repacked: the cell's chunks in one piece
    assert counts["as_written.nwb"] >= STEPS // BLOCK and counts["repacked.nwb"] <= 2, counts


def test_default_output_name_and_no_clobber(written, tmp_path):
    src = tmp_path / "a.nwb"
    make_nwb(src)
    assert default_repacked_path(src) == tmp_path / "a.repacked.nwb"
    assert main(["repack", str(src)]) == 0
    assert (tmp_path / "a.repacked.nwb").exists()
    before = (tmp_path / "a.repacked.nwb").read_bytes()
    with pytest.raises(FileExistsError):
        repack(src)
    assert (tmp_path / "a.repacked.nwb").read_bytes() == before
    assert main(["repack", str(src), "--overwrite"]) == 0
    with open_report(tmp_path / "a.repacked.nwb") as r, open_report(src) as o:
        np.testing.assert_array_equal(r["v"].get().data, o["v"].get().data)


def test_a_file_that_is_not_nwb_is_one_error_and_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not hdf5")
    assert main(["repack", str(bad), "-o", str(tmp_path / "out.nwb")]) == 2
    assert "bad.nwb" in capsys.readouterr().err
    assert not (tmp_path / "out.nwb").exists()
