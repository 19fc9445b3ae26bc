import subprocess
import sys
import textwrap
import warnings
from datetime import datetime

import numpy as np
import pytest
import yaml
from pynwb import NWBHDF5IO, NWBFile

from simout_plugins import Compartments, CompartmentSeries
from simout_plugins.nwb._spec_source import SPEC_DIR


def seed_file(path):
    """The seed's usage example, as written, with only the import changed."""
    compartments = Compartments()
    compartments.add_row(number=[0, 1, 2, 3, 4], position=[0.1, 0.2, 0.3, 0.4, 0.5])
    compartments.add_row(number=[0], position=[np.nan])
    cs = CompartmentSeries(
        "membrane_potential", np.random.randn(10, 6), compartments=compartments, unit="V", rate=100.0
    )
    nwbfile = NWBFile("description", "id", datetime.now().astimezone())
    nwbfile.add_acquisition(compartments)
    nwbfile.add_acquisition(cs)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return cs.data


def test_seed_example_runs_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seed_file(tmp_path / "test_compartment_series.nwb")


def test_seed_file_reads_in_fresh_process_without_simout_plugins(tmp_path):
    path = tmp_path / "test_compartment_series.nwb"
    data = seed_file(path)
    np.save(tmp_path / "expected.npy", data)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from pynwb import NWBHDF5IO, validate
        with NWBHDF5IO({str(path)!r}, "r", load_namespaces=True) as io:
            f = io.read()
            cs = f.acquisition["membrane_potential"]
            assert type(cs).__name__ == "CompartmentSeries", type(cs)
            np.testing.assert_array_equal(cs.data[:], np.load({str(tmp_path / "expected.npy")!r}))
            comps = cs.compartments
            assert [list(r) for r in comps["number"][:]] == [[0, 1, 2, 3, 4], [0]]
            assert np.isnan(comps["position"][1][0])
        errors = validate(path={str(path)!r})
        assert errors == [], errors
        assert "simout_plugins" not in sys.modules
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_shape_check_names_counts_and_transposed_case():
    comps = Compartments()
    comps.add_row(number=[0, 1], position=[0.1, 0.2])
    comps.add_row(number=[0], position=[0.5])
    with pytest.raises(ValueError, match="data.shape\\[1\\] is 10 .* lists 3 compartments"):
        CompartmentSeries("v", np.zeros((5, 10)), compartments=comps, unit="V", rate=1.0)
    with pytest.raises(ValueError, match="transposed"):
        CompartmentSeries("v", np.zeros((3, 7)), compartments=comps, unit="V", rate=1.0)
    CompartmentSeries("v", np.zeros((7, 3)), compartments=comps, unit="V", rate=1.0)


def test_committed_yaml_matches_spec_source(tmp_path):
    from simout_plugins.nwb._spec_source import export

    export(tmp_path)
    for name in ("ndx-simulation-output.namespace.yaml", "ndx-simulation-output.extensions.yaml"):
        fresh = yaml.safe_load((tmp_path / name).read_text())
        committed = yaml.safe_load((SPEC_DIR / name).read_text())
        assert fresh == committed, (
            f"{name} drifted: run python -c 'from simout_plugins.nwb._spec_source import export; export()'"
        )


def test_types_match_0_2_structure():
    ext = yaml.safe_load((SPEC_DIR / "ndx-simulation-output.extensions.yaml").read_text())
    by_type = {g["neurodata_type_def"]: g for g in ext["groups"]}
    assert set(by_type) == {"Compartments", "CompartmentSeries", "SimulationMetaData"}
    names = [d["name"] for d in by_type["Compartments"]["datasets"]]
    assert names == ["number", "number_index", "position", "position_index", "label", "label_index"]
    assert by_type["CompartmentSeries"]["links"][0]["target_type"] == "Compartments"
    ns = yaml.safe_load((SPEC_DIR / "ndx-simulation-output.namespace.yaml").read_text())["namespaces"][0]
    assert (ns["name"], ns["version"]) == ("ndx-simulation-output", "0.3.0")


def test_spec_is_shipped_inside_the_package():
    from simout_plugins.nwb.schema import NAMESPACE_PATH

    assert "simout_plugins" in NAMESPACE_PATH and NAMESPACE_PATH.endswith(".namespace.yaml")
