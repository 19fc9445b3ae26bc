"""Hostile input files never crash, hang or silently lie (issue 7, section 4).

Small valid inputs (an NWB file from the real writer with two populations, labels and spikes; a SONATA report and
a SONATA spike file) are corrupted with :mod:`tests.corruption` and given to every *consumer*: the reader's public
API (:data:`READERS`: everything read, incl. ``spikes()`` and ``get()`` on every population) and the CLI commands
(:data:`CONSUMERS`, called in-process through ``simout_plugins.cli.app``). Each must either succeed or raise our
own error: in-process, a :class:`~simout_plugins.errors.SimoutError`; from the CLI, exit status 2 with one
``simout: error:`` line naming the file. The CLI runs with ``USER_ERRORS`` narrowed to our types, so a raw
h5py / KeyError / IndexError / TypeError escaping a command fails the test instead of becoming exit status 2.

Oracle for "silently wrong data": when a reader consumer succeeds, every value it returned (a *fact*) is compared
with the same fact read from the intact file. A fact may differ only when the corruption touched something it
depends on: the raw bytes of the very element (:func:`tests.corruption.byte_map`), the object header of a dataset
or group it is read through (attributes, shape, dtype, storage layout: HDF5 1.8 object headers carry no
checksum), or, for structure-level corruptions, the dataset that was replaced / edited. A difference explained by
none of these, and any difference after a corruption of other bytes, fails the test, with one documented
exception: bytes of link metadata (symbol-table B-trees and local heaps of link names, HDF5 1.8 format, no
checksums) may hide an object, so after such a corruption a fact may be *absent* (never different).

Cases per example: the default hypothesis profile (25 examples per kind) keeps the file under ~2 minutes;
``test_fuzz_long`` (marker ``fuzz``) draws ``SIMOUT_FUZZ_EXAMPLES`` cases over every kind and consumer and, with
``SIMOUT_FUZZ_REPORT=path.json``, writes how many cases ran per kind and how many ended in error vs success.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import os
import shutil
import signal
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.cli import app as cli
from simout_plugins.cli.info import describe_file
from simout_plugins.errors import SimoutError
from simout_plugins.plot.load import load_spikes, load_traces
from tests import corruption
from tests.data.generate_sonata import simple_pops, write_report, write_spikes

#: Seconds one case may take before it counts as a hang (a C-level hang is killed by faulthandler after 2x).
CASE_TIMEOUT_S = 20

# ---------------------------------------------------------------------------------------------- inputs

N_STEPS = 12


def make_nwb(path: Path) -> Path:
    """Two populations (overlapping node ids, a zero-compartment cell), labels, an extra column, spikes."""
    comps = build_compartments(
        node_ids=[0, 1, 5, 0, 2],
        population=["a", "a", "a", "b", "b"],
        counts=[3, 0, 2, 1, 2],
        number=[0, 1, 2, 0, 3, 0, 0, 1],
        position=[0.5, 0.5, 0.5, 0.1, 0.9, 0.5, 0.2, 0.8],
        label=["soma", "dend", "dend", "apic", "apic", "soma", "soma", "dend"],
        cell_columns={"cell_type": ["e", "i", "e", "e", "i"]},
    )
    data = (np.arange(N_STEPS * 8, dtype=np.float32).reshape(N_STEPS, 8) - 70.0) * 0.5
    with CompartmentSeriesWriter(path, compartments=comps, n_steps=N_STEPS, dt_ms=0.5, tstart_ms=1.0) as w:
        w.write_block(0, data)
        w.add_spikes(
            node_ids=[0, 5, 2, 0, 1],
            times_ms=[1.0, 2.5, 3.0, 4.0, 5.5],
            population=["a", "a", "b", "a", "a"],
            units_node_ids=[0, 1, 5, 0, 2],
            units_population=["a", "a", "a", "b", "b"],
            resolution_ms=0.1,
        )
    return path


def make_sonata(path: Path) -> Path:
    return write_report(path, simple_pops(n_rows=N_STEPS), style="bmtk")


def make_sonata_lib(path: Path) -> Path:
    return write_report(path, simple_pops(n_rows=N_STEPS, element_pos=False, dtype="float32"),
                        style="libsonatareport")  # fmt: skip


def make_spikes(path: Path) -> Path:
    return write_spikes(path, {"cortex": ([0, 2, 0, 1], [1.0, 2.0, 3.5, 4.0]), "thalamus": ([1], [0.5])})


MAKERS: dict[str, Callable[[Path], Path]] = {
    "nwb": make_nwb,
    "sonata": make_sonata,
    "sonata_lib": make_sonata_lib,
    "spikes": make_spikes,
}
_SUFFIX = {"nwb": ".nwb", "sonata": ".h5", "sonata_lib": ".h5", "spikes": ".h5"}


@dataclass
class Base:
    """An intact input: its path, byte map and the facts every reader consumer reads from it."""

    kind: str
    path: Path
    regions: list
    facts: dict = field(default_factory=dict)


_BASES: dict[str, Base] = {}
_WORK = Path(tempfile.mkdtemp(prefix="simout-hostile-"))


def base(kind: str) -> Base:
    if kind not in _BASES:
        path = MAKERS[kind](_WORK / f"base-{kind}{_SUFFIX[kind]}")
        b = Base(kind, path, corruption.byte_map(path))
        b.facts = READERS[_reader_of(kind)](path)
        _BASES[kind] = b
    return _BASES[kind]


def _reader_of(kind: str) -> str:
    return "open_report" if kind == "nwb" else "sonata_load"


# ---------------------------------------------------------------------------------------------- facts
# A fact: key -> (value, deps). deps = (dataset, element or None) pairs and object names whose header it is read
# through; a key only in the corrupted read takes the deps of its table (see _new_key_deps).


def _v(x):
    """A comparable value (NaN equal to NaN, arrays as tuples)."""
    if isinstance(x, (np.ndarray, list, tuple)):
        return tuple(_v(y) for y in np.asarray(x, dtype=object).ravel().tolist())
    if isinstance(x, (float, np.floating)):
        return "nan" if np.isnan(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, bytes):
        return x.decode(errors="replace")
    return x


def _nwb_facts(path: Path) -> dict:
    """Everything the reader's public API returns, as facts with their dependencies."""
    facts: dict = {}
    with open_report(path) as r:
        for name in r.series_names:
            facts[("series", name)] = (True, {"/acquisition", f"/acquisition/{name}"})
        for name in r.series_names:
            s = r[name]
            g = f"/acquisition/{name}"
            d = f"{g}/data"
            meta = {g, d, f"{g}/starting_time"}
            for attr in ("shape", "dtype", "unit", "conversion", "offset", "n_steps_written", "starting_time", "rate"):
                facts[(name, attr)] = (_v(str(getattr(s, attr)) if attr == "dtype" else getattr(s, attr)),
                                       meta | {(f"{g}/starting_time", 0)})  # fmt: skip
            for i, t in enumerate(s.times):
                facts[(name, "time", i)] = (_v(t), meta | {(f"{g}/starting_time", 0)})
            table = _table_path(path, g)
            tdeps = _table_deps(table, "number_index")
            facts[(name, "populations")] = (_v(s.populations), tdeps)
            full = s.get()
            n_cols = full.data.shape[1]
            row_of_col = np.repeat(np.arange(s.cells.n_rows), np.diff(s.cells.offsets)) if n_cols else None
            for c in range(n_cols):
                row = int(row_of_col[c]) if row_of_col is not None and c < row_of_col.size else None
                rdeps = _row_deps(table, row, "number_index")
                facts[(name, "col", c, "node_id")] = (_v(full.node_ids[c]), rdeps)
                facts[(name, "col", c, "cell_id")] = (_v(full.cell_ids[c]), rdeps)
                facts[(name, "col", c, "population")] = (_v(None if full.population is None else full.population[c]),
                                                        rdeps)  # fmt: skip
                for key in ("number", "position", "label"):
                    val = getattr(full, key)
                    facts[(name, "col", c, key)] = (_v(None if val is None else val[c]),
                                                   {table, f"{table}/{key}", (f"{table}/{key}", c)})  # fmt: skip
                for key, val in full.columns.items():
                    if key != "population":
                        cdeps = rdeps | {f"{table}/{key}", (f"{table}/{key}", row), (f"{table}/{key}", c)}
                        facts[(name, "col", c, key)] = (_v(val[c]), cdeps)
                for t in range(full.data.shape[0]):
                    facts[(name, "data", t, c)] = (_v(full.data[t, c]), {g, d, (d, t * n_cols + c)})
            # every population, whole and by a few node ids (the bisection path)
            for pop in s.populations:
                fr = s.get(population=pop)
                ids = list(dict.fromkeys(np.asarray(fr.node_ids).tolist()))
                few = s.get(population=pop, node_ids=ids[:1] + ids[-1:]) if ids else None
                for tag, frame in (("pop", fr), ("few", few)):
                    if frame is None:
                        continue
                    seen: Counter = Counter()
                    for k in range(frame.data.shape[1]):
                        node = int(frame.node_ids[k])
                        j = seen[node]
                        seen[node] += 1
                        deps = _node_deps(table, "number_index", d, g)
                        facts[(name, tag, pop, node, j, "number")] = (_v(frame.number[k]), deps)
                        facts[(name, tag, pop, node, j, "data")] = (_v(frame.data[:, k]), deps)
        spikes = r.spikes()
        units = "/units"
        for i in range(np.asarray(spikes.times).size):
            facts[("spike", i, "time")] = (_v(spikes.times[i]), {units, f"{units}/spike_times",
                                                                 (f"{units}/spike_times", i)})  # fmt: skip
            sdeps = _row_deps(units, None, "spike_times_index")
            facts[("spike", i, "node_id")] = (_v(spikes.node_ids[i]), sdeps)
            facts[("spike", i, "population")] = (_v(None if spikes.population is None else spikes.population[i]),
                                                 sdeps)  # fmt: skip
        if r.units is not None:
            for pop in r.units.populations:
                sp = r.spikes(population=pop)
                facts[("spikes_of", pop)] = (
                    _v(sorted(zip(np.asarray(sp.node_ids).tolist(), np.asarray(sp.times).tolist()))),
                    _table_deps(units, "spike_times_index") | {f"{units}/spike_times", (f"{units}/spike_times", None)},
                )
    return facts


