"""simout_plugins: NWB output (ndx-simulation-output 0.3.0) for NEURON-based simulators.

Importing the package loads the extension namespace once from the package-local ``spec/`` folder; nothing else
happens at import (no NEURON, no MPI).
"""

from .schema import NAMESPACE, VERSION, Compartments, CompartmentSeries, SimulationMetaData

__version__ = VERSION

__all__ = [
    "NAMESPACE",
    "VERSION",
    "Compartments",
    "CompartmentSeries",
    "SimulationMetaData",
]
