"""cfg.saveNWB parsing and pre-run checks: one clear error naming the bad value, before anything is built."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from netpyne_module import check_config, default_path, expected_samples, parse_save_nwb

TRACES = {"V_soma": {"sec": "soma", "loc": 0.5, "var": "v"}, "m": {"sec": "soma", "mech": "hh", "var": "m"}}


def make_cfg(save_nwb=True, **over) -> SimpleNamespace:
    base = dict(
        saveNWB=save_nwb, recordTraces=dict(TRACES), recordStep=0.1, duration=100.0, filename="model_output",
        saveFolder="", simLabel="", analysis={}, savePickle=False,
    )  # fmt: skip
    base.update(over)
    return SimpleNamespace(**base)


def test_true_gives_defaults():
    opts = parse_save_nwb(make_cfg())
    assert opts.path == Path("model_output.nwb")
    assert (opts.dtype, opts.spikes, opts.traces, opts.gather_traces) == ("float32", True, None, False)


def test_default_path_follows_netpyne_save_data():
    assert default_path(make_cfg(saveFolder="out")) == Path("out/model_output.nwb")
    assert default_path(make_cfg(saveFolder="out", simLabel="run1")) == Path("out/run1.nwb")


def test_dict_options():
    cfg = make_cfg({"filename": "x/y.nwb", "dtype": "float64", "traces": ["m"], "intervalMs": 5, "spikes": False})
    opts = parse_save_nwb(cfg)
    assert (opts.path, opts.dtype, opts.traces, opts.interval_ms, opts.spikes) == (
        Path("x/y.nwb"), "float64", ("m",), 5.0, False,
    )  # fmt: skip


def test_gather_traces_auto_follows_native_save_flags_and_plot_traces():
    assert parse_save_nwb(make_cfg(savePickle=True)).gather_traces
    assert parse_save_nwb(make_cfg(analysis={"plotTraces": {}})).gather_traces
    assert not parse_save_nwb(make_cfg({"gatherTraces": False}, savePickle=True)).gather_traces


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("yes", TypeError, "cfg.saveNWB must be True/False or a dict"),
        ({"fileName": "a.nwb"}, ValueError, r"unknown keys \['fileName'\]"),
        ({"dtype": "int16"}, ValueError, "'float32' or 'float64', got 'int16'"),
        ({"filename": "out.h5"}, ValueError, "must end in '.nwb'"),
        ({"traces": ["V_dend"]}, ValueError, r"lists \['V_dend'\], which are not cfg.recordTraces keys"),
        ({"intervalMs": 0}, ValueError, "intervalMs"),
        ({"spikes": "no"}, TypeError, "spikes"),
        ({"metadata": {"experimentor": "x"}}, ValueError, r"\['metadata'\]: unknown keys \['experimentor'\]"),
        ({"metadata": {"subject": {"age": 90}}}, ValueError, r"\['metadata'\]\['subject'\]\['age'\] = 90"),
    ],
)
def test_bad_options_name_the_value(value, error, match):
    with pytest.raises(error, match=match):
        parse_save_nwb(make_cfg(value))


def test_recording_modes_without_a_time_base_are_refused():
    with pytest.raises(ValueError, match="recordStep = 'adaptive'"):
        parse_save_nwb(make_cfg(recordStep="adaptive"))
    with pytest.raises(ValueError, match="at least one cfg.recordTraces"):
        parse_save_nwb(make_cfg(recordTraces={}))


def test_unwritable_folder_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="a_file' is a file"):
        check_config(cfg=make_cfg({"filename": str(blocker / "sub" / "out.nwb")}))


def test_expected_samples_matches_neuron_vector_record():
    # NEURON 9.0.2 (dt 0.025) records 1001 / 2000 / 10001 / 1000 samples here: t = duration is left out
    assert expected_samples(duration_ms=100.0, record_step_ms=0.1) == 1000
    assert expected_samples(duration_ms=200.0, record_step_ms=0.1) == 2000
    assert expected_samples(duration_ms=1000.0, record_step_ms=0.1) == 10000
    assert expected_samples(duration_ms=99.9, record_step_ms=0.1) == 999
    # ... and exactly these counts (the last sample is well inside the run)
    assert expected_samples(duration_ms=100.3, record_step_ms=0.3) == 335
    assert expected_samples(duration_ms=60.3, record_step_ms=0.25) == 242
