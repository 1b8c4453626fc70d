"""Benchmark: whole-network estimates versus the stepped cycle model, on a 128x128 array.

For VGG16 and ResNet-50, in both dataflows, it times ``perf.estimate`` (lowering + closed-form
tile cycles + the DRAM model) over every layer, then runs the stepped, register-level model
(:mod:`hwcnn.machine.cyclesim`) on a sample of the same tiles, checks that the sampled cycle counts
equal the closed form, and extrapolates the stepped model's time for the whole program from
its measured seconds per simulated cycle (the stepped model updates the whole PE grid each
cycle, so its cost per cycle barely depends on the tile shape). It prints the speed-up.

Then it times the whole VGG16 estimate in-process on the board defaults (ultra96-v2, kv260)
and on 16x16 / 32x32 without a board, both dataflows, split into lowering (the tile search)
and the DRAM model (target: < 0.2 s per estimate).

Run: ``.venv/bin/python bench/bench_estimate.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwcnn.arch import timing
from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig, MemoryConfig
from hwcnn.compiler import GemmTile, PoolTile
from hwcnn.frontend.layers import PoolOp
from hwcnn.frontend.spec import load_spec
from hwcnn.graph.build import build_graph
from hwcnn.machine import cyclesim, poolsim
from hwcnn.numerics.golden_ops import Requant
from hwcnn.report import perf

NETWORKS = ("vgg16", "resnet50")
#: 128x128 int8 array, 4 MiB per buffer (VGG16's fc6 keeps K = 25,088 in one tile: 3.1 MiB
#: of weights), 64 bytes/cycle of DRAM (12.8 GB/s at 200 MHz).
ROWS = COLS = 128
KIB = 4096
BYTES_PER_CYCLE = 64.0
CLOCK_MHZ = 200.0


def hardware(df: Dataflow) -> HardwareConfig:
    return HardwareConfig(array=ArrayConfig(rows=ROWS, cols=COLS, dataflow=df),
                          memory=MemoryConfig(act_kib=KIB, weight_kib=KIB, out_kib=KIB,
                                              dram_bytes_per_cycle=BYTES_PER_CYCLE),
                          clock_mhz=CLOCK_MHZ)


def time_estimate(g, hw: HardwareConfig, repeat: int = 3):  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows, program, _ = perf.estimate_program(g, hw)
        best = min(best, time.perf_counter() - t0)
    return best, rows, program


def stepped_seconds_per_cycle(tiles: list, hw: HardwareConfig, samples: int,  # type: ignore[type-arg]
                              rng: np.random.Generator) -> tuple[float, float, int]:
    """(s/cycle for GEMM tiles, s/cycle for pool tiles, tiles simulated), on the smallest
    tiles (so the sample finishes); every sampled count is checked against the closed form."""
    arr = hw.array
    gemm = sorted((t for t in tiles if isinstance(t, GemmTile)),
                  key=lambda t: timing.gemm_tile_cycles(t.m, t.n, t.k, arr))
    pool = sorted((t for t in tiles if isinstance(t, PoolTile)),
                  key=lambda t: timing.pool_tile_cycles(t.out_h, t.out_w, *t.win, arr))
    rq = Requant(m0=1 << 30, shift=38, lo=-128, hi=127)
    rates = []
    done = 0
    for t in gemm[:: max(1, len(gemm) // (4 * samples))][:samples]:
        a = rng.integers(-128, 128, (t.m, t.k))
        b = rng.integers(-128, 128, (t.k, t.n))
        t0 = time.perf_counter()
        _, cycles = cyclesim.run_gemm_tile(a, b, None, rq, arr)
        rates.append((time.perf_counter() - t0) / cycles)
        assert cycles == timing.gemm_tile_cycles(t.m, t.n, t.k, arr), t
        done += 1
    pool_rates = []
    for t in pool[:max(1, samples // 2)]:
        x = rng.integers(-128, 128, (t.channels, t.in_h, t.in_w))
        t0 = time.perf_counter()
        _, cycles = poolsim.run_pool_tile(x, PoolOp.MAX, win=t.win, stride=t.stride, pad=t.pad,
                                           out_hw=(t.out_h, t.out_w), array=arr)
        pool_rates.append((time.perf_counter() - t0) / cycles)
        assert cycles == timing.pool_tile_cycles(t.out_h, t.out_w, *t.win, arr), t
        done += 1
    return float(np.median(rates)), float(np.median(pool_rates)) if pool_rates else 0.0, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3, help="GEMM tiles to step per run")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"array {ROWS}x{COLS}, buffers {KIB} KiB each, {BYTES_PER_CYCLE:g} B/cycle, "
          f"{CLOCK_MHZ:g} MHz")
    print(f"{'network':9s} {'df':3s} {'tiles':>7s} {'estimate s':>10s} {'cycles':>13s} "
          f"{'util %':>7s} {'stepped s/cyc':>13s} {'stepped s (extrap.)':>20s} {'speed-up':>10s}")
    worst = 0.0
    for name in NETWORKS:
        g = build_graph(load_spec(ROOT / "models" / f"{name}.yaml"))
        for df in (Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY):
            hw = hardware(df)
            est_s, rows, program = time_estimate(g, hw)
            worst = max(worst, est_s)
            tiles = list(program.tiles())
            gemm_cycles = sum(timing.gemm_tile_cycles(t.m, t.n, t.k, hw.array)
                              for t in tiles if isinstance(t, GemmTile))
            pool_cycles = sum(timing.pool_tile_cycles(t.out_h, t.out_w, *t.win, hw.array)
                              for t in tiles if isinstance(t, PoolTile))
            spc_g, spc_p, _ = stepped_seconds_per_cycle(tiles, hw, args.samples, rng)
            stepped = spc_g * gemm_cycles + spc_p * pool_cycles
            tot = perf.totals(rows, hw)
            print(f"{name:9s} {df.value:3s} {len(tiles):7d} {est_s:10.3f} {tot.total_cycles:13,d} "
                  f"{100 * tot.utilization:7.1f} {spc_g:13.2e} {stepped:20,.0f} "
                  f"{stepped / est_s:9,.0f}x")
    verdict = "OK" if worst < 1.0 else "SLOWER THAN 1 s"
    print(f"slowest whole-network estimate: {worst:.3f} s ({verdict}; target < 1 s per network)")
    vgg16_configs()


def vgg16_configs(repeat: int = 3) -> None:
    """Whole VGG16 estimates (lowering + DRAM model) on the board defaults and plain arrays."""
    from hwcnn.cli.options import hardware_from_options
    from hwcnn.compiler import lower
    from hwcnn.machine import memsim

    g = build_graph(load_spec(ROOT / "models" / "vgg16.yaml"))
    print(f"\nVGG16 estimate in-process (best of {repeat}):")
    print(f"{'config':11s} {'df':3s} {'tiles':>6s} {'lower s':>8s} {'memsim s':>9s} {'total s':>8s}")
    worst = 0.0
    for label, board, array in (("ultra96-v2", "ultra96-v2", None), ("kv260", "kv260", None),
                                ("16x16", None, "16x16"), ("32x32", None, "32x32")):
        for df in ("ws", "os"):
            hw, _ = hardware_from_options(board=board, array=array, dataflow=df)
            lo = sim = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                prog = lower(g, hw)
                t1 = time.perf_counter()
                comp, rd, wr, dbl = prog.arrays()
                memsim.simulate(comp, rd, wr, hw.memory.bytes_per_cycle, double_buffered=dbl)
                t2 = time.perf_counter()
                lo, sim = min(lo, t1 - t0), min(sim, t2 - t1)
            worst = max(worst, lo + sim)
            print(f"{label:11s} {df:3s} {len(comp):6d} {lo:8.3f} {sim:9.3f} {lo + sim:8.3f}")
    print(f"slowest VGG16 estimate: {worst:.3f} s "
          f"({'OK' if worst < 0.2 else 'SLOWER THAN'} target 0.2 s)")


if __name__ == "__main__":
    main()
