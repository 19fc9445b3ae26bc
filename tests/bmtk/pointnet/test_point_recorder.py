"""The PointNet report's recording side: cells spread over several multimeters give the file the one multimeter
gives (= BMTK's native multimeter_report), and BMTK's spike recorder is left out only when no spikes file is asked
for (it costs NEST ~30 KB per cell)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from bmtk_module.point_recorder import cells_per_group

from ..conftest import REPO, run_env
from .conftest import CORTEX, native, nwb
from .network import point_config
from .test_pointnet import assert_matches_native

JOB = Path(__file__).with_name("grouped_job.py")


@pytest.mark.parametrize(
    ("rows", "n_vars", "target", "expected"),
    [(10, 1, 250_000, 25_000), (10, 2, 250_000, 12_500), (200, 1, 250_000, 1250), (10**6, 3, 1000, 1), (7, 1, 50, 7)],
)
def test_cells_per_group(rows, n_vars, target, expected):
    assert cells_per_group(rows_per_chunk=rows, n_variables=n_vars, events_per_read=target) == expected


def _run(config: Path, events_per_read: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(JOB), str(config), str(events_per_read)]
    result = subprocess.run(cmd, env=run_env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _mods(result: subprocess.CompletedProcess) -> list[str]:
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("MODS ")]
    return json.loads(line[5:])


@pytest.mark.simulator
def test_many_multimeters_equal_native_and_one_multimeter(point_root):
    out = point_root / "grouped"
    reports = {
        "native_cortex": native("V_m", CORTEX, file_name="native_cortex.h5"),
        "native_lgn_g": native("g_ex", "lgn", file_name="native_lgn_g.h5"),
        "nwb_cortex": nwb("V_m", cells="cortex", file_name="cortex.nwb", dtype="float64", spikes=True),
        "nwb_lgn": nwb(["V_m", "g_ex"], cells="lgn", file_name="lgn.nwb", dtype="float64"),
    }
    result = _run(point_config(point_root, out, reports, run={"n_thread": 2}), events_per_read=40)
    devices = [line for line in result.stderr.splitlines() if "multimeters (up to" in line]
    assert devices and all(" on 1 multimeters" not in line for line in devices), devices
    assert_matches_native(out / "cortex.nwb", out / "native_cortex.h5")
    assert_matches_native(out / "lgn.nwb", out / "native_lgn_g.h5", series="g_ex")
    single = point_root / "single"
    _run(point_config(point_root, single, reports, run={"n_thread": 2}), events_per_read=10**9)
    for name, series in (("cortex.nwb", "V_m"), ("lgn.nwb", "V_m"), ("lgn.nwb", "g_ex")):
        with h5py.File(out / name, "r") as a, h5py.File(single / name, "r") as b:
            np.testing.assert_array_equal(a[f"acquisition/{series}/data"][()], b[f"acquisition/{series}/data"][()])
    with h5py.File(out / "cortex.nwb", "r") as a, h5py.File(single / "cortex.nwb", "r") as b:
        np.testing.assert_array_equal(a["units/spike_times"][()], b["units/spike_times"][()])
        assert a["units/spike_times"].size > 0


@pytest.mark.simulator
def test_spike_recorder_left_out_only_without_a_spikes_file(point_root):
    reports = {"nwb_cortex": nwb("V_m", cells="cortex", file_name="cortex.nwb")}
    with_file = point_root / "with_spikes_file"
    assert "SpikesMod" in _mods(_run(point_config(point_root, with_file, reports), events_per_read=10**6))
    with h5py.File(with_file / "spikes.h5", "r") as f:
        assert f["spikes/cortex/timestamps"].size > 0
    without = point_root / "without_spikes_file"
    config = point_config(point_root, without, reports)
    conf = json.loads(config.read_text())
    del conf["output"]["spikes_file"]
    config.write_text(json.dumps(conf))
    assert "SpikesMod" not in _mods(_run(config, events_per_read=10**6))
    assert not (without / "spikes.h5").exists()
    assert (without / "cortex.nwb").exists()
