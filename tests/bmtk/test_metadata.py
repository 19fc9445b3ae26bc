"""NWB file metadata of BMTK reports: the config's top-level ``nwb_metadata`` section, each report's own entry
(merged as documented), the provenance layout, and one clear error before the run for bad metadata."""

from __future__ import annotations

import json

import pytest
from pynwb import NWBHDF5IO

from bmtk_module.config import merge_nwb_metadata, parse_reports
from simout_plugins.nwb import read_provenance

from .conftest import nwb, run_bmtk

TOP = {
    "session_description": "top-level description",
    "experimenter": "Doe, Jane",
    "institution": "Top Institute",
    "lab": "Top Lab",
    "keywords": ["simulation", "top"],
    "session_start_time": "2024-05-01T09:30:00+02:00",
    "subject": {"subject_id": "net-1", "species": "Mus musculus", "sex": "U", "age": "P90D"},
}


# ---------------------------------------------------------------------------------------------------- no simulation
def test_merge_is_per_key_and_subject_fields_merge():
    merged = merge_nwb_metadata(
        config=TOP, report={"lab": "Report Lab", "subject": {"subject_id": "net-2", "description": "model"}}
    )
    assert merged["lab"] == "Report Lab" and merged["institution"] == "Top Institute"
    assert merged["subject"] == {
        "subject_id": "net-2", "species": "Mus musculus", "sex": "U", "age": "P90D", "description": "model",
    }  # fmt: skip
    assert TOP["subject"]["subject_id"] == "net-1"  # inputs unchanged
    assert merge_nwb_metadata(config=None, report=None) == {}


@pytest.mark.parametrize(
    ("top", "entry", "match"),
    [
        ({"experimentor": ["x"]}, None, r"top-level \"nwb_metadata\".*unknown keys \['experimentor'\].*'experimenter'"),
        ({"subject": {"speces": "Mus musculus"}}, None, r"\['subject'\]: unknown keys \['speces'\]"),
        ({"session_start_time": "last tuesday"}, None, r"\['session_start_time'\] = 'last tuesday' is not an ISO"),
        (None, {"experimenter": 3}, r"report 'r': nwb_metadata\['experimenter'\] = 3"),
        (None, {"subject": {"age": 90}}, r"report 'r': nwb_metadata\['subject'\]\['age'\] = 90"),
        (None, {"subject": {"date_of_birth": "1st May"}}, r"\['subject'\]\['date_of_birth'\] = '1st May'"),
        (None, ["not", "a", "dict"], r"report 'r': nwb_metadata must be a dict"),
        ("not a dict", None, r"top-level \"nwb_metadata\" section must be a dict"),
    ],
)
def test_bad_metadata_names_report_key_and_value(tmp_path, top, entry, match):
    extra = {} if entry is None else {"nwb_metadata": entry}
    with pytest.raises((ValueError, TypeError), match=match):
        parse_reports(reports={"r": nwb("v", file_name="r.nwb", **extra)}, output_dir=tmp_path, nwb_metadata=top)


def test_dandi_findings_are_reported_not_raised(tmp_path):
    pytest.importorskip("nwbinspector")
    reports = {
        "fine": nwb("v", file_name="fine.nwb"),
        "odd": nwb("v", file_name="odd.nwb", nwb_metadata={"subject": {"age": "90 days", "species": "mouse"}}),
    }
    fine, odd = parse_reports(reports=reports, output_dir=tmp_path, nwb_metadata=TOP)
    assert fine.metadata_issues == ()
    assert any("check_subject_age" in issue and issue.startswith("report 'odd'") for issue in odd.metadata_issues)
    assert any("check_subject_species_form" in issue for issue in odd.metadata_issues)
    (none,) = parse_reports(reports={"r": nwb("v", file_name="r.nwb")}, output_dir=tmp_path)
    assert none.metadata_issues == ()  # no metadata given: nothing asked, nothing inspected


