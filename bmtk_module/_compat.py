"""Every BMTK internal bmtk_module relies on, in one place, each behind a feature check.

BMTK (bionet) has no public API for what a report module outside BMTK needs: the names of the node sets, each
segment's section id and x, a hook around every time step, a report class whose defaults BMTK's config parsing
applies, and the rule that decides which steps a report records. This module is the only place of the adapter that
touches them. Each function below checks the feature it uses and raises :class:`BmtkVersionError` naming the
feature, the installed bmtk version and :data:`TESTED_RANGE` when it is missing, instead of an ``AttributeError``
from deep inside a run.

NOTE: an entry goes away when BMTK offers it publicly (e.g. ``BioNetwork.node_set_names()``, a report-module
registry that ``BioSimulator.from_config`` honours, a pre/post step hook). Keep :data:`TESTED_RANGE` equal to the
``bmtk`` pin of the ``[bmtk]`` extra in ``pyproject.toml``.

Importing this module imports neither NEURON nor bionet.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: bmtk versions bmtk_module is tested with (the ``[bmtk]`` extra of pyproject.toml declares the same range).
TESTED_RANGE = ">=1.1,<1.3"

#: BMTK's warning for a report module ``BioSimulator.from_config`` does not know (bionet/biosimulator.py).
UNRECOGNIZED_MODULE = "Unrecognized module {}, skipping."

# the attributes of a built BioSimulator / BioNetwork the adapter reads (public in BMTK, listed to check them once)
SIMULATOR_ATTRS = (
    "dt", "tstart", "tstop", "nsteps", "nsteps_block", "h", "net", "biophysical_gids", "spikes_table",
    "set_spikes_recording", "add_mod", "post_fadvance",
)  # fmt: skip
NETWORK_ATTRS = ("gid_pool", "get_local_cells", "get_cell_gid", "get_node_set", "_node_sets")


class BmtkVersionError(RuntimeError):
    """The installed BMTK lacks an internal bmtk_module needs (another version than :data:`TESTED_RANGE`)."""


def bmtk_version() -> str:
    """The installed bmtk version (``"unknown"`` when it has no package metadata)."""
    try:
        return metadata.version("bmtk")
    except metadata.PackageNotFoundError:
        return "unknown"


def unsupported(feature: str) -> BmtkVersionError:
    """The one error for a missing BMTK internal: names it, the installed version and the tested range."""
    return BmtkVersionError(
        f"bmtk_module needs {feature}, which the installed bmtk {bmtk_version()} does not have; bmtk_module is tested "
        f"with bmtk {TESTED_RANGE} (pip install 'bmtk{TESTED_RANGE}')"
    )


def _require(obj: Any, names: Collection[str], what: str) -> None:
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise unsupported(f"{what} attribute(s) {missing}")


# ---------------------------------------------------------------------------------------------- report registry
def report_base() -> type:
    """BMTK's ``SimReport`` (``bmtk.simulator.utils.simulation_reports``), checked for what a subclass relies on.

    ``registry`` / ``register_module`` / ``build`` make BMTK's config parsing build our report class; the
    ``_get_defaults`` hook (called by ``_set_defaults`` in ``SimReport.__init__``) gives its defaults.
    """
    try:
        from bmtk.simulator.utils.simulation_reports import SimReport
    except ImportError as exc:
        raise unsupported(f"bmtk.simulator.utils.simulation_reports.SimReport ({exc})") from exc
    _require(SimReport, ("registry", "register_module", "build", "_get_defaults", "_set_defaults"), "SimReport")
    if not isinstance(SimReport.registry, dict):
        raise unsupported("SimReport.registry as a dict of report modules")
    return SimReport


def simulator_mod_base() -> type:
    """BMTK's ``SimulatorMod`` (initialize / step / block / finalize), the base class of a bionet module."""
    try:
        from bmtk.simulator.bionet.modules.sim_module import SimulatorMod
    except ImportError as exc:
        raise unsupported(f"bmtk.simulator.bionet.modules.sim_module.SimulatorMod ({exc})") from exc
    _require(SimulatorMod, ("initialize", "step", "block", "finalize"), "SimulatorMod")
    return SimulatorMod


# ---------------------------------------------------------------------------------------------- the built objects
def check_simulator(sim: Any) -> None:
    """Check a built ``BioSimulator`` and its network for every attribute the adapter reads.

    Raises
    ------
    BmtkVersionError
        Naming the missing attributes.
    """
    _require(sim, SIMULATOR_ATTRS, "BioSimulator")
    _require(sim.net, NETWORK_ATTRS, "BioNetwork")
    node_set_names(sim.net)


def node_set_names(net: Any) -> list[str]:
    """Names a report's ``cells`` may take: the config's node sets and the population names.

    NOTE: read from ``BioNetwork._node_sets``; BMTK has no public "is this a node set" query (``get_node_set``
    logs an error and raises a bare ``Exception`` for an unknown name).
    """
    node_sets = getattr(net, "_node_sets", None)
    if not isinstance(node_sets, Mapping):
        raise unsupported("BioNetwork._node_sets (the node sets by name)")
    return sorted(node_sets)


