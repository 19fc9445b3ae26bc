"""Reading over HTTP range requests and from open file objects: values equal the local read, few requests.

The server (tests/remote_server.py) runs on 127.0.0.1 for each test, honours ``Range`` and counts requests and
bytes, so the tests assert how much a read costs, not only that it works.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, FileFormatError, build_compartments, open_report
from simout_plugins.cli.app import main
from tests.remote_server import serve

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

N_CELLS, N_COMP, N_STEPS = 400, 20, 1000  # 32 MB of float32


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    path = folder / "big.nwb"
    counts = np.full(N_CELLS, N_COMP)
    comps = build_compartments(
        node_ids=np.arange(N_CELLS),
        counts=counts,
        number=np.tile(np.arange(N_COMP), N_CELLS),
        position=np.tile(np.linspace(0, 1, N_COMP), N_CELLS),
        label=np.tile(np.array(["soma"] + ["dend"] * (N_COMP - 1), dtype=object), N_CELLS),
    )
    rng = np.random.default_rng(1)
    with CompartmentSeriesWriter(path, compartments=comps, name="v", n_steps=N_STEPS, dt_ms=0.1, unit="mV") as w:
        for s0 in range(0, N_STEPS, 100):
            w.write_block(s0, rng.standard_normal((100, N_CELLS * N_COMP)).astype(np.float32))
        w.add_spikes(node_ids=rng.integers(0, N_CELLS, 500), times_ms=rng.random(500) * 100.0)
    with serve(folder) as server:
        yield server, path


def _chunk_bytes(path, node_id: int) -> int:
    """Bytes of the data chunks that hold one cell's columns over all time."""
    import h5py

    with h5py.File(path, "r") as f:
        d = f["acquisition/v/data"]
        t, c = d.chunks
        c0, c1 = node_id * N_COMP, (node_id + 1) * N_COMP
        n_col_chunks = (c1 - 1) // c - c0 // c + 1
        return -(-d.shape[0] // t) * n_col_chunks * t * c * d.dtype.itemsize


def test_one_cell_over_http_equals_the_local_read_in_few_requests(served):
    server, path = served
    with open_report(path) as r:
        local = r["v"].get(node_ids=[123])
        local_spikes = r.spikes(node_ids=[5])
    server.reset()
    with open_report(server.url(path)) as r:
        opened = server.stats.n_requests
        remote = r["v"].get(node_ids=[123])
        spikes = r.spikes(node_ids=[5])
    np.testing.assert_array_equal(remote.data, local.data)
    np.testing.assert_array_equal(remote.times, local.times)
    np.testing.assert_array_equal(remote.label, local.label)
    np.testing.assert_array_equal(spikes.times, local_spikes.times)
    assert opened <= 10, server.stats.requests
    assert server.stats.bytes <= 4 * _chunk_bytes(path, 123) + (8 << 20), server.stats.bytes


def test_simout_info_over_http(served, capsys):
    server, path = served
    assert main(["info", "--json", str(path)]) == 0
    local = json.loads(capsys.readouterr().out)
    server.reset()
    assert main(["info", "--json", server.url(path)]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert server.stats.n_requests <= 10, server.stats.requests
    assert remote["series"] == local["series"] and remote.get("units") == local.get("units")


def test_an_open_file_object_reads_like_a_path(served):
    _, path = served
    with open_report(path) as r:
        local = r["v"].get(node_ids=[7, 399], tstart=0.01, tstop=0.02)
    with open(path, "rb") as fobj, open_report(fobj) as r:
        got = r["v"].get(node_ids=[7, 399], tstart=0.01, tstop=0.02)
    np.testing.assert_array_equal(got.data, local.data)
    np.testing.assert_array_equal(got.node_ids, local.node_ids)


def test_a_missing_url_is_one_clear_error(served):
    server, path = served
    with pytest.raises((FileNotFoundError, FileFormatError), match="nothere.nwb"):
        open_report(server.url("nothere.nwb"))


@pytest.mark.parametrize("kind", ["traces", "heatmap", "raster"])
def test_simout_plot_over_http(served, tmp_path, kind):
    server, path = served
    png = tmp_path / f"{kind}.png"
    assert main(["plot", server.url(path), "--kind", kind, "--max-cells", "3", "-o", str(png), "--dpi", "30"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
