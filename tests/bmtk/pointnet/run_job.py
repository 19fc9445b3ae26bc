"""A pointnet user's own run script with the one changed line (``point_simulator_from_config``); argv: config."""

from __future__ import annotations

import sys

from bmtk.simulator import pointnet

from bmtk_module.pointnet_runner import point_simulator_from_config

if __name__ == "__main__":
    conf = pointnet.Config.from_json(sys.argv[1])
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    sim = point_simulator_from_config(conf, net)  # was: pointnet.PointSimulator.from_config(conf, net)
    sim.run()