def test_top_level_section_checked_without_reports(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        parse_reports(reports={}, output_dir=tmp_path, nwb_metadata={"bogus": 1})


# ---------------------------------------------------------------------------------------------------- real runs
@pytest.mark.simulator
def test_top_level_and_entry_metadata_in_the_files(bmtk_network):
    out = bmtk_network.root / "meta"
    reports = {
        "own": nwb(
            "v", sections="soma", file_name="own.nwb", spikes=True,
            nwb_metadata={"lab": "Report Lab", "keywords": ["mine"], "subject": {"subject_id": "net-2"}},
        ),
        "shared": nwb("v", sections="soma", file_name="shared.nwb"),
    }  # fmt: skip
    config = bmtk_network.config(out, reports, nwb_metadata=TOP)
    run_bmtk(config)
    with NWBHDF5IO(str(out / "own.nwb"), "r") as io:
        f = io.read()
        assert (f.lab, f.institution, list(f.experimenter)) == ("Report Lab", "Top Institute", ["Doe, Jane"])
        assert list(f.keywords[:]) == ["mine"]
        s = f.subject
        assert (s.subject_id, s.species, s.sex, s.age) == ("net-2", "Mus musculus", "U", "P90D")
        assert f.session_start_time.isoformat() == "2024-05-01T09:30:00+02:00"
        assert f.session_description == "top-level description"
        assert f.units.resolution == pytest.approx(1e-4)  # the run's dt, 0.1 ms
        assert f.source_script_file_name == config.name
        assert json.loads(f.source_script)["nwb_metadata"]["lab"] == "Top Lab"  # the whole config, as run
        assert f.experiment_description.startswith("Simulated with BMTK (bionet)")
    with NWBHDF5IO(str(out / "shared.nwb"), "r") as io:
        f = io.read()
        assert (f.lab, f.subject.subject_id, list(f.keywords[:])) == ("Top Lab", "net-1", ["simulation", "top"])
    prov = read_provenance(out / "own.nwb")
    assert prov["layout"] == 1 and prov["simulator"] == "bmtk.bionet"
    assert prov["report"] == "own" and prov["mpi_ranks"] == 1
    assert {"bmtk", "neuron", "simout_plugins", "pynwb", "python"} <= set(prov["versions"])
    assert prov["command"][:3] == ["python", "-m", "bmtk_module"] and prov["config_file_name"] == config.name


@pytest.mark.simulator
@pytest.mark.parametrize(
    ("top", "entry", "expected"),
    [
        ({"bogus_key": 1}, None, ['top-level "nwb_metadata"', "'bogus_key'"]),
        ({"subject": {"age": "P90D", "colour": "brown"}}, None, ["['subject']", "'colour'"]),
        (None, {"session_start_time": "2024-13-45"}, ["report 'bad'", "'session_start_time'", "'2024-13-45'"]),
    ],
)
def test_bad_metadata_stops_before_the_run(bmtk_network, top, entry, expected):
    name = "_".join(expected[1].strip("'[]").split())[:20]
    out = bmtk_network.root / f"err_meta_{name}"
    keep = bmtk_network.root / f"keep_meta_{name}"
    keep.mkdir(parents=True, exist_ok=True)
    old = keep / "bad.nwb"
    old.write_bytes(b"previous results")
    entry_keys = {} if entry is None else {"nwb_metadata": entry}
    overrides = {} if top is None else {"nwb_metadata": top}
    result = run_bmtk(
        bmtk_network.config(out, {"bad": nwb("v", file_name=str(old), **entry_keys)}, **overrides), check=False
    )
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    for text in expected:
        assert text in errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert old.read_bytes() == b"previous results"
    assert not list(keep.glob("*.partial.nwb"))
    assert not (out / "log.txt").exists()  # BMTK's output folder was not even set up


@pytest.mark.mpi
def test_two_rank_provenance(mpi_run):
    """The shared 2-rank run (tests/bmtk/conftest.py) records its rank count and the run's dt as spike resolution."""
    prov = read_provenance(mpi_run / "all64.nwb")
    assert prov["mpi_ranks"] == 2 and "on 2 MPI ranks" in prov["experiment_description"]
    with NWBHDF5IO(str(mpi_run / "all64.nwb"), "r") as io:
        assert io.read().units.resolution == pytest.approx(1e-4)
