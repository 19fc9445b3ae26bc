"""SONATA → NWB: every population of a compartment report into one Compartments table + one CompartmentSeries,
spikes into ``Units``, streamed in time blocks through the core writer (memory bounded by one block)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..nwb import ragged
from ..nwb.builders import build_compartments
from ..nwb.compression import parse_compression, parse_precision
from ..nwb.ids import DEFAULT_POPULATION
from ..nwb.provenance import merge_metadata, provenance_fields
from ..read.validate import READ_ERRORS
from ..write.outputs import OutputPath
from ..write.writer import CompartmentSeriesWriter
from ._common import SIDECAR_ATTR, ConversionError, check_output, choose_block_steps, open_h5, progress_bar
from .read import ReportPopulation, decide_time_base, read_report, read_spikes

logger = logging.getLogger(__name__)
SIDECAR_VERSION = 1
_CHUNK_STEPS = 256  # the writer's largest chunk extent in time: blocks that are multiples of it fill whole chunks


def to_nwb(
    *,
    report: str | os.PathLike | None = None,
    out: str | os.PathLike,
    spikes: str | os.PathLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    time_base: str | None = None,
    dtype: str | np.dtype | None = None,
    keep_dtype: bool = False,
    overwrite: bool = False,
    block_steps: int | None = None,
    resolution_ms: float | None = None,
    progress: bool = False,
    compression: Any = None,
    precision: int | None = None,
) -> Path:
    """Convert a SONATA compartment report and / or a SONATA spike file to one NWB file.

    Parameters
    ----------
    report : str or os.PathLike, optional
        SONATA report, ``/report/<population>/{data (n_rows, n_elements), mapping/...}``. Every population is
        kept: one Compartments table (columns ``population``, ``node_id``; ``number`` = element id,
        ``position`` = element_pos) and one CompartmentSeries named after the ``variable`` attribute (``"v"``).
        None: a spikes-only conversion (``spikes`` required; the file holds only ``Units``).
    out : str or os.PathLike
        Output NWB file; nothing is left there when the conversion fails.
    spikes : str or os.PathLike, optional
        SONATA spike file (``/spikes/<population>/{timestamps (ms), node_ids}``, or the older
        ``/spikes/{gids, timestamps}``) → the ``Units`` table.
    metadata : dict, optional
        NWBFile fields (``subject`` as a dict of pynwb ``Subject`` fields), see
        :func:`simout_plugins.nwb.nwbfile.make_nwbfile`.
    time_base : {"start", "end"}, optional
        Row k holds tstart + k·dt ("start", libsonatareport) or tstart + (k+1)·dt ("end", BMTK 1.2). Default:
        decided from the file (see :func:`simout_plugins.sonata.read.decide_time_base`), and logged.
    dtype : str or numpy.dtype, optional
        Storage type of the NWB data; default float32.
    keep_dtype : bool
        Store the source data's dtype (lossless round trip).
    overwrite : bool
        Replace an existing ``out`` (default False, as everywhere in this package).
    block_steps : int, optional
        Time rows per block (default: about 64 MB per block).
    resolution_ms : float, optional
        ``Units.resolution`` in ms (the simulation dt); default the report's dt. A spike file does not say its dt:
        without a report, give it (nwbinspector flags a Units table without resolution).
    progress : bool
        Show a tqdm bar on stderr.
    compression : str or dict, optional
        Lossless filter of the NWB data (``"gzip"``, ``"gzip:<0-9>"``, ``"lzf"``, ``{"codec": "gzip", "level": 4}``);
        default none.
    precision : int, optional
        Decimal digits kept in the report's unit (e.g. 3 for mV): int32 counts with the matching ``conversion``
        (``dtype`` / ``keep_dtype`` unused); default none (floats). See :mod:`simout_plugins.nwb.compression`.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ConversionError
        Bad input (names the file and dataset).
    FileExistsError, IsADirectoryError, FileNotFoundError, PermissionError
        Output path problems (:meth:`simout_plugins.write.outputs.OutputPath.check`).
    """
    if report is None and spikes is None:
        raise ValueError("to_nwb: give report= (a SONATA report) and / or spikes= (a SONATA spike file)")
    compression = parse_compression(compression, where="to_nwb")  # bad options before any output
    precision = parse_precision(precision, where="to_nwb")
    target = check_output(out, inputs=[report, spikes], overwrite=overwrite, suffix=".nwb")
    out = target.path
    if out.suffix != ".nwb":
        logger.warning("output '%s' does not end in .nwb; pynwb and DANDI expect it", out)
    partial = OutputPath(target.staging_path).tmp_path  # the writer's own partial file, if it fails
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"to_nwb: metadata must be a dict of NWBFile fields, got {type(metadata).__name__}")
    sources = {k: Path(v).name for k, v in (("report", report), ("spikes", spikes)) if v is not None}
    metadata = merge_metadata(provenance=_provenance(sources), metadata=metadata)
    if report is None:
        with target.staged(extra=[partial]) as tmp:
            _spikes_only(spikes, tmp, metadata=metadata, resolution_ms=resolution_ms)
        return out
    with open_h5(report) as f, target.staged(extra=[partial]) as tmp:
        pops = read_report(f, report)
        first = _check_common_time(report, pops)
        base, why = decide_time_base(first, time_base)
        logger.info("'%s': time base '%s' (%s)", report, base, why)
        tstart, _, dt = (float(x) for x in first.time)
        t0 = tstart + dt if base == "end" else tstart
        units = first.assumed_units()
        if first.units is None:
            logger.warning(
                "'%s': data has no 'units' attribute; assumed '%s' (variable %r)", report, units, first.variable
            )
        src_dtype = np.result_type(*(p.dtype for p in pops))
        store = np.dtype(src_dtype if keep_dtype else (dtype or "float32"))
        if store.kind != "f":
            raise ConversionError(
                report, f"data dtype {store} cannot be stored (float32 or float64 only)", dataset=first.data_path
            )
        comps, sidecar = _compartments(pops, base=base, why=why, units=units)
        spike_data = _spikes(spikes, default_population=pops[0].name if len(pops) == 1 else DEFAULT_POPULATION)
        if spikes is not None and spike_data is None:
            logger.warning("'%s' holds no spike; no Units table written", spikes)
        n_rows, n_cols = first.n_rows, int(sum(p.n_elements for p in pops))
        steps = block_steps or choose_block_steps(n_rows=n_rows, row_bytes=n_cols * store.itemsize, align=_CHUNK_STEPS)
        name = first.variable if first.variable and first.variable.isidentifier() else "v"
        description = f"SONATA report '{Path(report).name}' ({', '.join(p.name for p in pops)}), converted."
        with CompartmentSeriesWriter(
            tmp, compartments=comps, name=name, n_steps=n_rows, dt_ms=dt, tstart_ms=t0, unit=units, dtype=store,
            nwb_metadata=metadata, description=description, block_steps=steps, overwrite=True,
            compression=compression, precision=precision,
        ) as writer:  # fmt: skip
            if spike_data is not None:
                writer.add_spikes(**spike_data, resolution_ms=resolution_ms or dt)
            _stream(report, f, pops, writer, steps=steps, n_rows=n_rows, n_cols=n_cols, dtype=store, progress=progress)
        with h5py.File(tmp, "r+") as h:
            h[f"acquisition/{name}/data"].attrs[SIDECAR_ATTR] = json.dumps(sidecar)
    return out


def _check_common_time(path, pops: list[ReportPopulation]) -> ReportPopulation:
    first = pops[0]
    for p in pops[1:]:
        if p.n_rows != first.n_rows or not np.array_equal(p.time, first.time):
            raise ConversionError(
                path,
                f"population '{p.name}' has {p.n_rows} rows over mapping/time {p.time.tolist()}, '{first.name}' "
                f"{first.n_rows} over {first.time.tolist()}; one NWB series needs one time axis",
                dataset=f"/report/{p.name}/mapping/time",
            )
        if (p.units or first.units) and p.units != first.units:
            raise ConversionError(
                path, f"units '{p.units}' differ from '{first.units}' of '{first.name}'", dataset=p.data_path
            )
    return first


def _compartments(pops: list[ReportPopulation], *, base: str, why: str, units: str):
    """The Compartments table of all populations (in file order) and the sidecar JSON describing the source."""
    counts = np.concatenate([ragged.offsets_to_counts(p.offsets) for p in pops])
    with_pos = any(p.element_pos is not None for p in pops)
    position = None
    if with_pos:
        position = np.concatenate(
            [p.element_pos if p.element_pos is not None else np.full(p.n_elements, np.nan) for p in pops]
        )
    common_extra = set.intersection(*(set(p.extra) for p in pops))
    cell_columns = {}
    if any((np.diff(p.node_ids) < 0).any() for p in pops):
        # the table is stored in node-id order: keep each node's row in its SONATA population to write it back
        cell_columns["sonata_index"] = np.concatenate([np.arange(p.node_ids.size) for p in pops])
    comps = build_compartments(
        node_ids=np.concatenate([p.node_ids for p in pops]),
        counts=counts,
        number=np.concatenate([p.element_ids.astype(np.int64) for p in pops]),
        position=position,
        population=np.concatenate([np.full(p.node_ids.size, p.name, dtype=object) for p in pops]),
        cell_columns=cell_columns,
        compartment_columns={k: np.concatenate([p.extra[k] for p in pops]) for k in sorted(common_extra)},
        name="compartments",
        description="Compartments of the SONATA report: one row per node (population, node_id), number = "
        "element id, position = element_pos.",
    )
    sidecar = {
        "version": SIDECAR_VERSION,
        "time_base": base,
        "time_base_rule": why,
        "units_assumed": None if pops[0].units else units,
        "populations": {
            p.name: {
                "time": p.time.tolist(),
                "n_rows": p.n_rows,
                "units": p.units,
                "time_units": p.time_units,
                "variable": p.variable,
                "dtype": str(p.dtype),
                "element_pos": p.element_pos is not None,
                "index_names": list(p.index_names),
                "dtypes": p.dtypes,
                "extra": sorted(common_extra),
            }
            for p in pops
        },
    }
    return comps, sidecar


def _provenance(sources: Mapping[str, str]) -> dict[str, str]:
    """The provenance fields of a converted file (simout_plugins.nwb.provenance), naming the SONATA inputs."""
    fields = provenance_fields(simulator="sonata-conversion", extra={"sonata_sources": dict(sources)})
    kind = {("report",): "report", ("spikes",): "spike file"}.get(tuple(sources), "report and spike file")
    fields["experiment_description"] = fields["experiment_description"].replace("SONATA report", f"SONATA {kind}")
    what = " and ".join(f"{key} '{name}'" for key, name in sources.items())
    return {"session_description": f"SONATA {what}, converted to NWB by simout_plugins.", **fields}


def _spikes_only(spikes, tmp: Path, *, metadata: Mapping[str, Any], resolution_ms: float | None) -> None:
    """An NWB file holding only the ``Units`` of a SONATA spike file."""
    spike_data = _spikes(spikes, default_population=DEFAULT_POPULATION)
    if spike_data is None:
        raise ConversionError(spikes, "holds no spike: nothing to convert", dataset="/spikes")
    if resolution_ms is None:
        logger.warning(
            "'%s': a spike file does not give the simulation dt; Units.resolution not set (pass resolution_ms= / "
            "--resolution; nwbinspector reports a missing resolution)",
            spikes,
        )
    with CompartmentSeriesWriter(tmp, compartments=None, nwb_metadata=metadata, overwrite=True) as writer:
        writer.add_spikes(**spike_data, resolution_ms=resolution_ms)


def _spikes(spikes, *, default_population: str) -> dict | None:
    """``add_spikes`` arguments (node_ids, times_ms, population) of a SONATA spike file; None without spikes."""
    if spikes is None:
        return None
    with open_h5(spikes) as f:
        per_pop = read_spikes(spikes, f, default_population=default_population)
    per_pop = {k: v for k, v in per_pop.items() if v[0].size}
    if not per_pop:
        return None
    return {
        "node_ids": np.concatenate([v[0] for v in per_pop.values()]),
        "times_ms": np.concatenate([v[1] for v in per_pop.values()]),
        "population": np.concatenate([np.full(v[0].size, k, dtype=object) for k, v in per_pop.items()]),
    }


def _stream(path, f, pops, writer, *, steps: int, n_rows: int, n_cols: int, dtype: np.dtype, progress: bool) -> None:
    """Read each population's rows of a block straight into its columns of one buffer, write the block."""
    bounds = np.concatenate([[0], np.cumsum([p.n_elements for p in pops])])
    buf = np.empty((min(steps, n_rows), n_cols), dtype=dtype)
    datasets = [f[p.data_path] for p in pops]
    with progress_bar(total=n_rows, desc="SONATA → NWB", enabled=progress) as bar:
        for i0 in range(0, n_rows, steps):
            n = min(steps, n_rows - i0)
            for ds, c0, c1 in zip(datasets, bounds[:-1], bounds[1:]):
                if c1 == c0:
                    continue
                try:
                    ds.read_direct(buf, np.s_[i0 : i0 + n, :], np.s_[0:n, c0:c1])
                except READ_ERRORS as exc:
                    raise ConversionError(path, f"rows {i0}..{i0 + n - 1} cannot be read (truncated file?): {exc}",
                                          dataset=ds.name) from exc  # fmt: skip
            writer.write_block(i0, buf[:n])
            bar.update(n)