def _table_path(path: Path, series: str) -> str:
    """The path of a series' Compartments table where it lives (the reader names it through the link)."""
    try:
        with h5py.File(path, "r") as f:
            link = f[series].get("compartments", getlink=True)
            return link.path if isinstance(link, h5py.SoftLink) else f"{series}/compartments"
    except Exception:  # a corrupted file the reader opened but raw h5py cannot walk: the writer's place
        return "/acquisition/compartments"


def _table_deps(table: str, index: str) -> set:
    """A whole table: ids, node ids, populations (and their order marker), the index, headers."""
    cols = ("id", "node_id", "population", index)
    return {table, *(f"{table}/{c}" for c in cols), *((f"{table}/{c}", None) for c in cols)}


def _row_deps(table: str, row: int | None, index: str) -> set:
    """The address of one column's (or spike's) cell: its row's id / node id / population, and the whole index
    (an index entry moves the boundary between two rows) and, in a population-ordered table, the whole population
    column (populations are found by bisection: a corrupted entry can relabel the rows up to the next one read)."""
    deps = {table, f"{table}/id", f"{table}/node_id", f"{table}/population", f"{table}/{index}",
            (f"{table}/{index}", None), (f"{table}/population", None)}  # fmt: skip
    if row is None:
        return deps | {(f"{table}/id", None), (f"{table}/node_id", None)}
    return deps | {(f"{table}/id", row), (f"{table}/node_id", row)}


