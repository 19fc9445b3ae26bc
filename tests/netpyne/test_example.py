"""examples/netpyne_network runs as documented and writes its NWB file and plot into --out-dir."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from simout_plugins import open_report
from tests.conftest import REPO

pytest.importorskip("netpyne")


@pytest.mark.simulator
def test_example_writes_nwb_and_plot(tmp_path):
    script = REPO / "examples" / "netpyne_network" / "init.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path), "--duration", "100"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "traces.png").stat().st_size > 10_000
    with open_report(tmp_path / "netpyne_network.nwb") as r:
        assert sorted(r.series_names) == ["exc_g", "hh_m", "v"]
        v = r["v"].get()
        assert v.data.shape[0] in (1000, 1001)  # t = 0 .. 100 ms, the last as NEURON recorded it
        assert v.data.shape[1] == 20 * 3 + 10  # E: soma, dend(0.5), dend(1); I: soma
        assert np.isfinite(v.data).all()
        assert set(r["exc_g"].node_ids) == set(range(20, 30))  # conds: pop I only
        assert r.spikes().times.size > 0
