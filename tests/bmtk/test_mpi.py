"""``mpiexec -n 2 python -m bmtk_module run`` writes the same files as one rank."""

from __future__ import annotations

import numpy as np
import pytest

from simout_plugins import open_report

pytestmark = [pytest.mark.simulator, pytest.mark.mpi, pytest.mark.slow]


@pytest.mark.parametrize("name", ["all64.nwb", "all32.nwb", "soma.nwb", "two.nwb", "win.nwb"])
def test_two_ranks_same_file_as_one(serial_run, mpi_run, name):
    with open_report(serial_run / name) as one, open_report(mpi_run / name) as two:
        assert one.series_names == two.series_names
        for series in one.series_names:
            a, b = one[series].get(scaled=False), two[series].get(scaled=False)
            np.testing.assert_array_equal(a.data, b.data)
            np.testing.assert_array_equal(a.node_ids, b.node_ids)
            np.testing.assert_array_equal(a.number, b.number)
            np.testing.assert_array_equal(a.position, b.position)
            np.testing.assert_array_equal(a.label, b.label)
            np.testing.assert_array_equal(a.columns["population"], b.columns["population"])
            np.testing.assert_array_equal(one[series].times, two[series].times)


def test_two_ranks_spikes(serial_run, mpi_run):
    with open_report(serial_run / "all64.nwb") as one, open_report(mpi_run / "all64.nwb") as two:
        a, b = one.spikes(), two.spikes()
        key = lambda sp: sorted(zip(sp.population, sp.node_ids, sp.times))  # noqa: E731
        assert key(a) == key(b)
