"""Recorded unit strings → NWB (unit, conversion): SI where the mapping is clean, NEURON's string otherwise."""

from __future__ import annotations

# NEURON records membrane potential in mV; NWB stores it as volts with conversion 1e-3 (no copy, no rounding).
_TO_SI = {
    "mV": ("volts", 1e-3),
    "V": ("volts", 1.0),
    "volts": ("volts", 1.0),
    "nA": ("amperes", 1e-9),
    "pA": ("amperes", 1e-12),
    "A": ("amperes", 1.0),
    "amperes": ("amperes", 1.0),
    "uS": ("siemens", 1e-6),
    "nS": ("siemens", 1e-9),
    "S": ("siemens", 1.0),
    "siemens": ("siemens", 1.0),
    "ms": ("seconds", 1e-3),
    "s": ("seconds", 1.0),
}


def unit_and_conversion(unit: str) -> tuple[str, float]:
    """Return the NWB ``(unit, conversion)`` for a recorded unit string.

    ``"mV"`` → ``("volts", 1e-3)``; currents in nA → amperes; densities such as ``"mA/cm2"`` and concentrations
    (``"mM"``) keep NEURON's string with conversion 1.0.
    """
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"unit must be a non-empty string such as 'mV', got {unit!r}")
    return _TO_SI.get(unit, (unit, 1.0))
