"""ElectricalSeriesWriter: the NWB form of a simulated probe, blocks, time base, validation, failures."""

from __future__ import annotations

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
