"""ElectricalSeriesWriter: the NWB form of a simulated probe, blocks, time base, validation, failures."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pynwb
import pytest

from simout_plugins.nwb import make_probe
from simout_plugins.write import ElectricalSeriesWriter

METADATA = {
    "session_description": "simulated probe",
    "experimenter": ["Doe, Jane"],
    "experiment_description": "a test of the ECP writer",
    "institution": "simout_plugins tests",
    "lab": "simout_plugins",
    "keywords": ["simulation"],
    "subject": {"subject_id": "s1", "species": "Mus musculus", "sex": "U", "age": "P90D", "description": "in silico"},
}


def probe(n=6, *, name="ecp", location=None, channel_ids=None):
    pos = np.c_[np.full(n, 10.0), np.arange(n) * 20.0 - 50.0, np.zeros(n)]
    return make_probe(name=name, positions_um=pos, channel_ids=channel_ids, method="line source, sigma = 0.3 S/m",
                      location=location)  # fmt: skip


def write(path, data, *, probes=None, block=7, **kwargs):
    probes = probes or [probe(data.shape[1])]
    opts = dict(n_steps=data.shape[0], dt_ms=0.1, tstart_ms=0.1, dtype="float64", block_steps=block)
    with ElectricalSeriesWriter(path, probes=probes, **{**opts, **kwargs}) as w:
        for s in range(0, data.shape[0], block):
            for p in probes:
                w.write_block(s, data[s : s + block], series=p.name)
    return probes


def test_roundtrip_layout_and_time_base(nwb_path, rng):
    data = rng.normal(size=(50, 6))
    write(nwb_path, data)
    with pynwb.NWBHDF5IO(nwb_path, "r") as io:
        f = io.read()
        es = f.acquisition["ecp"]
        assert isinstance(es, pynwb.ecephys.ElectricalSeries)
        np.testing.assert_array_equal(es.data[:], data)
        assert es.unit == "volts" and es.conversion == 1e-3
        assert es.starting_time == pytest.approx(1e-4) and es.rate == pytest.approx(1e4)
        df = f.electrodes.to_dataframe()
        np.testing.assert_array_equal(df["y"], np.arange(6) * 20.0 - 50.0)
        np.testing.assert_array_equal(df["rel_y"], df["y"])
        assert list(df["location"]) == ["simulated"] * 6 and list(df["channel_id"]) == list(range(6))
        assert "0.3 S/m" in f.electrode_groups["ecp"].description
        assert "simulated" in f.devices["ecp device"].description.lower()
        assert list(es.electrodes.data[:]) == list(range(6))
        assert pynwb.validate(io=io) == []
    with h5py.File(nwb_path, "r") as h5:
        assert h5["acquisition/ecp/data"].attrs["simout_steps_written"] == 50


def test_two_probes_and_float32(nwb_path, rng):
    data = rng.normal(size=(20, 4))
    probes = [probe(4, name="shank0", channel_ids=[10, 11, 12, 13]), probe(4, name="shank1")]
    write(nwb_path, data, probes=probes, dtype="float32")
    with pynwb.NWBHDF5IO(nwb_path, "r") as io:
        f = io.read()
        for name in ("shank0", "shank1"):
            es = f.acquisition[name]
            assert es.data.dtype == np.float32
            np.testing.assert_array_equal(es.data[:], data.astype(np.float32))
        assert list(f.acquisition["shank1"].electrodes.data[:]) == [4, 5, 6, 7]
        assert list(f.electrodes["channel_id"][:]) == [10, 11, 12, 13, 0, 1, 2, 3]
        assert pynwb.validate(io=io) == []


@pytest.mark.parametrize("config", [None, "dandi"])
def test_nwbinspector_clean_with_metadata(nwb_path, rng, config):
    nwbinspector = pytest.importorskip("nwbinspector")
    write(nwb_path, rng.normal(size=(10, 3)), probes=[probe(3, location="VISp")], nwb_metadata=METADATA)
    found = [
        m
        for m in nwbinspector.inspect_nwbfile(
            nwbfile_path=nwb_path,
            config=nwbinspector.load_config(config) if config else None,
            importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
        )
    ]
    assert found == []


def test_unwritten_steps_are_nan(nwb_path, rng):
    data = rng.normal(size=(10, 3))
    with ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=20, dt_ms=0.1, dtype="float64") as w:
        w.write_block(0, data)
    with h5py.File(nwb_path, "r") as h5:
        d = h5["acquisition/ecp/data"][()]
    np.testing.assert_array_equal(d[:10], data)
    assert np.isnan(d[10:]).all()


def test_failure_inside_with_leaves_old_output(nwb_path, rng):
    nwb_path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=10, dt_ms=0.1, overwrite=True) as w:
            w.write_block(0, rng.normal(size=(5, 3)))
            raise RuntimeError("boom")
    assert nwb_path.read_bytes() == b"old"
    with pytest.raises(FileExistsError, match="overwrite"):
        ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=10, dt_ms=0.1)
    partial = nwb_path.with_name("out.partial.nwb")
    with h5py.File(partial, "r") as h5:
        assert h5["acquisition/ecp/data"].attrs["simout_steps_written"] == 5


@pytest.mark.parametrize(
    ("block", "step0", "match"),
    [(np.zeros((5, 4)), 0, r"expected \(n_steps, 3\)"), (np.zeros((5, 3)), 2, "step0=2"),
     (np.zeros((11, 3)), 0, "run past")],
)  # fmt: skip
def test_bad_blocks(nwb_path, block, step0, match):
    with ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=10, dt_ms=0.1) as w:
        with pytest.raises(ValueError, match=match):
            w.write_block(step0, block)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(positions_um=[[0, 0]]), r"shape \(n_channels >= 1, 3\)"),
        (dict(positions_um=[[0, 0, "a"]]), "must be numbers"),
        (dict(positions_um=[[0, 0, np.nan]]), "not finite"),
        (dict(positions_um=np.zeros((2, 3)), channel_ids=[1, 1]), "repeat"),
        (dict(positions_um=np.zeros((2, 3)), channel_ids=[1]), "1 channel ids for 2 positions"),
        (dict(positions_um=np.zeros((2, 3)), name="a/b"), "without '/'"),
    ],
)
def test_bad_probes(kwargs, match):
    args = {"name": "p", "method": "m", **kwargs}
    with pytest.raises(ValueError, match=match):
        make_probe(**args)


def _host(path, n_steps):
    from simout_plugins import CompartmentSeriesWriter, build_compartments

    comps = build_compartments(node_ids=[0, 1], counts=[2, 1], number=[0, 1, 0], position=[0.5, 0.5, 0.5])
    return CompartmentSeriesWriter(
        path, compartments=comps, name="v", n_steps=n_steps, dt_ms=0.1, dtype="float64", overwrite=True
    )


@pytest.mark.parametrize("first", [True, False], ids=["into-the-structure", "appended"])
def test_same_file_as_a_compartment_report(nwb_path, rng, first):
    v, ecp = rng.normal(size=(20, 3)), rng.normal(size=(20, 4))
    with _host(nwb_path, 20) as host:
        with ElectricalSeriesWriter(
            nwb_path, probes=[probe(4, name="lfp")], n_steps=20, dt_ms=0.1, dtype="float64", host=host
        ) as w:
            if first:
                w.open()  # before the host's first block: the probes join the host's structure
            for s in (0, 10):
                host.write_block(s, v[s : s + 10])
                w.write_block(s, ecp[s : s + 10])
        assert not nwb_path.exists()  # the host moves the file into place when it closes
    with pynwb.NWBHDF5IO(nwb_path, "r") as io:
        f = io.read()
        np.testing.assert_array_equal(f.acquisition["v"].data[:], v)
        np.testing.assert_array_equal(f.acquisition["lfp"].data[:], ecp)
        assert list(f.electrodes["channel_id"][:]) == [0, 1, 2, 3]
        assert pynwb.validate(io=io) == []


def test_same_file_failure_leaves_old_output(nwb_path, rng):
    nwb_path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with (
            _host(nwb_path, 10) as host,
            ElectricalSeriesWriter(nwb_path, probes=[probe(2, name="lfp")], n_steps=10, dt_ms=0.1, host=host) as w,
        ):
            w.write_block(0, rng.normal(size=(5, 2)))
            raise RuntimeError("boom")
    assert nwb_path.read_bytes() == b"old"


def test_host_must_write_the_same_path(nwb_path, tmp_path):
    with _host(nwb_path, 10) as host:
        with pytest.raises(ValueError, match="host= writes"):
            ElectricalSeriesWriter(tmp_path / "other.nwb", probes=[probe(2)], n_steps=10, dt_ms=0.1, host=host)
        host.write_block(0, np.zeros((10, 3)))


def test_extra_series_over_the_same_channels(nwb_path, rng):
    total, part = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    extra = {"ecp_E": ("ecp", "Contribution of population E.")}
    with ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=12, dt_ms=0.1, dtype="float64",
                                extra_series=extra) as w:  # fmt: skip
        assert w.series_names == ["ecp", "ecp_E"]
        w.write_block(0, total)
        w.write_block(0, part, series="ecp_E")
    with pynwb.NWBHDF5IO(nwb_path, "r") as io:
        f = io.read()
        np.testing.assert_array_equal(f.acquisition["ecp_E"].data[:], part)
        assert f.acquisition["ecp_E"].description == "Contribution of population E."
        assert list(f.acquisition["ecp_E"].electrodes.data[:]) == [0, 1, 2]
        assert len(f.electrodes) == 3
        assert pynwb.validate(io=io) == []
    with pytest.raises(ValueError, match="extra_series"):
        ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=2, dt_ms=0.1, overwrite=True,
                               extra_series={"x": ("nope", "")})  # fmt: skip


# ---------------------------------------------------------------------------------------------------- flush policy
class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def kept_by_a_kill(partial, tmp_path, data) -> dict[str, int]:
    """What a kill -9 now would leave: a byte copy of the partial file (what the OS holds); its counted samples must
    be the written ones."""
    snapshot = tmp_path / f"snap{len(list(tmp_path.glob('snap*')))}.nwb"
    shutil.copyfile(partial, snapshot)
    kept = {}
    with h5py.File(snapshot, "r") as h5:
        for name in ("ecp", "ecp_E"):
            d = h5[f"acquisition/{name}/data"]
            kept[name] = int(d.attrs["simout_steps_written"])
            np.testing.assert_array_equal(d[: kept[name]], data[name][: kept[name]])
    return kept


@pytest.mark.parametrize("interval", [1.0, 0.0])
def test_flush_at_most_once_per_interval_and_at_close(nwb_path, rng, monkeypatch, tmp_path, interval):
    """The file counts (and a killed run keeps) exactly the flushed steps: at most the last interval is lost."""
    from simout_plugins.write import flush

    clock = FakeClock()
    monkeypatch.setattr(flush, "now", clock)
    data = {"ecp": rng.normal(size=(10, 3)), "ecp_E": rng.normal(size=(10, 3))}
    w = ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=10, dt_ms=0.1, dtype="float64",
                               extra_series={"ecp_E": ("ecp", "part")}, flush_interval_s=interval)  # fmt: skip
    w.open()
    partial = nwb_path.with_name("out.partial.nwb")
    for k, t in enumerate([0.2, 0.5, 1.1, 1.3, 2.0]):  # blocks of 2 steps of both series at these times
        clock.t = t
        w.write_block(2 * k, data["ecp"][2 * k : 2 * k + 2])
        w.write_block(2 * k, data["ecp_E"][2 * k : 2 * k + 2], series="ecp_E")
        # interval 1 s: the first due call is the one at 1.1 s ('ecp' of block 2, with 'ecp_E' still at 4 steps)
        want = (2 * k + 2,) * 2 if interval == 0 else {0: (0, 0), 1: (0, 0)}.get(k, (6, 4))
        assert w.steps_flushed == dict(zip(("ecp", "ecp_E"), want)), (k, t)
        assert kept_by_a_kill(partial, tmp_path, data) == w.steps_flushed
    clock.t = 2.05  # not due: close flushes anyway
    w.close()
    assert w.steps_flushed == {"ecp": 10, "ecp_E": 10}
    with h5py.File(nwb_path) as f:
        for name, values in data.items():
            assert f[f"acquisition/{name}/data"].attrs["simout_steps_written"] == 10
            np.testing.assert_array_equal(f[f"acquisition/{name}/data"][()], values)


def test_a_failed_run_keeps_every_written_block_through_the_close_flush(nwb_path, rng):
    data = rng.normal(size=(4, 3))
    with pytest.raises(RuntimeError, match="crash"):
        with ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=6, dt_ms=0.1, dtype="float64",
                                    flush_interval_s=3600) as w:  # fmt: skip
            w.write_block(0, data)
            assert w.steps_flushed == {"ecp": 0}
            raise RuntimeError("crash")
    with h5py.File(nwb_path.with_name("out.partial.nwb")) as f:
        assert f["acquisition/ecp/data"].attrs["simout_steps_written"] == 4
        np.testing.assert_array_equal(f["acquisition/ecp/data"][:4], data)


@pytest.mark.parametrize("bad", [-1, "1", None, True, float("nan")])
def test_bad_flush_interval(nwb_path, bad):
    with pytest.raises(ValueError, match="flush_interval_s must be a number of seconds >= 0"):
        ElectricalSeriesWriter(nwb_path, probes=[probe(3)], n_steps=1, dt_ms=1.0, flush_interval_s=bad)
    assert not list(nwb_path.parent.glob("*.nwb"))
