import os
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynwb import NWBHDF5IO, validate

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report
from simout_plugins.nwb.attrs import STEPS_WRITTEN_ATTR
from simout_plugins.nwb.chunking import choose_chunks
from simout_plugins.write.outputs import PARTIAL_NAME
from tests.strategies import ragged_layouts

META = {
    "session_description": "unit test of the writer",
    "identifier": "writer-test",
    "session_start_time": "2024-05-01T10:00:00+00:00",
    "institution": "simout_plugins tests",
    "experimenter": ["Doe, Jane"],
    "keywords": ["simulation"],
    "experiment_description": "random numbers standing in for membrane potentials",
    "subject": {"subject_id": "model-1", "species": "Mus musculus", "age": "P60D", "sex": "U",
                "description": "simulated cell population"},
}  # fmt: skip


def write(path, comps, data, *, blocks=(7,), **kwargs):
    kwargs.setdefault("n_steps", data.shape[0])
    kwargs.setdefault("dt_ms", 0.1)
    kwargs.setdefault("overwrite", True)
    with CompartmentSeriesWriter(path, compartments=comps, **kwargs) as w:
        step, i = 0, 0
        while step < data.shape[0]:
            n = blocks[i % len(blocks)]
            w.write_block(step, data[step : step + n])
            step, i = step + n, i + 1
    return path


def test_roundtrip_values_units_and_time(nwb_path, small_layout, rng):
    comps = build_compartments(**small_layout)
    data = rng.normal(-65, 5, (50, 5)).astype(np.float32)
    write(nwb_path, comps, data, name="v", tstart_ms=2.0, nwb_metadata=META)
    with h5py.File(nwb_path) as f:
        ds = f["acquisition/v/data"]
        np.testing.assert_array_equal(ds[()], data)
        assert ds.dtype == np.float32
        assert ds.attrs["unit"] == "volts" and ds.attrs["conversion"] == pytest.approx(1e-3)
        assert f["acquisition/v/starting_time"][()] == pytest.approx(0.002)
        assert f["acquisition/v/starting_time"].attrs["rate"] == pytest.approx(10_000.0)
        assert f["acquisition/v/compartments"] == f["acquisition/compartments"]
        assert ds.attrs[STEPS_WRITTEN_ATTR] == 50
        np.testing.assert_array_equal(f["acquisition/compartments/number_index"][()], [3, 3, 5])
    with NWBHDF5IO(str(nwb_path), "r") as io:
        assert validate(io=io) == []
        v = io.read().acquisition["v"]
        np.testing.assert_array_equal(v.data[:], data)
    with open_report(nwb_path) as r:
        fr = r["v"].get(node_ids=[5])
        np.testing.assert_allclose(fr.data, data[:, 3:5] * 1e-3, rtol=1e-6)
        np.testing.assert_allclose(fr.times, 0.002 + np.arange(50) * 1e-4)


@given(layout=ragged_layouts(max_cells=8, max_count=4), sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4))
def test_any_block_sizes_give_the_same_bytes(tmp_path_factory, layout, sizes):
    tmp = tmp_path_factory.mktemp("blocks")
    comps = build_compartments(**layout)
    n = int(np.sum(layout["counts"]))
    data = np.random.default_rng(1).normal(size=(17, n)).astype(np.float32)
    one = write(tmp / "one.nwb", comps, data, blocks=(17,))
    many = write(tmp / "many.nwb", comps, data, blocks=tuple(sizes))
    with h5py.File(one) as a, h5py.File(many) as b:
        np.testing.assert_array_equal(a["acquisition/v/data"][()], b["acquisition/v/data"][()])
        for col in ("id", "number", "number_index", "position"):
            np.testing.assert_array_equal(
                a[f"acquisition/compartments/{col}"][()], b[f"acquisition/compartments/{col}"][()]
            )


