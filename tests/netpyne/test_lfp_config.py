"""cfg.recordLFP / cfg.saveLFPPops checks (before the network is built) and the hide / restore around NetPyNE."""

from __future__ import annotations

import types

import numpy as np
import pytest

from netpyne_module.lfp import (
    check_lfp_cells,
    hide_record_lfp,
    lfp_pops,
    lfp_samples,
    parse_record_lfp,
    restore_record_lfp,
)


@pytest.mark.parametrize(
    "value",
    [[[0, 0]], [[0, 0, "a"]], "0,0,0", {"x": 1}, [[0, 0, float("nan")]], [1, 2, 3], 5],
)
def test_bad_record_lfp(value):
    with pytest.raises(ValueError, match=r"cfg.recordLFP must be a list of \[x, y, z\]"):
        parse_record_lfp(value)


def test_good_record_lfp():
    assert parse_record_lfp(False) is None and parse_record_lfp([]) is None and parse_record_lfp(None) is None
    pos = parse_record_lfp([[1, 2, 3], (4.5, 5, 6)])
    np.testing.assert_array_equal(pos, [[1, 2, 3], [4.5, 5, 6]])
    assert pos.dtype == np.float64


def test_hide_and_restore():
    cfg = types.SimpleNamespace(recordLFP=[[1, 2, 3]], use_fast_imem=False)
    np.testing.assert_array_equal(hide_record_lfp(cfg), [[1, 2, 3]])
    assert cfg.recordLFP is False and cfg.use_fast_imem is True  # NetPyNE's own set-up does not see it
    np.testing.assert_array_equal(hide_record_lfp(cfg), [[1, 2, 3]])  # idempotent
    restore_record_lfp(cfg)
    assert cfg.recordLFP == [[1, 2, 3]]
    with pytest.raises(ValueError):
        hide_record_lfp(types.SimpleNamespace(recordLFP=[[1, 2]]))


def test_pops_and_samples():
    assert lfp_pops(True, ["E", "I"]) == ["E", "I"] and lfp_pops(["I", "X"], ["E", "I"]) == ["I"]
    assert lfp_pops(False, ["E"]) == []
    with pytest.raises(ValueError, match="saveLFPPops"):
        lfp_pops("E", ["E"])
    assert lfp_samples(duration_ms=50.0, record_step_ms=0.1) == 500


@pytest.mark.parametrize("value", [False, None, True, [0, 5], ["E"], [("E", 1)], [["I", [0, 2]]], []])
def test_good_save_lfp_cells(value):
    assert check_lfp_cells(value) is value


@pytest.mark.parametrize("value", ["all", 3, [1.5], [True], [("E",)], [("E", "x")], [(1, 2)], {"E": 1}])
def test_bad_save_lfp_cells(value):
    with pytest.raises(ValueError, match=r"cfg.saveLFPCells must be True or a list of cell gids"):
        check_lfp_cells(value)
    with pytest.raises(ValueError, match=r"cfg.saveLFPCells"):  # checked with cfg.recordLFP, before sim.create
        hide_record_lfp(types.SimpleNamespace(recordLFP=[[1, 2, 3]], saveLFPCells=value))
