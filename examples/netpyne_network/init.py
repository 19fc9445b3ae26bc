"""Run the example network with NWB output, then plot the file.

    python examples/netpyne_network/init.py                  # writes examples/netpyne_network/output/
    mpiexec -n 2 python examples/netpyne_network/init.py     # same file, 2 ranks (MPI_LIB_NRN_PATH set)

Options: ``--out-dir DIR`` (default: ``output/`` beside this file), ``--duration MS``, ``--no-plot``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=str(HERE / "output"), help="folder for the .nwb file and the plot")
    parser.add_argument("--duration", type=float, default=None, help="simulated time, ms (default: cfg.py)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from neuron import h

    if any(int(os.environ.get(v, "1") or 1) > 1 for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")):
        h.nrnmpi_init()  # under mpiexec: join the ranks before NetPyNE creates its ParallelContext

    from cfg import cfg
    from netpyne import sim

    import netpyne_module

    cfg.saveFolder = args.out_dir
    if args.duration is not None:
        cfg.duration = args.duration
    from netParams import netParams

    netpyne_module.install()  # the one line of set-up: sim.create / sim.simulate now honour cfg.saveNWB
    sim.createSimulateAnalyze(netParams, cfg)

    if sim.rank == 0 and not args.no_plot:
        from plot import plot

        nwb = netpyne_module.default_path(cfg)
        print(f"wrote {nwb} ({nwb.stat().st_size / 1e6:.1f} MB) and {plot(nwb, Path(args.out_dir) / 'traces.png')}")


if __name__ == "__main__":
    main()