def _node_deps(table: str, index: str, data: str, group: str) -> set:
    """A cell looked up by (population, node id): the whole address columns (bisection), the index, its data."""
    return _table_deps(table, index) | {group, data, (data, None), f"{table}/number", (f"{table}/number", None)}


def _sonata_facts(path: Path) -> dict:
    """Every population of a SONATA report through ``load_traces`` (all nodes), spikes through ``load_spikes``."""
    facts: dict = {}
    info = describe_file(path)
    pops = sorted(p["population"] for p in info.get("report", []))
    has_spikes = bool(info.get("spikes"))
    for pop in pops:
        g = f"/report/{pop}"
        m = f"{g}/mapping"
        mapping = {g, m, *(f"{m}/{k}" for k in ("node_ids", "index_pointer", "index_pointers", "element_ids",
                                                 "element_pos", "time"))}  # fmt: skip
        whole = mapping | {(f"{m}/{k}", None) for k in ("node_ids", "index_pointer", "index_pointers", "time")}
        fr = load_traces(path, population=pop, max_cells=10_000)
        n_cols = fr.data.shape[1]
        for i, t in enumerate(fr.times):
            facts[(pop, "time", i)] = (_v(t), whole | {f"{g}/data"})
        facts[(pop, "unit")] = (_v(fr.unit), whole | {f"{g}/data"})
        for c in range(n_cols):
            facts[(pop, "col", c, "node_id")] = (_v(fr.node_ids[c]), whole)
            facts[(pop, "col", c, "number")] = (_v(fr.number[c]), mapping | {(f"{m}/element_ids", c)})
            pos = None if fr.position is None else fr.position[c]
            facts[(pop, "col", c, "position")] = (_v(pos), mapping | {(f"{m}/element_pos", c)})
            for t in range(fr.data.shape[0]):
                facts[(pop, "data", t, c)] = (_v(fr.data[t, c]), mapping | {f"{g}/data", (f"{g}/data", t * n_cols + c)})
    if has_spikes:
        sp = load_spikes(path)
        seen: Counter = Counter()
        for i in range(np.asarray(sp.times).size):
            pop = sp.population[i]
            k = seen[pop]
            seen[pop] += 1
            deps = {"/spikes", f"/spikes/{pop}", f"/spikes/{pop}/node_ids", f"/spikes/{pop}/timestamps",
                    (f"/spikes/{pop}/node_ids", k), (f"/spikes/{pop}/timestamps", k)}  # fmt: skip
            facts[("spike", pop, k)] = (_v((sp.node_ids[i], sp.times[i])), deps)
    return facts


