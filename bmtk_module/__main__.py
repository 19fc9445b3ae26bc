"""``python -m bmtk_module run config.json``: build a BMTK network, attach its NWB reports, run (MPI aware)."""

from __future__ import annotations

import argparse
import logging
import sys

from simout_plugins.failstop import abort_job, is_collective

logger = logging.getLogger("bmtk_module")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmtk_module", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="build, attach the NWB reports and run a BMTK simulation config")
    run_p.add_argument("config", help="BMTK simulation config JSON")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s"))
    for name in ("bmtk_module", "simout_plugins"):  # BMTK logs through its own handler
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    from .runner import run

    try:
        paths = run(args.config)
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        comm = _world()
        if comm is not None and not is_collective(exc):  # the other ranks may be waiting for this one: end the job
            abort_job(comm, exc, context=f"python -m bmtk_module run {args.config}")
        if comm is None or comm.Get_rank() == 0:  # a collective error: every rank has it, rank 0 says it once
            logger.error("%s", exc)
        return 1
    for path in paths:
        logger.info("wrote %s", path)
    return 0


def _world():
    """mpi4py's COMM_WORLD when this process is one of several MPI ranks (None otherwise; MPI is not started)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not mpi.Is_initialized() or mpi.COMM_WORLD.Get_size() < 2:
        return None
    return mpi.COMM_WORLD


if __name__ == "__main__":
    sys.exit(main())
