"""``cfg.recordLFP`` with ``cfg.saveNWB``: NetPyNE's LFP streamed into the same NWB file, on NEURON 9 as on 8.2.

NetPyNE 1.1's own ``setupRecordLFP`` calls ``PtrVector.ptr_update_callback``, which NEURON 9 removed (its data
handles stay valid, so the callback is not needed). The rest of NetPyNE's LFP method is kept exactly:

- the electrodes are ``cfg.recordLFP``'s [x, y, z] (µm, y = depth, as NetPyNE's cell positions); NetPyNE's
  ``RecXElectrode`` inverts y into NEURON's frame, and so do we;
- segments: every compartmental cell's ``_segCoords`` (after ``sim.net.defineCellShapes`` / ``calcSegCoords``),
  currents ``i_membrane_`` (``cvode.use_fast_imem``) in ``cell.secs`` order, as ``setImembPtr``;
- transfer resistances: the same line-source formula, sigma = 0.3 S/m (:mod:`simout_plugins.linesource`);
- sampling: an event every ``recordStep`` from t = 0 (``recordLFPHandler``); row k is the potential at the event at
  t = (k + 1) recordStep. NetPyNE's ``calculateLFP`` picks the row as ``floor(t / recordStep) - 1`` of the
  accumulated event time, which sometimes rounds down: that sample is added to the previous row, leaving a row of
  zeros (3 of 500 rows in the tests), and the first sample (t = 0.1 ms read as 0.0999...) lands in row -1, the last
  row. Here each event has its own row (``round``); the values are NetPyNE's sample by sample.

What changes: one ``PtrVector.gather`` per event for all of this rank's segments (no per-cell loop), one matrix
product per interval (and one per population of ``cfg.saveLFPPops``, each a further ElectricalSeries
``LFP_<pop>`` over the same electrodes; one per cell of ``cfg.saveLFPCells``, ``LFPCell_<gid>``, NetPyNE's
``simData['LFPCells'][gid]``), and the ranks' sums go straight into the file (:class:`simout_plugins.write.
ElectricalSeriesWriter` with the traces' writer as host): the LFP is never pickled to rank 0.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from simout_plugins.linesource import transfer_resistance
from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

logger = logging.getLogger(__name__)

METHOD = (
    "Computed as NetPyNE's recordLFP does: the membrane current of every segment of every compartmental cell "
    "(NEURON i_membrane_, cvode.use_fast_imem) times line-source transfer resistances (RecXElectrode, homogeneous "
    "medium, sigma = 0.3 S/m), summed over the cells; electrode positions as in cfg.recordLFP (y = depth)."
)
SERIES_NAME = "LFP"


def parse_record_lfp(value: Any) -> np.ndarray | None:
    """``cfg.recordLFP`` as an (n_channels, 3) float64 array of µm, or None when LFP recording is off.

    Raises
    ------
    ValueError
        Not a non-empty list of [x, y, z] number triples (the message names ``cfg.recordLFP`` and the value).
    """
    if value is None or value is False or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    hint = "cfg.recordLFP must be a list of [x, y, z] electrode positions in µm, e.g. [[50, 100, 50], [50, 200, 50]]"
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence | np.ndarray):
        raise ValueError(f"{hint}; got {value!r}")
    try:
        pos = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{hint}; got {value!r} ({exc})") from exc
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"{hint}; got {value!r} (shape {pos.shape})")
    if not np.isfinite(pos).all():
        raise ValueError(f"{hint}; got non-finite numbers in {value!r}")
    return pos


def lfp_pops(value: Any, pops: list[str]) -> list[str]:
    """The populations of ``cfg.saveLFPPops`` (True: all; a list: those of the network), in network order.

    Raises
    ------
    ValueError
        Not a bool or a list of population names.
    """
    if value is None or value is False:
        return []
    if value is True:
        return list(pops)
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"cfg.saveLFPPops must be True or a list of population names, got {value!r}")
    unknown = sorted(set(value) - set(pops))
    if unknown:
        logger.warning("cfg.saveLFPPops: %s are not populations of the network (%s); left out", unknown, pops)
    return [p for p in pops if p in value]


def check_lfp_cells(value: Any) -> Any:
    """``cfg.saveLFPCells`` as NetPyNE takes it, returned unchanged: False / None (off), True (every cell) or a list of
    cell gids, population names and ``(population, index or [indices])`` pairs (``netpyne.sim.utils.getCellsList``).

    Raises
    ------
    ValueError
        Anything else (the message names ``cfg.saveLFPCells`` and the value).
    """
    if value is None or isinstance(value, bool):
        return value

    def index(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    def item(x: Any) -> bool:
        if index(x) or isinstance(x, str):
            return True
        return (isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[0], str)
                and (index(x[1]) or (isinstance(x[1], list) and all(index(i) for i in x[1]))))  # fmt: skip

    if not isinstance(value, (list, tuple)) or not all(item(x) for x in value):
        raise ValueError(
            "cfg.saveLFPCells must be True or a list of cell gids, population names or (population, index or "
            f"[indices]) pairs, e.g. [0, 5] or [('E', [0, 1])]; got {value!r}"
        )
    return value


def lfp_cells(sim: Any, cells: list[Any], comm: Any | None) -> list[int]:
    """Gids of the compartmental cells of ``cfg.saveLFPCells`` over every rank, ascending (collective under MPI).

    ``cells`` are this rank's compartmental cells; selected cells without sections (NetStims, point cells), which
    NetPyNE keeps as rows of zeros, are left out and counted in the log.
    """
    value = check_lfp_cells(getattr(sim.cfg, "saveLFPCells", False))
    if not value:
        return []
    chosen = {int(c.gid) for c in (sim.net.cells if value is True else sim.getCellsList(list(value)))}
    local = sorted(chosen & {int(c.gid) for c in cells})
    counts = (len(chosen), len(local))
    if comm is not None:
        local = sorted(g for part in comm.allgather(local) for g in part)
        counts = tuple(int(x) for x in np.sum(comm.allgather(counts), axis=0))
    if counts[0] > counts[1] and (comm is None or comm.Get_rank() == 0):
        logger.info("cfg.saveLFPCells: %d of the %d selected cells have no sections (no LFP): left out", *
                    (counts[0] - counts[1], counts[0]))  # fmt: skip
    return local


def lfp_samples(*, duration_ms: float, record_step_ms: float) -> int:
    """Rows of NetPyNE's ``simData['LFP']``: ``ceil(duration / recordStep)``."""
    return int(np.ceil(duration_ms / record_step_ms))


