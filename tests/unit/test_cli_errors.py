"""``simout``: one line and exit status 2 for a user error, the full traceback for a bug of ours."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simout_plugins.cli import app
from tests.factories import make_nwb

BUG = """
import sys
import simout_plugins.cli.info as info
def bug(path):
    raise KeyError("a bug of ours")
info.describe_nwb = bug
from simout_plugins.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("argv_of", "says"),
    [
        (lambda p, t: ["info", str(t / "missing.nwb")], "no such file"),
        (lambda p, t: ["plot", str(p), "--series", "nope", "-o", str(t / "x.png")], "no series 'nope'"),
        (lambda p, t: ["plot", str(p), "--population", "nope", "-o", str(t / "x.png")], "nope"),
        (lambda p, t: ["plot", str(p), "--tstart", "5", "--tstop", "1", "-o", str(t / "x.png")], "before --tstart"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, argv_of, says):
    nwb = make_nwb(tmp_path / "a.nwb")
    assert app.main(argv_of(nwb, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simout: error: ") and says in err[0], err


def test_a_damaged_file_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert app.main(["info", str(tmp_path / "bad.nwb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.nwb" in err[0]


def test_a_bug_of_ours_propagates_in_process(tmp_path, monkeypatch):
    import simout_plugins.cli.info as info

    monkeypatch.setattr(info, "describe_nwb", lambda path: {}["missing key"])
    with pytest.raises(KeyError, match="missing key"):
        app.main(["info", str(make_nwb(tmp_path / "a.nwb"))])


def test_a_bug_of_ours_prints_the_traceback(tmp_path):
    nwb = make_nwb(tmp_path / "a.nwb")
    run = subprocess.run([sys.executable, "-c", BUG, "info", str(nwb)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert "KeyError: 'a bug of ours'" in run.stderr
    assert "simout: error" not in run.stderr and "corrupted" not in run.stderr