#: Reader consumers: path -> facts (their values are compared with the intact file's).
READERS: dict[str, Callable[[Path], dict]] = {"open_report": _nwb_facts, "sonata_load": _sonata_facts}


# ---------------------------------------------------------------------------------------------- CLI consumers


def _cli(argv_of: Callable[[Path, Path], list[str]]) -> Callable[[Path, Path], tuple[int, str]]:
    def run(path: Path, out_dir: Path) -> tuple[int, str]:
        err, out = io.StringIO(), io.StringIO()
        # our types only: anything else escapes main() and fails the test (the product maps ValueError/OSError
        # to exit status 2, which would hide a raw h5py / KeyError message)
        with mock.patch.object(cli, "USER_ERRORS", (SimoutError,)), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(out):  # fmt: skip
            code = cli.main(argv_of(path, out_dir))
        return code, err.getvalue()

    return run


#: CLI consumers: (path, scratch folder) -> (exit status, stderr). One line adds a command (e.g. ``simout recover``).
CONSUMERS: dict[str, Callable[[Path, Path], tuple[int, str]]] = {
    "info": _cli(lambda p, o: ["info", str(p)]),
    "info_json": _cli(lambda p, o: ["info", "--json", str(p)]),
    "plot_traces": _cli(lambda p, o: ["plot", str(p), "--kind", "traces", "-o", str(o / "t.png"), "--dpi", "20"]),
    "plot_heatmap": _cli(lambda p, o: ["plot", str(p), "--kind", "heatmap", "-o", str(o / "h.png"), "--dpi", "20"]),
    "plot_raster": _cli(lambda p, o: ["plot", str(p), "--kind", "raster", "-o", str(o / "r.png"), "--dpi", "20"]),
    "convert": _cli(lambda p, o: ["convert", str(p), str(o / ("out.h5" if p.suffix == ".nwb" else "out.nwb")), "-q"]),
    "recover": _cli(lambda p, o: ["recover", str(p), "-o", str(o / "out.recovered.nwb"), "--overwrite"]),
}

# ---------------------------------------------------------------------------------------------- the check


