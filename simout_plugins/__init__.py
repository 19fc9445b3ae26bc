"""simout_plugins: NWB output (ndx-simulation-output 0.3.0) for NEURON-based simulators.

Importing the package loads the extension namespace once from the package-local ``spec/`` folder; nothing else
happens at import (no NEURON, no MPI).
"""

from .nwb.builders import build_compartments, compartments_from_layout, layout_from_compartments
from .nwb.layout import CompartmentLayout
from .nwb.schema import NAMESPACE, VERSION, Compartments, CompartmentSeries, SimulationMetaData
from .read.reader import ReportReader, SeriesReader, SpikeFrame, TraceFrame, open_report
from .write.writer import CompartmentSeriesWriter

__version__ = VERSION

__all__ = [
    "NAMESPACE",
    "VERSION",
    "Compartments",
    "CompartmentSeries",
    "SimulationMetaData",
    "CompartmentLayout",
    "build_compartments",
    "compartments_from_layout",
    "layout_from_compartments",
    "CompartmentSeriesWriter",
    "open_report",
    "ReportReader",
    "SeriesReader",
    "TraceFrame",
    "SpikeFrame",
]
