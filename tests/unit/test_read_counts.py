"""File reads per one-cell ``get`` do not grow with the number of cells (issue 15, item 3).

The reader opens the file through a file object that records every read (``h5py.File(fileobj)``, what
``open_report`` does with a file object), with HDF5's chunk cache switched off (``rdcc_nbytes=0``), so every value
the reader asks for is one read and no read is hidden by a chunk an earlier call happened to cache. A read counts as
a *chunk read* when it falls inside a chunk of a dataset (located with ``get_chunk_info``); the others are metadata
(object headers, the chunk-index B-trees, whose depth grows as log64 of a column's chunks, and the global heap of
text values). Tables of 10k and 200k cells (two populations, labels, as ``bench/read_table.py``): the chunk reads
of the first ``get`` (which also finds the population runs) and of every further ``get`` are the same at both sizes,
and the values are the written ones.
"""

from __future__ import annotations

import bisect
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.read import remote
from simout_plugins.read.rowsearch import SortedColumn, population_runs

PER = 10
STEPS = 3
#: the reader's opener of file objects (patched in the tests to switch HDF5's chunk cache off)
_OPEN_REMOTE = remote.open_remote
LABELS = np.array(["soma"] + [f"dend[{k}]" for k in range(PER - 1)], dtype=object)


class CountingFile(io.RawIOBase):
    """A read-only binary file that records the (offset, size) of every read."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.name = str(path)
        self.reads: list[tuple[int, int]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer) -> int:
        self.reads.append((self._f.tell(), len(buffer)))
        return self._f.readinto(buffer)

    def close(self) -> None:
        self._f.close()
        super().close()


def _write(path: Path, n_cells: int) -> None:
    half = n_cells // 2
    node_ids = np.concatenate([np.arange(half), np.arange(n_cells - half)])
    comps = build_compartments(
        node_ids=node_ids,
        population=np.array(["a"] * half + ["b"] * (n_cells - half), dtype=object),
        counts=np.full(n_cells, PER),
        number=np.tile(np.arange(PER), n_cells),
        position=np.tile((np.arange(PER) + 0.5) / PER, n_cells),
        label=np.tile(LABELS, n_cells),
    )
    n_comp = n_cells * PER
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=STEPS, dt_ms=0.1, overwrite=True) as w:
        w.write_block(0, np.arange(STEPS * n_comp, dtype=np.float32).reshape(STEPS, n_comp))


def _chunk_spans(path: Path) -> tuple[list[int], list[int]]:
    """Byte offsets and ends of every chunk of every dataset, sorted by offset."""
    spans = []

    def visit(_name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
            for i in range(obj.id.get_num_chunks()):
                info = obj.id.get_chunk_info(i)
                spans.append((info.byte_offset, info.byte_offset + info.size))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    spans.sort()
    return [a for a, _ in spans], [b for _, b in spans]


def _chunk_reads(reads: list[tuple[int, int]], spans: tuple[list[int], list[int]]) -> int:
    starts, stops = spans
    n = 0
    for offset, _size in reads:
        k = bisect.bisect_right(starts, offset) - 1
        n += k >= 0 and offset < stops[k]
    return n


def _counts(path: Path, n_cells: int, cells: list[tuple[str, int]], monkeypatch) -> dict:
    """Reads of open + ``r["v"]``, and chunk / all reads of each one-cell ``get`` (values checked)."""
    spans = _chunk_spans(path)
    monkeypatch.setattr(remote, "open_remote", lambda source, **kw: _OPEN_REMOTE(source, rdcc_nbytes=0, **kw))
    src = CountingFile(path)
    out = {"chunk": [], "all": []}
    try:
        with open_report(src) as r:
            s = r["v"]
            out["open"] = len(src.reads)
            for pop, k in cells:
                before = len(src.reads)
                frame = s.get(population=pop, node_ids=[k], scaled=False)
                new = src.reads[before:]
                out["chunk"].append(_chunk_reads(new, spans))
                out["all"].append(len(new))
                row = k + (n_cells // 2 if pop == "b" else 0)
                cols = row * PER + np.arange(PER)
                expected = (np.arange(STEPS)[:, None] * n_cells * PER + cols).astype(np.float32)
                np.testing.assert_array_equal(frame.data, expected)
                np.testing.assert_array_equal(frame.node_ids, np.full(PER, k))
                np.testing.assert_array_equal(frame.number, np.arange(PER))
                assert list(frame.label) == list(LABELS)
                assert list(frame.population) == [pop] * PER
    finally:
        src.close()
    return out


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("read-counts")
    paths = {}
    for n in (10_000, 200_000):
        paths[n] = folder / f"cells{n}.nwb"
        _write(paths[n], n)
    return paths


def test_reads_per_get_do_not_grow_with_cells(tables, monkeypatch):
    # the same relative places in both tables: first, middle, last cell of each population, a few in between
    fractions = [0.0, 0.5, 0.999, 0.13, 0.77, 0.31]
    per_size = {}
    for n, path in tables.items():
        half = n // 2
        cells = [(pop, min(half - 1, int(f * half))) for f in fractions for pop in ("b", "a")]
        per_size[n] = _counts(path, n, cells, monkeypatch)
    small, big = per_size[10_000], per_size[200_000]
    # the first get also finds where each population starts: a handful of single-value reads, not a bisection
    assert big["chunk"][0] == small["chunk"][0] <= 16, (small, big)
    # every further get: one read per column (node id window, id, index, number, position, label) + one per data
    # row (no chunk cache: each of the STEPS rows of the cell's columns is read on its own)
    assert big["chunk"][1:] == small["chunk"][1:], (small, big)
    assert big["chunk"][1] <= 7 + STEPS, big  # the first get in the other population reads its first node id
    assert max(big["chunk"][2:]) <= 6 + STEPS, big
    # all reads, incl. metadata: the chunk index of a 200k-cell column is one B-tree level deeper (log64 of chunks)
    assert max(big["all"][1:]) <= 24, big
    assert big["open"] <= small["open"] + 4, (small, big)


def test_lookup_of_missing_and_all_population_cells(tables):
    path = tables[10_000]
    with open_report(path) as r:
        s = r["v"]
        assert s.populations == ["a", "b"]
        frame = s.get(node_ids=[4999, 0], population="a", scaled=False)
        np.testing.assert_array_equal(frame.node_ids, np.repeat([4999, 0], PER))
        with pytest.raises(ValueError, match="not in population 'b'"):
            s.get(population="b", node_ids=[5000])
        with pytest.raises(ValueError, match="several populations"):
            s.get(node_ids=[7])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    gaps=st.integers(0, 3),
    starts=st.integers(0, 400),
    seed=st.integers(0, 2**16),
)
def test_runs_and_sorted_lookup_match_numpy(sizes, gaps, starts, seed):
    """Population runs and node-id lookups equal a whole-column numpy oracle, on dense and sparse node ids."""
    rng = np.random.default_rng(seed)
    pops = np.concatenate([np.full(n, f"p{i}") for i, n in enumerate(sizes)])
    nodes = np.concatenate(
        [starts * (i % 2) + np.cumsum(1 + rng.integers(0, gaps + 1, n)) - 1 for i, n in enumerate(sizes)]
    )
    with h5py.File(io.BytesIO(), "w") as f:
        f["pop"], f["node"] = pops.astype("S"), nodes
        read_pops = []
        runs = population_runs(
            pops.size, lambda i: read_pops.append(i) or f["pop"][i].decode(), SortedColumn(f["node"]).value
        )
        bounds = np.cumsum([0, *sizes])
        assert runs == [(f"p{i}", int(bounds[i]), int(bounds[i + 1])) for i in range(len(sizes))]
        if gaps == 0 and starts == 0:  # node ids 0..n-1 in every population: two reads per population, no search
            assert len(set(read_pops)) <= 2 * len(sizes)
        column = SortedColumn(f["node"])
        for a, b in zip(bounds[:-1], bounds[1:]):
            values = nodes[a:b]
            for target in [*rng.choice(values, 5), values[0] - 1, values[-1] + 1, *(values[:-1] + 1)[:20]]:
                want = np.flatnonzero(values == target)
                row, count = column.find(int(target), int(a), int(b))
                assert (row, count) == ((int(a + want[0]), 1) if want.size else (-1, 0))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(0, 400), min_size=1, max_size=600), target=st.integers(-1, 401))
def test_sorted_lookup_reports_duplicates(values, target):
    """With repeated values (an ambiguous address), the count says so; a unique value gives its exact row."""
    values = np.sort(np.asarray(values, dtype=np.int64))
    with h5py.File(io.BytesIO(), "w") as f:
        f["v"] = values
        row, count = SortedColumn(f["v"]).find(target, 0, values.size)
    want = np.flatnonzero(values == target)
    assert count == min(want.size, 2)
    if want.size == 1:
        assert row == want[0]
    elif want.size > 1:
        assert values[row] == target


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 90)),
    chunks=st.tuples(st.integers(1, 12), st.integers(1, 30)),
    written=st.integers(0, 40),
    rows=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 5)),
    picks=st.lists(st.integers(0, 89), min_size=1, max_size=25),
    dtype=st.sampled_from(["<f4", ">f8", "<i2"]),
)
def test_small_reads_equal_h5py(tmp_path_factory, shape, chunks, written, rows, picks, dtype):
    """read_small (segments read with os.pread) returns what h5py returns, also in edge and never-written chunks."""
    from simout_plugins.read.smallread import read_small

    n_t, n_c = shape
    chunks = (min(chunks[0], n_t), min(chunks[1], n_c))
    path = tmp_path_factory.mktemp("small") / "d.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", shape=shape, dtype=dtype, chunks=chunks, fillvalue=7)
        if written:
            ds[: min(written, n_t)] = np.arange(min(written, n_t) * n_c).reshape(-1, n_c) % 1000
    i0, i1, step = rows
    cols = np.array([c % n_c for c in picks], dtype=np.int64)
    with h5py.File(path, "r") as f:
        ds = f["d"]
        got = read_small(ds, i0, min(i1, n_t), cols, step=step)
        want = ds[()][i0 : min(i1, n_t) : step][:, cols]
    if got is not None:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_local_get_reads_only_the_cells_bytes(tables, monkeypatch):
    """From a local path, a one-cell get reads its data as STEPS row segments of PER float32 values (os.pread)."""
    from simout_plugins.read import smallread

    calls = []
    pread = smallread.os.pread
    monkeypatch.setattr(smallread.os, "pread", lambda fd, n, offset: calls.append(n) or pread(fd, n, offset))
    for n, path in tables.items():
        with open_report(path) as r:
            s = r["v"]
            for k in (0, n // 4, n // 2 - 1):
                calls.clear()
                frame = s.get(population="a", node_ids=[k], scaled=False)
                assert calls == [PER * 4] * STEPS, (n, k, calls)
                expected = np.arange(STEPS)[:, None] * n * PER + k * PER + np.arange(PER)
                np.testing.assert_array_equal(frame.data, expected.astype(np.float32))