class Named:
    """A corruption: ``fn(path) -> (taints, must_fail)``, shown as ``label`` in hypothesis' reports."""

    def __init__(self, label: str, fn: Callable[[Path], tuple[set, bool]]) -> None:
        self.label, self.fn = label, fn

    def __call__(self, path: Path) -> tuple[set, bool]:
        return self.fn(path)

    def __repr__(self) -> str:
        return self.label


class CaseTimeout(Exception):
    """A case ran longer than CASE_TIMEOUT_S (a hang)."""


@contextlib.contextmanager
def _deadline(seconds: int):
    def _raise(signum, frame):
        raise CaseTimeout(f"hang: case still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(2 * seconds, exit=True)  # a hang inside C code never returns to Python
    try:
        yield
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)


#: Per kind of corruption: cases run, and how they ended ("error" = our error / exit 2, "ok" = success).
TALLY: dict[str, Counter] = defaultdict(Counter)


def _matches(dep, taint) -> bool:
    kind = taint[0]
    if kind == "other":
        return False
    if kind == "dataset":  # a structure-level edit: the whole dataset / group, its header and its elements
        name = taint[1]
        target = dep if isinstance(dep, str) else dep[0]
        return target == name or target.startswith(name + "/")
    if kind == "header":
        return isinstance(dep, str) and dep == taint[1]
    if kind == "raw":
        if isinstance(dep, str):
            return False
        name, elem = dep
        return name == taint[1] and (elem is None or elem == taint[2])
    raise AssertionError(taint)


def _unexplained(ref: dict, got: dict, taints: set) -> list:
    """Facts that differ from the intact file's with no corrupted dependency."""
    bad = []
    for key in ref.keys() | got.keys():
        a, b = ref.get(key), got.get(key)
        if a is not None and b is not None and a[0] == b[0]:
            continue
        deps = (a or b)[1]
        if b is None and ("other",) in taints:
            # KNOWN LIMIT (documented in the module docstring): link metadata of HDF5 1.8 files (symbol-table B-trees,
            # local heaps of link names) has no checksum: a corrupted name hides an object, and the file then reads
            # as one without it. A fact may vanish; it may not change.
            continue
        if not any(_matches(dep, t) for dep in deps for t in taints):
            bad.append((key, None if a is None else a[0], None if b is None else b[0]))
    if ("other",) in taints:
        # the same known limit: a corrupted link name (e.g. a byte of a population's name set to NUL) renames the
        # object: its facts appear under the new name with the values they had under the old one. Renamed, not
        # changed: allowed when every new fact equals a vanished one of the same field.
        vanished = {(k[1:], _key(ref[k][0])) for k in ref.keys() - got.keys()}
        bad = [item for item in bad if not (item[1] is None and (item[0][1:], _key(item[2])) in vanished)]
    return bad


def _key(value) -> object:
    """A hashable stand-in for a fact's value."""
    arr = np.asarray(value)
    return (arr.dtype.str, arr.shape, arr.tobytes()) if arr.dtype.kind != "O" else repr(value)


def check_case(kind: str, base_kind: str, corrupt: Callable[[Path], tuple[set, bool]], consumer: str) -> None:
    """Corrupt a copy of the base input, run its reader consumer and ``consumer``; assert the contract."""
    b = base(base_kind)
    with tempfile.TemporaryDirectory(dir=_WORK) as tmp:
        tmp = Path(tmp)
        path = tmp / b.path.name
        shutil.copyfile(b.path, path)
        taints, must_fail = corrupt(path)
        outcome = []
        with _deadline(CASE_TIMEOUT_S):
            try:
                got = READERS[_reader_of(base_kind)](path)
            except SimoutError as exc:
                _assert_names_file(str(exc), path)
                outcome.append("error")
            else:
                outcome.append("ok")
                assert not must_fail, f"{kind}: a broken file read without error"
                bad = _unexplained(b.facts, got, taints)
                assert not bad, f"silently wrong data after {kind} (taints {sorted(map(str, taints))[:8]}): {bad[:8]}"
            code, err = CONSUMERS[consumer](path, tmp)
        assert code in (0, 2), f"{consumer}: exit status {code}: {err}"
        if code == 2:
            errors = [line for line in err.splitlines() if line.startswith("simout: error:")]
            assert len(errors) == 1 and "Traceback" not in err, err
            _assert_names_file(errors[0], path)
        TALLY[kind][f"{_reader_of(base_kind)}:{outcome[0]}"] += 1
        TALLY[kind][f"{consumer}:{'error' if code else 'ok'}"] += 1
        TALLY[kind]["cases"] += 1


