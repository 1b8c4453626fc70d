"""Speed of the whole-machine cycle model (hwcnn.machine.socsim): simulated cycles per second
on the five networks of issue 11 (4x4 array, 1 KiB buffers, both dataflows, Arty A7's DRAM,
64-bit bus), and the instruction-level estimate (hwcnn.machine.insnsim) on the same programs:
its cycles, its error against the stepped model and how many times faster it ran.
Run: python bench/bench_socsim.py"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.arch.config import Dataflow
from hwcnn.boards.profiles import get_board
from hwcnn.machine.insnsim import run_program_fast
from hwcnn.machine.socsim import run_program
from tests.test_program import _compiled

MODELS = ("tiny_cnn", "lenet5", "resblock", "mbv2_block", "fire")


def main() -> None:
    dram = get_board("arty-a7-35t").dram_timing(100.0)
    print(f"{'model':<11} {'df':<3} {'cycles':>9} {'seconds':>8} {'cycles/s':>10} "
          f"{'estimate':>9} {'error':>7} {'speed-up':>8}")
    for name in MODELS:
        for df in (Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY):
            prog, _, _, comp = _compiled(name, df, 4, 4, 1)
            t0 = time.perf_counter()
            run = run_program(comp, array=prog.hw.array, bus_bytes=8, dram=dram, base=0x1000)
            dt = time.perf_counter() - t0
            t0 = time.perf_counter()
            est = run_program_fast(comp, array=prog.hw.array, bus_bytes=8, dram=dram, base=0x1000)
            de = time.perf_counter() - t0
            print(f"{name:<11} {df.value:<3} {run.cycles:>9,} {dt:>8.2f} {run.cycles / dt:>10,.0f} "
                  f"{est.cycles:>9,} {100 * (est.cycles / run.cycles - 1):>+6.1f}% "
                  f"{dt / de:>7.1f}x")


if __name__ == "__main__":
    main()
