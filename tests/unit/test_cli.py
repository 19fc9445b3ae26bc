"""``simout`` command line: info (text and --json), plot, exit codes and one-line errors."""

from __future__ import annotations

import json

import h5py
import pytest

from simout_plugins.cli.app import build_parser, main
from tests.factories import N_STEPS, make_nwb, make_sonata_report, make_sonata_spikes

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def nwb(tmp_path):
    return make_nwb(tmp_path / "a.nwb")


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("simout: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_info_text(nwb, capsys):
    assert main(["info", str(nwb)]) == 0
    out = capsys.readouterr().out
    assert "series 'v': 40 times x 10 compartments, float32" in out
    assert "cells 5 (cortex 3" in out and "thalamus 2" in out


def test_info_json_one_file(nwb, capsys):
    assert main(["info", "--json", str(nwb)]) == 0
    info = json.loads(capsys.readouterr().out)
    s = info["series"][0]
    assert s["cells"] == 5 and [p["cells"] for p in s["populations"]] == [3, 2]
    assert s["steps_written"] == N_STEPS and s["time_ms"] == pytest.approx([2.0, 21.5])
    assert info["units"]["spikes"] == 5


def test_info_json_several_files_is_a_list(nwb, tmp_path, capsys):
    rep, spk = make_sonata_report(tmp_path / "r.h5"), make_sonata_spikes(tmp_path / "s.h5")
    assert main(["info", "--json", str(nwb), str(rep), str(spk)]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert [i["format"] for i in infos] == ["nwb", "sonata", "sonata"]
    assert [p["nodes"] for p in infos[1]["report"]] == [2, 1]
    assert [p["spikes"] for p in infos[2]["spikes"]] == [3, 1]


def test_info_verbose_logs_to_stderr(nwb, capsys):
    assert main(["info", "-v", str(nwb)]) == 0
    assert "simout: describing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello"), "not an HDF5 file"),
        (lambda p: h5py.File(p, "w").close(), "neither an NWB file nor a SONATA"),
    ],
    ids=["missing", "not-hdf5", "other-hdf5"],
)
def test_info_bad_input(tmp_path, capsys, make, needle):
    path = tmp_path / "bad.nwb"
    make(path)
    assert main(["info", str(path)]) == 2
    _one_line_error(capsys, str(path), needle)


def test_info_bad_sonata_names_the_dataset(tmp_path, capsys):
    path = make_sonata_report(tmp_path / "r.h5")
    with h5py.File(path, "a") as f:
        del f["report/a/mapping/time"]
    assert main(["info", str(path)]) == 2
    _one_line_error(capsys, str(path), "time")


@pytest.mark.parametrize("kind", ["traces", "heatmap", "raster"])
def test_plot_nwb_writes_png(nwb, tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    assert main(["plot", str(nwb), "--kind", kind, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 1000


def test_plot_selection_in_ms(nwb, tmp_path):
    out = tmp_path / "t.png"
    args = ["plot", str(nwb), "--population", "thalamus", "--node-ids", "0", "1", "--tstart", "5", "--tstop", "10"]
    assert main([*args, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG


def test_plot_sonata_report_and_spikes(tmp_path):
    rep, spk = make_sonata_report(tmp_path / "r.h5"), make_sonata_spikes(tmp_path / "s.h5")
    assert main(["plot", str(rep), "--population", "b", "-o", str(tmp_path / "r.png")]) == 0
    assert main(["plot", str(spk), "-o", str(tmp_path / "s.png")]) == 0  # raster by default
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG and (tmp_path / "s.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--series", "nope"], ["a.nwb", "no series 'nope'", "series: ['v']"]),
        (["--population", "nope"], ["a.nwb", "population 'nope'", "cortex"]),
        (["--population", "cortex", "--node-ids", "9"], ["a.nwb", "[9]"]),
        (["--node-ids", "0"], ["a.nwb", "several populations"]),
        (["--tstart", "500"], ["a.nwb", "no samples"]),
        (["--tstart", "5", "--tstop", "1"], ["--tstop 1 ms is before --tstart 5 ms"]),
    ],
    ids=["series", "population", "node-id", "ambiguous", "window", "tstop<tstart"],
)
def test_plot_bad_selection(nwb, tmp_path, capsys, extra, needles):
    out = tmp_path / "x.png"
    assert main(["plot", str(nwb), *extra, "-o", str(out)]) == 2
    _one_line_error(capsys, *needles)
    assert not out.exists()


def test_plot_raster_without_spikes(tmp_path, capsys):
    path = make_nwb(tmp_path / "a.nwb", spikes=False)
    assert main(["plot", str(path), "--kind", "raster", "-o", str(tmp_path / "x.png")]) == 2
    _one_line_error(capsys, "a.nwb", "no spikes")
    assert main(["plot", str(make_sonata_report(tmp_path / "r.h5")), "--kind", "raster", "-o", "x.png"]) == 2
    _one_line_error(capsys, "r.h5", "no spikes")


def test_plot_bad_output_names_the_output(nwb, tmp_path, capsys):
    assert main(["plot", str(nwb), "-o", str(tmp_path / "missing" / "x.png")]) == 2
    _one_line_error(capsys, "missing", "does not exist")
    assert main(["plot", str(nwb), "-o", str(tmp_path / "x.unknown")]) == 2
    _one_line_error(capsys, "unknown image format")


def test_bad_arguments_exit_2(capsys):
    assert main(["plot"]) == 2
    assert main(["info"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["plot", "f.nwb", "-o", "x.png", "--kind", "pie"]) == 2
    capsys.readouterr()
    assert main(["--help"]) == 0


@pytest.mark.parametrize("command", ["info", "plot", "convert", "recover"])
def test_every_subcommand_parses_and_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: simout {command} ") and "FILE" in out.upper()
    operands = {"convert": ["a", "b"], "plot": ["a", "-o", "a.png"]}.get(command, ["a"])
    args = build_parser().parse_args([command, *operands])
    assert callable(args.func)  # each registered command has its handler