def _assert_names_file(message: str, path: Path) -> None:
    assert path.name in message, f"the error does not name the file: {message}"


# ---------------------------------------------------------------------------------------------- corruptions


def _all_taint(name: str) -> set:
    return {("dataset", name)}


@st.composite
def byte_overwrites(draw, base_kind: str):
    """Random bytes at a random offset: anywhere, or inside a region the consumers read (more interesting)."""
    b = base(base_kind)
    size = b.path.stat().st_size
    interesting = [r for r in b.regions if r.kind in ("raw", "heap", "header") and "specifications" not in r.name]
    if interesting and draw(st.booleans()):
        r = draw(st.sampled_from(interesting))
        offset = draw(st.integers(r.start, max(r.start, r.stop - 1)))
    else:
        offset = draw(st.integers(0, size - 1))
    data = draw(st.binary(min_size=1, max_size=8))
    data = data[: size - offset]

    def corrupt(path: Path) -> set:
        corruption.overwrite(path, offset, data)
        original = b.path.read_bytes()[offset : offset + len(data)]
        changed = [offset + i for i in range(len(data)) if data[i] != original[i]]
        return set().union(*(corruption.taints(b.regions, i, i + 1) for i in changed)) if changed else set(), False

    return Named(f"overwrite {offset} {data!r}", corrupt)


@st.composite
def truncations(draw, base_kind: str):
    size = base(base_kind).path.stat().st_size
    offset = draw(st.integers(0, size - 1))

    def corrupt(path: Path) -> set:
        corruption.truncate(path, offset)
        return {("dataset", "/")}, True  # HDF5 files end with their last object: any cut loses something

    return Named(f"truncate at {offset}", corrupt)


NWB_TABLE = "/acquisition/compartments"
NWB_DATASETS = {
    "data": "/acquisition/v/data",
    "starting_time": "/acquisition/v/starting_time",
    "id": f"{NWB_TABLE}/id",
    "node_id": f"{NWB_TABLE}/node_id",
    "population": f"{NWB_TABLE}/population",
    "number": f"{NWB_TABLE}/number",
    "number_index": f"{NWB_TABLE}/number_index",
    "position": f"{NWB_TABLE}/position",
    "label": f"{NWB_TABLE}/label",
    "cell_type": f"{NWB_TABLE}/cell_type",
    "units_id": "/units/id",
    "units_node_id": "/units/node_id",
    "units_population": "/units/population",
    "spike_times": "/units/spike_times",
    "spike_times_index": "/units/spike_times_index",
}
SONATA_DATASETS = {
    "data": "/report/cortex/data",
    "node_ids": "/report/cortex/mapping/node_ids",
    "index_pointer": "/report/cortex/mapping/index_pointer",
    "element_ids": "/report/cortex/mapping/element_ids",
    "element_pos": "/report/cortex/mapping/element_pos",
    "time": "/report/thalamus/mapping/time",
}
SPIKE_DATASETS = {"node_ids": "/spikes/cortex/node_ids", "timestamps": "/spikes/cortex/timestamps"}
_TARGETS = {"nwb": NWB_DATASETS, "sonata": SONATA_DATASETS, "spikes": SPIKE_DATASETS}


@st.composite
def wrong_dtypes(draw, base_kind: str):
    key = draw(st.sampled_from(sorted(_TARGETS[base_kind])))
    name = _TARGETS[base_kind][key]
    how = draw(st.sampled_from(corruption.REPLACEMENTS))

    def corrupt(path: Path) -> tuple[set, bool]:
        corruption.replace_dataset(path, name, how)
        return _all_taint(name), how not in _LEGIT_REPLACEMENTS[base_kind].get(key, ())

    return Named(f"replace {name} ({how})", corrupt)


