"""PointNet through ``python -m bmtk_module run`` (a subprocess, as a user runs it): the runner picks PointNet from
``"target_simulator"`` as BMTK does, its files hold what BMTK's native ``multimeter_report`` of the same run holds
and pass pynwb's validator and nwbinspector (default and DANDI), and bad entries stop the run with one config error
before it starts."""

from __future__ import annotations

import json

import pytest

from .conftest import CORTEX, native, nwb, run_job
from .network import point_config
from .test_pointnet import assert_matches_native

pytestmark = [pytest.mark.simulator]


@pytest.fixture(scope="module")
def runner_run(point_root):
    from tests.integration.test_dandi import METADATA

    out = point_root / "runner"
    reports = {
        "native_cortex": native("V_m", CORTEX, file_name="native_cortex.h5"),
        "native_lgn_g": native("g_ex", "lgn", file_name="native_lgn_g.h5"),
        "nwb_cortex": nwb(
            "V_m", cells="cortex", file_name="cortex.nwb", dtype="float64", spikes=True, nwb_metadata=METADATA
        ),
        "nwb_lgn": nwb(["V_m", "g_ex"], cells="lgn", file_name="lgn.nwb", dtype="float64"),
    }
    result = run_job(point_config(point_root, out, reports), runner=True)
    return out, result


def test_runner_picks_pointnet_and_equals_native_multimeter(runner_run):
    out, result = runner_run
    assert "Could not find cell_model()" not in result.stderr
    assert_matches_native(out / "cortex.nwb", out / "native_cortex.h5")
    assert_matches_native(out / "lgn.nwb", out / "native_lgn_g.h5", series="g_ex")
    for name in ("cortex.nwb", "lgn.nwb"):
        assert f"wrote {out / name}" in result.stderr


def test_runner_files_validate_and_pass_nwbinspector(runner_run):
    pytest.importorskip("nwbinspector")
    from tests.integration.test_dandi import assert_dandi_clean

    out, _ = runner_run
    assert_dandi_clean(out / "cortex.nwb")
    from pynwb import validate

    assert not validate(path=str(out / "lgn.nwb"))


def test_unknown_target_simulator_is_one_error(point_root):
    out = point_root / "bad_target"
    config = point_config(point_root, out, {"v": nwb("V_m", file_name="v.nwb")})
    config.write_text(json.dumps({**json.loads(config.read_text()), "target_simulator": "DiPDE"}))
    result = run_job(config, runner=True, check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "target_simulator 'DiPDE'" in errors[0] and "NEST" in errors[0]
    assert not list(out.glob("*.nwb"))


BAD = {
    "sections_dend": (nwb("V_m", sections="dend"), ["'bad'", "sections", "'dend'", "'soma'"]),
    "unknown_recordable": (nwb("V_mm", cells="cortex"), ["'bad'", "variable_name", "'V_mm'", "iaf_psc_alpha"]),
    "recordable_not_in_every_model": (nwb("g_ex"), ["'bad'", "variable_name", "'g_ex'", "iaf_psc_alpha"]),
    "unknown_node_set": (nwb("V_m", cells="pyramidal"), ["'bad'", "cells", "'pyramidal'"]),
    "end_outside_run": (nwb("V_m", end_time=150.0), ["'bad'", "end_time", "150.0"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_entry_is_one_config_error_before_the_run(point_root, case):
    entry, expected = BAD[case]
    out = point_root / f"bad_{case}"
    config = point_config(point_root, out, {"bad": {**entry, "file_name": "bad.nwb"}})
    result = run_job(config, runner=True, check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    for text in expected:
        assert text in errors[0], errors[0]
    assert "Simulation Started" not in result.stderr + result.stdout
    assert not list(out.glob("*.nwb"))
