"""The extension's Python classes, generated from the package-local spec by ``get_class``.

Both types come straight from the spec: hdmf's DynamicTableGenerator turns the ``*_index`` datasets into
``__columns__`` with ``index=True``, so ``Compartments.add_row(number=[...], position=[...])`` works as in the seed.
The only custom code is the shape check of :class:`CompartmentSeries` (see ``_check_shape``).
"""

from __future__ import annotations

from importlib.resources import files

from hdmf.utils import docval, get_data_shape, get_docval
from pynwb import get_class, load_namespaces, register_class

from ._spec_source import NAMESPACE, VERSION

NAMESPACE_PATH = str(files(__name__.rpartition(".")[0]).joinpath("spec", f"{NAMESPACE}.namespace.yaml"))


def _load() -> None:
    # NOTE: pynwb keeps a process-wide type map; loading the same namespace twice only logs a warning, but another
    # package (e.g. the published ndx-simulation-output) may have loaded its own version first. We load ours once.
    from pynwb import get_type_map

    if NAMESPACE not in get_type_map().namespace_catalog.namespaces:
        load_namespaces(NAMESPACE_PATH)


_load()

_GeneratedCompartments = get_class("Compartments", NAMESPACE)
SimulationMetaData = get_class("SimulationMetaData", NAMESPACE)
_GeneratedCompartmentSeries = get_class("CompartmentSeries", NAMESPACE)


def _check_shape(series: _GeneratedCompartmentSeries) -> None:
    """Raise ValueError when data.shape[1] is not the compartment count of the linked table (no data load)."""
    compartments = series.compartments
    if compartments is None or series.data is None:
        return
    shape = get_data_shape(series.data, strict_no_data_load=True)
    if shape is None:
        return
    n_comp = _n_compartments(compartments)
    if len(shape) < 2:
        if len(shape) == 1 and n_comp == 1 and shape[0] == 1:
            return
        raise ValueError(
            f"CompartmentSeries '{series.name}': data must be 2-D (n_times, n_compartments), got shape {shape}."
        )
    if n_comp is None or shape[1] == n_comp:
        return
    hint = " It looks transposed: pass data.T." if shape[0] == n_comp else ""
    raise ValueError(
        f"CompartmentSeries '{series.name}': data.shape[1] is {shape[1]} but the compartments table "
        f"'{compartments.name}' lists {n_comp} compartments; data must have shape (n_times, {n_comp}).{hint}"
    )


def _n_compartments(compartments) -> int | None:
    column = compartments["number"] if "number" in compartments.colnames else None
    if column is None:
        return None
    target = column.target if hasattr(column, "target") else column
    shape = get_data_shape(target.data, strict_no_data_load=True)
    return None if shape is None else int(shape[0])


class CompartmentSeries(_GeneratedCompartmentSeries):
    """TimeSeries of compartment recordings; checks that data.shape[1] equals the linked table's compartment count.

    NOTE: a subclass only for the shape check (as pynwb's ElectricalSeries does for electrodes); it is registered
    as the container class of the spec type so that reading returns this class too.
    """

    @docval(*get_docval(_GeneratedCompartmentSeries.__init__))
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _check_shape(self)


def _with_default(docval_args, **defaults):
    """Copy docval argument specs, giving the named arguments a default value."""
    out = []
    for arg in docval_args:
        arg = dict(arg)
        if arg["name"] in defaults:
            arg["default"] = defaults[arg["name"]]
        out.append(arg)
    # docval requires arguments with defaults to come after those without
    return [a for a in out if "default" not in a] + [a for a in out if "default" in a]


class Compartments(_GeneratedCompartments):
    """DynamicTable of recorded compartments: one row per cell, ragged ``number``/``position``/``label`` columns.

    NOTE: a subclass only to give ``name`` and ``description`` defaults, so that the seed's ``Compartments()``
    works as written.
    """

    @docval(
        *_with_default(
            get_docval(_GeneratedCompartments.__init__),
            name="compartments",
            description="Recorded compartments: one row per cell, one entry per data column.",
        )
    )
    def __init__(self, **kwargs):
        super().__init__(**kwargs)


register_class("Compartments", NAMESPACE, Compartments)
register_class("CompartmentSeries", NAMESPACE, CompartmentSeries)


__all__ = ["NAMESPACE", "VERSION", "NAMESPACE_PATH", "Compartments", "CompartmentSeries", "SimulationMetaData"]
