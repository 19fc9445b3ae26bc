"""Run a Python module or script whose disk "fills up" mid-run: a file-size limit set once a file appears.

Usage: python fsize_launcher.py WATCH FRACTION DELAY RANK (-m MODULE | SCRIPT) [ARGS...]

On MPI rank RANK (``PMI_RANK``; every rank when RANK is -1), a thread waits for the file WATCH to appear and then
to change (the writer opened it for the run), then DELAY seconds, then sets ``RLIMIT_FSIZE`` to FRACTION of its
size (SIGXFSZ ignored, so a write past the limit fails with EFBIG as on a full disk or an exhausted quota) and the
program goes on. The NWB writer creates its partial file complete (structure and data allocated at their final
size), so the limit makes one of its next writes fail, in the middle of the run.
"""

import os
import resource
import runpy
import signal
import sys
import threading
import time


def limit_when_present(watch: str, fraction: float, delay: float) -> None:
    while not os.path.exists(watch):
        time.sleep(0.001)
    first = os.stat(watch).st_mtime_ns
    while os.stat(watch).st_mtime_ns == first:
        time.sleep(0.001)
    time.sleep(delay)
    limit = int(os.path.getsize(watch) * fraction)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def main() -> None:
    watch, fraction, delay, rank = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    rest = sys.argv[5:]
    if rank < 0 or int(os.environ.get("PMI_RANK", "0")) == rank:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        threading.Thread(target=limit_when_present, args=(watch, fraction, delay), daemon=True).start()
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
