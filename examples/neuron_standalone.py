"""A few ball-and-stick cells in plain NEURON, recorded per segment and streamed block by block to NWB.

Each cell: a soma (built-in ``hh``) and a dendrite (built-in ``pas``), driven by a somatic current step of its
own amplitude. Every segment's ``v`` is recorded by NEURON (``h.Vector.record``); after every block of simulated
time the new samples are copied once into a (n_steps, n_compartments) array and handed to
``CompartmentSeriesWriter.write_block``. Spikes (threshold crossings at the soma) go into the file's Units
table. Then the file is read back with ``open_report`` and a few traces are plotted.

    python examples/neuron_standalone.py --out-dir output
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.nwb import merge_metadata, neuron_version, provenance_fields


def make_cells(h, n_cells: int) -> list[dict]:
    cells = []
    for gid in range(n_cells):
        soma = h.Section(name=f"cell{gid}.soma")
        soma.L = soma.diam = 20.0
        soma.insert("hh")
        dend = h.Section(name=f"cell{gid}.dend")
        dend.L, dend.diam, dend.nseg = 300.0, 2.0, 9
        dend.insert("pas")
        for seg in dend:
            seg.pas.g, seg.pas.e = 1e-4, -65.0
        dend.connect(soma(1.0))
        stim = h.IClamp(soma(0.5))
        stim.delay, stim.dur, stim.amp = 5.0, 1e9, 0.15 + 0.05 * gid
        cells.append({"gid": gid, "sections": {"soma": soma, "dend": dend}, "stim": stim})
    return cells


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default="output", help="folder for the .nwb file and the plot")
    parser.add_argument("--n-cells", type=int, default=5)
    parser.add_argument("--tstop", type=float, default=100.0, help="simulated time, ms")
    parser.add_argument("--dt", type=float, default=0.025, help="time step, ms")
    parser.add_argument("--block-ms", type=float, default=10.0, help="simulated time per written block, ms")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from neuron import h

    h.load_file("stdrun.hoc")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = make_cells(h, args.n_cells)

    # layout: one row per cell; number = segment index within the cell, position = seg.x, label = section name
    node_ids, counts, number, position, label, vectors = [], [], [], [], [], []
    spike_times, spike_gids = h.Vector(), h.Vector()
    netcons = []
    for cell in cells:
        k = 0
        for sec_name, sec in cell["sections"].items():
            for seg in sec:
                vec = h.Vector()
                vec.record(seg._ref_v)  # every time step (h.dt = args.dt)
                vectors.append(vec)
                number.append(k)
                position.append(seg.x)
                label.append(sec_name)
                k += 1
        node_ids.append(cell["gid"])
        counts.append(k)
        nc = h.NetCon(cell["sections"]["soma"](0.5)._ref_v, None, sec=cell["sections"]["soma"])
        nc.threshold = 0.0
        nc.record(spike_times, spike_gids, cell["gid"])
        netcons.append(nc)
    comps = build_compartments(node_ids=node_ids, counts=counts, number=number, position=position, label=label)

    h.dt = args.dt
    n_steps = int(round(args.tstop / args.dt)) + 1  # samples at t = 0, dt, ..., tstop
    block_steps = int(round(args.block_ms / args.dt))
    path = out_dir / "neuron_standalone.nwb"
    # provenance (simout_plugins.nwb.provenance: the run's parameters as the "config"), then the file's metadata;
    # subject, experimenter, institution, lab, keywords make the file pass nwbinspector's DANDI checks
    provenance = provenance_fields(
        simulator="neuron",
        neuron_version=neuron_version(),
        config={"script": Path(__file__).name, "arguments": vars(args)},
        config_file_name="neuron_standalone_arguments.json",
        extra={"script": Path(__file__).name},
    )
    metadata = merge_metadata(
        provenance=provenance,
        metadata={
            "session_description": f"{args.n_cells} ball-and-stick cells (hh soma, passive dendrite) in plain NEURON",
            "experiment_description": "Example simulation of simout_plugins: somatic current steps of rising "
            f"amplitude. {provenance['experiment_description']}",
            "experimenter": ["simout_plugins developers"],
            "institution": "simout_plugins examples",
            "lab": "simout_plugins",
            "keywords": ["simulation", "NEURON", "compartmental model", "Hodgkin-Huxley"],
            "subject": {
                "subject_id": "neuron-standalone-model",
                "species": "Loligo pealeii",  # the squid of Hodgkin and Huxley's giant axon (the hh mechanism)
                "sex": "U",
                "age": "P90D",
                "description": "In silico model (not an animal): ball-and-stick cells with Hodgkin-Huxley soma.",
            },
        },
    )
    with CompartmentSeriesWriter(
        path,
        compartments=comps,
        name="v",
        n_steps=n_steps,
        dt_ms=args.dt,
        tstart_ms=0.0,
        unit="mV",
        nwb_metadata=metadata,
        block_steps=block_steps,
        description="Membrane potential of every segment",
    ) as writer:
        h.finitialize(-65.0)
        written = 0
        while written < n_steps:
            # run to the block's last sample (plus half a step, so float rounding cannot stop one step short)
            h.continuerun((min(written + block_steps, n_steps) - 0.5) * args.dt)
            stop = min(int(vectors[0].size()), n_steps)  # samples NEURON has recorded so far
            if stop <= written:
                raise RuntimeError(f"NEURON recorded no new sample after t = {h.t} ms")
            block = np.column_stack([vec.as_numpy()[written:stop] for vec in vectors])
            writer.write_block(written, block)
            written = stop
        writer.add_spikes(
            node_ids=np.asarray(spike_gids, dtype=int),
            times_ms=np.asarray(spike_times),
            units_node_ids=node_ids,
            resolution_ms=args.dt,
        )

    logging.getLogger("neuron_standalone").info("wrote %s", path)
    if not args.no_plot:
        plot(path, out_dir / "neuron_standalone.png")
    return path


def plot(path: Path, png: Path) -> None:
    """Soma (top) and most distal compartment (bottom) of the first four cells, with simout_plugins.plot.draw."""
    from simout_plugins.plot import new_figure, plot_traces, save_figure

    with open_report(path) as report:
        series = report["v"]
        frame = series.get(node_ids=series.node_ids[:4])
    cell_starts = np.flatnonzero(np.r_[True, frame.node_ids[1:] != frame.node_ids[:-1]])
    cell_ends = np.r_[cell_starts[1:], frame.node_ids.size] - 1
    fig, axes = new_figure(nrows=2, figsize=(8, 6), sharex=True)
    plot_traces(
        frame=frame, columns=cell_starts, ax=axes[0], title=f"{path.name}: soma (top), distal dendrite (bottom)"
    )
    plot_traces(frame=frame, columns=cell_ends, ax=axes[1])
    axes[0].set_xlabel("")
    save_figure(figure=fig, path=png, dpi=100)
    logging.getLogger("neuron_standalone").info("wrote %s", png)


if __name__ == "__main__":
    main()
