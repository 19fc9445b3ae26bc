"""``nwb_netcon_report`` on 2 MPI ranks (``mpiexec -n 2 python -m bmtk_module run``): a ``syn_type`` no cell has on
any rank stops the job before the run with one config error naming the report, the key and the value (raised on
every rank alike, so each rank logs the same line); no output file is created and the job ends (no rank is left
waiting in a collective)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.bmtk.conftest import run_env
from tests.conftest import mpi_env, mpiexec

pytestmark = [pytest.mark.simulator, pytest.mark.mpi, pytest.mark.slow]

TIMEOUT_S = 180  # the whole job (network build included) takes ~15 s on 2 ranks; a hang is killed here


def test_syn_type_no_cell_has_on_any_rank_is_one_config_error(bmtk_network, tmp_path):
    out = tmp_path / "out"
    entry = {"module": "nwb_netcon_report", "variable_name": "g", "cells": "all", "syn_type": "AlphaSynapse",
             "file_name": "bad.nwb"}  # fmt: skip
    config = bmtk_network.config(out, {"bad": entry})
    cmd = [*mpiexec(2), sys.executable, "-m", "bmtk_module", "run", str(config)]
    env = {**run_env(), **{k: v for k, v in mpi_env().items() if k in ("LD_PRELOAD", "MPI_LIB_NRN_PATH")}}
    try:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp_path)
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the 2-rank job hung (killed after {TIMEOUT_S} s): {str(hung.stderr)[-3000:]}")
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]  # 1 from each rank's main()
    # the check is collective: every rank raises the same error, rank 0 logs it once
    errors = [line.split("[ERROR] ", 1)[1] for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, text[-3000:]
    (error,) = errors
    for expected in ("'bad'", "syn_type", "'AlphaSynapse'", "Exp2Syn"):
        assert expected in error, error
    assert "Traceback" not in text, text[-3000:]
    assert "MPI_Abort" not in text, text[-3000:]  # every rank left together: no rank had to end the job
    assert "Running simulation" not in text
    assert not [p for p in tmp_path.rglob("*.nwb")], sorted(tmp_path.rglob("*"))
