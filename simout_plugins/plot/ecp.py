"""``simout plot --kind ecp``: a probe's extracellular potential as channels x time (rows by depth) and a few traces.

The depth axis is the coordinate along which the probe's channels spread most (``y`` for BMTK's usual linear probe);
rows of the image are the channels sorted by it, labelled in µm. Below it, up to ``max_traces`` channels spread over
the probe are drawn as traces (µV or mV, whichever reads better).
"""

from __future__ import annotations

import logging
import os

import numpy as np
from numpy.typing import ArrayLike

from ..read.ecp import EcpFrame, find_ecp
from ..read.validate import open_file
from .draw import new_figure, save_figure

__all__ = ["plot_ecp", "plot_ecp_file", "load_ecp"]

logger = logging.getLogger(__name__)
_AXES = ("x", "y", "z")


def load_ecp(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    channels: ArrayLike | None = None,
    tstart_ms: float | None = None,
    tstop_ms: float | None = None,
) -> tuple[str, EcpFrame]:
    """The series name and a window of it (volts) from an NWB file.

    Raises
    ------
    ValueError
        The file has no ElectricalSeries, or not the one named.
    """
    path = os.fspath(path)
    with open_file(path) as f:
        found = find_ecp(f, path=path)
        if not found:
            raise ValueError(f"'{path}' has no ElectricalSeries (extracellular potential) to plot")
        if series is None:
            series = next(iter(found))
        elif series not in found:
            raise ValueError(f"'{path}' has no ElectricalSeries '{series}'; it has {list(found)}")
        frame = found[series].get(
            channels=channels,
            tstart=None if tstart_ms is None else tstart_ms / 1e3,
            tstop=None if tstop_ms is None else tstop_ms / 1e3,
        )
    return series, frame


def _display(data: np.ndarray) -> tuple[float, str]:
    peak = float(np.nanmax(np.abs(data))) if data.size else 0.0
    return (1e6, "µV") if peak < 1e-3 else (1e3, "mV")


def plot_ecp(*, frame: EcpFrame, title: str | None = None, max_traces: int = 6, cmap: str = "RdBu_r"):
    """Draw a window of an ElectricalSeries: channels x time image (by depth) above a few channels' traces.

    Parameters
    ----------
    frame : EcpFrame
        From :func:`load_ecp` (data in volts, shape (n_t, n_channels)).
    title : str, optional
    max_traces : int
        Channels drawn as traces (spread over the probe).
    cmap : str
        Diverging colour map, centred on 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (top, bottom) = new_figure(nrows=2, figsize=(10.0, 7.0), sharex=True, height_ratios=(2.0, 1.0))
    data = np.asarray(frame.data, dtype=np.float64)
    t_ms = np.asarray(frame.times, dtype=np.float64) * 1e3
    factor, unit = _display(data)
    pos = np.asarray(frame.positions_um, dtype=np.float64)
    spread = np.nan_to_num(np.nanmax(pos, axis=0) - np.nanmin(pos, axis=0)) if pos.size else np.zeros(3)
    axis = int(np.argmax(spread))
    depth = pos[:, axis] if pos.size else np.arange(data.shape[1], dtype=float)
    order = np.argsort(depth, kind="stable")
    n_t, n_c = data.shape
    if n_t and n_c:
        values = data[:, order].T * factor
        limit = float(np.nanmax(np.abs(values))) or 1.0
        dt = (t_ms[-1] - t_ms[0]) / (n_t - 1) if n_t > 1 else 1.0
        image = top.imshow(values, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-limit, vmax=limit,
                           extent=(t_ms[0] - dt / 2, t_ms[-1] + dt / 2, n_c - 0.5, -0.5), origin="upper")  # fmt: skip
        fig.colorbar(image, ax=top, label=unit)
        ticks = np.unique(np.linspace(0, n_c - 1, min(n_c, 8)).round().astype(int))
        top.set_yticks(ticks, [f"{depth[order][i]:g}" for i in ticks])
        for k in np.unique(np.linspace(0, n_c - 1, min(n_c, max_traces)).round().astype(int)):
            c = order[k]
            bottom.plot(
                t_ms, data[:, c] * factor, lw=0.8, label=f"ch {frame.channel_ids[c]} ({_AXES[axis]}={depth[c]:g})"
            )
        bottom.legend(fontsize="small", ncols=2, loc="upper right")
    top.set_ylabel(f"channel {_AXES[axis]} (µm)")
    bottom.set_ylabel(unit)
    bottom.set_xlabel("time (ms)")
    if title:
        top.set_title(title)
    return fig


def plot_ecp_file(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    channels: ArrayLike | None = None,
    tstart_ms: float | None = None,
    tstop_ms: float | None = None,
    max_traces: int = 6,
    output: str | os.PathLike | None = None,
    dpi: int = 120,
):
    """Read and draw an ElectricalSeries of an NWB file (``simout plot --kind ecp``); save it when ``output`` is given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    name, frame = load_ecp(path, series=series, channels=channels, tstart_ms=tstart_ms, tstop_ms=tstop_ms)
    window = ""
    if tstart_ms is not None or tstop_ms is not None:
        window = f", {'' if tstart_ms is None else f'{tstart_ms:g}'}..{'' if tstop_ms is None else f'{tstop_ms:g}'} ms"
    title = f"{os.path.basename(os.fspath(path))}: ElectricalSeries '{name}', {frame.data.shape[1]} channels{window}"
    fig = plot_ecp(frame=frame, title=title, max_traces=max_traces)
    if output is not None:
        save_figure(figure=fig, path=output, dpi=dpi)
    return fig
