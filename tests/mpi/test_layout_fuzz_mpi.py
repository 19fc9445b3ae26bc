"""Layout fuzzing under real MPI: random layouts and rank splits written by ``mpiexec -n 2`` and ``-n 3``.

One ``mpiexec`` run per rank count writes one file per case (tests/mpi/layout_fuzz_job.py, ``sink="auto"``: the
gather sink here, MPI-IO in the parallel-HDF5 venv of ``make test-mpio``); each file must hold exactly the case's
data (tests/layout_cases.py, read back with ``open_report`` and pynwb) and equal a 1-rank file of the same case.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import mpi_env, mpiexec
from tests.layout_cases import assert_same_datasets, check_file, named_case, random_case, write_part

JOB = Path(__file__).with_name("layout_fuzz_job.py")
# seeds chosen to cover (test_seeds_cover_the_edge_cases): spikes-only files, a 500-compartment cell,
# zero-compartment cells, ranks without cells, three populations with overlapping node ids, cell_order="node_id"
SEEDS = {2: [4, 10, 16, 21], 3: [0, 9, 13, 29]}
# series whose table has no compartment at all (every cell without compartments, or no cell)
ZERO_COLUMNS = ["zero-columns", "no-cells", "3", "6"]


def _run_and_check(tmp_path, n_ranks: int, names: list[str]) -> None:
    result = subprocess.run(
        [*mpiexec(n_ranks), sys.executable, str(JOB), str(tmp_path), "auto", *names],
        capture_output=True,
        text=True,
        env=mpi_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        case = random_case(int(name), n_ranks) if name.isdigit() else named_case(name, n_ranks)
        path = tmp_path / f"{name}.nwb"
        check_file(path, case)
        write_part(case, tmp_path / f"one-{name}.nwb")
        assert_same_datasets(tmp_path / f"one-{name}.nwb", path)


@pytest.mark.mpi
@pytest.mark.parametrize("n_ranks", sorted(SEEDS))
def test_random_layouts_under_mpiexec(tmp_path, n_ranks):
    _run_and_check(tmp_path, n_ranks, [str(seed) for seed in SEEDS[n_ranks]])


@pytest.mark.mpi
def test_series_without_compartments_under_mpiexec(tmp_path):
    _run_and_check(tmp_path, 3, ZERO_COLUMNS)


def _features(case) -> set[str]:
    out = set()
    if not case.tables:
        out.add("spikes-only")
    for t in case.tables:
        if (t.counts == 500).any():
            out.add("big cell")
        if (t.counts == 0).any():
            out.add("zero-compartment cell")
        if t.n_compartments == 0:
            out.add("series without columns")
    if len(set(case.owner.tolist())) < case.n_ranks:
        out.add("empty rank")
    if len(set(case.pop)) == 3:
        out.add("3 populations")
    if case.cell_order == "node_id":
        out.add("node_id order")
    return out


@pytest.mark.parametrize("n_ranks", sorted(SEEDS))
def test_seeds_cover_the_edge_cases(n_ranks):
    found = set().union(*(_features(random_case(seed, n_ranks)) for seed in SEEDS[n_ranks]))
    want = {"spikes-only", "big cell", "zero-compartment cell", "empty rank", "3 populations", "node_id order"}
    assert found == want  # no series without columns: test_series_without_compartments_under_mpiexec has those
    for name in ZERO_COLUMNS:
        case = random_case(int(name), 3) if name.isdigit() else named_case(name, 3)
        assert "series without columns" in _features(case)