#: Replacements that leave a readable file (other values of the right type; more rows of data): the reader may
#: succeed (and read those values). Every other replacement must be an error.
_LEGIT_REPLACEMENTS = {
    "nwb": {"data": ("float", "longer"), "starting_time": ("float", "scalar"), "position": ("float",),
            "label": ("text",), "cell_type": ("text", "float", "bool"), "spike_times": ("float",),
            "population": ("text",), "units_population": ("text",)},
    "sonata": {"data": ("float", "longer", "shorter"), "element_pos": ("float",), "time": ("float",)},
    "spikes": {"timestamps": ("float",)},
}  # fmt: skip

NWB_INDEXES = {f"{NWB_TABLE}/number_index": 8, "/units/spike_times_index": 5}
SONATA_INDEXES = {"/report/cortex/mapping/index_pointer": 5, "/report/thalamus/mapping/index_pointer": 3}


@st.composite
def bad_indexes(draw, base_kind: str):
    """An index entry made non-monotonic (decreased below the previous one) or pointing past the data."""
    indexes = NWB_INDEXES if base_kind == "nwb" else SONATA_INDEXES
    name = draw(st.sampled_from(sorted(indexes)))
    n_elements = indexes[name]
    with h5py.File(base(base_kind).path, "r") as f:
        values = f[name][()].astype(np.int64)
    k = draw(st.integers(0, values.size - 1))
    how = draw(st.sampled_from(["past_end", "non_monotonic", "huge"]))
    if how == "past_end":
        value = n_elements + draw(st.integers(1, 200))
    elif how == "huge":
        value = draw(st.sampled_from([2**31 - 1, 2**32 - 1, 2**62]))
    else:  # above the next entry (the last one: above the number of elements)
        k = min(k, values.size - 2)
        value = values[k + 1] + draw(st.integers(1, 3))
    value = int(value)

    def corrupt(path: Path) -> tuple[set, bool]:
        with h5py.File(path, "r+") as f:
            ds = f[name]
            if value > np.iinfo(ds.dtype).max if ds.dtype.kind in "iu" else False:
                arr = ds[()].astype(np.uint64)
                arr[k] = value
                attrs = dict(ds.attrs)
                del f[name]
                ds = f.create_dataset(name, data=arr)
                for a, v in attrs.items():
                    ds.attrs[a] = v
            else:
                ds[k] = value
        return _all_taint(name), True

    return Named(f"{name}[{k}] = {value} ({how})", corrupt)


NWB_REMOVABLE = [
    "/acquisition/v/compartments",
    "/acquisition/v/data",
    "/acquisition/v/starting_time",
    NWB_TABLE,
    f"{NWB_TABLE}/id",
    f"{NWB_TABLE}/node_id",
    f"{NWB_TABLE}/population",
    f"{NWB_TABLE}/number",
    f"{NWB_TABLE}/number_index",
    f"{NWB_TABLE}/position",
    f"{NWB_TABLE}/label",
    f"{NWB_TABLE}/cell_type",
    "/units",
    "/units/spike_times",
    "/units/spike_times_index",
    "/units/id",
    "/units/population",
]
SONATA_REMOVABLE = [
    "/report/cortex/data",
    "/report/cortex/mapping",
    "/report/cortex/mapping/node_ids",
    "/report/cortex/mapping/index_pointer",
    "/report/cortex/mapping/element_ids",
    "/report/cortex/mapping/element_pos",
    "/report/cortex/mapping/time",
]
SPIKE_REMOVABLE = ["/spikes/cortex/node_ids", "/spikes/cortex/timestamps", "/spikes/thalamus"]
#: What a file may lack (a file without spikes, a report without element_pos, a spike file with one population).
_OPTIONAL = {"/units", "/report/cortex/mapping/element_pos", "/spikes/thalamus"}
_REMOVABLE = {"nwb": NWB_REMOVABLE, "sonata": SONATA_REMOVABLE, "spikes": SPIKE_REMOVABLE}


@st.composite
def deletions(draw, base_kind: str):
    name = draw(st.sampled_from(_REMOVABLE[base_kind]))

    def corrupt(path: Path) -> tuple[set, bool]:
        corruption.delete(path, name)
        return _all_taint(name), name not in _OPTIONAL

    return Named(f"delete {name}", corrupt)


