"""Line-source transfer resistances: the extracellular potential of every segment's membrane current at every channel.

The formula of the Allen Institute's ``RecXElectrode`` (BMTK ``bionet/modules/ecp.py`` and NetPyNE
``support/recxelectrode.py`` carry the same code; LFPy's line-source approximation): each segment is a line of
uniform current in a homogeneous, isotropic medium of conductivity sigma (0.3 S/m in both simulators), so the
potential at channel c is ``sum_j tr[c, j] * i_membrane_[j]``. Here it is vectorised over channels (and computed in
bounded-size chunks of segments); simulators differ only in how they place the segments and channels, which the
adapters do. No simulator, no file format: pure numpy.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SIGMA_S_PER_M", "transfer_resistance"]

#: The extracellular conductivity BMTK and NetPyNE use, S/m.
SIGMA_S_PER_M = 0.3
_CHUNK_ELEMENTS = 4_000_000  # channels x segments per chunk of the computation (bounded memory)


def transfer_resistance(
    *,
    positions_um: np.ndarray,
    p0_um: np.ndarray,
    p1_um: np.ndarray,
    diam_um: np.ndarray | None = None,
    minimum_distance: float | str | None = None,
    sigma: float = SIGMA_S_PER_M,
) -> np.ndarray:
    """Line-source transfer resistances (``RecXElectrode.calc_transfer_resistance``), all channels at once.

    Parameters
    ----------
    positions_um : numpy.ndarray, shape (3, n_channels), µm
    p0_um, p1_um : numpy.ndarray, shape (3, n_segments), µm
        Segment start and end points.
    diam_um : numpy.ndarray, shape (n_segments,), µm, optional
        Segment diameters (for ``minimum_distance="auto"``).
    minimum_distance : float, "auto" or None
        Lower bound on the perpendicular distance when the electrode projects onto the segment (µm); BMTK's
        ``minimum_distance`` (NetPyNE has none).
    sigma : float, S/m
        Extracellular conductivity.

    Returns
    -------
    numpy.ndarray, shape (n_channels, n_segments)
        Potential per membrane current, mV per nA (MOhm: ``tr @ i_membrane_`` in nA gives mV).
    """
    n_ch, n_seg = positions_um.shape[1], p0_um.shape[1]
    out = np.empty((n_ch, n_seg))
    step = max(1, _CHUNK_ELEMENTS // max(1, n_ch))
    for a in range(0, n_seg, step):
        b = min(n_seg, a + step)
        p0, p1 = p0_um[:, a:b], p1_um[:, a:b]
        r05 = (p0 + p1) / 2
        dl = p1 - p0
        rel_05 = positions_um[:, :, None] - r05[:, None, :]  # (3, n_ch, n)
        r2 = np.einsum("icj,icj->cj", rel_05, rel_05)
        rlldl = np.einsum("icj,ij->cj", rel_05, dl)
        dlmag = np.linalg.norm(dl, axis=0)
        rll = abs(rlldl / dlmag)
        rt2 = r2 - rll**2
        up = rll + dlmag / 2
        low = rll - dlmag / 2
        if minimum_distance:
            rm = diam_um[a:b] / 2 if minimum_distance == "auto" else minimum_distance
            rm2 = np.broadcast_to(np.asarray(rm, dtype=np.float64) ** 2, rt2.shape)
            np.fmax(rt2, rm2, out=rt2, where=low < np.broadcast_to(rm, rt2.shape))
        num = up + np.sqrt(up**2 + rt2)
        den = low + np.sqrt(low**2 + rt2)
        out[:, a:b] = np.log(num / den) / dlmag
    out *= 1 / (4 * math.pi * sigma)
    return out
