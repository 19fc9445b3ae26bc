"""``recover`` / ``simout recover``: partial files of interrupted writers become valid NWB files (issue 7, §3).

Partial files come from really interrupting a writer (an exception inside ``with CompartmentSeriesWriter(...)``);
half-written Units tables and hostile inputs are made with h5py. Every recovered file is read with plain pynwb and
validated; the input's bytes are compared before and after.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.cli.app import main
from simout_plugins.cli.info import describe_file, format_info
from simout_plugins.errors import FileFormatError
from simout_plugins.nwb.attrs import STEPS_WRITTEN_ATTR
from simout_plugins.write.recover import copy_sparse, default_recovered_path, recover

N_STEPS, BLOCK = 100, 10
METADATA = {
    "session_description": "recover test",
    "experimenter": ["Doe, Jane"],
    "institution": "simout_plugins tests",
    "lab": "simout_plugins",
    "keywords": ["simulation"],
    "subject": {"subject_id": "model", "species": "Mus musculus", "sex": "U", "age": "P90D"},
}
# table "compartments": 4 cells in 2 populations (one without compartments), 6 columns; table "soma": 2 columns
CELLS = dict(node_ids=[0, 1, 2, 0], counts=[2, 1, 0, 3], number=[0, 1, 0, 0, 1, 2], population=["a", "a", "a", "b"])
SOMA = dict(node_ids=[0, 1], counts=[1, 1], number=[0, 0], population=["a", "a"], name="soma")
SERIES = {"v": 6, "cai": 6, "ina": 2}  # columns per series
SPIKES = dict(node_ids=[0, 1, 0], times_ms=[1.0, 2.5, 3.0], population=["a", "a", "b"])


class Boom(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _restore_logging():
    """``main()`` points the root logger at the captured stderr; put the handlers back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def values(name: str, start: int, stop: int) -> np.ndarray:
    """What the writer wrote at steps start..stop-1 of a series: exact in float32."""
    offset = {"v": 0.0, "cai": 0.25, "ina": 0.5}[name]
    return np.arange(start, stop)[:, None] * 8.0 + np.arange(SERIES[name])[None, :] + offset


