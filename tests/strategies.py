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


@st.composite
def layout_fuzz_cases(draw, max_ranks: int = 4, max_steps: int = 12):
    """A :class:`tests.layout_cases.FuzzCase`: a pool of cells in 1-3 populations (node ids overlapping, unsorted),
    a split over 1..max_ranks ranks (round-robin, random, all on one rank, contiguous; empty ranks allowed),
    tables "compartments" and "soma" over subsets of the pool (zero-compartment cells, tables with no compartments
    or no cells, sometimes one cell with 500 compartments) or none at all (a spikes-only file), series with their
    own ``n_steps`` and block partitions (1-step blocks included) written interleaved, and optional spikes."""
    from tests.layout_cases import POPULATION_NAMES, SERIES_PLAN, make_case

    n_pops = draw(st.integers(1, 3))
    names = draw(st.permutations(POPULATION_NAMES))[:n_pops]
    with_population = n_pops > 1 or draw(st.booleans())
    cells = []
    for name in names:
        cells += [(name, i) for i in draw(st.lists(st.integers(0, 25), max_size=7, unique=True))]
    cells = draw(st.permutations(cells))
    n_pool = len(cells)
    n_ranks = draw(st.sampled_from([*range(2, max_ranks + 1), 1]))  # mostly several ranks
    split = draw(st.sampled_from(["round-robin", "random", "one-rank", "contiguous"]))
    if split == "round-robin":
        owner = [i % n_ranks for i in range(n_pool)]
    elif split == "one-rank":
        owner = [draw(st.integers(0, n_ranks - 1))] * n_pool
    else:
        owner = draw(st.lists(st.integers(0, n_ranks - 1), min_size=n_pool, max_size=n_pool))
        owner = sorted(owner) if split == "contiguous" else owner
    tables = []
    if draw(st.sampled_from([True] * 7 + [False])):  # 1 in 8: no table (a spikes-only file)
        for max_count in (4, 2):
            rows = [i for i in range(n_pool) if draw(st.integers(0, 4)) < 4]
            counts = draw(st.lists(st.integers(0, max_count), min_size=len(rows), max_size=len(rows)))
            special = draw(st.sampled_from(["", "", "", "no compartments", "a big cell"]))
            if special == "no compartments":
                counts = [0] * len(rows)
            elif rows and max_count == 4 and special == "a big cell":
                counts[draw(st.integers(0, len(rows) - 1))] = 500
            tables.append((rows, counts))
    n_series = len([p for p in SERIES_PLAN if p[1] < len(tables)])
    n_steps = [draw(st.integers(1, max_steps)) for _ in range(n_series)]
    blocks = []
    for n in n_steps:
        cuts = draw(st.sets(st.integers(1, n - 1), max_size=n - 1)) if n > 1 else set()
        blocks.append(np.diff([0, *sorted(cuts), n]).astype(int).tolist())
    order = draw(st.permutations([s for s, b in enumerate(blocks) for _ in b]))
    in_tables = sorted({i for rows, _ in tables for i in rows}) if tables else list(range(n_pool))
    spike_cells = units = None
    if in_tables and draw(st.sampled_from([True, True, True, False])):
        spike_cells = draw(st.lists(st.sampled_from(in_tables), max_size=20))
        if draw(st.booleans()):
            units = sorted(set(spike_cells) | set(draw(st.lists(st.sampled_from(in_tables), max_size=4))))
    unique_ids = len({c[1] for c in cells}) == len(cells)
    cell_order = draw(st.sampled_from([None, "node_id"])) if unique_ids else None
    return make_case(
        pop=[c[0] for c in cells],
        node=[c[1] for c in cells],
        with_population=with_population,
        owner=owner,
        n_ranks=n_ranks,
        tables=tables,
        n_steps=n_steps,
        blocks=blocks,
        order=order,
        spike_cells=spike_cells,
        units=units,
        labels=draw(st.booleans()),
        as_layout=draw(st.booleans()),
        block_steps=draw(st.none() | st.integers(1, max_steps)),
        seed=draw(st.integers(0, 2**32 - 1)),
        cell_order=cell_order,
    )