@given(layout=ragged_layouts(max_cells=10, max_count=4))
def test_file_is_ordered_by_node_id_and_data_follows(tmp_path_factory, layout):
    path = tmp_path_factory.mktemp("order") / "o.nwb"
    comps = build_compartments(**layout)
    n = int(np.sum(layout["counts"]))
    data = np.random.default_rng(2).normal(size=(4, n))
    write(path, comps, data, dtype="float64")
    offsets = np.concatenate([[0], np.cumsum(layout["counts"])])
    with open_report(path) as r:
        s = r["v"]
        assert list(s.node_ids) == sorted(layout["node_ids"])
        for i, node in enumerate(layout["node_ids"]):
            fr = s.get(node_ids=[node], scaled=False)
            np.testing.assert_array_equal(fr.data, data[:, offsets[i] : offsets[i + 1]])
            np.testing.assert_array_equal(fr.number, layout["number"][offsets[i] : offsets[i + 1]])
            np.testing.assert_array_equal(fr.position, layout["position"][offsets[i] : offsets[i + 1]])


def test_several_series_shared_and_separate_tables_and_spikes(nwb_path, small_layout, rng):
    comps = build_compartments(**small_layout)
    soma = build_compartments(node_ids=[1, 0], counts=[1, 1], number=[0, 0], name="soma_compartments")
    v = rng.normal(size=(10, 5)).astype(np.float32)
    cai = rng.random((10, 5))
    ina = rng.normal(size=(10, 2)).astype(np.float32)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, name="v", n_steps=10, dt_ms=0.5) as w:
        w.add_series(name="cai", unit="mM", dtype="float64")
        w.add_series(name="ina", unit="mA/cm2", compartments=soma)
        w.write_block(0, v)
        w.write_block(0, cai, series="cai")
        w.write_block(0, ina, series="ina")
        w.add_spikes(node_ids=[5, 0, 5], times_ms=[3.0, 1.0, 2.0], units_node_ids=[0, 1, 5])
    with h5py.File(nwb_path) as f:
        assert f["acquisition/cai/compartments"] == f["acquisition/compartments"]
        assert f["acquisition/ina/compartments"] == f["acquisition/soma_compartments"]
        assert f["acquisition/cai/data"].attrs["unit"] == "mM"
        assert f["acquisition/ina/data"].attrs["unit"] == "mA/cm2"
        np.testing.assert_array_equal(f["acquisition/cai/data"][()], cai)
        np.testing.assert_array_equal(f["acquisition/ina/data"][()], ina[:, ::-1])  # rows sorted: 0, 1
        np.testing.assert_array_equal(f["units/id"][()], [0, 1, 5])
        np.testing.assert_array_equal(f["units/spike_times_index"][()], [1, 1, 3])
        np.testing.assert_allclose(f["units/spike_times"][()], [0.001, 0.002, 0.003])
    with NWBHDF5IO(str(nwb_path), "r") as io:
        assert validate(io=io) == []


def test_spikes_with_populations(nwb_path):
    comps = build_compartments(node_ids=[0, 0], counts=[1, 1], number=[0, 0], population=["inh", "exc"])
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=2, dt_ms=1.0) as w:
        w.write_block(0, np.array([[1.0, 2.0], [3.0, 4.0]]))
        w.add_spikes(node_ids=[0, 0], times_ms=[5.0, 6.0], population=["inh", "exc"])
    with open_report(nwb_path) as r:
        fr = r["v"].get(node_ids=[0], population="exc", scaled=False)
        np.testing.assert_array_equal(fr.data[:, 0], [2.0, 4.0])
        sp = r.spikes()
        assert list(sp.population) == ["exc", "inh"]
        np.testing.assert_allclose(sp.times, [0.006, 0.005])


@pytest.mark.parametrize(
    "step0, block, message",
    [
        (0, np.zeros((3, 4)), "block has shape \\(3, 4\\), expected \\(n_steps, 5\\)"),
        (0, np.zeros((5, 3)), "looks transposed"),
        (2, np.zeros((3, 5)), "step0=2 but 0 steps are written"),
        (0, np.zeros((11, 5)), "run past n_steps=10"),
    ],
)
def test_bad_blocks_get_clear_errors(nwb_path, small_layout, step0, block, message):
    comps = build_compartments(**small_layout)
    w = CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=10, dt_ms=0.1)
    with pytest.raises(ValueError, match=message):
        w.write_block(step0, block)
    w.close()


