"""Bad nwb_ecp_report entries: one error naming the report, the key and the value, before the run; old output kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_bmtk

pytest.importorskip("bmtk")

from bmtk_module.ecp_config import parse_ecp_reports  # noqa: E402


def electrodes(tmp_path: Path, text: str = "channel x_pos y_pos z_pos\n0 0 0 0\n1 0 20 0\n2 0 40 0\n") -> str:
    path = tmp_path / "electrodes.csv"
    path.write_text(text)
    return str(path)


def entry(tmp_path: Path, **extra) -> dict:
    return {"module": "nwb_ecp_report", "electrode_positions": electrodes(tmp_path), **extra}


def parse(tmp_path: Path, reports: dict):
    return parse_ecp_reports(reports=reports, output_dir=tmp_path)


def test_a_good_entry(tmp_path):
    (spec,) = parse(tmp_path, {"ecp": entry(tmp_path, electrode_channels=[2, 0], location="VISp")})
    assert spec.path == tmp_path / "ecp.nwb" and spec.dtype.name == "float32" and spec.cells == "all"
    assert spec.probe.channel_ids.tolist() == [0, 2] and spec.probe.positions_um[:, 1].tolist() == [0.0, 40.0]
    assert spec.probe.location == "VISp" and spec.contributions_dir is None


@pytest.mark.parametrize(
    ("extra", "text", "expected"),
    [
        ({"electrode_positions": "/no/such/electrodes.csv"}, None, ["'bad'", "electrode_positions", "does not exist"]),
        ({}, "a,b,c\n1,2,3\n", ["'bad'", "electrode_positions", "x_pos"]),
        ({}, "channel x_pos y_pos z_pos\n0 0 0 zero\n", ["'bad'", "electrode_positions", "must be numbers"]),
        ({}, "channel x_pos y_pos z_pos\n", ["'bad'", "electrode_positions", "n_channels >= 1"]),
        ({"electrode_channels": [0, 7]}, None, ["'bad'", "electrode_channels", "[7]"]),
        ({"electrode_channels": "some"}, None, ["'bad'", "electrode_channels", "'some'"]),
        ({"dtype": "int16"}, None, ["'bad'", "dtype", "int16"]),
        ({"file_name": "ecp.h5"}, None, ["'bad'", "file_name", "ecp.h5"]),
        ({"spikes": True}, None, ["'bad'", "unknown keys", "'spikes'"]),
        ({"minimum_distance": "far"}, None, ["'bad'", "minimum_distance", "'far'"]),
        ({"location": ""}, None, ["'bad'", "location"]),
        ({"cells": 5}, None, ["'bad'", "cells", "5"]),
    ],
)
def test_bad_entry(tmp_path, extra, text, expected):
    params = entry(tmp_path, **extra)
    if text is not None:
        params["electrode_positions"] = electrodes(tmp_path, text)
    with pytest.raises((ValueError, TypeError)) as info:
        parse(tmp_path, {"bad": params})
    for part in expected:
        assert part in str(info.value)


def test_same_file_as_a_compartment_report(tmp_path):
    reports = {
        "v": {"module": "nwb_compartment_report", "variable_name": "v", "file_name": "out.nwb"},
        "ecp": entry(tmp_path, file_name="out.nwb"),
    }
    with pytest.raises(ValueError, match="reports 'v' and 'ecp' both write"):
        parse(tmp_path, reports)


def test_contributions_dir_that_is_a_file(tmp_path):
    (tmp_path / "cells").write_text("x")
    with pytest.raises(ValueError, match="contributions_dir .* is a file"):
        parse(tmp_path, {"bad": entry(tmp_path, contributions_dir="cells")})


def test_disabled_entries_are_not_checked(tmp_path):
    assert parse(tmp_path, {"off": {"module": "nwb_ecp_report", "enabled": False}}) == []


# ---------------------------------------------------------------------- the runner: one error, nothing run or written
@pytest.mark.simulator
@pytest.mark.parametrize(
    ("case", "extra", "expected"),
    [
        ("missing_file", {"electrode_positions": "/no/such/electrodes.csv"}, ["'bad'", "does not exist"]),
        ("no_sectioned_cell", {"cells": "inputs"}, ["'bad'", "no cell with sections", "'inputs'"]),
    ],
)
def test_runner_stops_before_the_run(bmtk_network, case, extra, expected):
    out = bmtk_network.root / f"ecp_err_{case}"
    keep = bmtk_network.root / f"ecp_keep_{case}"  # not the output dir: BMTK empties that
    keep.mkdir(parents=True, exist_ok=True)
    old = keep / "bad.nwb"
    old.write_bytes(b"previous results")
    params = {**entry(keep, file_name=str(old)), **extra}
    result = run_bmtk(bmtk_network.config(out, {"bad": params}), check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    for part in expected:
        assert part in errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert old.read_bytes() == b"previous results"
    assert not list(keep.glob("*.partial.nwb"))
