"""A user's own bionet run script with the one NWB line added (``add_nwb_reports``: compartment and ECP reports);
argv: config.

Runs on one process or under ``mpiexec -n N`` (NEURON joins MPI first, as ``python -m bmtk_module run`` does).
"""

from __future__ import annotations

import logging
import sys

from bmtk_module.mpi import init_neuron_mpi

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    init_neuron_mpi()
    from bmtk.simulator import bionet

    from bmtk_module.config import register_report_module
    from bmtk_module.runner import add_nwb_reports

    register_report_module()
    conf = bionet.Config.from_json(sys.argv[1], validate=True)
    conf.build_env()
    net = bionet.BioNetwork.from_config(conf)
    sim = bionet.BioSimulator.from_config(conf, network=net)
    add_nwb_reports(sim, conf, config_file=sys.argv[1])
    sim.run()
