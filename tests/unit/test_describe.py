"""simout_plugins.cli.info: what ``simout info`` reports for NWB files, SONATA reports and SONATA spike files.

The file generators here are shared with test_cli.py and test_plotting.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.cli.info import describe_file, detect_format, format_info, population_runs
from simout_plugins.nwb.provenance import provenance_fields

# two populations whose node ids overlap: cortex 0, 1, 2 (3 + 2 + 1 compartments), thalamus 0, 1 (2 + 2)
NODE_IDS = [0, 1, 2, 0, 1]
POPS = ["cortex"] * 3 + ["thalamus"] * 2
COUNTS = [3, 2, 1, 2, 2]
LABELS = ["soma", "dend[0]", "dend[1]", "soma", "dend[0]", "soma", "soma", "axon", "soma", "axon"]
N_STEPS, DT_MS, TSTART_MS = 40, 0.5, 2.0
SPIKES = dict(
    node_ids=[0, 0, 1, 0, 1], times_ms=[3.0, 9.0, 5.0, 4.0, 12.5], population=["cortex"] * 3 + ["thalamus"] * 2
)


def make_nwb(path: Path, *, spikes: bool = True, provenance: bool = True, steps_written: int = N_STEPS) -> Path:
    """Two populations with overlapping node ids, one ``v`` series (value = 1000 * column + step, mV), spikes."""
    comps = build_compartments(
        node_ids=NODE_IDS,
        counts=COUNTS,
        population=POPS,
        number=[0, 1, 2, 0, 1, 0, 0, 1, 0, 1],
        position=[0.5] * 10,
        label=LABELS,
    )
    meta = None
    if provenance:
        meta = provenance_fields(
            simulator="neuron", neuron_version="9.0.2", config={"dt": 0.025}, config_file_name="sim.json"
        )
    with CompartmentSeriesWriter(
        path, compartments=comps, n_steps=N_STEPS, dt_ms=DT_MS, tstart_ms=TSTART_MS, unit="mV", nwb_metadata=meta
    ) as w:
        block = -65.0 + np.arange(steps_written)[:, None] * 0.1 + np.arange(10)[None, :]
        w.write_block(0, block)
        if spikes:
            w.add_spikes(**SPIKES)
    return path


def make_sonata_report(path: Path, *, units: bool = True, spelling: str = "index_pointers") -> Path:
    """SONATA report with populations 'a' (nodes 3, 7: 2 + 1 elements) and 'b' (node 3: 2 elements)."""
    tstart, tstop, dt = 0.0, 10.0, 0.5
    n_t = int(round((tstop - tstart) / dt))
    with h5py.File(path, "w") as f:
        for name, node_ids, ptr in (("a", [3, 7], [0, 2, 3]), ("b", [3], [0, 2])):
            g = f.create_group(f"report/{name}")
            n_el = ptr[-1]
            data = g.create_dataset(
                "data", data=(np.arange(n_t)[:, None] + 100 * np.arange(n_el)[None, :]).astype(np.float32)
            )
            m = g.create_group("mapping")
            m.create_dataset("node_ids", data=np.asarray(node_ids, dtype=np.uint64))
            m.create_dataset(spelling, data=np.asarray(ptr, dtype=np.uint64))
            m.create_dataset("element_ids", data=np.arange(n_el, dtype=np.uint32))
            m.create_dataset("element_pos", data=np.full(n_el, 0.5, dtype=np.float32))
            t = m.create_dataset("time", data=np.asarray([tstart, tstop, dt]))
            if units:
                data.attrs["units"] = "mV"
                t.attrs["units"] = "ms"
    return path


def make_sonata_spikes(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        for name, ids, ts in (("a", [3, 7, 3], [1.0, 2.5, 8.0]), ("b", [3], [4.0])):
            g = f.create_group(f"spikes/{name}")
            g.create_dataset("node_ids", data=np.asarray(ids, dtype=np.uint64))
            t = g.create_dataset("timestamps", data=np.asarray(ts))
            t.attrs["units"] = "ms"
            g.attrs["sorting"] = "by_time"
    return path


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


def make_flat_sonata_spikes(path: Path) -> Path:
    """The pre-population layout: ``/spikes/{gids, timestamps}`` (timestamps in s)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/gids", data=np.asarray([5, 2, 5], dtype=np.uint32))
        f.create_dataset("spikes/timestamps", data=np.asarray([0.001, 0.002, 0.004])).attrs["units"] = "s"
    return path


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
