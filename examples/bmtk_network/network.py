"""Set-up helpers of the BMTK example: build the SONATA network, write its input spikes, compile its mechanisms.

Everything here writes only into the folders it is given (by default the example's own, gitignored, ``network/``
and ``components/mechanisms/x86_64``), so the tests reuse it with temporary folders.

The network: two biophysical populations of ``BallStick`` cells (``components/templates/BallStick.hoc``: hh soma
and axon, passive basal and apical dendrites; built-in mechanisms only), ``cortex`` (excitatory ``exc`` and
inhibitory ``inh`` cells) and ``thalamus``, driven by a population of virtual Poisson spike trains (``inputs``).
BMTK plays virtual spike trains through ``VecStim``, which NEURON does not build in: ``compile_mechanisms``
runs ``nrnivmodl`` on the shipped ``components/mechanisms/modfiles/vecevent.mod``.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COMPONENTS = HERE / "components"
MODFILES = COMPONENTS / "mechanisms" / "modfiles"
logger = logging.getLogger(__name__)


def compile_mechanisms(mechanisms_dir: Path = COMPONENTS / "mechanisms") -> Path:
    """Compile the example's mod files into ``<mechanisms_dir>/<arch>/`` unless that was done already.

    ``mechanisms_dir`` may be any folder: the shipped ``modfiles/`` are copied there first when it is not the
    example's own. Returns ``mechanisms_dir`` (what BMTK's ``components.mechanisms_dir`` must point to).
    """
    mechanisms_dir = Path(mechanisms_dir).resolve()
    arch = platform.machine()
    built = mechanisms_dir / arch / "libnrnmech.so"  # NEURON 9 layout (older versions: <arch>/.libs/)
    if built.exists() or (mechanisms_dir / arch / ".libs" / "libnrnmech.so").exists():
        return mechanisms_dir
    src = mechanisms_dir / "modfiles"
    if src.resolve() != MODFILES.resolve():
        src.mkdir(parents=True, exist_ok=True)
        for mod in MODFILES.glob("*.mod"):
            shutil.copy2(mod, src / mod.name)
    nrnivmodl = Path(sys.prefix) / "bin" / "nrnivmodl"
    exe = str(nrnivmodl) if nrnivmodl.exists() else shutil.which("nrnivmodl")
    if exe is None:
        raise FileNotFoundError("nrnivmodl not found: install NEURON (pip install neuron) in this environment")
    logger.info("compiling %s with %s", src, exe)
    result = subprocess.run([exe, "modfiles"], cwd=mechanisms_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"nrnivmodl failed in {mechanisms_dir}:\n{result.stdout}\n{result.stderr}")
    return mechanisms_dir


def build_network(
    network_dir: Path, *, n_exc: int = 8, n_inh: int = 4, n_thalamus: int = 4, n_inputs: int = 30, seed: int = 1
) -> Path:
    """Build the SONATA network files with ``bmtk.builder`` into ``network_dir``."""
    from bmtk.builder import NetworkBuilder

    rng = np.random.default_rng(seed)
    network_dir = Path(network_dir)
    network_dir.mkdir(parents=True, exist_ok=True)
    cell = dict(model_type="biophysical", model_template="hoc:BallStick", morphology="ballstick.swc")

    cortex = NetworkBuilder("cortex")
    cortex.add_nodes(N=n_exc, pop_name="exc", ei="e", **cell)
    cortex.add_nodes(N=n_inh, pop_name="inh", ei="i", **cell)
    thalamus = NetworkBuilder("thalamus")
    thalamus.add_nodes(N=n_thalamus, pop_name="relay", ei="e", **cell)
    inputs = NetworkBuilder("inputs")
    inputs.add_nodes(N=n_inputs, model_type="virtual", pop_name="poisson", ei="e")

    syn = dict(dynamics_params="exc_syn.json", model_template="exp2syn", delay=2.0, distance_range=[0.0, 1.0e20])

    def some(source, target, p: float = 0.3) -> int:
        return int(rng.random() < p)

    inputs.add_edges(
        source=inputs.nodes(), target=cortex.nodes(), connection_rule=some, connection_params={"p": 0.5},
        syn_weight=0.02, target_sections=["soma", "dend", "apic"], **syn,
    )  # fmt: skip
    inputs.add_edges(
        source=inputs.nodes(), target=thalamus.nodes(), connection_rule=some, connection_params={"p": 0.5},
        syn_weight=0.02, target_sections=["soma", "dend"], **syn,
    )  # fmt: skip
    thalamus.add_edges(
        source=thalamus.nodes(), target=cortex.nodes(ei="e"), connection_rule=some, connection_params={"p": 0.5},
        syn_weight=0.01, target_sections=["dend"], **syn,
    )  # fmt: skip
    cortex.add_edges(
        source=cortex.nodes(ei="e"), target=cortex.nodes(), connection_rule=some, connection_params={"p": 0.2},
        syn_weight=0.005, target_sections=["apic", "dend"], **syn,
    )  # fmt: skip
    for net in (cortex, thalamus, inputs):
        net.build()
        net.save(output_dir=str(network_dir))
    return network_dir


def write_input_spikes(path: Path, *, n_inputs: int = 30, rate_hz: float = 25.0, tstop_ms: float = 500.0) -> Path:
    """Poisson spike trains of the ``inputs`` population, as a SONATA spikes file."""
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    psg = PoissonSpikeGenerator(population="inputs", seed=2)
    psg.add(node_ids=list(range(n_inputs)), firing_rate=rate_hz, times=(0.0, tstop_ms / 1000.0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    psg.to_sonata(str(path))
    return path


def make_config(
    *,
    network_dir: Path,
    mechanisms_dir: Path,
    output_dir: Path,
    spikes_file: Path,
    reports: dict,
    tstop_ms: float = 500.0,
    dt_ms: float = 0.1,
    block_step: int = 1000,
    n_exc: int = 8,
) -> dict:
    """A BMTK simulation config (as a dict) for this network, with absolute paths."""
    network_dir = Path(network_dir).resolve()
    nodes = [
        {"nodes_file": str(network_dir / f"{p}_nodes.h5"), "node_types_file": str(network_dir / f"{p}_node_types.csv")}
        for p in ("cortex", "thalamus", "inputs")
    ]
    edges = [
        {
            "edges_file": str(network_dir / f"{s}_{t}_edges.h5"),
            "edge_types_file": str(network_dir / f"{s}_{t}_edge_types.csv"),
        }
        for s, t in (("inputs", "cortex"), ("inputs", "thalamus"), ("thalamus", "cortex"), ("cortex", "cortex"))
    ]
    return {
        "target_simulator": "NEURON",
        "run": {"tstart": 0.0, "tstop": tstop_ms, "dt": dt_ms, "spike_threshold": -15.0, "nsteps_block": block_step},
        "conditions": {"celsius": 6.3, "v_init": -65.0},
        "inputs": {
            "poisson": {
                "input_type": "spikes",
                "module": "sonata",
                "input_file": str(Path(spikes_file).resolve()),
                "node_set": "inputs",
            }
        },
        "output": {
            "log_file": "log.txt",
            "output_dir": str(Path(output_dir).resolve()),
            "spikes_file": "spikes.h5",
            "overwrite_output_dir": True,
        },
        "components": {
            "templates_dir": str(COMPONENTS / "templates"),
            "morphologies_dir": str(COMPONENTS / "morphologies"),
            "synaptic_models_dir": str(COMPONENTS / "synaptic_models"),
            "mechanisms_dir": str(Path(mechanisms_dir).resolve()),
        },
        "node_sets": {
            # NOTE: by node id, because with bmtk 1.2.0 (and current pandas) node sets that filter on node attributes
            # such as {"ei": "e"} select no cell at all (NodeTypesTable.find returns [], group strings are bytes)
            "exc": {"population": "cortex", "node_id": list(range(n_exc))},
        },
        "reports": reports,
        "networks": {"nodes": nodes, "edges": edges},
    }


def write_config(path: Path, config: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
