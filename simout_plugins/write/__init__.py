"""Writing: :class:`~simout_plugins.write.writer.CompartmentSeriesWriter` and the modules it is a façade over.

Option checks (``series``), the block protocol (``blocks``), the file's life cycle (``lifecycle``), the package's
one output-path policy (``outputs``), the cross-rank column plan (``plan``), the NWB structure (``skeleton``), where
blocks go (``sink``, ``sink_mpio``), spikes (``spikes``), disk reservation (``space``), the structure journal
(``journal``), and the repair of a crashed run's partial file (``recover``, over ``filecopy``, ``trim``,
``units_repair`` and ``damage``); extracellular potentials summed over ranks (``ecp``). Builds on
:mod:`simout_plugins.nwb`; never imports the read side.
"""

from .ecp import ElectricalSeriesWriter
from .outputs import OutputFolderMissingError, OutputIsInputError, OutputPath, can_create_file_in
from .recover import RecoveryReport, recover
from .writer import CompartmentSeriesWriter

__all__ = [
    "CompartmentSeriesWriter",
    "ElectricalSeriesWriter",
    "OutputPath",
    "OutputFolderMissingError",
    "OutputIsInputError",
    "can_create_file_in",
    "recover",
    "RecoveryReport",
]