class LFPRecorder:
    """Record this rank's LFP contribution and stream the ranks' sum into the traces' NWB file.

    Parameters
    ----------
    sim : module
        ``netpyne.sim`` after ``sim.create`` (with ``cfg.recordLFP`` hidden from NetPyNE's set-up).
    positions_um : numpy.ndarray, shape (n_channels, 3), µm
        ``cfg.recordLFP``.
    host : simout_plugins.CompartmentSeriesWriter
        The writer of ``cfg.saveNWB``'s file.
    dtype : str or numpy.dtype
    comm : mpi4py communicator, optional
    location : str, optional
        Brain area of the channels (``cfg.saveNWB['lfpLocation']``); default ``"simulated"``.
    """

    def __init__(
        self,
        *,
        sim: Any,
        positions_um: np.ndarray,
        host: Any,
        dtype: Any = "float32",
        comm: Any | None = None,
        location: str | None = None,
    ) -> None:
        from neuron import h

        self._h = h
        self._comm = comm
        cfg = sim.cfg
        self._step_ms = float(cfg.recordStep)
        self.n_steps = lfp_samples(duration_ms=float(cfg.duration), record_step_ms=self._step_ms)
        cells = _compartment_cells(sim)
        self._cvode = h.CVode()
        self._cvode.use_fast_imem(1)  # i_membrane_ of every segment (before its references are taken)
        neuron_frame = (positions_um * np.array([1.0, -1.0, 1.0])).T  # RecXElectrode: y = -depth
        parts, refs, seg_pops, seg_gids = [], [], [], []
        for cell in cells:
            coords = cell._segCoords  # NOTE: NetPyNE's own LFP code reads this private attribute too
            parts.append(transfer_resistance(positions_um=neuron_frame, p0_um=coords["p0"], p1_um=coords["p1"]).T)
            refs.extend(seg._ref_i_membrane_ for sec in cell.secs.values() for seg in sec["hObj"])
            seg_pops.extend([str(cell.tags.get("pop", ""))] * parts[-1].shape[0])
            seg_gids.extend([int(cell.gid)] * parts[-1].shape[0])
        self._trt = np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, positions_um.shape[0]))
        self._refs = refs
        pops = lfp_pops(cfg.saveLFPPops if hasattr(cfg, "saveLFPPops") else False, list(sim.net.pops))
        seg_pops = np.asarray(seg_pops, dtype=object)
        self._pop_cols = {f"{SERIES_NAME}_{pop}": np.flatnonzero(seg_pops == pop) for pop in pops}
        extra = {name: (SERIES_NAME, f"Contribution of population '{name[len(SERIES_NAME) + 1 :]}' to the LFP "
                        "(NetPyNE cfg.saveLFPPops).") for name in self._pop_cols}  # fmt: skip
        seg_gids = np.asarray(seg_gids, dtype=np.int64)  # every rank has every cell's series (zeros where not local)
        self._cell_cols = {f"LFPCell_{gid}": np.flatnonzero(seg_gids == gid) for gid in lfp_cells(sim, cells, comm)}
        extra.update({name: (SERIES_NAME, f"Contribution of cell gid {name[8:]} to the LFP (NetPyNE cfg.saveLFPCells, "
                             f"simData['LFPCells'][{name[8:]}]).") for name in self._cell_cols})  # fmt: skip
        probe = make_probe(name=SERIES_NAME, positions_um=positions_um, method=METHOD, location=location,
                           description="NetPyNE cfg.recordLFP electrodes")  # fmt: skip
        self.writer = ElectricalSeriesWriter(
            host.path,
            probes=[probe],
            n_steps=self.n_steps,
            dt_ms=self._step_ms,
            tstart_ms=self._step_ms,  # row k: t = (k + 1) recordStep
            unit="mV",
            dtype=dtype,
            comm=comm,
            description=f"LFP of the NetPyNE run ({len(cells)} compartmental cells on rank 0 or this rank). {METHOD}",
            comments="Sample k is NetPyNE's simData['LFP'][k], the potential at t = (k + 1) * recordStep.",
            block_steps=None,
            extra_series=extra,
            host=host,
        )
        self._pv = self._vec = self._view = None
        self._rows = max(2, 2 * self.n_steps if self.n_steps < 64 else 64)
        self._buf = np.zeros((self._rows, len(refs)))
        self._base = 0  # file row of buffer row 0
        self._filled = 0  # rows < this hold currents
        self._fih = None

    def start(self) -> None:
        """Before ``h.finitialize``: point the PtrVector at the currents and schedule the per-recordStep events."""
        h = self._h
        n = len(self._refs)
        if n:
            self._pv = h.PtrVector(n)
            for i, ref in enumerate(self._refs):
                self._pv.pset(i, ref)
            self._vec = h.Vector(n)
            self._view = self._vec.as_numpy()
        self._fih = h.FInitializeHandler(0, self._schedule)
        self.writer.open()

    def _schedule(self) -> None:
        if self._h.t == 0 and self._pv is not None:  # at finitialize: NEURON < 9 may have moved the currents
            for i, ref in enumerate(self._refs):
                self._pv.pset(i, ref)
        self._cvode.event(self._h.t + self._step_ms, self._sample)
        self._cvode.event(self._h.t + self._step_ms, self._schedule)

    def _sample(self) -> None:
        row = int(round(self._h.t / self._step_ms)) - 1  # the event at t = (row + 1) recordStep
        if not 0 <= row < self.n_steps:
            return
        k = row - self._base
        if k >= self._rows:  # more rows than a flush leaves room for: grow (rare: long intervals)
            grown = np.zeros((max(2 * self._rows, k + 1), self._buf.shape[1]))
            grown[: self._rows] = self._buf
            self._buf, self._rows = grown, grown.shape[0]
        if k >= 0 and self._pv is not None:
            self._pv.gather(self._vec)
            self._buf[k] = self._view
        self._filled = max(self._filled, k + 1)

    def flush(self, *, final: bool = False) -> None:
        """Write the rows completed since the last flush (every rank; collective). ``final``: every row."""
        local = self._filled if not final else self.n_steps - self._base
        ready = local if self._comm is None else int(self._comm.allreduce(local, op=_mpi_min()))
        ready = max(0, min(ready, self.n_steps - self._base))
        if ready == 0:
            return
        self.writer.write_block(self._base, self._buf[:ready] @ self._trt)
        for name, cols in (self._pop_cols | self._cell_cols).items():  # every rank writes every series (collective)
            self.writer.write_block(self._base, self._buf[:ready, cols] @ self._trt[cols], series=name)
        self._buf[: self._rows - ready] = self._buf[ready:]
        self._buf[self._rows - ready :] = 0.0
        self._base += ready
        self._filled = max(0, self._filled - ready)

    def close(self) -> None:
        """Write the last rows and close (collective); before the host writer closes."""
        self.flush(final=True)
        self.writer.close()

    def __enter__(self) -> LFPRecorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.writer.__exit__(exc_type, exc, tb)


