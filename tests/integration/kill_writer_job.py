"""A writer run for the SIGKILL test (``test_kill_recover.py``): deterministic data, progress in a file.

``python kill_writer_job.py OUT.nwb [SLEEP_S [FLUSH_S]]`` runs once. ``python kill_writer_job.py --serve`` imports
everything once, says ``ready`` and then, for each stdin line ``run OUT.nwb SLEEP_S FLUSH_S``, forks a child that runs
(saying
``pid PID``) and reports its end (``exit PID STATUS``, the raw ``waitpid`` status): the test kills the child, and
no trial pays for the imports.

A run writes two series over two populations, :data:`N_STEPS` steps in blocks of :data:`BLOCK` with a short sleep
per block, with the writer's ``flush_interval_s=FLUSH_S``, and spikes at close; the value at (step, column) is
:func:`value`. After each event it appends one line to ``OUT``'s folder's ``progress.txt`` (unbuffered ``os.write``,
so it survives SIGKILL): ``opened`` (structure written, sink open), ``block K F_v F_cai T0 T1`` (K blocks of every
series written; F = the writer's ``steps_flushed`` per series after them; T0 / T1 = ``time.monotonic()`` just before
the block's first ``write_block`` and just after its last), ``closing`` (before ``close()``: spikes, move), ``done``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import numpy as np

N_STEPS, BLOCK = 300, 10
SERIES = {"v": ("mV", "float32", 0.0), "cai": ("mM", "float64", 0.5)}  # name: unit, dtype, offset of the values
NODE_IDS = [0, 1, 2, 0, 1]
POPS = ["exc", "exc", "exc", "inh", "inh"]
COUNTS = [3, 1, 2, 0, 2]
N_COLS = sum(COUNTS)
SPIKES = dict(node_ids=[0, 2, 0, 1], times_ms=[1.5, 2.0, 3.25, 4.0], population=["exc", "exc", "inh", "inh"])
PROGRESS = "progress.txt"


def value(step: np.ndarray | int, col: np.ndarray | int, offset: float = 0.0) -> np.ndarray:
    """The value written at (step, column): exact in float32 for every step and column here."""
    return np.asarray(step, dtype=np.float64) * 16.0 + np.asarray(col, dtype=np.float64) + offset


def expected(name: str, n: int, start: int = 0) -> np.ndarray:
    """Rows ``start .. n - 1`` of series ``name`` as written (file column order = the order given here)."""
    _, dtype, offset = SERIES[name]
    return value(np.arange(start, n)[:, None], np.arange(N_COLS)[None, :], offset).astype(dtype)


def validation_errors(path: str) -> list[str]:
    """``pynwb.validate`` of a file, as text (run in a worker process by the test)."""
    import warnings

    from pynwb import validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(e) for e in validate(path=path)]


def run(out: str, sleep_s: float, flush_s: float) -> None:
    from simout_plugins import CompartmentSeriesWriter, build_compartments

    fd = os.open(os.path.join(os.path.dirname(os.path.abspath(out)), PROGRESS), os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def say(text: str) -> None:
        os.write(fd, (text + "\n").encode())

    comps = build_compartments(
        node_ids=NODE_IDS, counts=COUNTS, number=list(range(N_COLS)), position=[0.5] * N_COLS, population=POPS
    )
    with CompartmentSeriesWriter(
        out, compartments=comps, name="v", n_steps=N_STEPS, dt_ms=0.1, unit="mV", dtype="float32",
        block_steps=BLOCK, nwb_metadata={"session_description": "kill test"}, flush_interval_s=flush_s,
        overwrite=True,
    ) as w:  # fmt: skip
        w.add_series(name="cai", unit="mM", dtype="float64")
        w.add_spikes(**SPIKES, units_node_ids=NODE_IDS, units_population=POPS, resolution_ms=0.1)
        w.open()
        say("opened")
        for k, step0 in enumerate(range(0, N_STEPS, BLOCK)):
            t0 = time.monotonic()
            for name in SERIES:
                w.write_block(step0, expected(name, step0 + BLOCK, step0), series=name)
            t1 = time.monotonic()
            flushed = w.steps_flushed
            say(f"block {k + 1} " + " ".join(str(flushed[name]) for name in SERIES) + f" {t0!r} {t1!r}")
            time.sleep(sleep_s)
        say("closing")
    say("done")
    os.close(fd)


def serve() -> None:
    """Fork one child per ``run OUT SLEEP_S`` line of stdin (see the module docstring)."""
    import simout_plugins.write.writer  # noqa: F401 - imported once, before any fork

    def reply(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    reply("ready")
    for line in sys.stdin:
        cmd, out, sleep_s, flush_s = line.split()
        assert cmd == "run", line
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                run(out, float(sleep_s), float(flush_s))
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        reply(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        reply(f"exit {pid} {status}")


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve()
    else:
        run(
            sys.argv[1],
            float(sys.argv[2]) if len(sys.argv) > 2 else 0.01,
            float(sys.argv[3]) if len(sys.argv) > 3 else 1.0,
        )
