"""Reading: ``open_report`` and the h5py-level reader (``reader``), lazy cell tables (``tables``) and the structural
checks every consumer of a file applies (``validate``). Builds on :mod:`simout_plugins.nwb`; never imports the
write side.
"""

from .formats import detect_format, file_kind
from .reader import ReportReader, SeriesReader, SpikeFrame, TraceFrame, open_report

__all__ = ["open_report", "ReportReader", "SeriesReader", "TraceFrame", "SpikeFrame", "file_kind", "detect_format"]
