"""One NetPyNE run with ``cfg.recordLFP`` in a fresh process; argv: MODE OUT [mpi].

MODE ``ours``: ``cfg.saveNWB`` on, through ``netpyne_module.install()`` (the LFP goes into OUT/tiny.nwb).
MODE ``reference``: plain NetPyNE's own LFP method with the one call NEURON 9 lacks replaced
(``PtrVector.ptr_update_callback``: a no-op, NEURON 9's data handles stay valid); NetPyNE's ``calculateLFP`` runs
unchanged and the sample each call adds (this rank's cells; per population, ``cfg.saveLFPPops``; per cell,
``cfg.saveLFPCells``) is saved per event to OUT/reference.<rank>.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ELECTRODES = [[50.0, y, 50.0] for y in (-50.0, 0.0, 50.0, 100.0, 150.0)]
SAVE_LFP_CELLS = [1, ("I", [0, 2])]  # gids 1, 5 and 7 (E: gids 0-4, I: 5-9), as NetPyNE's getCellsList reads it


def patch_netpyne_for_neuron9() -> None:
    """NetPyNE's setupRecordLFP with ``ptr_update_callback`` made a no-op (the only line NEURON 9 breaks)."""
    import netpyne.sim.setup as setup
    from neuron import h

    class PtrVector:
        def __init__(self, n: int) -> None:
            self._pv = h.PtrVector(n)

        def ptr_update_callback(self, func) -> None:  # NEURON 9: nothing to update
            pass

        def __getattr__(self, name: str):
            return getattr(self._pv, name)

    class H:
        def __getattr__(self, name: str):
            return PtrVector if name == "PtrVector" else getattr(h, name)

    setup.h = H()


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "mpi":
        from neuron import h

        h.nrnmpi_init()
        from simout_plugins.mpi import end_mpi_at_exit

        end_mpi_at_exit()  # the reference runs too (NEURON 9.0's own MPI teardown kills a rank now and then)
    import numpy as np
    from model import build
    from netpyne import sim

    net, cfg = build(n_cells=5, duration_ms=50.0, save_folder=str(out), save_nwb={"dtype": "float64"})
    cfg.recordLFP = ELECTRODES
    cfg.saveLFPPops = ["E", "I"]  # a list: NetPyNE's True branch leaves sim.net.popForEachGid undefined
    cfg.saveLFPCells = SAVE_LFP_CELLS
    if mode == "ours":
        import netpyne_module

        netpyne_module.install()
        sim.createSimulate(net, cfg)
        assert cfg.recordLFP == ELECTRODES  # restored after the run
        return
    cfg.saveNWB = False
    patch_netpyne_for_neuron9()
    import netpyne.sim.run as run

    calculate, samples = run.calculateLFP, []

    pops: dict[str, list] = {"E": [], "I": []}
    cells: dict[int, list] = {}

    def calculate_lfp() -> None:
        before = sim.simData["LFP"].copy()
        before_pops = {p: sim.simData["LFPPops"][p].copy() for p in pops}
        before_cells = {g: v.copy() for g, v in sim.simData["LFPCells"].items()}  # this rank's selected cells
        calculate()
        samples.append((sim.simData["LFP"] - before).sum(axis=0))
        for p in pops:
            pops[p].append((sim.simData["LFPPops"][p] - before_pops[p]).sum(axis=0))
        for g, v in before_cells.items():  # NetPyNE sets the cell's row (=, not +=): the row that changed
            changed = (sim.simData["LFPCells"][g] != v).any(axis=1)
            rows = sim.simData["LFPCells"][g][changed]
            cells.setdefault(int(g), []).append(rows[0] if len(rows) else np.zeros(v.shape[1]))

    sim.calculateLFP = calculate_lfp
    sim.createSimulate(net, cfg)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / f"reference.{int(sim.rank)}.npz",
        lfp=np.array(samples),
        rows=sim.simData["LFP"],
        **{f"lfp_{p}": np.array(v) for p, v in pops.items()},
        **{f"lfp_cell_{g}": np.array(v) for g, v in cells.items()},
    )


if __name__ == "__main__":
    main()
