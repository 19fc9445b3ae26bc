"""The vectorised line-source transfer resistances equal the Allen RecXElectrode's per-channel loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simout_plugins.linesource import transfer_resistance


def reference(pos, p0, p1, diam=None, minimum_distance=None, sigma=0.3):
    """BMTK's ``RecXElectrode.calc_transfer_resistance`` (bionet/modules/ecp.py), one channel at a time."""
    r05 = (p0 + p1) / 2
    dl = p1 - p0
    tr = np.zeros((pos.shape[1], r05.shape[1]))
    rm = diam / 2 if minimum_distance == "auto" else minimum_distance
    for j in range(pos.shape[1]):
        rel_05 = pos[:, j][:, None] - r05
        r2 = np.einsum("ij,ij->j", rel_05, rel_05)
        rlldl = np.einsum("ij,ij->j", rel_05, dl)
        dlmag = np.linalg.norm(dl, axis=0)
        rll = abs(rlldl / dlmag)
        rt2 = r2 - rll**2
        up = rll + dlmag / 2
        low = rll - dlmag / 2
        if minimum_distance:
            np.fmax(rt2, rm * rm, out=rt2, where=low < rm)
        tr[j, :] = np.log((up + np.sqrt(up**2 + rt2)) / (low + np.sqrt(low**2 + rt2))) / dlmag
    return tr / (4 * math.pi * sigma)


@pytest.fixture
def geometry(rng):
    p0 = rng.uniform(-200, 200, size=(3, 57))
    p1 = p0 + rng.normal(scale=10.0, size=(3, 57))
    pos = rng.uniform(-250, 250, size=(3, 9))
    pos[:, 0] = (p0[:, 3] + p1[:, 3]) / 2 + [0.1, 0.0, 0.0]  # a channel right on a segment
    return pos, p0, p1, rng.uniform(0.5, 4.0, size=57)


@pytest.mark.parametrize("minimum_distance", [None, 2.5, "auto"])
def test_equals_the_per_channel_loop(geometry, minimum_distance):
    pos, p0, p1, d = geometry
    got = transfer_resistance(positions_um=pos, p0_um=p0, p1_um=p1, diam_um=d, minimum_distance=minimum_distance)
    np.testing.assert_allclose(got, reference(pos, p0, p1, d, minimum_distance), rtol=1e-13, atol=0)


def test_chunks_give_the_same_result(geometry, monkeypatch):
    import simout_plugins.linesource as ls

    pos, p0, p1, _ = geometry
    whole = transfer_resistance(positions_um=pos, p0_um=p0, p1_um=p1)
    monkeypatch.setattr(ls, "_CHUNK_ELEMENTS", 20)  # 2 segments per chunk
    np.testing.assert_array_equal(transfer_resistance(positions_um=pos, p0_um=p0, p1_um=p1), whole)


def test_equals_netpyne_recxelectrode(geometry):
    recx = pytest.importorskip("netpyne.support.recxelectrode")
    pos, p0, p1, _ = geometry
    electrode = recx.RecXElectrode(pos.copy())  # NetPyNE inverts y (depth) of the positions it is given
    electrode.calcTransferResistance(0, {"p0": p0, "p1": p1})
    inverted = pos * np.array([[1.0], [-1.0], [1.0]])
    got = transfer_resistance(positions_um=inverted, p0_um=p0, p1_um=p1)
    np.testing.assert_allclose(got, electrode.getTransferResistance(0), rtol=1e-13, atol=0)
