"""Mock factories for tests of code that uses simout_plugins (pynwb ``testing.mock`` style)."""

from __future__ import annotations

import numpy as np
from pynwb import NWBFile
from pynwb.testing.mock.utils import name_generator

from .nwb.builders import build_compartments
from .nwb.schema import Compartments, CompartmentSeries


def mock_compartments(
    *,
    name: str | None = None,
    node_ids=(0, 1, 5),
    counts=(3, 0, 2),
    number=(0, 1, 2, 0, 3),
    position=(0.5, 0.5, 0.5, 0.1, 0.9),
    label=("soma", "dend", "dend", "apic", "apic"),
    nwbfile: NWBFile | None = None,
) -> Compartments:
    """A small Compartments table (includes a cell with zero compartments); added to ``nwbfile`` if given."""
    table = build_compartments(
        node_ids=node_ids,
        counts=counts,
        number=number,
        position=position,
        label=label,
        name=name or name_generator("Compartments"),
    )
    if nwbfile is not None:
        nwbfile.add_acquisition(table)
    return table


def mock_compartment_series(
    *,
    name: str | None = None,
    compartments: Compartments | None = None,
    n_times: int = 10,
    rate: float = 10_000.0,
    nwbfile: NWBFile | None = None,
) -> CompartmentSeries:
    """A CompartmentSeries of random membrane potentials (V) over ``compartments`` (default a mock table)."""
    compartments = compartments if compartments is not None else mock_compartments(nwbfile=nwbfile)
    n_comp = len(compartments["number"].target.data)
    series = CompartmentSeries(
        name=name or name_generator("CompartmentSeries"),
        data=np.random.default_rng(0).normal(-0.065, 0.005, (n_times, n_comp)),
        compartments=compartments,
        unit="volts",
        rate=rate,
    )
    if nwbfile is not None:
        nwbfile.add_acquisition(series)
    return series
