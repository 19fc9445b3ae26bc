"""A file being written (a run in progress holds HDF5's lock on its partial file) can be read from another process:
what the last flush put on disk, with a warning, instead of "corrupted file"."""

import subprocess
import sys

import numpy as np

from simout_plugins import CompartmentSeriesWriter, build_compartments, open_report

READ = """
import sys, numpy as np
from simout_plugins import open_report
with open_report(sys.argv[1]) as r:
    s = r["v"]
    np.save(sys.argv[2], s.read(0, s.n_steps_written, scaled=False))
"""


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_partial_file_of_a_running_writer_is_readable(tmp_path):
    comps = build_compartments(node_ids=[0, 1], counts=[2, 1], number=[0, 1, 0], position=[0.5, 0.5, 0.5])
    block = np.arange(30, dtype=np.float32).reshape(10, 3)
    out, partial, got = tmp_path / "run.nwb", tmp_path / "run.partial.nwb", tmp_path / "got.npy"
    with CompartmentSeriesWriter(out, compartments=comps, n_steps=100, dt_ms=0.1, overwrite=False,
                                 flush_interval_s=0) as w:  # fmt: skip
        w.write_block(0, block)
        read = _run("-c", READ, str(partial), str(got))
        assert read.returncode == 0, read.stderr
        assert "is open for writing" in read.stderr
        np.testing.assert_array_equal(np.load(got), block)
        info = _run("-m", "simout_plugins.cli.app", "info", str(partial))
        assert info.returncode == 0, info.stderr
        assert "steps written 10/100" in info.stdout and "corrupted" not in info.stderr
        w.write_block(10, block)
    with open_report(out) as r:
        np.testing.assert_array_equal(r["v"].read(0, 20, scaled=False), np.vstack([block, block]))
