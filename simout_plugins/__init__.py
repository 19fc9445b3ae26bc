"""simout_plugins: NWB output (ndx-simulation-output 0.3.0) for NEURON-based simulators.

Importing the package loads the extension namespace once from the package-local ``nwb/spec/`` folder; nothing else
happens at import (no NEURON, no MPI).

The public API is :data:`__all__`; the subpackages hold the rest, by job: :mod:`simout_plugins.nwb` (the file
format), :mod:`simout_plugins.write`, :mod:`simout_plugins.read`, :mod:`simout_plugins.sonata`,
:mod:`simout_plugins.plot`, :mod:`simout_plugins.cli`. ``__version__`` is the package's version; ``VERSION`` is the
version of the ndx-simulation-output spec it writes.
"""

from __future__ import annotations

import warnings
from importlib import metadata as _metadata

from .errors import FileFormatError, OutputWriteError
from .nwb import builders as _builders
from .nwb.builders import build_compartments
from .nwb.layout import CompartmentLayout
from .nwb.schema import NAMESPACE, VERSION, Compartments, CompartmentSeries, SimulationMetaData
from .read.reader import ReportReader, SeriesReader, SpikeFrame, TraceFrame, open_report
from .sonata import to_nwb, to_sonata
from .write.recover import RecoveryReport, recover
from .write.writer import CompartmentSeriesWriter

try:
    __version__ = _metadata.version("simout_plugins")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

#: version of the ndx-simulation-output spec this package writes (the same as ``VERSION``)
SPEC_VERSION = VERSION

__all__ = [
    "__version__",
    "NAMESPACE",
    "VERSION",
    "SPEC_VERSION",
    "Compartments",
    "CompartmentSeries",
    "SimulationMetaData",
    "CompartmentLayout",
    "build_compartments",
    "CompartmentSeriesWriter",
    "open_report",
    "ReportReader",
    "SeriesReader",
    "TraceFrame",
    "SpikeFrame",
    "to_nwb",
    "to_sonata",
    "recover",
    "RecoveryReport",
    "FileFormatError",
    "OutputWriteError",
]

#: internals that were exported before 0.3.0: still importable from here for one release, with a warning
_MOVED = {
    "compartments_from_layout": "simout_plugins.nwb",
    "layout_from_compartments": "simout_plugins.nwb",
}


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(
            f"simout_plugins.{name} is internal and leaves the top level in the next release: "
            f"import it from {_MOVED[name]}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_builders, name)
    raise AttributeError(f"module 'simout_plugins' has no attribute {name!r}")
