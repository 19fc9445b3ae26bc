"""The BMTK report's two ways of copying values per step (bmtk_module.sampling) give NEURON's own values.

Storage stretches (``Vector.from_double`` + one take) and ``PtrVector.gather`` are compared, step by step and
value for value, with ``seg.v`` / ``seg.ina`` read one by one; a sparse selection falls back to the gather, and a
model changed during recording is an error instead of wrong columns. Each case runs NEURON in a subprocess (NEURON
keeps global state); the BMTK runs themselves are compared with the native report in test_native_parity.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("neuron")

pytestmark = pytest.mark.simulator

JOB = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from neuron import h
    from bmtk_module.sampling import StepSampler, handle_row

    case = sys.argv[1]
    h.load_file("stdrun.hoc")
    cells = []
    for c in range(6):  # ball-and-stick cells: hh soma and axon, passive dendrites; cell 2 is stimulated
        soma, dend, axon = (h.Section(name=f"{n}{c}") for n in ("soma", "dend", "axon"))
        soma.L = soma.diam = 20
        dend.L, dend.diam, dend.nseg = 300, 2, 11 + c
        axon.L, axon.diam, axon.nseg = 200, 1, 5
        dend.connect(soma(1)); axon.connect(soma(0))
        for s in (soma, axon):
            s.insert("hh")
        dend.insert("pas")
        cells.append((soma, dend, axon))
    stim = h.IClamp(cells[2][0](0.5)); stim.delay, stim.dur, stim.amp = 0.5, 3.0, 0.5
    # report order: cell by cell, dendrite first (NEURON's storage has another order)
    segs = [seg for soma, dend, axon in cells for sec in (dend, soma, axon) for seg in sec]
    hh_segs = [seg for soma, dend, axon in cells for sec in (soma, axon) for seg in sec]
    if case == "sparse":
        segs = [cells[0][0](0.5), cells[5][2](0.9)]
    refs = [seg._ref_v for seg in segs]
    expect = [lambda seg=seg: seg.v for seg in segs]
    if case == "two":
        refs += [seg._ref_ina for seg in hh_segs]
        expect += [lambda seg=seg: seg.ina for seg in hh_segs]
    dtype = np.dtype(sys.argv[2])
    fast = StepSampler(h, refs, dtype=dtype, n_rows=40)
    slow = StepSampler(h, refs, dtype=dtype, n_rows=40, fast=False)
    h.dt = 0.025
    if case != "lazy":
        fast.prepare()  # rows read before finitialize sorts the storage: the first sample must read them again
    h.finitialize(-65)
    if case == "prepared":  # the BMTK situation: rows read after the storage is sorted, still valid at step 1
        fast = StepSampler(h, refs, dtype=dtype, n_rows=40)
        fast.prepare()
    out = {"mode": None, "equal": True, "rows": [], "error": None, "handle": handle_row(refs[0])}
    try:
        for block in range(5):
            for k in range(40 if block < 4 else 13):
                h.fadvance()
                if case == "moved" and block == 2 and k == 5:
                    cells.append(h.Section(name="late"))  # NEURON re-sorts its node storage at the next step
                fast.sample(); slow.sample()
                truth = np.array([f() for f in expect]).astype(dtype)
                out["equal"] &= bool(np.array_equal(fast._buf[fast.row - 1], truth))
                out["equal"] &= bool(np.array_equal(slow._buf[slow.row - 1], truth))
            a, b = fast.take(), slow.take()
            out["rows"].append(a.shape[0])
            out["equal"] &= bool(np.array_equal(a, b))
            out["mode"] = fast.mode
    except RuntimeError as exc:
        out["error"] = str(exc)
    out["slow_mode"] = slow.mode
    print(json.dumps(out))
    """
)


def run_job(tmp_path, case: str, dtype: str = "float32") -> dict:
    job = tmp_path / "sampler_job.py"
    job.write_text(JOB)
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(job), case, dtype],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stretches_equal_neurons_values(tmp_path, dtype):
    out = run_job(tmp_path, "all", dtype)
    assert out["handle"] is not None, "this NEURON's data handles do not give their rows (fast path never taken)"
    assert out["mode"] == "stretch" and out["slow_mode"] == "gather"
    assert out["error"] is None and out["equal"]
    assert out["rows"] == [40, 40, 40, 40, 13]


@pytest.mark.parametrize("case", ["lazy", "prepared"])
def test_rows_read_at_the_first_sample_or_before_the_run(tmp_path, case):
    out = run_job(tmp_path, case)
    assert out["mode"] == "stretch" and out["error"] is None and out["equal"]


def test_two_variables_two_stretches(tmp_path):
    out = run_job(tmp_path, "two")
    assert out["mode"] == "stretch" and out["error"] is None and out["equal"]


def test_sparse_selection_uses_the_gather(tmp_path):
    out = run_job(tmp_path, "sparse")
    assert out["mode"] == "gather" and out["error"] is None and out["equal"]


def test_model_changed_while_recording_is_an_error(tmp_path):
    out = run_job(tmp_path, "moved")
    assert out["error"] is not None and "re-ordered its data storage" in out["error"]
    assert out["rows"] == [40, 40]  # the blocks before the change were handed out; the changed one never is


def test_handle_row_parses_neuron9_repr():
    from bmtk_module.sampling import handle_row

    class Ref:
        def __init__(self, text):
            self.text = text

        def __repr__(self):
            return self.text

    assert handle_row(Ref("data_handle<double>{Node::field::Voltage row=8/11 val=-65}")) == (
        "Node::field::Voltage",
        8,
        11,
    )
    assert handle_row(Ref("data_handle<double>{raw=0x55d0c0ffee00 type=double}")) is None
    assert handle_row(Ref("<hoc.HocObject pointer>")) is None