def test_overlapping_and_out_of_order_blocks(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=10, dt_ms=0.1) as w:
        w.write_block(0, np.zeros((4, 5)))
        with pytest.raises(ValueError, match="step0=2 but 4 steps are written"):
            w.write_block(2, np.zeros((2, 5)))
        with pytest.raises(ValueError, match="step0=6 but 4 steps are written"):
            w.write_block(6, np.zeros((2, 5)))
        w.write_block(4, np.ones((6, 5)))


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(dtype="int32"), ValueError, "dtype must be a float type"),
        (dict(dtype="nonsense"), ValueError, "is not a numpy dtype"),
        (dict(n_steps=0), ValueError, "n_steps must be a positive integer"),
        (dict(dt_ms=-1.0), ValueError, "dt_ms must be a positive number"),
        (dict(unit=""), ValueError, "unit must be a non-empty string"),
        (dict(nwb_metadata={"sesion_description": "typo"}), ValueError, "unknown keys \\['sesion_description'\\]"),
    ],
)
def test_bad_arguments_fail_before_any_file(tmp_path, small_layout, kwargs, exc, message):
    comps = build_compartments(**small_layout)
    args = dict(compartments=comps, n_steps=10, dt_ms=0.1) | kwargs
    with pytest.raises(exc, match=message):
        CompartmentSeriesWriter(tmp_path / "x.nwb", **args)
    assert list(tmp_path.iterdir()) == []


def test_output_folder_must_exist_and_be_writable(tmp_path, small_layout):
    comps = build_compartments(**small_layout)
    with pytest.raises(ValueError, match="does not exist"):
        CompartmentSeriesWriter(tmp_path / "missing" / "x.nwb", compartments=comps, n_steps=1, dt_ms=1.0)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    # root writes through permission bits; /sys is a folder nobody can create files in
    target = locked if not os.access(locked, os.W_OK) else "/sys"
    try:
        with pytest.raises(PermissionError, match="is not writable"):
            CompartmentSeriesWriter(f"{target}/x.nwb", compartments=comps, n_steps=1, dt_ms=1.0)
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


def test_failed_run_never_clobbers_existing_file(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    old = np.full((3, 5), 7.0)
    write(nwb_path, comps, old, dtype="float64")
    before = nwb_path.read_bytes()
    with pytest.raises(RuntimeError, match="simulation crashed"):
        with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=3, dt_ms=0.1, overwrite=True) as w:
            w.write_block(0, np.zeros((1, 5)))
            raise RuntimeError("simulation crashed")
    assert nwb_path.read_bytes() == before
    partial = nwb_path.with_name("out.partial.nwb")
    with h5py.File(partial) as f:  # what was flushed before the crash is readable
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == 1
        np.testing.assert_array_equal(f["acquisition/v/data"][0], np.zeros(5))
        # the data were allocated unfilled: steps past simout_steps_written are not valid (simout recover drops them)
        assert f["acquisition/v/data"].shape == (3, 5)


def test_overwrite_false_refuses_existing(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    write(nwb_path, comps, np.zeros((1, 5)))
    with pytest.raises(FileExistsError, match="exists and overwrite=False"):
        CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0, overwrite=False)


def test_unfinished_series_holds_nan_and_warns(nwb_path, small_layout, caplog):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=4, dt_ms=1.0) as w:
        w.write_block(0, np.ones((2, 5)))
    assert "2 of 4 steps written" in caplog.text
    with open_report(nwb_path) as r:
        assert r["v"].n_steps_written == 2
        assert r["v"].get().data.shape == (2, 5)


def test_nwbinspector_finds_no_best_practice_violation(nwb_path, small_layout, rng):
    inspector = pytest.importorskip("nwbinspector")
    comps = build_compartments(**small_layout)
    write(nwb_path, comps, rng.normal(size=(40, 5)), nwb_metadata=META, description="membrane potential")
    for config in (None, "dandi"):
        kwargs = {} if config is None else {"config": inspector.load_config(filepath_or_keyword=config)}
        messages = list(
            inspector.inspect_nwbfile(
                nwbfile_path=str(nwb_path),
                importance_threshold=inspector.Importance.BEST_PRACTICE_VIOLATION,
                **kwargs,
            )
        )
        assert messages == [], messages


