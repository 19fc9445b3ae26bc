"""No space or a file-size limit at each stage of a write: one clear error, the old output untouched.

The limit is the process's ``RLIMIT_FSIZE`` (as a full disk or an exhausted quota: the OS refuses the write with
EFBIG), lowered around the writer's calls only; SIGXFSZ is ignored so the write fails instead of killing pytest.
"""

from __future__ import annotations

import contextlib
import resource
import signal

import h5py
import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.errors import OutputWriteError
from simout_plugins.nwb.attrs import STEPS_WRITTEN_ATTR

OLD = b"an earlier run's output"
N_STEPS, BLOCK = 400, 20


@contextlib.contextmanager
def file_size_limit(n_bytes: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def values() -> np.ndarray:
    return (np.arange(N_STEPS)[:, None] * 100.0 + np.arange(60)[None, :]).astype(np.float32)


def writer(path, flush_interval_s: float = 0.0):
    """Flushing after every block (``flush_interval_s=0``) by default here: a full disk then fails at its block."""
    comps = build_compartments(node_ids=np.arange(12), counts=np.full(12, 5), number=np.tile(np.arange(5), 12))
    return CompartmentSeriesWriter(
        path, compartments=comps, n_steps=N_STEPS, dt_ms=0.1, overwrite=True, flush_interval_s=flush_interval_s
    )


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "v.nwb"
    path.write_bytes(OLD)
    return path


def partial_of(out):
    return out.with_name("v.partial.nwb")


def test_no_room_for_the_structure(out):
    w = writer(out)
    with file_size_limit(4096), pytest.raises(OutputWriteError, match="could not create") as err:
        w.open()
    assert "file-size limit" in str(err.value) and str(partial_of(out)) in str(err.value)
    assert err.value.errno == 27
    assert out.read_bytes() == OLD
    assert not partial_of(out).exists() and not list(out.parent.glob(".*skeleton*"))


def chunk_start(tmp_path, row: int) -> tuple[int, int]:
    """(byte offset in the file, first row) of the data chunk after the one holding ``row``, from a dry run: the
    writer lays out the same file for the same inputs."""
    dry = tmp_path / "dry" / "v.nwb"
    dry.parent.mkdir()
    with writer(dry) as w:
        w.write_block(0, values())
    with h5py.File(dry, "r") as f:
        ds = f["acquisition/v/data"]
        first = (row // ds.chunks[0] + 1) * ds.chunks[0]
        return ds.id.get_chunk_info_by_coord((first, 0)).byte_offset, first


def test_no_room_for_a_block(out, tmp_path):
    data = values()
    offset, first_row = chunk_start(tmp_path, 100)
    failing = first_row // BLOCK * BLOCK  # the block that reaches that chunk
    with pytest.raises(OutputWriteError, match=rf"writing steps {failing}\.\.{failing + BLOCK - 1} of 'v'") as err:
        with writer(out) as w:
            w.open()
            with file_size_limit(offset + 1):  # the disk is full from that chunk on
                for step0 in range(0, N_STEPS, BLOCK):
                    w.write_block(step0, data[step0 : step0 + BLOCK])
    assert "file-size limit" in str(err.value) and f"'v': {failing} of 400" in str(err.value)
    assert out.read_bytes() == OLD
    with h5py.File(partial_of(out), "r") as f:  # the partial file opens, with its count of valid steps
        ds = f["acquisition/v/data"]
        assert ds.attrs[STEPS_WRITTEN_ATTR] == failing
        np.testing.assert_array_equal(ds[:failing], data[:failing])
    with open_report(partial_of(out)) as r:
        assert r["v"].n_steps_written == failing


def test_no_room_for_the_spikes(out):
    data = values()
    w = writer(out)
    with pytest.raises(OutputWriteError, match=r"writing the spikes \(Units\)") as err:
        with w:
            for step0 in range(0, N_STEPS, BLOCK):
                w.write_block(step0, data[step0 : step0 + BLOCK])
            rng = np.random.default_rng(0)
            w.add_spikes(node_ids=rng.integers(0, 12, 20000), times_ms=rng.random(20000) * 40.0)
            with file_size_limit(partial_of(out).stat().st_size + 8192):
                w.close()
    assert "file-size limit" in str(err.value)
    assert out.read_bytes() == OLD
    with h5py.File(partial_of(out), "r") as f:  # every block is in the partial file
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == N_STEPS
        np.testing.assert_array_equal(f["acquisition/v/data"][()], data)


def test_the_final_move_fails(out):
    out.unlink()
    data = values()
    with pytest.raises(OutputWriteError, match="could not move the finished") as err:
        with writer(out) as w:
            w.write_block(0, data)
            out.mkdir()  # something took the output name during the run
            (out / "keep").write_text("x")
    assert str(partial_of(out)) in str(err.value)
    with open_report(partial_of(out)) as r:  # the finished file is complete beside it
        np.testing.assert_array_equal(r["v"].read(0, N_STEPS), data)
