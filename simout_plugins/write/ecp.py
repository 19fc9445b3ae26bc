"""ElectricalSeriesWriter: stream simulated extracellular potentials (time x channel) into an NWB file, block by block.

Why not :class:`~simout_plugins.write.writer.CompartmentSeriesWriter`: there every rank owns some *columns* of the
series (its cells' compartments) and the sinks place them; an extracellular potential is a *sum* over every rank's
cells into the same columns (each channel sees every cell). So this writer keeps the same guarantees with its own
small protocol (every call collective under MPI):

1. ``__init__`` checks the options and the output path (rank 0; nothing is created);
2. :meth:`open` (or the first block): rank 0 writes the NWB structure (probes, electrodes, one empty
   ``ElectricalSeries`` per probe, allocated once at its final shape) to ``<stem>.partial.nwb`` beside the output;
3. ``write_block(step0, block)``: every rank passes its own contribution, one MPI ``Reduce`` (sum) into rank 0,
   which writes the block. The file is flushed by the package's one policy (:mod:`.flush`, as the
   CompartmentSeriesWriter's sinks): the data, then the ``simout_steps_written`` attribute of every series that
   grew, at most once per ``flush_interval_s`` (default 1 s) and always at close, so a killed run keeps every
   flushed block and loses at most the blocks of the last ``flush_interval_s``;
4. :meth:`close` flushes and moves the finished file onto the output name; an error inside ``with`` flushes what
   was written, leaves the old output untouched and keeps the partial file.

Sums are taken in float64 whatever the stored dtype; the block is cast once, on rank 0.

Same file as compartment reports (``host=``): the series go into the partial file of a
:class:`~simout_plugins.write.writer.CompartmentSeriesWriter`, and the host moves the file into place when it closes;
close this writer first. Opened before the host starts, the probes and series join the host's structure (rank 0,
before any sink opens the file); opened later, they are appended to the file (gather sink only: an MPI-IO file is
open on every rank). Blocks go through the host's open file: rank 0 writes the data, and with the MPI-IO sink every
rank takes part in the collective flush and attribute update.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from .. import failstop, mpi
from ..errors import OutputWriteError, os_error_reason
from ..nwb.attrs import STEPS_WRITTEN_ATTR
from ..nwb.electrodes import Probe
from ..nwb.nwbfile import make_nwbfile
from ..nwb.units import unit_and_conversion
from .ecp_structure import EcpLayout, append_to_file, check_block, write_new_file
from .flush import DEFAULT_FLUSH_INTERVAL_S, FlushClock, check_interval
from .outputs import OutputPath

__all__ = ["ElectricalSeriesWriter"]

logger = logging.getLogger(__name__)
_IO_ERRORS = (OSError, RuntimeError)


class ElectricalSeriesWriter:
    """Write one ``ElectricalSeries`` per probe, summing every rank's contribution.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.nwb`` file; replaced only when :meth:`close` succeeds.
    probes : sequence of Probe
        From :func:`simout_plugins.nwb.make_probe`; the same on every rank. Series ``i`` is named ``probes[i].name``.
    n_steps : int
        Samples each series holds.
    dt_ms : float
        Sampling interval, ms (``rate = 1000 / dt_ms`` Hz).
    tstart_ms : float
        Time of sample 0, ms (``starting_time`` in s).
    unit : str
        Unit of the values as computed (``"mV"``: stored with ``conversion = 1e-3`` to volts).
    dtype : str or numpy.dtype
        Stored float type.
    comm : mpi4py communicator, optional
        With more than one rank the blocks of all ranks are summed into rank 0, which writes.
    nwb_metadata : dict, optional
        NWBFile fields (:func:`simout_plugins.nwb.nwbfile.make_nwbfile`).
    description, comments : str, optional
        Of every series.
    block_steps : int, optional
        Typical block length, to align the chunks with the blocks.
    overwrite : bool
        Replace an existing ``path`` (default False: refuse to start if it exists).
    extra_series : dict of str to (str, str), optional
        Further series over a probe's channels, name -> (probe name, description): e.g. one population's
        contribution (``write_block(..., series=name)``).
    host : CompartmentSeriesWriter, optional
        Write into this writer's file instead (``path`` must be its path; ``nwb_metadata`` and ``overwrite`` are
        the host's). Close this writer before the host.
    flush_interval_s : float
        Shortest time in seconds between two flushes of the file (data, then the ``simout_steps_written`` counts);
        default 1.0; 0 flushes after every block. The file is always flushed at close. A killed run keeps every
        flushed block, so it loses at most the blocks of the last ``flush_interval_s``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        probes: Sequence[Probe],
        n_steps: int,
        dt_ms: float,
        tstart_ms: float = 0.0,
        unit: str = "mV",
        dtype: str | np.dtype = "float32",
        comm: Any | None = None,
        nwb_metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        comments: str | None = None,
        block_steps: int | None = None,
        overwrite: bool = False,
        extra_series: Mapping[str, tuple[str, str]] | None = None,
        host: Any | None = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> None:
        self._comm = comm if comm is not None and comm.Get_size() > 1 else None
        self._rank, _ = mpi.rank_size(self._comm)
        failstop.install_hook(self._comm)
        self._output = OutputPath(path)
        self._host = host
        self._probes = list(probes)
        self._extra = tuple((name, probe, text) for name, (probe, text) in (extra_series or {}).items())
        by_name = {p.name: p for p in self._probes}
        self._series = {**by_name, **{name: by_name.get(probe) for name, probe, _ in self._extra}}
        self._steps_written = dict.fromkeys(self._series, 0)
        self._flushed = dict(self._steps_written)  # what the file's counts say (the same on every rank)
        self._clock: FlushClock | None = None
        self._started = self._closed = self._failed = False  # _failed: a write failed; the counts stay as they are
        self._h5: h5py.File | None = None
        self._nwbfile = None
        self._block_steps = block_steps
        self._description = description or "Extracellular potential of the simulated probe."
        self._comments = comments or "Sample k is the value at t = starting_time + k / rate."
        error = None
        try:
            if not self._probes:
                raise ValueError("ElectricalSeriesWriter needs at least one probe")
            bad = [f"{name} -> {probe}" for name, probe, _ in self._extra if probe not in by_name or name in by_name]
            if bad or len(self._series) != len(self._probes) + len(self._extra):
                raise ValueError(f"extra_series {bad}: each needs a new name and one of the probes {list(by_name)}")
            if not isinstance(n_steps, (int, np.integer)) or isinstance(n_steps, bool) or n_steps < 0:
                raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
            if not (isinstance(dt_ms, (int, float)) and np.isfinite(dt_ms) and dt_ms > 0):
                raise ValueError(f"dt_ms must be a positive number of ms, got {dt_ms!r}")
            self._flush_interval = check_interval(flush_interval_s)
            self._dtype = np.dtype(dtype)
            if self._dtype.kind != "f":
                raise ValueError(f"dtype must be a float type, got {dtype!r}")
            self._unit, self._conversion = unit_and_conversion(unit)
            self._n_steps, self._dt_ms, self._tstart_ms = int(n_steps), float(dt_ms), float(tstart_ms)
            if host is not None:
                if OutputPath(host.path).path.resolve() != self._output.path.resolve():
                    raise ValueError(f"host= writes '{host.path}', not '{path}'")
            elif self._rank == 0:
                self._output.check(overwrite=overwrite)
                self._nwbfile = make_nwbfile(nwb_metadata)
        except (ValueError, TypeError, FileExistsError, PermissionError) as exc:
            error = exc
        mpi.raise_if_any(self._comm, error)

    @property
    def path(self) -> Path:
        return self._output.path

    @property
    def series_names(self) -> list[str]:
        return list(self._series)

    @property
    def steps_flushed(self) -> dict[str, int]:
        """Steps of each series that the file's ``simout_steps_written`` counts (flushed; a killed run keeps them;
        the same on every rank)."""
        return dict(self._flushed)

    # ------------------------------------------------------------------ structure
    def open(self) -> None:
        """Create the partial file now (collective); optional, the first :meth:`write_block` does it otherwise."""
        if self._started:
            return
        self._started = True
        self._clock = FlushClock(self._flush_interval, comm=self._comm)
        layout = EcpLayout(n_steps=self._n_steps, dtype=self._dtype, tstart_ms=self._tstart_ms, dt_ms=self._dt_ms,
                           conversion=self._conversion, block_steps=self._block_steps, description=self._description,
                           comments=self._comments, extra_series=self._extra)  # fmt: skip
        if self._host is not None:
            self._open_in_host(layout)
            return
        error = None
        if self._rank == 0:
            tmp = self._output.tmp_path
            try:
                self._output.keep_stale_partial()
                nwbfile, self._nwbfile = self._nwbfile, None
                write_new_file(self._output.skeleton_path, tmp, nwbfile=nwbfile, probes=self._probes, layout=layout)
                self._h5 = h5py.File(tmp, "r+")
            except ValueError as exc:
                error = exc
            except _IO_ERRORS as exc:
                code, reason = os_error_reason(exc)
                error = OutputWriteError(
                    f"could not create '{self._output.tmp_path}' (the NWB structure: probes and empty series): "
                    f"{reason}. Nothing was recorded; the output '{self._output.path}' is untouched.",
                    errno=code,
                )
        mpi.raise_if_any(self._comm, error)
        logger.info("writing %d ElectricalSeries to %s", len(self._series), self._output.tmp_path)

    def _open_in_host(self, layout: EcpLayout) -> None:
        """The series into the host's file: into its structure if it has not started, else appended (gather)."""
        files = self._host.file_host
        appended = files.started
        error = None
        if not appended:
            files.extend_structure(lambda where: append_to_file(where, probes=self._probes, layout=layout))
        elif self._host.sink_kind != "gather":
            error = ValueError("host=: the host writer has created its MPI-IO file already (open on every rank); open "
                               "the ElectricalSeriesWriter before the host's first block")  # fmt: skip
        mpi.raise_if_any(self._comm, error)
        self._host.open()  # collective
        if self._rank == 0 and appended:
            try:
                files.h5file.flush()  # the host's structure on disk before pynwb opens a second handle
                append_to_file(self._output.tmp_path, probes=self._probes, layout=layout)
            except ValueError as exc:
                error = exc
            except _IO_ERRORS as exc:
                code, reason = os_error_reason(exc)
                error = OutputWriteError(f"could not add the probes and series to '{self._output.tmp_path}': {reason}",
                                         errno=code)  # fmt: skip
        mpi.raise_if_any(self._comm, error)
        self._h5 = files.h5file  # rank 0 (gather) or every rank (MPI-IO); the host closes it
        logger.info("writing %d ElectricalSeries into %s", len(self._series), self._output.tmp_path)

    # ------------------------------------------------------------------ blocks
    def write_block(self, step0: int, block: ArrayLike, *, series: str | None = None) -> None:
        """Add this rank's contribution to samples ``step0 .. step0 + n - 1`` of a series (collective).

        Parameters
        ----------
        step0 : int
            First sample of the block; blocks come in order, without gaps or overlaps, the same on every rank.
        block : array-like, shape (n, n_channels)
            This rank's contribution, in the writer's unit (e.g. mV); summed over ranks in float64.
        series : str, optional
            Probe name; default the first probe.
        """
        if self._closed:
            raise ValueError("write_block: the writer is closed")
        name = series if series is not None else self._probes[0].name
        arr = np.asarray(block, dtype=np.float64)
        error = check_block(name, step0, arr, probe=self._series.get(name), series=self.series_names,
                            written=self._steps_written.get(name, 0), n_steps=self._n_steps)  # fmt: skip
        if self._comm is not None:
            infos = self._comm.allgather((None if error is None else str(error), name, int(step0), arr.shape))
            bad = [(r, e) for r, (e, *_) in enumerate(infos) if e is not None]
            if error is None and bad:
                error = ValueError(f"on rank {bad[0][0]}: {bad[0][1]}")
            elif error is None and len({i[1:] for i in infos}) != 1:
                error = ValueError(f"write_block: ranks disagree on (series, step0, shape): {[i[1:] for i in infos]}")
            if error is not None:
                raise failstop.mark_collective(error)
        if error is not None:
            raise error
        self.open()
        total = self._sum(np.ascontiguousarray(arr))
        stop = step0 + arr.shape[0]
        doing = f"writing steps {step0}..{stop - 1} of '{name}'"
        error = None
        if self._rank == 0:
            try:
                self._h5[f"acquisition/{name}/data"][step0:stop, :] = total.astype(self._dtype, copy=False)
            except _IO_ERRORS as exc:
                error = self._write_error(exc, doing)
        self._raise_if_any(error)
        self._steps_written[name] = stop
        if self._clock.due():  # collective: rank 0's clock decides
            self._flush(doing)

    def _flush(self, doing: str) -> None:
        """Collective: the data first, then the counts that changed, then again: a count never claims steps that
        are not in the file. Every holder of the file takes part (rank 0, or every rank of an MPI-IO host)."""
        if self._failed:
            return  # a failed write's data may be missing: the counts stay at the last good flush (every rank)
        error = None
        if self._h5 is not None:
            try:
                self._h5.flush()
                changed = [name for name, n in self._steps_written.items() if n != self._flushed[name]]
                for name in changed:
                    self._h5[f"acquisition/{name}/data"].attrs[STEPS_WRITTEN_ATTR] = self._steps_written[name]
                if changed:
                    self._h5.flush()
            except _IO_ERRORS as exc:
                error = self._write_error(exc, f"flushing the file after {doing}")
        self._raise_if_any(error)
        self._flushed = dict(self._steps_written)
        self._clock.flushed()

    def _raise_if_any(self, error: BaseException | None) -> None:
        """Collective ``raise_if_any``; after a failed write or flush the counts are never written again."""
        try:
            mpi.raise_if_any(self._comm, error)
        except BaseException:
            self._failed = True
            raise

    def _sum(self, arr: np.ndarray) -> np.ndarray | None:
        """Every rank's ``arr`` summed into rank 0 (one ``Reduce``); None on the other ranks."""
        if self._comm is None:
            return arr
        from mpi4py import MPI

        out = np.empty_like(arr) if self._rank == 0 else None
        self._comm.Reduce(arr, out, op=MPI.SUM, root=0)
        return out

    def _write_error(self, exc: BaseException, doing: str) -> OutputWriteError:
        code, reason = os_error_reason(exc)
        kept = ", ".join(f"'{k}': {v} of {self._n_steps}" for k, v in self._steps_written.items())
        return OutputWriteError(
            f"writing '{self._output.tmp_path}' failed while {doing}: {reason}. The output '{self._output.path}' is "
            f"untouched; steps written before the failure ({kept}) stay in the partial file.",
            errno=code,
        )

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Fill samples never written with NaN, close and move the file onto the output path (collective; with a
        host, the host moves it when it closes)."""
        if self._closed:
            return
        self.open()
        self._closed = True
        error = None
        if self._rank == 0:
            try:
                for name, written in self._steps_written.items():
                    if written < self._n_steps:
                        logger.warning("series '%s': %d of %d steps written; the rest hold NaN", name, written,
                                       self._n_steps)  # fmt: skip
                        self._h5[f"acquisition/{name}/data"][written:, :] = np.nan  # not counted
            except _IO_ERRORS as exc:
                error = self._write_error(exc, "filling the samples never written")
        self._raise_if_any(error)
        self._flush("the last block")
        if self._rank == 0:
            try:
                if self._host is None:
                    self._h5.close()
                self._h5 = None
            except _IO_ERRORS as exc:
                error = self._write_error(exc, "closing it")
            if error is None and self._host is None:
                try:
                    self._output.commit()
                except OSError as exc:
                    code, reason = os_error_reason(exc)
                    error = OutputWriteError(
                        f"could not move the finished '{self._output.tmp_path}' onto '{self._output.path}': {reason}. "
                        f"The output is untouched; the finished file is '{self._output.tmp_path}'.",
                        errno=code,
                    )
        self._h5 = None  # an MPI-IO host's other ranks
        mpi.raise_if_any(self._comm, error)

    def _abort(self, exc: BaseException) -> None:
        """After an error inside ``with``: old output untouched, partial file kept; a local MPI error ends the job."""
        self._closed = True
        if self._clock is not None and (self._comm is None or failstop.is_collective(exc)):
            try:  # every rank is here: what was written is flushed and counted (unless a write failed)
                self._flush("the failure")
            except (OutputWriteError, *_IO_ERRORS, ValueError) as flush_exc:
                logger.debug("flushing the partial file after an error failed too: %s", flush_exc)
        if self._host is not None:
            self._h5 = None  # the host's file: the host closes it (or keeps it, on a local MPI error)
        if self._h5 is not None:
            try:
                self._h5.close()
            except (OSError, RuntimeError, ValueError) as close_exc:
                logger.debug("closing the partial file after an error failed too: %s", close_exc)
            self._h5 = None
        kept = f"the output '{self._output.path}' is untouched" + (
            f"; partial output kept at {self._output.tmp_path}" if self._started else ""
        )
        if self._comm is not None and not failstop.is_collective(exc):
            failstop.abort_job(self._comm, exc, context=kept)
        if self._started and self._rank == 0:
            logger.warning("run failed: %s", kept)

    def __enter__(self) -> ElectricalSeriesWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc)