def test_chunk_policy_aligns_with_blocks_and_targets_1mib():
    assert choose_chunks(n_steps=4000, n_compartments=50_000, itemsize=4, block_steps=100) == (100, 2500)
    assert choose_chunks(n_steps=4000, n_compartments=50_000, itemsize=4, block_steps=5000) == (250, 1042)
    # 6700 columns: 7 chunks of 958 (not 6 of 1048 plus one of 412 padded to 1048)
    assert choose_chunks(n_steps=5000, n_compartments=6700, itemsize=4, block_steps=1000) == (250, 958)
    assert choose_chunks(n_steps=10, n_compartments=5, itemsize=4) == (10, 5)
    assert choose_chunks(n_steps=10, n_compartments=0, itemsize=4) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(node_ids=[0, 1], times_ms=[1.0]), "2 node_ids but 1 times_ms"),
        (dict(node_ids=[0], times_ms=[np.nan]), "NaN or infinite"),
        (dict(node_ids=[0], times_ms=[1.0], unit_columns={"x": [1]}), "unit_columns needs units_node_ids"),
        (dict(node_ids=[0], times_ms=[1.0], units_node_ids=[0], unit_columns={"x": [1, 2]}), "expected \\(1,\\)"),
    ],
)
def test_bad_spikes_are_clear_errors(nwb_path, small_layout, kwargs, message):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0) as w:
        w.write_block(0, np.zeros((1, 5)))
        with pytest.raises(ValueError, match=message):
            w.add_spikes(**kwargs)


def test_spike_of_a_cell_without_units_row_fails_and_keeps_old_file(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    w = CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0)
    w.write_block(0, np.zeros((1, 5)))
    w.add_spikes(node_ids=[0, 9], times_ms=[1.0, 2.0], units_node_ids=[0, 1])
    with pytest.raises(ValueError, match="spikes of cells \\['default/9'\\] have no row in units_node_ids"):
        w.close()
    assert not nwb_path.exists()


def test_cell_order_node_id_keeps_population_as_a_plain_column(nwb_path):
    comps = build_compartments(node_ids=[7, 2, 5], counts=[1, 1, 1], number=[0, 0, 0], population=["a", "b", "a"])
    with CompartmentSeriesWriter(
        nwb_path, compartments=comps, n_steps=1, dt_ms=1.0, cell_order="node_id", overwrite=True
    ) as w:
        w.write_block(0, np.array([[7.0, 2.0, 5.0]]))
        w.add_spikes(node_ids=[7, 2], times_ms=[1.0, 2.0], population=["a", "b"], units_node_ids=[7, 2, 5],
                     units_population=["a", "b", "a"])  # fmt: skip
    with open_report(nwb_path) as r:
        np.testing.assert_array_equal(r["v"].node_ids, [2, 5, 7])
        assert list(r["v"].population) == ["b", "a", "a"]
        np.testing.assert_array_equal(r["v"].get(scaled=False).data[0], [2.0, 5.0, 7.0])
        np.testing.assert_array_equal(r.spikes().node_ids, [2, 7])
    with h5py.File(nwb_path) as f:
        np.testing.assert_array_equal(f["units/id"][()], [2, 5, 7])
    dup = build_compartments(node_ids=[1, 1], counts=[1, 1], number=[0, 0], population=["a", "b"])
    with pytest.raises(ValueError, match="duplicate node_ids \\[1\\]"):
        with CompartmentSeriesWriter(
            nwb_path, compartments=dup, n_steps=1, dt_ms=1.0, cell_order="node_id", overwrite=True
        ) as w:
            w.write_block(0, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="cell_order must be one of"):
        CompartmentSeriesWriter(nwb_path, compartments=dup, n_steps=1, dt_ms=1.0, cell_order="gid")


def test_trim_unwritten_shrinks_series_to_written_samples(nwb_path, small_layout, caplog):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=10, dt_ms=1.0, trim_unwritten=True) as w:
        w.write_block(0, np.ones((9, 5)))
    assert "steps written" not in caplog.text
    with h5py.File(nwb_path) as f:
        assert f["acquisition/v/data"].shape == (9, 5)
        assert not np.isnan(f["acquisition/v/data"][()]).any()
    with NWBHDF5IO(str(nwb_path), "r") as io:
        assert validate(io=io) == []


def test_spike_resolution_is_stored_in_seconds(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0) as w:
        w.write_block(0, np.zeros((1, 5)))
        w.add_spikes(node_ids=[0], times_ms=[0.5], resolution_ms=0.025)
    with h5py.File(nwb_path) as f:
        assert f["units/spike_times"].attrs["resolution"] == pytest.approx(2.5e-5)


