"""Make ``v0_2_layout.nwb``: a small file in the ndx-simulation-output 0.2.x layout, from its published YAML.

The 0.2.x package no longer imports on current pynwb, so this script loads the published spec (copied verbatim
into ``ndx_simulation_output_0_2/``) with plain pynwb and builds the file as 0.2.x's ``from_sonata`` did: the
Compartments table inside ``SimulationMetaData`` (``/general/simulation/compartments``) and a CompartmentSeries
in acquisition linking to it. Run it in a process that has NOT imported simout_plugins:

    python tests/data/generate_v0_2.py
"""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, get_class, load_namespaces

HERE = Path(__file__).parent
load_namespaces(str(HERE / "ndx_simulation_output_0_2" / "ndx-simulation-output.namespace.yaml"))
Compartments = get_class("Compartments", "ndx-simulation-output")
CompartmentSeries = get_class("CompartmentSeries", "ndx-simulation-output")
SimulationMetaData = get_class("SimulationMetaData", "ndx-simulation-output")

# expected values (tests/unit/test_back_compat.py repeats them)
NODE_IDS = [3, 7]
NUMBER = [[0, 1, 2], [0, 4]]
POSITION = [[0.5, 0.25, 0.75], [0.5, 1.0]]
DATA = np.arange(4 * 5, dtype=np.float64).reshape(4, 5) - 70.0  # mV

if __name__ == "__main__":
    compartments = Compartments(name="compartments", description="compartments of a 0.2.x file")
    for node_id, number, position in zip(NODE_IDS, NUMBER, POSITION):
        compartments.add_row(number=number, position=position, id=node_id)
    nwbfile = NWBFile("0.2.x layout", "v0_2_layout", datetime(2019, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_lab_meta_data(SimulationMetaData(name="simulation", compartments=compartments))
    nwbfile.add_acquisition(
        CompartmentSeries(
            name="membrane_potential",
            data=DATA,
            compartments=compartments,
            unit="mV",
            conversion=1.0,
            starting_time=0.1,
            rate=1000.0,
        )
    )
    with NWBHDF5IO(str(HERE / "v0_2_layout.nwb"), "w") as io:
        io.write(nwbfile)
