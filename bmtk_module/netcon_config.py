"""The ``"nwb_netcon_report"`` entry of a BMTK simulation config: static checks and a frozen spec.

The keys of ``nwb_compartment_report`` (:mod:`bmtk_module.config`, same defaults: ``cells`` "biophysical",
``sections`` "all", ``file_name`` "<report name>.nwb") plus the native ``netcon_report``'s ``syn_type``. Importing
this module imports neither NEURON nor bionet; the recording module is :mod:`bmtk_module.netcon_mod`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import _KNOWN_KEYS, REPORT_MODULE, ReportSpec, parse_reports

NETCON_MODULE = "nwb_netcon_report"
#: the native netcon_report's default ``syn_type``
DEFAULT_SYN_TYPE = "Exp2Syn"


@dataclass(frozen=True)
class NetconSpec:
    """One checked ``nwb_netcon_report`` entry: the compartment-report checks plus ``syn_type`` (None: every type)."""

    spec: ReportSpec
    syn_type: str | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def path(self) -> Path:
        return self.spec.path


def parse_netcon_reports(
    *, reports: Mapping[str, Any], output_dir: str | os.PathLike, nwb_metadata: Mapping[str, Any] | None = None
) -> list[NetconSpec]:
    """Check every enabled ``nwb_netcon_report`` entry (the keys of ``nwb_compartment_report`` plus ``syn_type``).

    Parameters
    ----------
    reports : dict
        The config's ``"reports"`` section (other modules are ignored).
    output_dir : str or os.PathLike
        The run's output folder (see :func:`bmtk_module.config.parse_reports`).
    nwb_metadata : dict, optional
        The config's top-level ``"nwb_metadata"`` section.

    Returns
    -------
    list of NetconSpec
        In config order, disabled entries left out.

    Raises
    ------
    ValueError, TypeError
        Naming the report, the key and the value.
    """
    known = _KNOWN_KEYS | {"syn_type"}
    syn_types, as_compartment = {}, {}
    for name, params in reports.items():
        if not isinstance(params, Mapping) or params.get("module") != NETCON_MODULE:
            continue
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"report '{name}': unknown keys {unknown}; '{NETCON_MODULE}' accepts {sorted(known)}")
        syn_type = params.get("syn_type", DEFAULT_SYN_TYPE)
        if syn_type is not None and (not isinstance(syn_type, str) or not syn_type.strip()):
            raise TypeError(
                f"report '{name}': syn_type must be a synapse type name (e.g. 'Exp2Syn') or null (every synapse), "
                f"got {syn_type!r}"
            )
        syn_types[name] = syn_type
        as_compartment[name] = {**{k: v for k, v in params.items() if k != "syn_type"}, "module": REPORT_MODULE}
    if not as_compartment:
        return []
    specs = parse_reports(reports=as_compartment, output_dir=output_dir, nwb_metadata=nwb_metadata)
    return [NetconSpec(spec=s, syn_type=syn_types[s.name]) for s in specs]
