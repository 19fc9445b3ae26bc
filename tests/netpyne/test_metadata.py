"""``cfg.saveNWB['metadata']``: checked with pynwb before the run (one error naming the key), written to the file
with the provenance layout of :mod:`simout_plugins.nwb.provenance`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

from netpyne_module import parse_save_nwb
from simout_plugins.nwb import read_provenance
from tests.conftest import mpi_env

from .test_config import make_cfg

DRIVER = Path(__file__).resolve().parent / "driver.py"
META = {
    "experimenter": ["Doe, Jane"],
    "institution": "simout_plugins tests",
    "lab": "NetPyNE lab",
    "keywords": ["NetPyNE", "test"],
    "session_start_time": "2024-05-01T09:30:00",
    "subject": {"subject_id": "tiny-1", "species": "Mus musculus", "sex": "U", "age": "P90D"},
}


@pytest.mark.parametrize(
    ("metadata", "error", "match"),
    [
        ({"experimentor": ["x"]}, ValueError, r"cfg.saveNWB\['metadata'\]: unknown keys \['experimentor'\]"),
        ({"subject": {"speces": "x"}}, ValueError, r"\['subject'\]: unknown keys \['speces'\]"),
        ({"subject": "mouse"}, TypeError, r"\['subject'\] must be a dict"),
        ({"session_start_time": "soon"}, ValueError, r"\['session_start_time'\] = 'soon' is not an ISO 8601"),
        ({"keywords": 7}, ValueError, r"\['keywords'\] = 7 is rejected by pynwb"),
        ("lab", TypeError, r"cfg.saveNWB\['metadata'\] must be a dict"),
    ],
)
def test_bad_metadata_is_refused_by_parse(metadata, error, match):
    with pytest.raises(error, match=match):
        parse_save_nwb(make_cfg({"metadata": metadata}))


def test_good_metadata_is_kept():
    options = parse_save_nwb(make_cfg({"metadata": META}))
    assert options.metadata == META and options.metadata_issues == ()


def test_dandi_findings_are_listed_not_raised():
    pytest.importorskip("nwbinspector")
    options = parse_save_nwb(make_cfg({"metadata": {"institution": "X"}}))
    assert any("check_subject_exists" in issue for issue in options.metadata_issues)


def _run(tmp_path: Path, name: str, save_nwb: dict) -> subprocess.CompletedProcess:
    job = tmp_path / f"{name}.json"
    job.write_text(json.dumps({"save_folder": str(tmp_path / name), "save_nwb": save_nwb, "duration_ms": 20.0,
                               "n_cells": 2}))  # fmt: skip
    return subprocess.run(
        [sys.executable, str(DRIVER), str(job)], capture_output=True, text=True, env=mpi_env(), timeout=300,
        cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.simulator
def test_metadata_and_provenance_in_the_file(tmp_path):
    path = tmp_path / "meta.nwb"
    result = _run(tmp_path, "meta", {"filename": str(path), "metadata": META})
    assert result.returncode == 0, result.stderr[-3000:]
    with NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        assert (f.lab, f.institution, list(f.experimenter)) == ("NetPyNE lab", "simout_plugins tests", ["Doe, Jane"])
        assert (f.subject.subject_id, f.subject.species, f.subject.age) == ("tiny-1", "Mus musculus", "P90D")
        assert f.session_start_time.replace(tzinfo=None).isoformat() == "2024-05-01T09:30:00"
        assert f.units.resolution == pytest.approx(25e-6)  # cfg.dt = 0.025 ms
        config = json.loads(f.source_script)
        assert config["simConfig"]["recordStep"] == 0.1 and "PYR" in config["netParams"]["cellParams"]
        assert f.source_script_file_name == "netpyne_config.json"
        assert f.experiment_description.startswith("Simulated with NetPyNE")
    prov = read_provenance(path)
    assert prov["layout"] == 1 and prov["simulator"] == "netpyne" and prov["mpi_ranks"] == 1
    assert {"netpyne", "neuron", "simout_plugins"} <= set(prov["versions"])
    assert prov["script"] == "driver.py" and prov["command"][0] == "driver.py"


@pytest.mark.simulator
def test_bad_metadata_stops_before_the_network_is_built(tmp_path):
    path = tmp_path / "old.nwb"
    path.write_bytes(b"previous results")
    result = _run(tmp_path, "bad", {"filename": str(path), "metadata": {**META, "subject": {"agee": "P1D"}}})
    assert result.returncode != 0
    assert "'agee'" in result.stderr and "cfg.saveNWB['metadata']['subject']" in result.stderr
    assert "Creating network" not in result.stdout + result.stderr
    assert path.read_bytes() == b"previous results"
    assert not list(tmp_path.glob("*.partial.nwb"))
