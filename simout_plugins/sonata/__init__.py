"""SONATA ⇄ NWB conversion: ``to_nwb(report=..., out=...)`` and ``to_sonata(nwb=..., out=...)``.

Streamed in time blocks (memory bounded by one block), every population kept, lossless with ``keep_dtype=True``.
Modules: :mod:`.read` (SONATA input, validation, time base), :mod:`.write` (SONATA output), :mod:`.convert`
(SONATA → NWB), :mod:`.export` (NWB → SONATA).
"""

from ..read.formats import file_kind
from ._common import ConversionError
from .convert import to_nwb
from .export import to_sonata

__all__ = ["to_nwb", "to_sonata", "ConversionError", "file_kind"]
