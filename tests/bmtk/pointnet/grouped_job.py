"""A pointnet run (the one-line run script) with a small multimeter read size, so a report's cells spread over many
multimeters; prints the simulator's module classes. argv: config, events per read."""

from __future__ import annotations

import json
import logging
import sys

from bmtk.simulator import pointnet

from bmtk_module import point_recorder
from bmtk_module.pointnet_runner import point_simulator_from_config

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    point_recorder.EVENTS_PER_READ = int(sys.argv[2])
    conf = pointnet.Config.from_json(sys.argv[1])
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    sim = point_simulator_from_config(conf, net)
    print("MODS " + json.dumps([type(mod).__name__ for mod in sim._mods]), flush=True)  # noqa: T201
    sim.run()
