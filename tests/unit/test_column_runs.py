"""The gather sink's slice copies (runs of consecutive file columns) place every column where one fancy-index copy
would."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simout_plugins.write.sink import column_runs


@given(st.lists(st.integers(0, 40), min_size=0, max_size=40), st.integers(0, 2**32 - 1))
def test_runs_place_columns_as_a_fancy_copy(cell_sizes, seed):
    rng = np.random.default_rng(seed)
    bounds = np.concatenate([[0], np.cumsum(cell_sizes)]).astype(np.int64)
    order = rng.permutation(len(cell_sizes))  # this rank's cells, each a run of file columns, in any order
    dest = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in order] or [np.zeros(0, np.int64)])
    src = rng.normal(size=(3, dest.size))
    want = np.full((3, int(bounds[-1])), np.nan)
    want[:, dest] = src
    runs = column_runs(dest)
    if runs is None:
        return  # short runs: the sink copies with the fancy index
    got = np.full_like(want, np.nan)
    for s0, f0, n in runs:
        got[:, f0 : f0 + n] = src[:, s0 : s0 + n]
    np.testing.assert_array_equal(got, want)
    assert sum(n for *_, n in runs) == dest.size


def test_short_or_many_runs_take_the_fancy_copy():
    assert column_runs(np.arange(0, 200, 2)) is None  # 100 runs of 1 column
    assert column_runs(np.zeros(0, np.int64)) == ()
    assert column_runs(np.r_[np.arange(10, 20), np.arange(0, 10)]) == ((0, 10, 10), (10, 0, 10))
