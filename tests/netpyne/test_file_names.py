"""NWB file names of NetPyNE runs: the name NetPyNE puts in ``cfg.saveFolder`` stays inside it, names reach no shell.

The config checks run in-process (no simulation); one real run writes files whose names are full of shell syntax.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netpyne_module import parse_save_nwb
from tests.conftest import mpi_env

from .test_config import make_cfg

SHELLY = "v $(touch PWNED) ; `touch PWNED2` 'q' \"dq\" é ü"


@pytest.fixture
def out(tmp_path) -> Path:
    """``out/`` (cfg.saveFolder) with ``link -> ../elsewhere``, ``inside/`` and ``inside/up -> ..`` (= out)."""
    (tmp_path / "out" / "inside").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to("../elsewhere")
    (tmp_path / "out" / "inside" / "up").symlink_to("..")
    return tmp_path / "out"


ESCAPING = ["../x", "../../x", "sub/../../x", "link/x", "link/../x", "inside/up/../x", "inside/up/link/x"]


@pytest.mark.parametrize("key", ["simLabel", "filename"])
@pytest.mark.parametrize("name", ESCAPING)
def test_name_leaving_save_folder_is_a_config_error(out, key, name):
    before = sorted(out.parent.rglob("*"))
    cfg = make_cfg(saveFolder=str(out), **{key: name})
    with pytest.raises(ValueError) as err:
        parse_save_nwb(cfg)
    msg = str(err.value)
    for text in (f"cfg.{key} {name!r}", "cfg.saveFolder", str(out.resolve()), "absolute", "cfg.saveNWB = {'filename'"):
        assert text in msg, msg
    assert sorted(out.parent.rglob("*")) == before


def test_escaping_is_refused_before_the_save_folder_exists(tmp_path):
    with pytest.raises(ValueError, match=r"cfg\.simLabel '\.\./x'"):
        parse_save_nwb(make_cfg(saveFolder=str(tmp_path / "later"), simLabel="../x"))
    assert not (tmp_path / "later").exists()


@pytest.mark.parametrize("name", ["run1", "sub/run1", "inside/../run1", "inside/up/run1", "../out/run1", SHELLY])
def test_name_resolving_inside_save_folder_is_accepted(out, name):
    assert parse_save_nwb(make_cfg(saveFolder=str(out), simLabel=name)).path == out / f"{name}.nwb"


def test_absolute_names_and_the_users_own_paths_may_point_anywhere(out):
    elsewhere = out.parent / "elsewhere"
    assert parse_save_nwb(make_cfg(saveFolder=str(out), simLabel=str(elsewhere / "a"))).path == elsewhere / "a.nwb"
    # without a saveFolder, cfg.filename is the user's own path (relative to the working directory, as in NetPyNE)
    assert parse_save_nwb(make_cfg(filename="../b")).path == Path("../b.nwb")
    # cfg.saveNWB['filename'] is the user's own output path too
    opts = parse_save_nwb(make_cfg({"filename": "../c.nwb"}, saveFolder=str(out)))
    assert opts.path == Path("../c.nwb")


@pytest.mark.parametrize(
    "over, match",
    [
        ({"saveFolder": "out", "simLabel": "x\0y"}, r"cfg\.simLabel .*NUL"),
        ({"filename": "x\0y"}, r"cfg\.filename .*NUL"),
        ({"saveNWB": {"filename": "x\0.nwb"}}, r"cfg\.saveNWB\['filename'\] .*NUL"),
    ],
)
def test_nul_in_a_name_is_a_config_error(over, match):
    with pytest.raises(ValueError, match=match):
        parse_save_nwb(make_cfg(**over))


RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from model import build
import netpyne_module
net, cfg = build(n_cells=2, duration_ms=20.0, save_folder=sys.argv[2], save_nwb=json.loads(sys.argv[4]))
cfg.simLabel = sys.argv[3]
netpyne_module.createSimulateAnalyze(net, cfg)
"""


@pytest.mark.simulator
@pytest.mark.parametrize("where", ["simLabel", "saveNWB"])
def test_shell_syntax_in_names_is_written_literally(tmp_path, where):
    pytest.importorskip("netpyne")
    from simout_plugins import open_report

    folder = tmp_path / "out"
    if where == "simLabel":  # <saveFolder>/<simLabel>.nwb
        save_nwb, expected = True, folder / f"{SHELLY}.nwb"
    else:  # cfg.saveNWB['filename'], relative to the working directory
        save_nwb, expected = {"filename": f"{SHELLY}.nwb"}, tmp_path / f"{SHELLY}.nwb"
    tests_dir = str(Path(__file__).resolve().parent)
    cmd = [sys.executable, "-c", RUN, tests_dir, str(folder), SHELLY, json.dumps(save_nwb)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in tmp_path.rglob("*.nwb")] == [expected.name]
    assert expected.is_file()
    with open_report(expected) as report:
        frame = report["v"].get()
        assert frame.data.shape[0] > 0 and frame.data.shape[1] > 0
    assert not list(tmp_path.rglob("PWNED*"))  # the run's working directory
    assert not list(Path.cwd().glob("PWNED*"))
