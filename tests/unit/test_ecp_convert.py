"""BMTK's ecp.h5 ⇄ NWB ElectricalSeries: lossless both ways, the time base shifted by one step, positions optional."""

from __future__ import annotations

import h5py
import numpy as np
import pynwb
import pytest

from simout_plugins.errors import FileFormatError
from simout_plugins.sonata.ecp import ecp_to_nwb, is_bmtk_ecp, nwb_to_ecp


def bmtk_ecp(path, data, *, dt=0.1):
    """A file as BMTK's EcpMod writes it (bionet/modules/ecp.py)."""
    with h5py.File(path, "w") as h5:
        h5.attrs["magic"] = np.uint32(0x0A7A)
        h5.create_dataset("ecp/data", data=data).attrs["units"] = "mV"
        h5.create_dataset("ecp/time", data=(0.0, data.shape[0] * dt, dt)).attrs["units"] = "ms"
        h5.create_dataset("ecp/channel_id", data=np.arange(data.shape[1]))
    return path


def test_round_trip_is_lossless(tmp_path, rng):
    data = rng.normal(size=(123, 7))
    src = bmtk_ecp(tmp_path / "ecp.h5", data)
    csv = tmp_path / "electrodes.csv"
    csv.write_text("channel x_pos y_pos z_pos\n" + "".join(f"{i} 1.5 {20.0 * i} -3\n" for i in range(7)))
    assert is_bmtk_ecp(src)
    nwb = ecp_to_nwb(ecp=src, out=tmp_path / "ecp.nwb", electrodes=csv)
    with pynwb.NWBHDF5IO(nwb, "r") as io:
        f = io.read()
        es = f.acquisition["ecp"]
        np.testing.assert_array_equal(es.data[:], data)
        assert es.data.dtype == np.float64 and es.conversion == 1e-3
        assert es.starting_time == pytest.approx(1e-4)  # row k of ecp.h5 is at (k + 1) dt
        np.testing.assert_array_equal(f.electrodes["y"][:], 20.0 * np.arange(7))
        assert pynwb.validate(io=io) == []
    back = nwb_to_ecp(nwb=nwb, out=tmp_path / "back.h5")
    with h5py.File(src, "r") as a, h5py.File(back, "r") as b:
        for key in ("ecp/data", "ecp/time", "ecp/channel_id"):
            np.testing.assert_array_equal(a[key][()], b[key][()], err_msg=key)
        assert b["ecp/data"].attrs["units"] == "mV" and b.attrs["magic"] == 0x0A7A


def test_without_electrode_file_positions_are_nan(tmp_path, rng):
    nwb = ecp_to_nwb(ecp=bmtk_ecp(tmp_path / "ecp.h5", rng.normal(size=(5, 3))), out=tmp_path / "x.nwb")
    with pynwb.NWBHDF5IO(nwb, "r") as io:
        assert np.isnan(io.read().electrodes["x"][:]).all()


def test_errors(tmp_path, rng):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = [1]
    with pytest.raises(FileFormatError, match="not BMTK's extracellular report"):
        ecp_to_nwb(ecp=other, out=tmp_path / "x.nwb")
    src = bmtk_ecp(tmp_path / "ecp.h5", rng.normal(size=(5, 3)))
    csv = tmp_path / "few.csv"
    csv.write_text("channel x_pos y_pos z_pos\n0 0 0 0\n")
    with pytest.raises(ValueError, match=r"no channel\(s\) \[1, 2\]"):
        ecp_to_nwb(ecp=src, out=tmp_path / "x.nwb", electrodes=csv)
    assert not (tmp_path / "x.nwb").exists()
    nwb = ecp_to_nwb(ecp=src, out=tmp_path / "ok.nwb")
    with pytest.raises(FileExistsError):
        nwb_to_ecp(nwb=nwb, out=src)


@pytest.mark.parametrize("flags", [["--compression", "gzip"], ["--precision", "3"]])
def test_cli_filters_are_refused_for_extracellular_reports(tmp_path, rng, capsys, flags):
    from simout_plugins.cli.app import main

    src = bmtk_ecp(tmp_path / "ecp.h5", rng.normal(size=(5, 3)))
    assert main(["convert", str(src), str(tmp_path / "x.nwb"), *flags]) == 2
    err = capsys.readouterr().err
    assert flags[0] in err and "extracellular" in err
    assert not (tmp_path / "x.nwb").exists()
