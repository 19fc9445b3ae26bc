"""The one provenance layout (simout_plugins.nwb.provenance): fields written, read back, legacy files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from simout_plugins import CompartmentSeriesWriter, build_compartments
from simout_plugins.nwb.provenance import merge_metadata, provenance_fields, read_provenance


def write(path, metadata):
    comps = build_compartments(node_ids=[0], counts=[1], number=[0], position=[0.5])
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=2, dt_ms=0.1, nwb_metadata=metadata) as w:
        w.write_block(0, np.zeros((2, 1)))


def test_fields_and_round_trip(nwb_path):
    fields = provenance_fields(
        simulator="bmtk.bionet", simulator_version="1.2.0", neuron_version="9.0.2",
        config={"run": {"dt": np.float64(0.1)}, "nodes": (1, 2)}, config_file_name="/some/dir/config.json",
        command=["python", "-m", "bmtk_module", "run", "config.json"], mpi_ranks=2, extra={"report": "v"},
    )  # fmt: skip
    assert json.loads(fields["source_script"]) == {"run": {"dt": 0.1}, "nodes": [1, 2]}
    assert fields["source_script_file_name"] == "config.json"
    notes = json.loads(fields["notes"])
    assert notes["simout_provenance"] == 1 and notes["simulator"] == "bmtk.bionet" and notes["mpi_ranks"] == 2
    assert notes["versions"]["bmtk"] == "1.2.0" and notes["versions"]["neuron"] == "9.0.2"
    assert fields["experiment_description"].startswith("Simulated with BMTK (bionet) 1.2.0 and NEURON 9.0.2 on 2")
    write(nwb_path, merge_metadata(provenance=fields, metadata={"lab": "L"}))
    prov = read_provenance(nwb_path, include_config=True)
    assert prov["layout"] == 1 and prov["report"] == "v" and prov["command"][2] == "bmtk_module"
    assert prov["config_file_name"] == "config.json" and json.loads(prov["config"])["run"]["dt"] == 0.1
    with h5py.File(nwb_path, "r") as f:  # an open h5py.File works too
        assert read_provenance(f)["versions"]["bmtk"] == "1.2.0"


def test_without_config_and_bad_arguments():
    fields = provenance_fields(simulator="neuron", neuron_version="9.0.2")
    assert "source_script" not in fields and "NEURON 9.0.2 on 1 MPI rank;" in fields["experiment_description"]
    with pytest.raises(ValueError, match="reserved"):
        provenance_fields(simulator="neuron", extra={"versions": {}})
    with pytest.raises(ValueError, match="mpi_ranks"):
        provenance_fields(simulator="neuron", mpi_ranks=0)


def test_user_metadata_wins():
    merged = merge_metadata(provenance={"notes": "{}", "keywords": ["a"]}, metadata={"keywords": ["b"]})
    assert merged == {"notes": "{}", "keywords": ["b"]}


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        (json.dumps({"simulator": "bmtk.bionet", "bmtk": "1.2.0", "neuron": "9", "mpi_ranks": 1}), "legacy-bmtk"),
        (json.dumps({"netpyne_version": "1.1", "neuron_version": "9", "simConfig": {}, "netParams": {}}),
         "legacy-netpyne"),
        ("free text", None),
    ],
)  # fmt: skip
def test_legacy_and_foreign_notes(nwb_path, notes, expected):
    write(nwb_path, {"notes": notes})
    prov = read_provenance(nwb_path)
    assert prov["layout"] == expected
    if expected is None:
        assert prov["notes"] == "free text"
    else:
        assert prov["versions"]["neuron"] == "9"
