"""Hypothesis strategies for ragged compartment layouts."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def ragged_layouts(draw, max_cells: int = 30, max_count: int = 12, labels: bool | None = None) -> dict:
    """Keyword arguments for build_compartments: 0..max_cells cells, 0..max_count compartments each."""
    n_cells = draw(st.integers(0, max_cells))
    node_ids = draw(st.lists(st.integers(0, 10_000), min_size=n_cells, max_size=n_cells, unique=True))
    counts = draw(arrays(np.int64, n_cells, elements=st.integers(0, max_count)))
    n = int(counts.sum())
    number = draw(arrays(np.int64, n, elements=st.integers(0, 5000)))
    position = draw(arrays(np.float64, n, elements=st.floats(0, 1, allow_nan=False)))
    out = dict(node_ids=np.asarray(node_ids, dtype=np.int64), counts=counts, number=number, position=position)
    with_labels = draw(st.booleans()) if labels is None else labels
    if with_labels:
        out["label"] = draw(st.lists(st.sampled_from(["soma", "dend[0]", "apic[12]", "axon"]), min_size=n, max_size=n))
    return out