@dataclass(frozen=True)
class SegmentTable:
    """A cell's segments as BMTK numbers them (the order of ``Morphology.segments``).

    Attributes
    ----------
    type : numpy.ndarray, shape (n_segments,), int
        SWC type code of each segment's section (1 soma, 2 axon, 3 dend, 4 apic).
    sec_id : numpy.ndarray, shape (n_segments,), int
        Index of the segment's section in the cell's ``all`` list (BMTK's and SONATA's element id).
    x : numpy.ndarray, shape (n_segments,), float
        Segment centre along its section (0..1, dimensionless).
    segments : list of nrn.Segment, length n_segments
        The NEURON segments.
    """

    type: np.ndarray
    sec_id: np.ndarray
    x: np.ndarray
    segments: list


def segment_table(morphology: Any) -> SegmentTable:
    """The segments of a bionet cell (``cell.morphology``): ``Morphology.seg_props`` and ``Morphology.segments``.

    NOTE: ``seg_props`` is what BMTK's own membrane_report uses for element ids and positions; no public accessor.
    """
    props = getattr(morphology, "seg_props", None)
    segments = getattr(morphology, "segments", None)
    if props is None or segments is None or not all(hasattr(props, k) for k in ("type", "sec_id", "x")):
        raise unsupported("Morphology.seg_props (type, sec_id, x per segment) and Morphology.segments")
    table = SegmentTable(
        type=np.asarray(props.type), sec_id=np.asarray(props.sec_id), x=np.asarray(props.x), segments=list(segments)
    )
    if not table.type.size == table.sec_id.size == table.x.size == len(table.segments):
        raise unsupported("Morphology.seg_props with one entry per Morphology.segments item")
    return table


_ROTATIONS = ("rotation_angle_xaxis", "rotation_angle_yaxis", "rotation_angle_zaxis")


