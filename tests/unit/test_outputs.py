"""The one output-path policy (simout_plugins.write.outputs.OutputPath) and the API defaults that go with it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.write.outputs import (
    PARTIAL_NAME,
    OutputFolderMissingError,
    OutputIsInputError,
    OutputPath,
)
from simout_plugins.write.recover import recover


def test_check_refuses_each_bad_output_before_anything_exists(tmp_path):
    (tmp_path / "dir.nwb").mkdir()
    src = tmp_path / "in.nwb"
    src.write_bytes(b"input")
    with pytest.raises(IsADirectoryError):
        OutputPath(tmp_path / "dir.nwb").check(overwrite=True)
    with pytest.raises(ValueError, match=r"must end in '\.nwb'"):
        OutputPath(tmp_path / "x.h5").check(overwrite=True)
    OutputPath(tmp_path / "x.h5").check(overwrite=True, require_suffix=None)
    with pytest.raises(OutputIsInputError, match="is the input"):
        OutputPath(src).check(overwrite=True, inputs=[None, src])
    with pytest.raises(OutputFolderMissingError, match="does not exist") as info:
        OutputPath(tmp_path / "missing" / "x.nwb").check(overwrite=True)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    OutputPath(tmp_path / "missing" / "deeper" / "x.nwb").check(overwrite=True, create_folder=True)
    with pytest.raises(PermissionError, match="is a file"):
        OutputPath(src / "x.nwb").check(overwrite=True, create_folder=True)
    with pytest.raises(FileExistsError, match="overwrite=False.*--overwrite"):
        OutputPath(src).check(overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.nwb", "in.nwb"]


def test_staged_moves_on_success_and_leaves_the_old_file_on_failure(tmp_path):
    out = OutputPath(tmp_path / "out.h5", suffix=".h5")
    (tmp_path / "out.h5").write_bytes(b"old")
    assert out.staging_path.name.startswith(".out.h5.") and out.staging_path.suffix == ".h5"
    assert OutputPath(tmp_path / "out.h5").staging_path != out.staging_path  # unique per producer
    leftover = tmp_path / "writer.partial.nwb"
    with pytest.raises(RuntimeError, match="boom"):
        with out.staged(extra=[leftover]) as tmp:
            tmp.write_bytes(b"half")
            leftover.write_bytes(b"x")
            raise RuntimeError("boom")
    assert (tmp_path / "out.h5").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
    with out.staged() as tmp:
        tmp.write_bytes(b"new")
    assert (tmp_path / "out.h5").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_partial_names(tmp_path):
    out = OutputPath(tmp_path / "v.nwb")
    assert out.tmp_path.name == "v.partial.nwb" and PARTIAL_NAME.match(out.tmp_path.name)["stem"] == "v"
    out.tmp_path.write_bytes(b"a crashed run")
    kept = out.keep_stale_partial()
    assert PARTIAL_NAME.match(kept.name)["stamp"] and kept.read_bytes() == b"a crashed run"
    assert out.keep_stale_partial() is None


def test_writer_overwrite_default_warns_before_it_changes(tmp_path):
    comps = build_compartments(node_ids=[0], counts=[2], number=[0, 1])
    path = tmp_path / "v.nwb"

    def run(**kwargs):
        with CompartmentSeriesWriter(path, compartments=comps, n_steps=1, dt_ms=1.0, **kwargs) as w:
            w.write_block(0, np.zeros((1, 2)))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()  # a new file: no warning
        run(overwrite=True)
    with pytest.warns(DeprecationWarning, match="overwrite=False .* next release"):
        run()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        run(overwrite=False)


def test_recover_output_keyword_is_deprecated(tmp_path):
    comps = build_compartments(node_ids=[0], counts=[2], number=[0, 1])
    with CompartmentSeriesWriter(tmp_path / "v.nwb", compartments=comps, n_steps=1, dt_ms=1.0) as w:
        w.write_block(0, np.zeros((1, 2)))
    with pytest.warns(DeprecationWarning, match=r"output=.*out="):
        report = recover(tmp_path / "v.nwb", output=tmp_path / "old-name.nwb")
    assert report.output == tmp_path / "old-name.nwb"
    with pytest.raises(TypeError, match="out= only"):
        recover(tmp_path / "v.nwb", out=tmp_path / "a.nwb", output=tmp_path / "b.nwb")