def test_a_new_run_keeps_an_earlier_partial_file(nwb_path, small_layout, caplog):
    comps = build_compartments(**small_layout)
    with pytest.raises(RuntimeError, match="first crash"):
        with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=3, dt_ms=0.1, overwrite=True) as w:
            w.write_block(0, np.full((2, 5), 1.0))
            raise RuntimeError("first crash")
    partial = nwb_path.with_name("out.partial.nwb")
    first = partial.read_bytes()
    with pytest.raises(RuntimeError, match="second crash"):
        with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=3, dt_ms=0.1, overwrite=True) as w:
            w.write_block(0, np.full((1, 5), 2.0))
            raise RuntimeError("second crash")
    kept = sorted(nwb_path.parent.glob("out.partial.*.nwb"))
    assert len(kept) == 1 and kept[0].name != partial.name
    assert PARTIAL_NAME.match(kept[0].name)["stamp"]  # the name simout recover / simout info know
    assert kept[0].read_bytes() == first  # the first run's blocks, untouched
    assert f"kept as {kept[0]}" in caplog.text and "simout recover" in caplog.text
    with h5py.File(partial) as f:  # the second run's own partial file
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == 1
    # a third run that succeeds leaves both partial files alone
    write(nwb_path, comps, np.zeros((3, 5)))
    assert len(list(nwb_path.parent.glob("out.partial.*.nwb"))) == 2


# ---------------------------------------------------------------------------------------------------- flush policy


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def kept_by_a_kill(partial, tmp_path) -> int:
    """What a kill -9 now would leave: a byte copy of the partial file (what the OS holds), recovered."""
    from simout_plugins.write.recover import recover

    snapshot = tmp_path / f"snap{len(list(tmp_path.glob('snap*')))}.partial.nwb"
    shutil.copyfile(partial, snapshot)
    report = recover(snapshot, out=snapshot.with_name(snapshot.name.replace(".partial", ".recovered")))
    return report.series[0].steps_valid


@pytest.mark.parametrize("interval", [1.0, 0.0])
def test_flush_at_most_once_per_interval_and_at_close(nwb_path, small_layout, monkeypatch, tmp_path, interval):
    """The file counts (and a killed run keeps) exactly the flushed steps: at most the last interval is lost."""
    from simout_plugins.write import flush

    clock = FakeClock()
    monkeypatch.setattr(flush, "now", clock)
    comps = build_compartments(**small_layout)
    data = np.arange(50.0).reshape(10, 5)
    w = CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=10, dt_ms=0.1, flush_interval_s=interval)
    w.open()
    partial = nwb_path.with_name("out.partial.nwb")
    expected = []
    for k, t in enumerate([0.2, 0.5, 1.1, 1.3, 2.0]):  # blocks of 2 steps at these times
        clock.t = t
        w.write_block(2 * k, data[2 * k : 2 * k + 2])
        expected.append(2 * (k + 1) if interval == 0 else {0: 0, 1: 0, 2: 6, 3: 6, 4: 6}[k])
        assert w.steps_flushed == {"v": expected[-1]}, (k, t)
        assert kept_by_a_kill(partial, tmp_path) == expected[-1]
    clock.t = 2.2  # 1.1 s after the flush at 1.1: due
    w.close()
    assert w.steps_flushed == {"v": 10}
    with h5py.File(nwb_path) as f:
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == 10
        np.testing.assert_array_equal(f["acquisition/v/data"][()], data)


def test_a_failed_run_keeps_every_written_block_through_the_close_flush(nwb_path, small_layout):
    comps = build_compartments(**small_layout)
    with pytest.raises(RuntimeError, match="crash"):
        with CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=6, dt_ms=0.1, flush_interval_s=3600) as w:
            w.write_block(0, np.ones((4, 5)))
            assert w.steps_flushed == {"v": 0}
            raise RuntimeError("crash")
    with h5py.File(nwb_path.with_name("out.partial.nwb")) as f:
        assert f["acquisition/v/data"].attrs[STEPS_WRITTEN_ATTR] == 4


@pytest.mark.parametrize("bad", [-1, "1", None, True, float("nan")])
def test_bad_flush_interval(nwb_path, small_layout, bad):
    comps = build_compartments(**small_layout)
    with pytest.raises(ValueError, match="flush_interval_s must be a number of seconds >= 0"):
        CompartmentSeriesWriter(nwb_path, compartments=comps, n_steps=1, dt_ms=1.0, flush_interval_s=bad)
