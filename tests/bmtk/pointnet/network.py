"""A small BMTK PointNet (NEST) network built with bmtk's NetworkBuilder, and its simulation configs.

Two recorded populations ("cortex": iaf_psc_alpha exc + inh cells; "lgn": aeif_cond_alpha cells, with other
recordables) driven by a virtual Poisson population ("thalamus") through a SONATA spike file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TSTOP_MS = 60.0
DT_MS = 0.1


def build_point_network(root: Path, *, seed: int = 3) -> Path:
    """Write nodes, edges, model parameters and input spikes under ``root``; return ``root``."""
    from bmtk.builder import NetworkBuilder
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    rng = np.random.default_rng(seed)
    models = root / "models"
    (models / "cells").mkdir(parents=True, exist_ok=True)
    (models / "synapses").mkdir(parents=True, exist_ok=True)
    (models / "cells" / "exc.json").write_text(json.dumps({"I_e": 150.0, "tau_m": 10.0}))
    (models / "cells" / "inh.json").write_text(json.dumps({"I_e": 100.0, "tau_m": 8.0}))
    (models / "cells" / "adex.json").write_text(json.dumps({"I_e": 200.0}))
    (models / "synapses" / "static.json").write_text(json.dumps({}))

    cortex = NetworkBuilder("cortex")
    cortex.add_nodes(
        N=10, ei="e", model_type="point_neuron", model_template="nest:iaf_psc_alpha", dynamics_params="exc.json"
    )
    cortex.add_nodes(
        N=5, ei="i", model_type="point_neuron", model_template="nest:iaf_psc_alpha", dynamics_params="inh.json"
    )
    lgn = NetworkBuilder("lgn")
    lgn.add_nodes(N=4, model_type="point_neuron", model_template="nest:aeif_cond_alpha", dynamics_params="adex.json")
    thalamus = NetworkBuilder("thalamus")
    thalamus.add_nodes(N=20, model_type="virtual")

    def sparse(source, target, p):
        return int(rng.random() < p) * 2 if source.node_id != target.node_id else 0

    cortex.add_edges(
        source={"ei": "e"},
        target={"ei": "i"},
        connection_rule=sparse,
        connection_params={"p": 0.4},
        syn_weight=30.0,
        delay=1.5,
        dynamics_params="static.json",
        model_template="static_synapse",
    )
    cortex.add_edges(
        source={"ei": "i"},
        target={"ei": "e"},
        connection_rule=sparse,
        connection_params={"p": 0.4},
        syn_weight=-20.0,
        delay=1.0,
        dynamics_params="static.json",
        model_template="static_synapse",
    )
    cortex.build()
    cortex.save(output_dir=str(root / "network"))
    lgn.build()
    lgn.save(output_dir=str(root / "network"))
    for target in (cortex, lgn):
        thalamus.add_edges(
            target=target.nodes(),
            connection_rule=sparse,
            connection_params={"p": 0.5},
            syn_weight=60.0 if target is cortex else 5.0,
            delay=2.0,
            dynamics_params="static.json",
            model_template="static_synapse",
        )
    thalamus.build()
    thalamus.save(output_dir=str(root / "network"))

    psg = PoissonSpikeGenerator(population="thalamus", seed=seed)
    psg.add(node_ids=list(range(20)), firing_rate=40.0, times=(0.0, TSTOP_MS / 1000.0))
    psg.to_sonata(str(root / "network" / "thalamus_spikes.h5"))
    return root


def point_config(root: Path, out_dir: Path, reports: dict, *, run: dict | None = None, **extra) -> Path:
    """Write a pointnet simulation config for the network under ``root``; return its path."""
    net = root / "network"
    nodes = [
        {"nodes_file": str(net / f"{p}_nodes.h5"), "node_types_file": str(net / f"{p}_node_types.csv")}
        for p in ("cortex", "lgn", "thalamus")
    ]
    edges = [
        {"edges_file": str(net / f"{s}_{t}_edges.h5"), "edge_types_file": str(net / f"{s}_{t}_edge_types.csv")}
        for s, t in (("cortex", "cortex"), ("thalamus", "cortex"), ("thalamus", "lgn"))
    ]
    conf = {
        "target_simulator": "NEST",
        "run": {"tstop": TSTOP_MS, "dt": DT_MS, "overwrite_output_dir": True, **(run or {})},
        "inputs": {
            "thalamus_spikes": {
                "input_type": "spikes",
                "module": "sonata",
                "input_file": str(net / "thalamus_spikes.h5"),
                "node_set": "thalamus",
            }
        },
        "output": {
            "output_dir": str(out_dir),
            "log_file": "log.txt",
            "spikes_file": "spikes.h5",
            "overwrite_output_dir": True,
            "quiet_simulator": True,
        },
        "components": {
            "point_neuron_models_dir": str(root / "models" / "cells"),
            "synaptic_models_dir": str(root / "models" / "synapses"),
        },
        "networks": {"nodes": nodes, "edges": edges},
        "node_sets": {"exc": {"population": "cortex", "ei": "e"}},
        "reports": reports,
        **extra,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir.parent / f"config_{out_dir.name}.json"
    path.write_text(json.dumps(conf, indent=2))
    return path