def segment_geometry(cell: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Segment ends (3, n_seg) µm, diameters (n_seg,) µm and segments of a bionet cell, placed as BMTK places it.

    NOTE: BMTK's ``BioCell.seg_coords`` moves and rotates the morphology *in place* on every access (it never caches
    the result, so a second access rotates again). This computes the placement one access gives
    (``Morphology.move_and_rotate`` with the cell's soma position and its node's rotation angles, read from the
    private ``BioCell._node`` as ``seg_coords`` does) on a copy, so the cell is left as it was and a native
    ``extracellular`` module in the same run sees what it would see alone. Segments follow ``Morphology.segments``
    (``hobj.all``, then ``seg in sec``), the order of the coordinates and of BMTK's ``set_im_ptr``.
    """
    node, morph = getattr(cell, "_node", None), getattr(cell, "morphology", None)
    needed = ((morph, "move_and_rotate"), (morph, "segments"), (cell, "soma_position"))
    if (
        node is None
        or morph is None
        or not all(hasattr(node, k) for k in _ROTATIONS)
        or not all(hasattr(obj, k) for obj, k in needed)
    ):
        raise unsupported("BioCell._node rotation angles, BioCell.soma_position, Morphology.move_and_rotate/segments")
    placed = morph.move_and_rotate(
        soma_coords=np.asarray(cell.soma_position).flatten(),
        rotation_angles=[getattr(node, k) for k in _ROTATIONS],
        inplace=False,
    )
    coords = placed.seg_coords
    return coords.p0, coords.p1, np.asarray(coords.d, dtype=np.float64), list(morph.segments)


# ---------------------------------------------------------------------------------------------- the step hook
_WRAPPED = "_simout_wrapped"


def wrap_post_fadvance(sim: Any, wrap: Callable[[Callable[[], None]], Callable[[], None]]) -> None:
    """Replace ``sim.post_fadvance`` (every module's ``step`` and ``block``) by ``wrap(original)``, once.

    NOTE: bionet's ``advance.hoc`` calls ``pysim.post_fadvance()`` after every ``fadvance``, looking the method up
    by name at each step, so an instance attribute replaces it for this simulator only.
    """
    check_post_fadvance_hook()
    original = getattr(sim, "post_fadvance", None)
    if not callable(original):
        raise unsupported("BioSimulator.post_fadvance")
    if getattr(original, _WRAPPED, False):
        return
    wrapped = wrap(original)
    setattr(wrapped, _WRAPPED, True)
    sim.post_fadvance = wrapped


def check_post_fadvance_hook() -> None:
    """Check that bionet's ``advance.hoc`` calls ``pysim.post_fadvance()`` (what :func:`wrap_post_fadvance` needs)."""
    spec = importlib.util.find_spec("bmtk.simulator.bionet")
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    hoc = folder / "default_templates" / "advance.hoc" if folder is not None else None
    if hoc is None or not hoc.is_file() or "pysim.post_fadvance()" not in hoc.read_text(errors="replace"):
        raise unsupported("bionet's default_templates/advance.hoc calling pysim.post_fadvance() after each fadvance")


# ---------------------------------------------------------------------------------------------- recorded steps
@dataclass(frozen=True)
class RecordWindow:
    """Recorded steps ``range(first_step, end_step, dt_step)`` of a run, as BMTK's native membrane_report records.

    BMTK calls ``step(sim, k)`` after the k-th ``fadvance`` (``t = (k + 1) * dt``); sample 0 is at ``tstart_ms``.
    """

    first_step: int
    end_step: int
    dt_step: int
    n_samples: int
    dt_ms: float
    tstart_ms: float  # time of sample 0


def record_window(
    *, where: str, sim: Any, dt_ms: float | None, start_time_ms: float | None, end_time_ms: float | None
) -> RecordWindow:
    """The steps a report records: a copy of BMTK's ``MembraneReport._set_valid_steps`` / ``_record_on_step``.

    The checks say what is wrong with both values shown (BMTK's raise without the report name); steps ``k`` with
    ``start_step <= k < end_step`` and ``k % dt_step == 0`` are recorded, as in BMTK, so the NWB file holds the
    same samples as the native report.

    NOTE: kept in step with ``bmtk.simulator.bionet.modules.record_cellvars.MembraneReport``; the feature check
    makes sure the rule copied is still there.

    Raises
    ------
    ValueError
        A window outside the run or not on the report's dt, a dt that is not a whole multiple of the run's.
    BmtkVersionError
        BMTK's MembraneReport no longer has the rule copied here.
    """
    from bmtk.simulator.bionet.modules.record_cellvars import MembraneReport

    _require(MembraneReport, ("_set_valid_steps", "_record_on_step"), "MembraneReport")
    sim_dt, tstart, tstop = float(sim.dt), float(sim.tstart), float(sim.tstop)
    dt = sim_dt if dt_ms is None else dt_ms
    ratio = dt / sim_dt
    if dt < sim_dt * (1 - 1e-9) or abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(f"{where}: dt ({dt} ms) must be a whole multiple of the simulation dt ({sim_dt} ms)")
    start = tstart if start_time_ms is None else start_time_ms
    end = tstop if end_time_ms is None else end_time_ms
    if not tstart <= start < tstop:
        raise ValueError(f"{where}: start_time ({start} ms) must lie in the run [{tstart}, {tstop}) ms")
    if not tstart < end <= tstop:
        raise ValueError(f"{where}: end_time ({end} ms) must lie in the run ({tstart}, {tstop}] ms")
    if start >= end:
        raise ValueError(f"{where}: start_time ({start} ms) must be less than end_time ({end} ms)")
    dt_step = int(round(ratio))
    start_step, end_step = int(round(start / sim_dt)), int(round(end / sim_dt))
    for key, value, steps in (("start_time", start, start_step), ("end_time", end, end_step)):
        if abs(value / sim_dt - steps) > 1e-6 or steps % dt_step:
            raise ValueError(f"{where}: {key} ({value} ms) must be a whole multiple of the report dt ({dt} ms)")
    first = -(-start_step // dt_step) * dt_step  # BMTK records steps k with k % dt_step == 0
    return RecordWindow(
        first_step=first,
        end_step=end_step,
        dt_step=dt_step,
        n_samples=len(range(first, end_step, dt_step)),
        dt_ms=dt,
        tstart_ms=(first + 1) * sim_dt,
    )


# ---------------------------------------------------------------------------------------------- BMTK's log
class _HideUnrecognized(logging.Filter):
    def __init__(self, modules: Collection[str]) -> None:
        super().__init__()
        self.messages = {UNRECOGNIZED_MODULE.format(m) for m in modules}
        self.hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() in self.messages:
            self.hidden += 1
            return False
        return True


@contextmanager
def unrecognized_modules_hidden(modules: Collection[str]) -> Iterator[None]:
    """Within the block, drop BMTK's "Unrecognized module M, skipping." warning for the given modules only.

    For the modules the adapter attaches itself after ``BioSimulator.from_config``; the warning for any other module
    (a typo, a module nobody attaches) still shows. A cosmetic filter: when BMTK's logger or message changed, nothing
    is hidden (logged at DEBUG) and the run goes on.

    NOTE: BMTK logs through ``bmtk.simulator.bionet.io_tools.io.logger`` with the message of
    :data:`UNRECOGNIZED_MODULE` (``BioSimulator.from_config``).
    """
    target = None
    try:
        from bmtk.simulator.bionet.biosimulator import BioSimulator
        from bmtk.simulator.bionet.io_tools import io

        target = io.logger if UNRECOGNIZED_MODULE in inspect.getsource(BioSimulator.from_config) else None
    except (ImportError, AttributeError, OSError, TypeError) as exc:
        logger.debug("BMTK's 'Unrecognized module' warning cannot be filtered (%s)", exc)
    if not isinstance(target, logging.Logger) or not modules:
        yield
        return
    hide = _HideUnrecognized(modules)
    target.addFilter(hide)
    try:
        yield
    finally:
        target.removeFilter(hide)
