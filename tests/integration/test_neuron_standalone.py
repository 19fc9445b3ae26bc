"""The plain-NEURON example: the file holds exactly what NEURON recorded."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from simout_plugins import open_report
from tests.conftest import REPO

pytest.importorskip("neuron")


@pytest.mark.simulator
def test_example_file_matches_neurons_own_recording(tmp_path):
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "neuron_standalone.py"), "--out-dir", str(out), "--n-cells", "3",
         "--tstop", "30", "--block-ms", "7"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert (out / "neuron_standalone.png").stat().st_size > 10_000
    # the same model, recorded in one piece by NEURON, in a fresh process
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {str(REPO / "examples")!r})
        from neuron import h
        from neuron_standalone import make_cells
        h.load_file("stdrun.hoc")
        cells = make_cells(h, 3)
        vecs = []
        for cell in cells:
            for sec in cell["sections"].values():
                for seg in sec:
                    v = h.Vector(); v.record(seg._ref_v); vecs.append(v)
        h.dt = 0.025
        h.finitialize(-65.0)
        h.continuerun(30.0)
        np.save({str(tmp_path / "expected.npy")!r}, np.column_stack([v.as_numpy() for v in vecs]))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    expected = np.load(tmp_path / "expected.npy")[:1201]
    with open_report(out / "neuron_standalone.nwb") as r:
        fr = r["v"].get(scaled=False)
        assert fr.data.shape == expected.shape == (1201, 30)
        np.testing.assert_array_equal(fr.data, expected.astype(np.float32))
        np.testing.assert_allclose(fr.times, np.arange(1201) * 25e-6)
        assert list(fr.label[:2]) == ["soma", "dend"]
        spikes = r.spikes()
        assert spikes.node_ids.size > 0
        # every recorded spike is a somatic upward crossing of 0 mV in the stored trace
        for node, t in zip(spikes.node_ids, spikes.times):
            soma = r["v"].get(node_ids=[node], tstart=t - 1e-4, tstop=t + 1e-4, scaled=False).data[:, 0]
            assert soma.min() < 0 < soma.max()
