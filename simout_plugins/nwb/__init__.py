"""The file format: the ndx-simulation-output spec and types, the ragged-index vocabulary, the layout value object,
whole-column builders, ids, units, the NWB file skeleton helpers, provenance and the attribute names every layer shares.

The lowest layer of the package: it imports nothing from ``write``, ``read``, ``sonata``, ``plot`` or ``cli``.
"""

from .builders import build_compartments, compartments_from_layout, layout_from_compartments
from .compression import CompressionSpec, parse_compression, parse_precision
from .electrodes import Probe, make_probe
from .layout import CompartmentLayout
from .nwbfile import check_nwb_metadata
from .provenance import (
    merge_metadata,
    neuron_version,
    package_version,
    plain_data,
    provenance_fields,
    read_provenance,
)
from .schema import NAMESPACE, VERSION, Compartments, CompartmentSeries, SimulationMetaData

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
    "check_nwb_metadata",
    "CompressionSpec",
    "parse_compression",
    "parse_precision",
    "Probe",
    "make_probe",
    "merge_metadata",
    "neuron_version",
    "package_version",
    "plain_data",
    "provenance_fields",
    "read_provenance",
]