def run_writer(out: Path, blocks: dict[str, int], *, fail: bool) -> Path:
    """Write ``blocks[name]`` blocks of each series (v, cai on one table, ina on another); raise inside the
    ``with`` when ``fail`` (leaves ``<stem>.partial.nwb``). Returns the partial file or the output."""
    comps, soma = build_compartments(**CELLS), build_compartments(**SOMA)
    try:
        with CompartmentSeriesWriter(
            out, compartments=comps, name="v", n_steps=N_STEPS, dt_ms=0.1, block_steps=BLOCK, nwb_metadata=METADATA
        ) as w:
            w.add_series(name="cai", unit="mM", dtype="float64")
            w.add_series(name="ina", unit="mA/cm2", compartments=soma)
            w.add_spikes(**SPIKES, units_node_ids=CELLS["node_ids"], units_population=CELLS["population"])
            w.open()
            for name, n in blocks.items():
                for k in range(n):
                    w.write_block(k * BLOCK, values(name, k * BLOCK, (k + 1) * BLOCK), series=name)
            if fail:
                raise Boom("simulated crash")
    except Boom:
        return out.with_name(f"{out.stem}.partial.nwb")
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_plain(path: Path) -> dict[str, np.ndarray]:
    """Every series' data (and spike times as ``"units"``) with plain pynwb; asserts pynwb.validate is clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert validate(path=str(path)) == []
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            out = {name: nwb.acquisition[name].data[:] for name in SERIES}
            if nwb.units is not None:
                out["units"] = np.sort(np.concatenate([np.atleast_1d(t) for t in nwb.units["spike_times"][:]]))
    return out


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and p.suffix == ".tmp"]


@pytest.fixture
def partial(tmp_path) -> Path:
    """Killed after 5 blocks of v, 3 of cai, none of ina."""
    return run_writer(tmp_path / "out.nwb", {"v": 5, "cai": 3}, fail=True)


@pytest.fixture
def complete(tmp_path) -> Path:
    return run_writer(tmp_path / "done.nwb", {name: N_STEPS // BLOCK for name in SERIES}, fail=False)


# ---------------------------------------------------------------------------------------------------- recovery


def test_interrupted_writer_is_recovered(partial):
    assert partial.name == "out.partial.nwb" and not partial.with_name("out.nwb").exists()
    before = sha(partial)
    report = recover(partial)
    assert sha(partial) == before  # the input is never modified
    assert report.output == partial.with_name("out.recovered.nwb")
    got = {s.name: (s.steps_valid, s.steps_allocated, s.path) for s in report.series}
    assert got == {
        "v": (50, 100, "/acquisition/v"),
        "cai": (30, 100, "/acquisition/cai"),
        "ina": (0, 100, "/acquisition/ina"),
    }
    assert report.trimmed and report.changed and report.units == "absent" and not report.units_kept
    assert "v 50/100 steps" in report.summary() and "no units" in report.summary()
    data = read_plain(report.output)
    np.testing.assert_array_equal(data["v"], values("v", 0, 50).astype(np.float32))
    np.testing.assert_array_equal(data["cai"], values("cai", 0, 30))
    assert data["ina"].shape == (0, 2) and "units" not in data
    with open_report(report.output) as r:  # our reader: everything stored is valid
        assert [(r[n].n_steps_written, r[n].shape[0]) for n in ("v", "cai", "ina")] == [(50, 50), (30, 30), (0, 0)]
        fr = r["v"].get(population="b", node_ids=[0], scaled=False)
        np.testing.assert_array_equal(fr.data, values("v", 0, 50)[:, 3:].astype(np.float32))
    with h5py.File(report.output, "r") as f:
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == 50
        assert f["acquisition/v/data"].attrs["simout_steps_allocated"] == 100
        assert f["acquisition/v/data"].attrs["unit"] == "volts"  # the series' own attributes are untouched
    assert no_temp_files(partial.parent)


def test_recovered_file_passes_nwbinspector(partial):
    nwbinspector = pytest.importorskip("nwbinspector")
    report = recover(partial)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        messages = list(
            nwbinspector.inspect_nwbfile(
                nwbfile_path=str(report.output), importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION
            )
        )
    # the only complaints are about the series that has no valid step (empty data), as for any empty series
    assert {(m.check_function_name, m.location) for m in messages} <= {
        ("check_time_series_data_is_not_empty", "/acquisition/ina"),
        ("check_data_orientation", "/acquisition/ina"),
    }, [m.message for m in messages]


def test_complete_file_is_copied_unchanged(complete, tmp_path):
    report = recover(complete, out=tmp_path / "copy.nwb")
    assert sha(report.output) == sha(complete)
    assert not report.trimmed and not report.changed and report.units_kept
    assert [(s.steps_valid, s.steps_allocated) for s in report.series] == [(100, 100)] * 3
    assert report.summary().startswith("copied (complete, nothing trimmed)")
    data = read_plain(report.output)
    np.testing.assert_allclose(data["units"], np.sort(SPIKES["times_ms"]) / 1000.0)


def test_complete_units_are_kept_when_series_are_cut(complete, tmp_path):
    partial = tmp_path / "run.partial.nwb"  # as if killed after the Units were written, before the move
    shutil.copyfile(complete, partial)
    with h5py.File(partial, "r+") as f:
        f["acquisition/cai/data"].attrs[STEPS_WRITTEN_ATTR] = 70
    report = recover(partial)
    assert report.units == "kept" and report.output.name == "run.recovered.nwb"
    data = read_plain(report.output)
    assert data["cai"].shape == (70, 6) and data["v"].shape == (100, 6)
    np.testing.assert_allclose(data["units"], np.sort(SPIKES["times_ms"]) / 1000.0)


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda g: g.__delitem__("spike_times"), "spike_times"),
        (lambda g: g.__delitem__("spike_times_index"), "spike_times"),
        (lambda g: g["spike_times"].resize((1,)), "spike_times"),
        (lambda g: g.__delitem__("node_id"), "node_id"),
        (lambda g: g.attrs.__delitem__("colnames"), "colnames"),
        (lambda g: g.attrs.__setitem__("neurodata_type", "NoSuchType"), "NoSuchType"),  # only pynwb notices
    ],
    ids=["no-spike_times", "no-index", "short-spike_times", "no-column", "no-colnames", "pynwb-unreadable"],
)
def test_half_written_units_are_removed(complete, tmp_path, damage, why):
    partial = tmp_path / "run.partial.nwb"
    shutil.copyfile(complete, partial)
    with h5py.File(partial, "r+") as f:
        f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] = 40
        damage(f["units"])
    before = sha(partial)
    report = recover(partial)
    assert sha(partial) == before
    assert report.units == "removed" and not report.units_kept and why in report.units_problem
    assert "units removed" in report.summary()
    data = read_plain(report.output)
    assert "units" not in data and data["v"].shape == (40, 6)


def test_stamped_partial_name(partial):
    stamped = partial.with_name("out.partial.20261126-163045.nwb")
    partial.rename(stamped)
    report = recover(stamped)
    assert report.output == stamped.with_name("out.recovered.nwb")
    assert {s.name: s.steps_valid for s in report.series} == {"v": 50, "cai": 30, "ina": 0}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("out.partial.nwb", "out.recovered.nwb"),
        ("out.partial.20261126-163045.nwb", "out.recovered.nwb"),
        ("out.partial.20261126-163045-2.nwb", "out.recovered.nwb"),
        ("my.run.partial.nwb", "my.run.recovered.nwb"),
        ("out.nwb", "out.recovered.nwb"),
        ("out.h5", "out.h5.recovered.nwb"),
        ("out.partial.2026.nwb", "out.partial.2026.recovered.nwb"),  # not a stamp: only .nwb is replaced
    ],
)
def test_default_output_name(tmp_path, name, expected):
    assert default_recovered_path(tmp_path / name) == tmp_path / expected


def test_partial_without_steps_attribute_has_no_valid_step(partial):
    """Killed while the structure was written (before the sink set the attribute): nothing is valid."""
    with h5py.File(partial, "r+") as f:
        for name in SERIES:
            del f[f"acquisition/{name}/data"].attrs[STEPS_WRITTEN_ATTR]
    report = recover(partial)
    assert [s.steps_valid for s in report.series] == [0, 0, 0]
    assert all(v.shape[0] == 0 for v in read_plain(report.output).values())


def test_contiguous_dataset_is_rewritten(partial):
    """A dataset that cannot be resized (not chunked) is rewritten with its valid rows and its attributes."""
    with h5py.File(partial, "r+") as f:
        g = f["acquisition/v"]
        old = g["data"]
        rows, attrs = old[()], {k: (old.attrs[k], old.attrs.get_id(k).dtype) for k in old.attrs}
        del g["data"]
        new = g.create_dataset("data", data=rows)
        for k, (v, dt) in attrs.items():
            new.attrs.create(k, v, dtype=dt)
        assert new.chunks is None
    report = recover(partial)
    assert {s.name: s.steps_valid for s in report.series}["v"] == 50
    data = read_plain(report.output)
    np.testing.assert_array_equal(data["v"], values("v", 0, 50).astype(np.float32))
    with h5py.File(report.output, "r") as f:
        ds = f["acquisition/v/data"]
        assert ds.attrs["unit"] == "volts" and ds.attrs["conversion"] == pytest.approx(1e-3)
        assert ds.attrs[STEPS_WRITTEN_ATTR] == 50 and "data.simout_recover" not in f["acquisition/v"]


# ---------------------------------------------------------------------------------------------------- outputs


def test_refuses_existing_output_unless_overwrite(partial):
    out = partial.with_name("out.recovered.nwb")
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match=r"out\.recovered\.nwb.*--overwrite"):
        recover(partial)
    assert out.read_bytes() == b"keep me" and no_temp_files(partial.parent)
    report = recover(partial, overwrite=True)
    assert report.output == out and read_plain(out)["v"].shape == (50, 6)


def test_explicit_output_and_bad_outputs(partial, tmp_path):
    report = recover(partial, out=tmp_path / "sub.nwb")
    assert report.output == tmp_path / "sub.nwb" and report.output.exists()
    with pytest.raises(ValueError, match="is the input"):
        recover(partial, out=partial, overwrite=True)
    with pytest.raises(ValueError, match=r"must end in '\.nwb'"):
        recover(partial, out=tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        recover(partial, out=tmp_path / "missing" / "x.nwb")
    (tmp_path / "dir.nwb").mkdir()
    with pytest.raises(IsADirectoryError):
        recover(partial, out=tmp_path / "dir.nwb", overwrite=True)


# ---------------------------------------------------------------------------------------------------- hostile


def _nwb_without_compartment_series(path: Path) -> None:
    from datetime import datetime, timezone

    nwb = NWBFile("no series", "id", datetime(2020, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(5.0), unit="m", rate=1.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _scribble(path: Path) -> None:
    """Overwrite the first 4 kB after the superblock with garbage (object headers, B-trees)."""
    data = bytearray(path.read_bytes())
    data[96:4096] = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _cut_eoa(path: Path) -> None:
    """What a kill during HDF5's metadata flush at close left in the SIGKILL test: the structure points past the
    end of allocation (superblock v0: end-of-file address at bytes 40-47)."""
    with open(path, "r+b") as f:
        assert f.read(9)[8] == 0, "superblock version 0 expected"
        f.seek(40)
        f.write(np.uint64(2048).tobytes())


def _steps(value):
    def set_attr(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] = value

    return set_attr


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: p.write_text("hello, not HDF5"), "not an HDF5 file"),
        (lambda p: p.write_bytes(b""), "not an HDF5 file"),
        (lambda p: h5py.File(p, "w").close(), "not an NWB file"),
        (_nwb_without_compartment_series, "no CompartmentSeries"),
        (_truncate, "corrupted or truncated"),
        (_scribble, "bad.partial.nwb"),
        (_cut_eoa, "killed while HDF5 was writing the file's structure"),
        (_steps(1000), "data holds 100 steps"),
        (_steps(-3), "-3"),
        (_steps(12.5), "not a number of steps"),
        (_steps("ten"), "not a number of steps"),
    ],
    ids=[
        "text",
        "empty",
        "plain-hdf5",
        "no-series",
        "truncated",
        "scribbled",
        "eoa",
        "steps>rows",
        "steps<0",
        "float",
        "text-steps",
    ],  # fmt: skip
)
def test_hostile_inputs_raise_file_format_error(tmp_path, partial, make, needle):
    path = tmp_path / "bad.partial.nwb"
    if make in (_truncate, _scribble, _cut_eoa) or getattr(make, "__name__", "") == "set_attr":
        shutil.copyfile(partial, path)
    make(path)
    before = sha(path)
    with pytest.raises(FileFormatError, match=needle) as info:
        recover(path)
    assert info.value.path == str(path)
    assert sha(path) == before
    assert not (tmp_path / "bad.recovered.nwb").exists() and no_temp_files(tmp_path)


def test_missing_input_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        recover(tmp_path / "nothing.partial.nwb")
    (tmp_path / "d.partial.nwb").mkdir()
    with pytest.raises(IsADirectoryError):
        recover(tmp_path / "d.partial.nwb")


# ---------------------------------------------------------------------------------------------------- CLI


def _one_line_error(capsys, *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("simout: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_cli_recover(partial, capsys):
    assert main(["recover", str(partial)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("recovered ") and "v 50/100 steps" in out
    assert partial.with_name("out.recovered.nwb").exists()
    # again: the output exists
    assert main(["recover", str(partial)]) == 2
    _one_line_error(capsys, "out.recovered.nwb", "--overwrite")
    assert main(["recover", str(partial), "--overwrite"]) == 0
    target = partial.with_name("chosen.nwb")
    assert main(["recover", str(partial), "-o", str(target)]) == 0
    assert str(target) in capsys.readouterr().out and target.exists()


def test_cli_recover_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.partial.nwb"
    bad.write_text("nope")
    assert main(["recover", str(bad)]) == 2
    _one_line_error(capsys, str(bad), "not an HDF5 file")
    assert main(["recover", str(tmp_path / "missing.nwb")]) == 2
    _one_line_error(capsys, "missing.nwb")
    assert main(["recover"]) == 2  # usage error from argparse


def test_info_says_partial_and_points_to_recover(partial, capsys):
    text = format_info(describe_file(partial))
    assert "PARTIAL file of a run that did not finish; valid steps: " in text
    assert "'v' 50/100" in text and "'cai' 30/100" in text and "'ina' 0/100" in text
    assert f"simout recover {partial}" in text
    report = recover(partial)
    assert "PARTIAL" not in format_info(describe_file(report.output))


def test_copy_keeps_holes(tmp_path):
    src, dst = tmp_path / "sparse.bin", tmp_path / "copy.bin"
    with open(src, "wb") as f:
        f.write(b"head")
        f.seek(8 << 20)
        f.write(b"middle")
        f.seek(16 << 20)
        f.write(b"tail")
    copy_sparse(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    if src.stat().st_blocks * 512 < (1 << 20):  # the file system keeps holes: so must the copy
        assert dst.stat().st_blocks * 512 < (1 << 20)


def test_recovered_file_takes_the_disk_space_of_the_valid_steps(tmp_path):
    """The data are allocated (and reserved) at full size up front: the copy keeps only what was written."""
    probe = tmp_path / "probe.bin"
    with open(probe, "wb") as f:
        f.seek(8 << 20)
        f.write(b"x")
    if probe.stat().st_blocks * 512 >= 1 << 20:
        pytest.skip("this file system does not keep holes")
    comps = build_compartments(node_ids=list(range(50)), counts=[10] * 50, number=list(range(500)))
    with pytest.raises(Boom):
        with CompartmentSeriesWriter(tmp_path / "big.nwb", compartments=comps, n_steps=4000, dt_ms=0.1) as w:
            w.write_block(0, np.ones((100, 500)))  # 0.2 MB of 8 MB
            raise Boom
    report = recover(tmp_path / "big.partial.nwb")
    # the trimmed chunks are freed; they are the end of the file, so HDF5 also gives their space back
    assert report.output.stat().st_blocks * 512 < 2 << 20
    with open_report(report.output) as r:
        np.testing.assert_array_equal(r["v"].get(scaled=False).data, np.ones((100, 500), dtype=np.float32))


def test_a_change_killed_half_way_is_undone_from_the_journal(tmp_path):
    """A kill while HDF5 adds the Units table can leave a file HDF5 no longer opens; the writer's journal undoes it."""
    from simout_plugins.write import journal

    out = tmp_path / "j.nwb"
    comps = build_compartments(node_ids=[0, 1], counts=[2, 1], number=[0, 1, 0])
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    with pytest.raises(RuntimeError, match="stop"):
        with CompartmentSeriesWriter(out, compartments=comps, n_steps=10, dt_ms=0.1, overwrite=True) as w:
            w.write_block(0, data)
            raise RuntimeError("stop")
    partial = out.with_name("j.partial.nwb")
    journal.save(partial)
    size = partial.stat().st_size
    with open(partial, "r+b") as f:  # a structure change cut short: metadata overwritten, objects past the end
        for offset, length in journal._complement(journal.raw_extents(partial), size)[:3]:
            f.seek(offset)
            f.write(b"\xff" * length)
        f.seek(size)
        f.write(b"\x00" * 10000)
    with pytest.raises(OSError):
        h5py.File(partial, "r")
    report = recover(partial, out=tmp_path / "r.nwb")
    assert [(s.name, s.steps_valid) for s in report.series] == [("v", 10)]
    with NWBHDF5IO(str(tmp_path / "r.nwb"), "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["v"].data[:], data)
