import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simout_plugins.nwb import ragged

counts_st = arrays(np.int64, st.integers(0, 40), elements=st.integers(0, 20))


@given(counts_st)
def test_counts_offsets_nwb_index_are_inverses(counts):
    offsets = ragged.counts_to_offsets(counts)
    ends = ragged.counts_to_nwb_index(counts)
    assert offsets.shape == (counts.size + 1,) and offsets[0] == 0
    np.testing.assert_array_equal(ragged.offsets_to_counts(offsets), counts)
    np.testing.assert_array_equal(ragged.nwb_index_to_counts(ends), counts)
    np.testing.assert_array_equal(ragged.nwb_index_to_offsets(ends), offsets)
    np.testing.assert_array_equal(ragged.offsets_to_nwb_index(offsets), ends)


@given(counts_st)
def test_nwb_index_any_uint_width_reads_as_int64(counts):
    ends = ragged.counts_to_nwb_index(counts)
    stored = ends.astype(ragged.smallest_uint(int(ends[-1]) if ends.size else 0))
    back = ragged.nwb_index_to_counts(stored)
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back, counts)


@given(counts_st, st.data())
def test_rows_to_flat_equals_per_row_slices(counts, data):
    offsets = ragged.counts_to_offsets(counts)
    rows = data.draw(st.lists(st.integers(0, max(counts.size - 1, 0)), max_size=10)) if counts.size else []
    expected = [np.arange(offsets[r], offsets[r + 1]) for r in rows]
    flat = ragged.rows_to_flat(offsets, rows)
    np.testing.assert_array_equal(flat, np.concatenate(expected) if expected else np.zeros(0, int))
    for r in rows:
        sl = ragged.cell_slice(offsets, r)
        assert sl.stop - sl.start == counts[r]


def test_smallest_uint_matches_hdmf_choice():
    assert ragged.smallest_uint(255) == np.uint8
    assert ragged.smallest_uint(256) == np.uint16
    assert ragged.smallest_uint(70_000) == np.uint32
    assert ragged.smallest_uint(2**33) == np.uint64
