"""Run one NetPyNE simulation in a fresh process (``sim`` is global state) and dump what the tests compare.

Usage: ``python driver.py params.json``. ``params``: model keyword arguments (see ``model.build``) plus
``mpi`` (call ``h.nrnmpi_init()`` first), ``nrnmpi`` (default = ``mpi``), ``mode`` ("install" | "wrapper" |
"sequence" | "plain"), ``dump`` (pickle path written by rank 0 with the gathered traces and spikes), and
``fail_after_ms`` / ``fail_rank`` (raise in the middle of the run, on one rank or on every rank).
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    params = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if params.pop("nrnmpi", params.get("mpi", False)):
        from neuron import h

        h.nrnmpi_init()
        from simout_plugins.mpi import end_mpi_at_exit

        end_mpi_at_exit()  # plain-NetPyNE reference runs too: NEURON 9.0 ending MPI kills a rank now and then
    params.pop("mpi", None)
    mode = params.pop("mode", "install")
    dump = params.pop("dump", None)
    fail_after_ms = params.pop("fail_after_ms", None)
    fail_rank = params.pop("fail_rank", None)  # None: every rank fails

    from model import build
    from netpyne import sim

    import netpyne_module

    net, cfg = build(**params)
    if fail_after_ms is not None:  # simulate a crash in the middle of the run
        original = netpyne_module.NWBRecorder.on_interval

        def on_interval(self, t_ms):
            original(self, t_ms)
            if t_ms >= fail_after_ms and fail_rank in (None, int(sim.rank)):
                raise RuntimeError(f"simulated failure at t = {t_ms} ms")

        netpyne_module.NWBRecorder.on_interval = on_interval
    if mode == "install":
        netpyne_module.install()
        sim.createSimulateAnalyze(net, cfg)
    elif mode == "wrapper":
        netpyne_module.createSimulateAnalyze(net, cfg)
    elif mode == "sequence":
        netpyne_module.install()
        sim.create(net, cfg)
        sim.simulate()
        sim.analyze()
    else:  # plain NetPyNE (reference run)
        sim.createSimulateAnalyze(net, cfg)
    if dump and sim.rank == 0:
        traces = {
            key: {cell: [float(x) for x in v] if not isinstance(v, dict) else {k: list(x) for k, x in v.items()}
                  for cell, v in sim.allSimData[key].items()}
            for key in cfg.recordTraces if key in sim.allSimData
        }  # fmt: skip
        out = {
            "traces": traces,
            "spkt": list(sim.allSimData["spkt"]),
            "spkid": list(sim.allSimData["spkid"]),
            "nhosts": sim.nhosts,
            "tags": {c["gid"]: dict(c["tags"]) for c in sim.net.allCells},
        }
        with open(dump, "wb") as f:
            pickle.dump(out, f)


if __name__ == "__main__":
    main()