_BAD_ATTRS = [
    ("/acquisition/v/data", "simout_steps_written", st.sampled_from([-1, 13, 10**9, "five", 2.5, np.array([1, 2])])),
    ("/acquisition/v/starting_time", "rate", st.sampled_from([0.0, -2000.0, float("nan"), float("inf"), "fast"])),
    ("/acquisition/v/data", "conversion", st.sampled_from([float("nan"), "milli", np.array([1.0, 2.0])])),
    ("/acquisition/v/starting_time", "rate", st.none()),
    (NWB_TABLE, "simout_row_order", st.sampled_from(["population", "nonsense", 3])),
    (NWB_TABLE, "colnames", st.sampled_from([np.array(["number", "nope"], dtype=object), 7])),
]


@st.composite
def shape_and_attr_edits(draw):
    """Series data with more / fewer columns than compartments; bad steps-written, rate, conversion attributes."""
    if draw(st.booleans()):
        delta = draw(st.sampled_from([-3, -1, 1, 4]))

        def corrupt(path: Path) -> tuple[set, bool]:
            corruption.resize_columns(path, NWB_DATASETS["data"], delta)
            return _all_taint(NWB_DATASETS["data"]), True

        return Named(f"resize data columns by {delta}", corrupt)
    obj, attr, values = draw(st.sampled_from(_BAD_ATTRS))
    value = draw(values)

    def corrupt(path: Path) -> tuple[set, bool]:
        corruption.set_attr(path, obj, attr, value)
        return _all_taint(obj), attr != "simout_row_order"

    return Named(f"{obj}.{attr} = {value!r}", corrupt)


#: Corruption kinds: name -> (input kinds, strategy factory of corrupt(path) -> taints).
KINDS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "truncate": (("nwb", "sonata", "spikes"), truncations),
    "overwrite": (("nwb", "sonata", "sonata_lib", "spikes"), byte_overwrites),
    "wrong_dtype": (("nwb", "sonata", "spikes"), wrong_dtypes),
    "bad_index": (("nwb", "sonata"), bad_indexes),
    "missing": (("nwb", "sonata", "spikes"), deletions),
    "shape_attr": (("nwb",), lambda base_kind: shape_and_attr_edits()),
}


@st.composite
def cases(draw, kinds: tuple[str, ...]):
    kind = draw(st.sampled_from(kinds))
    inputs, strategy = KINDS[kind]
    base_kind = draw(st.sampled_from(inputs))
    corrupt = draw(strategy(base_kind))
    consumer = draw(st.sampled_from(sorted(CONSUMERS)))
    return kind, base_kind, corrupt, consumer


_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(**_SETTINGS)
@given(data=st.data())
def test_hostile_file(kind, data):
    _, base_kind, corrupt, consumer = data.draw(cases((kind,)))
    check_case(kind, base_kind, corrupt, consumer)


def _fuzz_examples() -> int:
    return int(os.environ.get("SIMOUT_FUZZ_EXAMPLES", "10"))


@pytest.mark.fuzz
@settings(max_examples=_fuzz_examples(), **_SETTINGS)
@given(case=cases(tuple(sorted(KINDS))))
def test_fuzz_long(case):
    check_case(*case)


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    report = os.environ.get("SIMOUT_FUZZ_REPORT")
    if report:
        doc = {kind: dict(counts) for kind, counts in sorted(TALLY.items())}
        doc["total_cases"] = sum(c["cases"] for c in TALLY.values())
        Path(report).write_text(json.dumps(doc, indent=2) + "\n")
    shutil.rmtree(_WORK, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- examples


def test_intact_inputs_read_and_every_consumer_succeeds(tmp_path):
    for kind in MAKERS:
        b = base(kind)
        assert b.facts or kind == "spikes"
        for consumer in CONSUMERS:
            if kind == "spikes" and consumer in ("plot_traces", "plot_heatmap"):
                continue
            if kind != "nwb" and kind != "spikes" and consumer == "plot_raster":
                continue
            if kind != "nwb" and consumer == "recover":  # SONATA files are not partial NWB files
                continue
            code, err = CONSUMERS[consumer](b.path, tmp_path)
            assert code == 0, (kind, consumer, err)
            for out in tmp_path.glob("out.*"):
                out.unlink()
