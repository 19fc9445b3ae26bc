"""simout_plugins.cli.info: what ``simout info`` reports for NWB files, SONATA reports and SONATA spike files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from simout_plugins.cli.describe_nwb import population_runs
from simout_plugins.cli.info import describe_file, format_info
from simout_plugins.read.formats import detect_format
from tests.factories import (
    DT_MS,
    N_STEPS,
    TSTART_MS,
    make_flat_sonata_spikes,
    make_nwb,
    make_sonata_report,
    make_sonata_spikes,
)


def test_nwb_cells_by_address_series_and_units(tmp_path):
    info = describe_file(make_nwb(tmp_path / "a.nwb"))
    assert info["format"] == "nwb" and info["size_bytes"] > 0
    (s,) = info["series"]
    assert s["name"] == "v" and s["shape"] == [N_STEPS, 10] and s["dtype"] == "float32"
    assert s["unit"] == "volts" and s["conversion"] == pytest.approx(1e-3)
    assert s["chunks"] and len(s["chunks"]) == 2
    assert s["steps_written"] == s["steps_allocated"] == N_STEPS
    assert s["dt_ms"] == pytest.approx(DT_MS)
    assert s["time_ms"] == pytest.approx([TSTART_MS, TSTART_MS + (N_STEPS - 1) * DT_MS])
    assert s["time_s"] == pytest.approx([TSTART_MS / 1e3, (TSTART_MS + (N_STEPS - 1) * DT_MS) / 1e3])
    # 5 cells although only 3 distinct node ids
    assert s["cells"] == 5 and s["compartments"] == 10
    assert [(p["population"], p["cells"], p["compartments"], p["node_ids"]) for p in s["populations"]] == [
        ("cortex", 3, 6, [0, 2]),
        ("thalamus", 2, 4, [0, 1]),
    ]
    u = info["units"]
    assert u["spikes"] == 5 and u["time_s"] == pytest.approx([0.003, 0.0125])
    by_pop = {p["population"]: p for p in u["populations"]}
    assert by_pop["cortex"]["cells"] == 2 and by_pop["cortex"]["spikes"] == 3
    assert by_pop["thalamus"]["cells"] == 2 and by_pop["thalamus"]["spikes"] == 2
    assert by_pop["thalamus"]["time_s"] == pytest.approx([0.004, 0.0125])
    json.dumps(info)  # JSON-ready


def test_nwb_provenance_summary(tmp_path):
    prov = describe_file(make_nwb(tmp_path / "a.nwb"))["provenance"]
    assert prov["simulator"] == "neuron"
    assert prov["versions"]["neuron"] == "9.0.2"
    assert prov["config_file_name"] == "sim.json" and prov["config_chars"] > 0
    assert "config" not in prov


def test_nwb_without_spikes_or_provenance(tmp_path):
    info = describe_file(make_nwb(tmp_path / "a.nwb", spikes=False, provenance=False))
    assert info["units"] is None
    assert "units: none" in format_info(info)


def test_steps_written_vs_allocated(tmp_path):
    s = describe_file(make_nwb(tmp_path / "a.nwb", steps_written=10))["series"][0]
    assert (s["steps_written"], s["steps_allocated"]) == (10, N_STEPS)
    assert s["time_ms"][1] == pytest.approx(TSTART_MS + 9 * DT_MS)


def test_text_names_series_populations_and_units(tmp_path):
    text = format_info(describe_file(make_nwb(tmp_path / "a.nwb")))
    assert "series 'v': 40 times x 10 compartments, float32" in text
    assert "cells 5 (cortex 3 (node ids 0 .. 2), thalamus 2 (node ids 0 .. 1)), compartments 10" in text
    assert "steps written 40/40" in text
    assert "cortex 2 cells / 3 spikes, thalamus 2 cells / 2 spikes" in text
    assert "simulator: neuron" in text


def test_sonata_report(tmp_path):
    info = describe_file(make_sonata_report(tmp_path / "r.h5"))
    assert info["format"] == "sonata" and "spikes" not in info
    a, b = info["report"]
    assert (a["population"], a["nodes"], a["elements"], a["node_ids"]) == ("a", 2, 3, [3, 7])
    assert (b["population"], b["nodes"], b["elements"]) == ("b", 1, 2)
    assert a["time"] == [0.0, 10.0, 0.5] and a["time_units"] == "ms" and a["steps"] == 20
    assert a["units"] == "mV" and a["dtype"] == "float32" and a["time_base"] == "start"
    assert "report population 'a': 2 nodes" in format_info(info)


def test_sonata_report_bmtk_spelling_without_units(tmp_path):
    info = describe_file(make_sonata_report(tmp_path / "r.h5", units=False, spelling="index_pointer"))
    a = info["report"][0]
    assert a["units"] is None and a["assumed_units"] == "mV"
    assert a["index_names"] == ["index_pointer"]
    assert "not stored (assumed mV)" in format_info(info)


def test_sonata_spikes(tmp_path):
    info = describe_file(make_sonata_spikes(tmp_path / "s.h5"))
    a, b = info["spikes"]
    assert (a["population"], a["spikes"], a["cells_with_spikes"], a["time"]) == ("a", 3, 2, [1.0, 8.0])
    assert a["units"] == "ms" and a["sorting"] == "by_time"
    assert (b["population"], b["spikes"]) == ("b", 1)


def test_sonata_flat_spikes(tmp_path):
    (p,) = describe_file(make_flat_sonata_spikes(tmp_path / "s.h5"))["spikes"]
    assert (p["population"], p["spikes"], p["cells_with_spikes"], p["node_ids"]) == (None, 3, 2, [2, 5])
    assert p["units"] == "s" and p["sorting"] is None and p["time"] == [0.001, 0.004]


def test_detect_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        detect_format(tmp_path / "none.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        detect_format(tmp_path / "text.nwb")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="neither an NWB file nor a SONATA"):
        detect_format(tmp_path / "other.h5")
    with pytest.raises(ValueError, match="directory"):
        detect_format(tmp_path)


def test_population_runs_groups_contiguous_and_repeated_runs():
    pops = np.asarray(["b", "b", "a", "b"], dtype=object)
    assert [(n, r.tolist()) for n, r in population_runs(pops, 4)] == [("b", [0, 1, 3]), ("a", [2])]
    assert [(n, r.tolist()) for n, r in population_runs(None, 2)] == [("default", [0, 1])]
    assert population_runs(None, 0) == []
