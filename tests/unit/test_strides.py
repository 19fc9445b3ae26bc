"""``get(..., tstride=k)``: every k-th sample, equal to slicing the full read, reading only the chunks it needs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from tests.factories import DT_MS, N_STEPS, TSTART_MS, make_nwb

N_CELLS, PER, STEPS, BLOCK = 8, 50, 400, 20  # chunks of 20 steps (the writer aligns them with the blocks)


class CountingFile(io.FileIO):
    """A file object that counts the bytes h5py reads through it."""

    def __init__(self, path) -> None:
        super().__init__(path, "r")
        self.bytes_read = 0

    def readinto(self, b) -> int:
        n = super().readinto(b)
        self.bytes_read += n or 0
        return n

    def read(self, size=-1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_nwb(tmp_path_factory.mktemp("strides") / "a.nwb")


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    path = tmp_path_factory.mktemp("strides") / "b.nwb"
    comps = build_compartments(
        node_ids=np.arange(N_CELLS), counts=np.full(N_CELLS, PER), number=np.tile(np.arange(PER), N_CELLS)
    )
    data = np.random.default_rng(3).standard_normal((STEPS, N_CELLS * PER)).astype(np.float32)
    with CompartmentSeriesWriter(
        path, compartments=comps, name="v", n_steps=STEPS, dt_ms=0.1, unit="mV", block_steps=BLOCK
    ) as w:
        for s0 in range(0, STEPS, BLOCK):
            w.write_block(s0, data[s0 : s0 + BLOCK])
    return path, data


@settings(max_examples=25, deadline=None)
@given(
    stride=st.integers(1, 45),
    window=st.tuples(st.integers(0, N_STEPS - 1), st.integers(0, N_STEPS - 1)).map(sorted),
    cells=st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=3, unique=True),
)
def test_strided_get_equals_every_kth_sample_of_the_full_get(small, stride, window, cells):
    tstart, tstop = ((TSTART_MS + DT_MS * np.asarray(window)) / 1000.0).tolist()
    with open_report(small) as r:
        full = r["v"].get(population="cortex", node_ids=cells, tstart=tstart, tstop=tstop)
        strided = r["v"].get(population="cortex", node_ids=cells, tstart=tstart, tstop=tstop, tstride=stride)
    np.testing.assert_array_equal(strided.data, full.data[::stride])
    np.testing.assert_array_equal(strided.times, full.times[::stride])
    np.testing.assert_array_equal(strided.node_ids, full.node_ids)


def test_a_stride_of_two_chunks_reads_about_half_the_chunks(chunked):
    path, data = chunked
    counts = {}
    for stride in (1, 2 * BLOCK):
        with CountingFile(path) as fobj, open_report(fobj) as r:
            before = fobj.bytes_read
            frame = r["v"].get(node_ids=[3], scaled=False, tstride=stride)
            counts[stride] = fobj.bytes_read - before
        np.testing.assert_array_equal(frame.data, data[::stride, 3 * PER : 4 * PER])
    assert counts[2 * BLOCK] < 0.6 * counts[1], counts


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_stride_is_a_value_error_naming_it(small, bad):
    with open_report(small) as r, pytest.raises(ValueError, match="tstride"):
        r["v"].get(tstride=bad)


def test_reader_is_iterable_with_len_and_keys(small):
    with open_report(small) as r:
        assert list(r) == ["v"] == list(r.keys()) and len(r) == 1
        assert [s.name for s in r.values()] == ["v"]
