"""The sinks' column copies (slices per run of consecutive columns, or one fancy-index copy) place every column where
numpy's fancy indexing would."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simout_plugins.write.columncopy import column_runs, gather_columns, scatter_columns


@given(st.lists(st.integers(0, 40), min_size=0, max_size=40), st.integers(0, 2**32 - 1))
def test_copies_equal_fancy_indexing(cell_sizes, seed):
    rng = np.random.default_rng(seed)
    bounds = np.concatenate([[0], np.cumsum(cell_sizes)]).astype(np.int64)
    order = rng.permutation(len(cell_sizes))  # this rank's cells, each a run of columns, in any order
    index = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in order] or [np.zeros(0, np.int64)])
    n_all = int(bounds[-1])
    src = rng.normal(size=(3, index.size))
    for runs in {column_runs(index), None}:  # the path chosen, and the fancy copy
        got = np.full((3, n_all), np.nan)
        scatter_columns(got, src, index, runs)
        want = np.full((3, n_all), np.nan)
        want[:, index] = src
        np.testing.assert_array_equal(got, want)
        picked = np.empty((3, index.size))
        gather_columns(picked, want, index, runs)
        np.testing.assert_array_equal(picked, src)
    runs = column_runs(index)
    if runs is not None:
        assert sum(n for *_, n in runs) == index.size


def test_short_or_many_runs_take_the_fancy_copy():
    assert column_runs(np.arange(0, 200, 2)) is None  # 100 runs of 1 column
    assert column_runs(np.zeros(0, np.int64)) == ()
    assert column_runs(np.r_[np.arange(10, 20), np.arange(0, 10)]) == ((0, 10, 10), (10, 0, 10))