@contextlib.contextmanager
def recording_lfp(
    *,
    sim: Any,
    positions_um: np.ndarray | None,
    host: Any,
    dtype: Any,
    comm: Any | None,
    on_interval: Callable[[float], None],
) -> Iterator[Callable[[float], None]]:
    """Around the run: yield the interval function (``on_interval``, then the LFP's flush when ``positions_um``).

    The :class:`LFPRecorder` is started (before ``h.finitialize``) on entry and closed on exit, before ``host``
    closes; without positions, ``on_interval`` is yielded as it is.
    """
    if positions_um is None:
        yield on_interval
        return
    with LFPRecorder(sim=sim, positions_um=positions_um, host=host, dtype=dtype, comm=comm) as lfp:
        lfp.start()

        def func(t_ms: float) -> None:
            on_interval(t_ms)
            lfp.flush()

        yield func


# the cfg.recordLFP values hidden from NetPyNE's own set-up (id(cfg) -> value), restored after the run
_HIDDEN: dict[int, Any] = {}


def hide_record_lfp(cfg: Any) -> np.ndarray | None:
    """Check ``cfg.recordLFP`` and hide it from NetPyNE (its set-up fails on NEURON 9); return the positions.

    Call before ``sim.create``; :func:`restore_record_lfp` puts the value back after the run. Idempotent.

    Raises
    ------
    ValueError
        ``cfg.recordLFP`` is not a list of [x, y, z] positions.
    """
    if id(cfg) in _HIDDEN:
        return parse_record_lfp(_HIDDEN[id(cfg)])
    value = getattr(cfg, "recordLFP", False)
    positions = parse_record_lfp(value)
    check_lfp_cells(getattr(cfg, "saveLFPCells", False))
    if positions is not None:
        _HIDDEN[id(cfg)] = value
        cfg.recordLFP = False
        cfg.use_fast_imem = True  # as setupRecordLFP sets it: NetPyNE's set-up applies it to cvode
    return positions


def hidden_record_lfp(cfg: Any) -> np.ndarray | None:
    """The positions :func:`hide_record_lfp` hid for ``cfg`` (None: no LFP asked)."""
    return parse_record_lfp(_HIDDEN.get(id(cfg)))


def restore_record_lfp(cfg: Any) -> None:
    """Put back ``cfg.recordLFP`` (after the run)."""
    if id(cfg) in _HIDDEN:
        cfg.recordLFP = _HIDDEN.pop(id(cfg))


def _compartment_cells(sim: Any) -> list[Any]:
    """This rank's compartmental cells, with segment coordinates computed as NetPyNE's setupRecordLFP does."""
    net = sim.net
    if not net.params.defineCellShapes:
        net.defineCellShapes()
    net.calcSegCoords()
    return list(net.compartCells)


def _mpi_min() -> Any:
    from mpi4py import MPI

    return MPI.MIN
