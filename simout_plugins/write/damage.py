"""How a damaged file shows itself, for ``simout recover``: the errors reading it raises, a one-line reason (with the
hint that helps), and whether plain pynwb reads it.

Recovery judges a partial file by what h5py and pynwb say about it; this module keeps that judgement in one place so
that the trimming (:mod:`.trim`), the ``Units`` repair (:mod:`.units_repair`) and :func:`.recover.recover` word it
alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DAMAGE_ERRORS", "first_line", "pynwb_problem"]

#: What h5py and numpy raise on a damaged file (as :data:`simout_plugins.read.validate.READ_ERRORS`, + ValueError).
DAMAGE_ERRORS = (OSError, KeyError, RuntimeError, TypeError, IndexError, ValueError, OverflowError, MemoryError)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, with what to do for the HDF5 errors a killed run leaves."""
    text = str(exc).strip().split("\n")[0] or type(exc).__name__
    if "already open for write" in text:
        text += "; clear HDF5's file-consistency flags first: h5clear -s FILE (on a copy)"
    elif "addr overflow" in text:
        text += (
            "; the structure points past the end of the file: the run was killed while HDF5 was writing the file's "
            "structure (at close: while the spikes were added), and the file cannot be recovered"
        )
    return text


def pynwb_problem(path: Path, *, units: bool) -> str | None:
    """Why plain pynwb cannot read the file (with ``units``: its Units table, every column), or None."""
    from pynwb import NWBHDF5IO

    try:
        with NWBHDF5IO(str(path), "r") as io:
            nwbfile = io.read()
            if units and nwbfile.units is not None:
                table = nwbfile.units
                n = len(table.id)
                for name in table.colnames:
                    column = table[name]  # the index of a ragged column (spike_times): one entry per row
                    if len(column) != n:
                        return f"column '{name}' has {len(column)} rows, 'id' {n}"
                    if n:
                        column[0], column[n - 1]  # resolve the first and last rows (ragged: through the index)
    except Exception as exc:  # noqa: BLE001 - a probe: whatever pynwb raises means "not readable"
        return f"{type(exc).__name__}: {first_line(exc)}"
    return None
