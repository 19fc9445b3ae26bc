"""The runner hides BMTK's "Unrecognized module" warning for the module it attaches itself, and only for that one."""

from __future__ import annotations

import pytest

from .conftest import nwb, run_bmtk

pytestmark = [pytest.mark.simulator]

OURS = "Unrecognized module nwb_compartment_report"
ATTACHED = "nwb_compartment_report reports attached by bmtk_module"


def _run(bmtk_network, name, reports):
    out = bmtk_network.root / name
    result = run_bmtk(bmtk_network.config(out, reports))
    return result.stdout + result.stderr, (out / "log.txt").read_text()


def test_our_module_gives_one_info_line_and_no_warning(bmtk_network):
    reports = {"a": nwb("v", sections="soma", file_name="a.nwb"), "b": nwb("v", sections="soma", file_name="b.nwb")}
    output, log = _run(bmtk_network, "log_ours", reports)
    assert OURS not in output and OURS not in log
    lines = [line for line in output.splitlines() if ATTACHED in line]
    assert len(lines) == 1 and "[INFO]" in lines[0], output
    assert "'a' -> " in lines[0] and "'b' -> " in lines[0]
    assert "WARNING] Unrecognized module" not in output


def test_an_unknown_module_still_warns(bmtk_network):
    reports = {
        "ours": nwb("v", sections="soma", file_name="ours.nwb"),
        "typo": {"module": "nwb_compartment_reprot", "variable_name": "v", "cells": "all"},
    }
    output, log = _run(bmtk_network, "log_unknown", reports)
    assert "Unrecognized module nwb_compartment_reprot, skipping." in output
    assert "Unrecognized module nwb_compartment_reprot, skipping." in log
    assert OURS not in output
    assert sum(ATTACHED in line for line in output.splitlines()) == 1
