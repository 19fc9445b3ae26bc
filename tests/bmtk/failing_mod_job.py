"""A user's own BMTK run script whose extra module fails on one rank in the middle of the run.

Usage: mpiexec -n 2 python failing_mod_job.py CONFIG RANK STEP. Builds the network as ``python -m bmtk_module run``
does, attaches the NWB reports, adds a SimulatorMod that raises on RANK at simulation step STEP (a bug in user
code, or a simulator error between two blocks), and runs. The job must end, with RANK's error in the output.
"""

import sys

from bmtk_module import add_nwb_reports, init_neuron_mpi
from bmtk_module.config import register_report_module

init_neuron_mpi()

from bmtk.simulator import bionet  # noqa: E402  (after NEURON joined MPI)
from bmtk.simulator.bionet.modules.sim_module import SimulatorMod  # noqa: E402

config_file, bad_rank, bad_step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


class FailingMod(SimulatorMod):
    def step(self, sim, tstep):
        from neuron import h

        if tstep == bad_step and int(h.ParallelContext().id()) == bad_rank:
            raise RuntimeError(f"user module failed at step {tstep}")


conf = bionet.Config.from_json(config_file, validate=True)
register_report_module()
conf.build_env()
net = bionet.BioNetwork.from_config(conf)
sim = bionet.BioSimulator.from_config(conf, network=net)
add_nwb_reports(sim, conf, config_file=config_file)
sim.add_mod(FailingMod())
sim.run()
