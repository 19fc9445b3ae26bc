"""Cells without sections in a BioNet network (issue 16 item 3): a population of ``IntFire1`` point processes
(``model_type`` point_process, ``model_template`` "nrn:IntFire1") next to the example's BallStick cells, driven by
its own virtual Poisson inputs. A ``"cells"`` selection that takes them gives each a row with zero compartments (zero
synapses in an ``nwb_netcon_report``) and says so in the log; the other cells' columns still equal BMTK's native
membrane_report; Units hold the IntFire1 cells' spikes, equal to BMTK's own spikes file."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from simout_plugins import open_report

from .conftest import EXAMPLE, TSTOP_MS, native, nwb, run_bmtk

pytestmark = [pytest.mark.simulator]

N_FIRES = 3


def build_intfire_population(root):
    """Build ``fires`` (IntFire1 x 3) and ``fire_inputs`` (virtual x 6, Poisson) into ``root``."""
    from bmtk.builder import NetworkBuilder
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    net_dir, models, syns = root / "network_if", root / "models_if", root / "synapses_if"
    for d in (net_dir, models, syns):
        d.mkdir(parents=True, exist_ok=True)
    (models / "intfire.json").write_text(json.dumps({"tau": 0.01, "refrac": 0.002}))  # s (BMTK converts to ms)
    shutil.copy2(EXAMPLE / "components" / "synaptic_models" / "exc_syn.json", syns / "exc_syn.json")
    (syns / "intfire_syn.json").write_text(json.dumps({"sign": 1}))
    fires = NetworkBuilder("fires")
    fires.add_nodes(
        N=N_FIRES, model_type="point_process", model_template="nrn:IntFire1", dynamics_params="intfire.json"
    )
    fires.build()
    fires.save(output_dir=str(net_dir))
    drive = NetworkBuilder("fire_inputs")
    drive.add_nodes(N=6, model_type="virtual")
    drive.add_edges(target=fires.nodes(), connection_rule=1, syn_weight=0.4, delay=1.0,
                    dynamics_params="intfire_syn.json", model_template="exp2syn")  # fmt: skip
    drive.build()
    drive.save(output_dir=str(net_dir))
    psg = PoissonSpikeGenerator(population="fire_inputs", seed=5)
    psg.add(node_ids=list(range(6)), firing_rate=60.0, times=(0.0, TSTOP_MS / 1000.0))
    psg.to_sonata(str(net_dir / "fire_inputs_spikes.h5"))
    return root


def with_intfire_population(root, config_path):
    """Add the IntFire1 population (built by :func:`build_intfire_population`) to a config of the example network."""
    net_dir, models, syns = root / "network_if", root / "models_if", root / "synapses_if"
    conf = json.loads(config_path.read_text())
    conf["networks"]["nodes"] += [
        {"nodes_file": str(net_dir / f"{p}_nodes.h5"), "node_types_file": str(net_dir / f"{p}_node_types.csv")}
        for p in ("fires", "fire_inputs")
    ]
    conf["networks"]["edges"].append(
        {"edges_file": str(net_dir / "fire_inputs_fires_edges.h5"),
         "edge_types_file": str(net_dir / "fire_inputs_fires_edge_types.csv")}
    )  # fmt: skip
    conf["inputs"]["fire_drive"] = {"input_type": "spikes", "module": "sonata", "node_set": "fire_inputs",
                                    "input_file": str(net_dir / "fire_inputs_spikes.h5")}  # fmt: skip
    conf["components"]["point_neuron_models_dir"] = str(models)
    conf["components"]["synaptic_models_dir"] = str(syns)
    config_path.write_text(json.dumps(conf, indent=2))
    return config_path


REPORTS = {
    "native_all": native("v", sections="soma", file_name="native_all.h5"),
    "all_v": nwb("v", sections="soma", file_name="all_v.nwb", dtype="float64", spikes=True),
    "syn_all": {"module": "nwb_netcon_report", "variable_name": "g", "cells": "all", "file_name": "syn_all.nwb"},
}


@pytest.fixture(scope="module")
def intfire_root(bmtk_network):
    return build_intfire_population(bmtk_network.root)


@pytest.fixture(scope="module")
def intfire_run(bmtk_network, intfire_root):
    from tests.integration.test_dandi import METADATA

    out = bmtk_network.root / "intfire"
    reports = {k: ({**v, "nwb_metadata": METADATA} if "nwb" in v["module"] else v) for k, v in REPORTS.items()}
    result = run_bmtk(with_intfire_population(intfire_root, bmtk_network.config(out, reports)))
    return out, result


def test_cells_without_sections_get_rows_with_zero_compartments(intfire_run):
    out, result = intfire_run
    with open_report(out / "all_v.nwb") as r:
        s = r["v"]
        assert s.populations == ["cortex", "fires", "thalamus"]
        cells = s.cells
        fires = np.asarray(cells.population) == "fires"
        assert list(np.asarray(cells.node_ids)[fires]) == list(range(N_FIRES))
        assert (np.diff(np.asarray(cells.offsets))[fires] == 0).all()
        assert (np.diff(np.asarray(cells.offsets))[~fires] == 1).all()  # one soma each
        assert s.get(population="fires").data.shape[1] == 0
    logged = [line for line in result.stderr.splitlines() if "have no sections" in line]
    assert any("'all_v'" in line and f"{N_FIRES} selected cells" in line for line in logged), result.stderr[-3000:]


def test_other_cells_still_equal_native_membrane_report(intfire_run):
    out, _ = intfire_run
    with open_report(out / "all_v.nwb") as r, h5py.File(out / "native_all.h5", "r") as nat:
        assert sorted(nat["report"]) == ["cortex", "thalamus"]  # BMTK's native report leaves them out
        for pop in ("cortex", "thalamus"):
            fr = r["v"].get(population=pop, scaled=False)
            np.testing.assert_array_equal(fr.node_ids, nat["report"][pop]["mapping/node_ids"][()])
            np.testing.assert_array_equal(fr.data, nat["report"][pop]["data"][()])


def test_units_hold_the_point_cells_spikes(intfire_run):
    out, _ = intfire_run
    with h5py.File(out / "spikes.h5", "r") as nat:
        g = nat["spikes/fires"]
        theirs = sorted(zip(g["node_ids"][()].tolist(), np.round(g["timestamps"][()], 6).tolist()))
    assert theirs, "the IntFire1 cells should fire in this network"
    with open_report(out / "all_v.nwb") as r:
        sp = r.spikes()
        keep = np.asarray(sp.population) == "fires"
        ours = sorted(zip(sp.node_ids[keep].tolist(), np.round(sp.times[keep] * 1000.0, 6).tolist()))
    assert ours == theirs


def test_files_validate_and_pass_nwbinspector(intfire_run):
    pytest.importorskip("nwbinspector")
    from tests.integration.test_dandi import assert_dandi_clean

    out, _ = intfire_run
    for name in ("all_v.nwb", "syn_all.nwb"):
        assert_dandi_clean(out / name, allow_wide_series=True)


@pytest.mark.parametrize("module", ["nwb_compartment_report", "nwb_netcon_report"])
def test_selection_of_only_sectionless_cells_is_one_config_error(bmtk_network, intfire_root, module):
    """Nothing to record (no membrane, no synapse object): one error naming report and value, no run, no file."""
    out = bmtk_network.root / f"intfire_only_{module}"
    entry = {"module": module, "variable_name": "v" if "compartment" in module else "g", "cells": "fires",
             "file_name": "fires.nwb", "spikes": True}  # fmt: skip
    result = run_bmtk(with_intfire_population(intfire_root, bmtk_network.config(out, {"bad": entry})), check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "'bad'" in errors[0] and ("'fires'" in errors[0] or "none" in errors[0]), errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert not list(out.glob("*.nwb"))


def test_netcon_report_rows_with_zero_synapses(intfire_run):
    out, _ = intfire_run
    with open_report(out / "syn_all.nwb") as r:
        cells = r["g"].cells
        counts = np.diff(np.asarray(cells.offsets))
        fires = np.asarray(cells.population) == "fires"
        assert fires.sum() == N_FIRES and (counts[fires] == 0).all() and (counts[~fires] > 0).all()
