"""examples/analyse_report.py runs as a script (local file and URL) and computes the right things."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.factories import COUNTS, N_STEPS, SPIKES, make_nwb
from tests.remote_server import serve

pytest.importorskip("xarray")
pytest.importorskip("dask")
pytest.importorskip("matplotlib")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "analyse_report.py"


def _load():
    spec = importlib.util.spec_from_file_location("analyse_report", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_values_of_each_view(tmp_path):
    nwb = make_nwb(tmp_path / "a.nwb")
    done = _load().analyse(str(nwb), population="thalamus", out_dir=tmp_path / "out")
    assert done["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert done["node_id"] == 0 and done["trace"].sizes["compartment"] == COUNTS[3]
    want = sum(p == "thalamus" for p in SPIKES["population"])
    assert len(done["spikes"]) == want and set(done["spikes"]["population"]) == {"thalamus"}
    # make_nwb: v = -65 + 0.1 * step + column (mV) over 10 columns -> mean = -65 + 0.1 * step + 4.5, in volts
    expected = (-65.0 + 0.1 * np.arange(N_STEPS) + 4.5) * 1e-3
    np.testing.assert_allclose(done["mean"], expected, rtol=1e-6)


def test_runs_as_a_script_on_a_url(tmp_path):
    (tmp_path / "served").mkdir()
    nwb = make_nwb(tmp_path / "served" / "a.nwb")
    with serve(tmp_path / "served") as server:
        out = subprocess.run(
            [sys.executable, str(EXAMPLE), server.url(nwb), "--out-dir", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert out.returncode == 0, out.stderr
    assert "analysis.png: node 0, 3 spikes, mean over 40 steps" in out.stdout
    assert (tmp_path / "out" / "analysis.png").exists()
