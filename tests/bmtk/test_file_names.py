"""Report file names: a relative ``file_name`` stays inside the output folder, names reach no shell.

The config checks run in-process (``parse_reports`` needs no simulation); one run shows the check stops
``python -m bmtk_module run`` before anything is built or written, one real run writes a file whose name is full of
shell syntax.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bmtk_module.config import parse_reports

from .conftest import nwb, run_bmtk

SHELLY = "v $(touch PWNED) ; `touch PWNED2` 'q' \"dq\" é ü.nwb"


def _reports(file_name: str) -> dict:
    return {"r1": nwb("v", file_name=file_name)}


@pytest.fixture
def layout(tmp_path) -> tuple[Path, Path]:
    """``out/`` (the output folder, with ``link -> ../elsewhere`` and ``inside/``) and ``elsewhere/``."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "inside").mkdir(parents=True)
    elsewhere.mkdir()
    (out / "link").symlink_to("../elsewhere")
    (out / "inside" / "up").symlink_to("..")  # -> out
    return out, elsewhere


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


ESCAPING = [
    "../x.nwb",
    "../../x.nwb",
    "sub/../../x.nwb",
    "inside/../../elsewhere/x.nwb",
    "link/x.nwb",  # a symlink inside the output folder pointing outside
    "link/../x.nwb",  # '..' after a symlink: the OS goes to elsewhere/.., not out/
    "inside/up/../x.nwb",  # lexically out/inside/x.nwb, but up -> out, so out/../x.nwb
    "inside/up/link/x.nwb",
]


@pytest.mark.parametrize("file_name", ESCAPING)
def test_relative_file_name_leaving_the_output_folder_is_a_config_error(layout, file_name):
    out, _ = layout
    before = _tree(out.parent)
    with pytest.raises(ValueError) as err:
        parse_reports(reports=_reports(file_name), output_dir=out)
    msg = str(err.value)
    for text in ("report 'r1'", "file_name", repr(file_name), str(out.resolve()), "absolute"):
        assert text in msg, msg
    assert _tree(out.parent) == before  # nothing created


def test_escaping_is_refused_before_the_output_folder_exists(tmp_path):
    out = tmp_path / "not_yet"
    with pytest.raises(ValueError, match=r"report 'r1'.*'\.\./x\.nwb'.*absolute"):
        parse_reports(reports=_reports("../x.nwb"), output_dir=out)
    assert not out.exists()


@pytest.mark.parametrize("file_name", ["x.nwb", "inside/x.nwb", "inside/../x.nwb", "../out/x.nwb", "inside/up/x.nwb"])
def test_relative_file_name_resolving_inside_is_accepted(layout, file_name):
    out, _ = layout
    (spec,) = parse_reports(reports=_reports(file_name), output_dir=out)
    assert spec.path == out / file_name
    assert out.resolve() in spec.path.resolve().parents


def test_absolute_file_name_may_point_anywhere(layout):
    out, elsewhere = layout
    target = elsewhere / "x.nwb"
    (spec,) = parse_reports(reports=_reports(str(target)), output_dir=out)
    assert spec.path == target
    (spec,) = parse_reports(reports=_reports(str(out / ".." / "elsewhere" / "y.nwb")), output_dir=out)
    assert spec.path.resolve() == elsewhere / "y.nwb"


def test_absolute_file_name_in_a_missing_folder_names_the_report(layout):
    out, elsewhere = layout
    missing = elsewhere / "no" / "x.nwb"
    with pytest.raises(ValueError, match=r"report 'r1': file_name .*does not exist; create it first"):
        parse_reports(reports=_reports(str(missing)), output_dir=out)
    assert not missing.parent.exists()


def test_sub_folders_inside_the_output_folder_are_created_once_it_exists(tmp_path):
    out = tmp_path / "out"
    name = "a b/c;d/x.nwb"
    parse_reports(reports=_reports(name), output_dir=out)  # the runner's early check: BMTK has not made out/ yet
    assert not out.exists()
    out.mkdir()  # BMTK's build_env
    (spec,) = parse_reports(reports=_reports(name), output_dir=out)
    assert spec.path.parent.is_dir() and spec.path.parent == out / "a b" / "c;d"
    absolute_inside = out / "abs" / "y.nwb"  # e.g. "${output_dir}/abs/y.nwb" after BMTK's substitution
    parse_reports(reports=_reports(str(absolute_inside)), output_dir=out)
    assert absolute_inside.parent.is_dir()


def test_sub_folder_blocked_by_a_file_names_the_report(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocker").write_text("")
    with pytest.raises(ValueError, match=r"report 'r1': file_name 'blocker/x\.nwb': cannot create the folder"):
        parse_reports(reports=_reports("blocker/x.nwb"), output_dir=out)


def test_nul_in_file_name_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match=r"report 'r1'.*NUL"):
        parse_reports(reports=_reports("x\0.nwb"), output_dir=tmp_path)


def test_shell_syntax_is_kept_in_the_spec(tmp_path):
    (spec,) = parse_reports(reports=_reports(SHELLY), output_dir=tmp_path)
    assert spec.path.name == SHELLY


@pytest.mark.simulator
def test_escaping_file_name_stops_the_run_before_anything_is_written(bmtk_network):
    out = bmtk_network.root / "fn_escape"
    config = bmtk_network.config(out, _reports("../../fn_escaped.nwb"))
    result = run_bmtk(config, check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "[ERROR] bmtk_module" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "report 'r1'" in errors[0] and "'../../fn_escaped.nwb'" in errors[0] and "absolute" in errors[0]
    assert "Running simulation" not in result.stderr + result.stdout
    assert list(out.iterdir()) == []  # checked before BMTK sets up (or empties) the output folder
    assert not list(bmtk_network.root.parent.rglob("fn_escaped*"))


@pytest.mark.simulator
def test_shell_syntax_in_file_name_is_written_literally(bmtk_network, tmp_path_factory):
    from simout_plugins import open_report

    out = bmtk_network.root / "fn_shelly"
    nested = "new dir/$(touch PWNED3)/soma.nwb"  # folders inside the output folder are created after BMTK's set-up
    reports = {
        "shelly": nwb("v", sections="soma", file_name=SHELLY),
        "nested": nwb("v", sections="soma", file_name=nested),
    }
    run_bmtk(bmtk_network.config(out, reports))
    assert sorted(p.name for p in out.glob("*.nwb")) == [SHELLY]
    for path in (out / SHELLY, out / nested):
        with open_report(path) as report:
            frame = report["v"].get()
            assert frame.data.shape[0] > 0 and frame.data.shape[1] > 0
    assert not list(tmp_path_factory.getbasetemp().rglob("PWNED*"))  # the run's cwd is in there
    assert not list(Path.cwd().glob("PWNED*"))
