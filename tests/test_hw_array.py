"""The bare systolic array (no skew, no sequencer) in Amaranth's simulator, both dataflows.

The test feeds the textbook skewed schedule itself and checks the products against a naive
int64 matrix product, so the array's chaining is tested independently of Skew/TileSequencer.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.hw.array import SystolicArray
from hwcnn.numerics.fixedpoint import wrap


def naive_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            for kk in range(k):
                out[i, j] += int(a[i, kk]) * int(b[kk, j])
    return out


def run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("rows,cols,k", [(2, 3, 5), (3, 2, 1), (4, 4, 9)])
def test_output_stationary(rows: int, cols: int, k: int) -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                           dataflow=Dataflow.OUTPUT_STATIONARY))
    dut = SystolicArray(cfg)
    rng = np.random.default_rng(rows * cols + k)
    a = rng.integers(-128, 128, (rows, k))
    b = rng.integers(-128, 128, (k, cols))
    a[:, 0], b[0, :] = -128, -128
    expected = naive_matmul(a, b)

    async def bench(ctx) -> None:
        ctx.set(dut.clr, 1)
        await ctx.tick()
        ctx.set(dut.clr, 0)
        # Row r receives A[r, t - r] at stream cycle t, column c receives B[t - c, c].
        for t in range(k + rows + cols - 2):
            for r in range(rows):
                kk = t - r
                ctx.set(dut.a_in[r], int(a[r, kk]) if 0 <= kk < k else 0)
            for c in range(cols):
                kk = t - c
                ctx.set(dut.b_in[c], int(b[kk, c]) if 0 <= kk < k else 0)
            await ctx.tick()
        got = [[ctx.get(dut.acc[r][c]) for c in range(cols)] for r in range(rows)]
        assert got == expected.tolist()
        # Zeros keep flowing: the result holds; clr clears every PE.
        for r in range(rows):
            ctx.set(dut.a_in[r], 0)
        await ctx.tick()
        assert [[ctx.get(dut.acc[r][c]) for c in range(cols)] for r in range(rows)] == got
        ctx.set(dut.clr, 1)
        await ctx.tick()
        assert all(ctx.get(dut.acc[r][c]) == 0 for r in range(rows) for c in range(cols))

    run(dut, bench)


@pytest.mark.parametrize("rows,cols,m", [(2, 3, 5), (3, 2, 1), (4, 4, 6)])
def test_weight_stationary(rows: int, cols: int, m: int) -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                           dataflow=Dataflow.WEIGHT_STATIONARY))
    dut = SystolicArray(cfg)
    rng = np.random.default_rng(rows * cols + m + 100)
    a = rng.integers(-128, 128, (m, rows))        # K = rows (one fold)
    b = rng.integers(-128, 128, (rows, cols))
    a[0, :], b[:, 0] = -128, -128
    expected = naive_matmul(a, b)

    async def bench(ctx) -> None:
        # Preload: push B rows bottom-first; after R shifts row r holds B[r, :].
        ctx.set(dut.load, 1)
        for r in reversed(range(rows)):
            for c in range(cols):
                ctx.set(dut.w_in[c], int(b[r, c]))
            await ctx.tick()
        ctx.set(dut.load, 0)
        # Stream: row r receives A[t - r, r] at stream cycle t. The bottom PE of column c
        # finishes A row i at cycle i + (R-1) + c; its register shows it after that edge.
        log = []
        for t in range(m + rows + cols):
            for r in range(rows):
                i = t - r
                ctx.set(dut.a_in[r], int(a[i, r]) if 0 <= i < m else 0)
            await ctx.tick()
            log.append([ctx.get(dut.psum_out[c]) for c in range(cols)])
        got = [[log[i + rows - 1 + c][c] for c in range(cols)] for i in range(m)]
        assert got == wrap(expected, 32).tolist()

    run(dut, bench)
