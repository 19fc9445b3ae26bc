import pytest

from simout_plugins import mpi


def test_serial_helpers_are_identities():
    assert mpi.rank_size(None) == (0, 1)
    assert mpi.bcast(None, 5) == 5
    assert mpi.gather(None, 5) == [5]
    mpi.raise_if_any(None, None)
    with pytest.raises(ValueError, match="boom"):
        mpi.raise_if_any(None, ValueError("boom"))


def test_launcher_size_reads_mpiexec_variables(monkeypatch):
    for key in mpi.LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(key, raising=False)
    assert mpi.launcher_size() == 1
    monkeypatch.setenv("PMI_SIZE", "4")
    assert mpi.launcher_size() == 4


def test_neuron_comm_refuses_silent_copies(monkeypatch):
    for key in mpi.LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(key, raising=False)
    assert mpi.neuron_comm(1, hint="x") is None
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError, match="started 2 processes but NEURON runs on 1 rank\\(s\\).*call nrnmpi_init"):
        mpi.neuron_comm(1, hint="call nrnmpi_init")
