"""Files written by every adapter pass nwbinspector (default and DANDI configurations) and pynwb's validator.

Real runs: a BMTK network with two populations whose node ids overlap (cortex 0..11, thalamus 0..3), the NetPyNE
example (its ``cfg.saveNWB['metadata']``) and the plain-NEURON example, each with file metadata given as a user
would (subject, experimenter, institution, lab, keywords).

nwbinspector's ``check_data_orientation`` is a shape heuristic ("time is usually the longest axis"); a
CompartmentSeries with more compartments than samples trips it although its axes are NWB's (time first). The
reports below are sized so that every series has more samples than compartments except one, which
:func:`assert_dandi_clean` accepts only for that check, on a CompartmentSeries whose first axis is its time axis.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import pytest

from tests.conftest import REPO

pytest.importorskip("nwbinspector")
pytest.importorskip("neuron")

pytestmark = [pytest.mark.simulator]

METADATA = {
    "session_description": "Two-population BMTK test network",
    "experimenter": ["Doe, Jane"],
    "institution": "simout_plugins tests",
    "lab": "simout_plugins",
    "keywords": ["simulation", "BMTK"],
    "subject": {
        "subject_id": "bmtk-test-network",
        "species": "Mus musculus",
        "sex": "U",
        "age": "P90D",
        "description": "In silico model (not an animal).",
    },
}


def inspect(path: Path) -> list:
    """nwbinspector messages at BEST_PRACTICE_VIOLATION or above, with the default and the DANDI configuration."""
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = []
    for config in (None, load_config("dandi")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            messages += list(
                inspect_nwbfile(
                    nwbfile_path=str(path), config=config, importance_threshold=Importance.BEST_PRACTICE_VIOLATION
                )
            )
    return messages


def assert_dandi_clean(path: Path, *, allow_wide_series: bool = False) -> None:
    """Nothing at CRITICAL / BEST_PRACTICE_VIOLATION (default and DANDI config) and no pynwb validation error.

    ``allow_wide_series``: accept ``check_data_orientation`` on a CompartmentSeries whose data has more
    compartments than samples, provided its first axis really is time (the heuristic's false positive).
    """
    from pynwb import validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = validate(path=str(path))
    assert not errors, f"{path.name}: pynwb.validate: {errors}"
    bad = []
    for m in inspect(path):
        if allow_wide_series and m.check_function_name == "check_data_orientation" and _time_first(path, m.location):
            continue
        bad.append(f"{m.importance.name} {m.check_function_name} {m.object_type} {m.location}: {m.message[:200]}")
    assert not bad, f"{path.name}:\n" + "\n".join(bad)


def _time_first(path: Path, location: str) -> bool:
    with h5py.File(path, "r") as f:
        series = f[location]
        if series.attrs.get("neurodata_type") != "CompartmentSeries":
            return False
        n_times = series["data"].shape[0]
        table = series["compartments"]
        n_compartments = table["number"].shape[0]
        rows = table["id"].shape[0]
        steps = series["data"].attrs.get("simout_steps_written", n_times)
        return series["data"].shape == (n_times, n_compartments) and rows > 0 and steps == n_times


# ---------------------------------------------------------------------------------------------------- BMTK
@pytest.fixture(scope="module")
def bmtk_files(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("bmtk")
    from tests.bmtk.conftest import BmtkNetwork, native, nwb, run_bmtk

    network = BmtkNetwork(tmp_path_factory.mktemp("dandi_bmtk"))
    out = network.root / "out"
    reports = {
        "v_all": nwb("v", file_name="v_all.nwb", spikes=True),  # 1072 compartments, 1000 samples
        "soma": nwb(["v", "ina"], sections="soma", file_name="soma.nwb", spikes=True, dtype="float64"),
        "dend": nwb("v", cells="exc", sections="dend", file_name="dend.nwb", nwb_metadata={"lab": "dendrites"}),
        "native_soma": native("v", sections="soma", file_name="native_soma.h5"),  # SONATA, for the converter
    }
    run_bmtk(network.config(out, reports, nwb_metadata=METADATA))
    files = {name: out / spec["file_name"] for name, spec in reports.items()}
    files["spikes"] = out / "spikes.h5"
    return files


def test_bmtk_two_populations_pass_dandi_checks(bmtk_files):
    with h5py.File(bmtk_files["soma"], "r") as f:  # two populations whose node ids overlap
        pops = f["acquisition/compartments/population"].asstr()[()]
        assert {"cortex", "thalamus"} <= set(pops)
        assert f["units/spike_times"].attrs.get("resolution") == pytest.approx(1e-4)  # the run's dt (0.1 ms), in s
    assert_dandi_clean(bmtk_files["soma"])
    assert_dandi_clean(bmtk_files["dend"])
    assert_dandi_clean(bmtk_files["v_all"], allow_wide_series=True)


# ---------------------------------------------------------------------------------------------------- NetPyNE
def test_netpyne_example_passes_dandi_checks(tmp_path):
    pytest.importorskip("netpyne")
    script = REPO / "examples" / "netpyne_network" / "init.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path), "--duration", "50", "--no-plot"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    path = tmp_path / "netpyne_network.nwb"
    with h5py.File(path, "r") as f:
        assert f["units/spike_times"].attrs.get("resolution") == pytest.approx(25e-6)  # cfg.dt = 0.025 ms
    assert_dandi_clean(path)


# ---------------------------------------------------------------------------------------------------- NEURON
def test_neuron_example_passes_dandi_checks(tmp_path):
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "neuron_standalone.py"), "--out-dir", str(tmp_path), "--n-cells",
         "3", "--tstop", "20", "--no-plot"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    path = tmp_path / "neuron_standalone.nwb"
    with h5py.File(path, "r") as f:
        assert f["units/spike_times"].attrs.get("resolution") == pytest.approx(25e-6)
    assert_dandi_clean(path)


# ---------------------------------------------------------------------------------------------------- converter
def test_converted_sonata_report_passes_dandi_checks(bmtk_files, tmp_path):
    sonata = pytest.importorskip("simout_plugins.sonata")
    out = sonata.to_nwb(
        report=bmtk_files["native_soma"], spikes=bmtk_files["spikes"], out=tmp_path / "converted.nwb", metadata=METADATA
    )
    with h5py.File(out, "r") as f:
        assert f["units/spike_times"].attrs.get("resolution") == pytest.approx(1e-4)
    assert_dandi_clean(out)
