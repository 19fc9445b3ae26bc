"""``simout convert``: direction from the input's contents, options, exit codes and one-line errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from simout_plugins.cli.app import main
from tests.data.generate_sonata import simple_pops, write_report, write_spikes


def test_convert_both_directions_and_sonata_rewrite(tmp_path, capsys):
    src = write_report(tmp_path / "r.h5", simple_pops(), style="bmtk", time=(0.0, 1.0, 0.1))
    spk = write_spikes(tmp_path / "s.h5", {"cortex": ([1], [0.5])}, compress=True)
    meta = tmp_path / "meta.yaml"
    meta.write_text("session_description: converted\nsubject:\n  subject_id: sim\n  species: Mus musculus\n")
    args = ["--metadata", str(meta), "--spikes", str(spk), "--time-base", "start", "--keep-dtype", "-q"]
    assert main(["convert", str(src), str(tmp_path / "o.nwb"), *args]) == 0
    with h5py.File(tmp_path / "o.nwb") as f:
        assert f["general/subject/subject_id"][()] == b"sim"
        assert f["acquisition/v/starting_time"][()] == 0.0
        assert f["acquisition/v/data"].dtype == np.float64
        assert f["units/spike_times"][()].tolist() == [0.0005]
    assert main(["convert", str(tmp_path / "o.nwb"), str(tmp_path / "b.h5"), "-q"]) == 0  # NWB → SONATA
    assert main(["convert", str(src), str(tmp_path / "fixed.h5"), "-q"]) == 0  # SONATA → libsonata-readable SONATA
    with h5py.File(tmp_path / "b.h5") as b, h5py.File(tmp_path / "fixed.h5") as c, h5py.File(src) as a:
        for g in (b, c):
            assert g["report/cortex/data"].dtype == np.float32
            assert "index_pointers" in g["report/cortex/mapping"]
            np.testing.assert_array_equal(g["report/cortex/mapping/time"][()], a["report/cortex/mapping/time"][()])
        assert b["spikes/cortex/node_ids"][()].tolist() == [1]
    err = capsys.readouterr().err  # the assumption is stated (BMTK writes no units), nothing else
    assert all("data has no 'units' attribute; assumed 'mV'" in line for line in err.splitlines()), err


def test_convert_errors_exit_2_with_one_line(tmp_path, capsys):
    src = write_report(tmp_path / "r.h5", simple_pops(), style="bmtk")
    (tmp_path / "o.nwb").write_bytes(b"")
    cases = [
        ["convert", str(src), str(tmp_path / "o.nwb")],  # exists
        ["convert", str(tmp_path / "missing.h5"), str(tmp_path / "x.nwb")],
        ["convert", str(src), str(src), "--overwrite"],
        ["convert", str(src), str(tmp_path / "y.nwb"), "--metadata", str(tmp_path / "r.h5")],  # not JSON
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("simout: error:") and "Traceback" not in err, err
    bad_meta = tmp_path / "m.json"
    bad_meta.write_text(json.dumps({"not_a_field": 1}))
    assert main(["convert", str(src), str(tmp_path / "z.nwb"), "--metadata", str(bad_meta)]) == 2
    assert "not_a_field" in capsys.readouterr().err
    assert not (tmp_path / "x.nwb").exists() and not (tmp_path / "y.nwb").exists()
    assert not (tmp_path / "z.nwb").exists()


def test_convert_spike_file_alone(tmp_path, capsys):
    libsonata = pytest.importorskip("libsonata")
    spikes = {"cortex": ([1, 0, 1], [0.5, 2.25, 0.125]), "thalamus": ([0], [7.3])}
    spk = write_spikes(tmp_path / "spikes.h5", spikes, compress=True)  # as BMTK writes it: gzip
    with pytest.raises(RuntimeError):  # libsonata's wheel has no deflate filter
        libsonata.SpikeReader(str(spk))["cortex"].get()
    assert main(["convert", str(spk), str(tmp_path / "s.nwb"), "--resolution", "0.025", "-q"]) == 0
    with h5py.File(tmp_path / "s.nwb") as f:
        assert f["units/spike_times"].attrs["resolution"] == 25e-6
        assert "acquisition" not in f or len(f["acquisition"]) == 0
    assert main(["convert", str(tmp_path / "s.nwb"), str(tmp_path / "back.h5"), "-q"]) == 0  # Units → SONATA
    assert main(["convert", str(spk), str(tmp_path / "fixed.h5"), "-q"]) == 0  # SONATA → SONATA, not via NWB
    for name in ("back.h5", "fixed.h5"):
        reader = libsonata.SpikeReader(str(tmp_path / name))
        for pop, (ids, times) in spikes.items():
            got = np.array(reader[pop].get(), dtype=float).reshape(-1, 2)
            order = np.argsort(times)
            np.testing.assert_array_equal(got[:, 0], np.asarray(ids)[order])
            if name == "fixed.h5":
                np.testing.assert_array_equal(got[:, 1], np.asarray(times)[order])  # bit for bit
            else:
                np.testing.assert_array_max_ulp(got[:, 1], np.asarray(times)[order], maxulp=1)
    capsys.readouterr()
    assert main(["convert", str(spk), str(tmp_path / "x.nwb"), "--spikes", str(spk)]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert not (tmp_path / "x.nwb").exists()


def test_sonata_rewrite_with_spikes_keeps_spike_times_exact(tmp_path):
    src = write_report(tmp_path / "r.h5", simple_pops(), style="bmtk", time=(0.0, 1.0, 0.1))
    times = [0.1 + 0.2, 1e-3 * 7, 123.456789]
    spk = write_spikes(tmp_path / "s.h5", {"cortex": ([0, 1, 2], times)}, compress=True)
    assert main(["convert", str(src), str(tmp_path / "fixed.h5"), "--spikes", str(spk), "-q"]) == 0
    with h5py.File(tmp_path / "fixed.h5") as f:
        assert sorted(f) == ["report", "spikes"]
        np.testing.assert_array_equal(f["spikes/cortex/timestamps"][()], sorted(times))
        assert f["spikes/cortex/timestamps"].compression is None
