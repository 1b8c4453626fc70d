"""How far memsim's latency (what `hwcnn report --board B` prints by default) is from the
complete accelerator's, on board defaults: for each network x board, memsim's total cycles, the
whole machine's cycles on the board's AXI width (boards.yaml axi_bits; the stepped model up to
12 M cycles, else the instruction-level estimate of hwcnn.machine.insnsim, within 3 % of it),
their ratio, and the share of the machine's cycles in which the load unit was busy (BUSY1). Run: python bench/bench_machine.py [MODEL:BOARD ...]
(default: a set of shipped models and boards; VGG16 takes about a minute to compile)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn import api
from hwcnn.boards.profiles import get_board
from hwcnn.compiler.backend import compile_network
from hwcnn.report.machine import PROVEN, machine_figures
from hwcnn.report.perf import estimate, totals

CASES = ("tiny_cnn:arty-a7-35t", "lenet5:arty-a7-35t", "lenet5:pynq-z2",
         "resnet18:kv260", "alexnet227:pynq-z2", "alexnet227:kv260", "mobilenet_v2:kv260")


def main(cases: list[str]) -> None:
    print(f"{'model':<11} {'board':<12} {'bus':>3} {'memsim':>12} {'machine':>12} {'kind':<9} "
          f"{'ratio':>6} {'load busy':>9} {'seconds':>8}")
    for case in cases:
        name, board_id = case.split(":")
        board = get_board(board_id)
        g = api.build_graph(ROOT / "models" / f"{name}.yaml")
        hw = api.hardware(board_id)
        memsim = totals(estimate(g, hw, board), hw).total_cycles
        comp = compile_network(api.lower(g, hw), api.quantize(g))
        t0 = time.perf_counter()
        fig = machine_figures(comp, hw, board, estimate=True)
        dt = time.perf_counter() - t0
        assert fig is not None
        kind = "stepped" if fig.label == PROVEN else "estimate"
        print(f"{name:<11} {board_id:<12} {fig.bus_bits:>3} {memsim:>12,} {fig.cycles:>12,} {kind:<9} "
              f"{fig.cycles / memsim:>5.1f}x {100 * fig.busy[1] / fig.cycles:>8.0f}% "
              f"{dt:>8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(CASES))
