"""The bare systolic array (no skew, no sequencer) in Amaranth's simulator, both dataflows.

The test feeds the textbook skewed schedule itself and checks the products against a naive
int64 matrix product, so the array's chaining is tested independently of Skew/TileSequencer.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch import timing
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
    """Two folds back to back: the first fold's sums move to the shadow registers (``res``) when
    its last operand passes, while the second fold already accumulates."""
    cfg = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                           dataflow=Dataflow.OUTPUT_STATIONARY))
    dut = SystolicArray(cfg)
    rng = np.random.default_rng(rows * cols + k)
    a = rng.integers(-128, 128, (2, rows, k))
    b = rng.integers(-128, 128, (2, k, cols))
    a[:, :, 0], b[:, 0, :] = -128, -128
    expected = [naive_matmul(a[f], b[f]) for f in range(2)]

    async def bench(ctx) -> None:
        ctx.set(dut.clr, 1)
        await ctx.tick()
        ctx.set(dut.clr, 0)
        # Row r receives operand s - r of the stream at cycle s, column c operand s - c
        # (stream operand f*k + kk is A[f][r, kk] / B[f][kk, c]); ``last`` rides with kk=k-1.
        seen = {}
        for s in range(2 * k + rows + cols):
            for r in range(rows):
                q = s - r
                f, kk = divmod(q, k)
                ok = 0 <= q < 2 * k
                ctx.set(dut.a_in[r], int(a[f, r, kk]) if ok else 0)
                ctx.set(dut.last_in[r], ok and kk == k - 1)
            for c in range(cols):
                q = s - c
                f, kk = divmod(q, k)
                ctx.set(dut.b_in[c], int(b[f, kk, c]) if 0 <= q < 2 * k else 0)
            await ctx.tick()
            # PE(r, c) takes the last operand of fold f at cycle f*k + k-1 + r + c; its res
            # shows the sum after that edge and holds it for k cycles.
            for r in range(rows):
                for c in range(cols):
                    for f in range(2):
                        if s - (f * k + k - 1 + r + c) in range(k if f == 0 else 2):
                            seen.setdefault((f, r, c), set()).add(ctx.get(dut.res[r][c]))
        for f in range(2):
            for r in range(rows):
                for c in range(cols):
                    assert seen[(f, r, c)] == {int(expected[f][r, c])}, (f, r, c)

    run(dut, bench)


@pytest.mark.parametrize("rows,cols,m", [(2, 3, 5), (3, 2, 1), (4, 4, 6)])
def test_weight_stationary(rows: int, cols: int, m: int) -> None:
    """Three weight banks (WS_WEIGHT_BANKS); three folds' activation streams back to back, each
    row carrying its fold's bank select."""
    F = timing.WS_WEIGHT_BANKS
    cfg = HardwareConfig(array=ArrayConfig(rows=rows, cols=cols,
                                           dataflow=Dataflow.WEIGHT_STATIONARY))
    dut = SystolicArray(cfg)
    rng = np.random.default_rng(rows * cols + m + 100)
    a = rng.integers(-128, 128, (F, m, rows))        # K = rows (one fold each)
    b = rng.integers(-128, 128, (F, rows, cols))
    a[:, 0, :], b[:, :, 0] = -128, -128
    expected = [naive_matmul(a[f], b[f]) for f in range(F)]

    async def bench(ctx) -> None:
        # Preload: push B rows bottom-first into bank f; after R shifts row r holds B[f][r, :].
        for f in range(F):
            for c in range(cols):
                ctx.set(dut.load[c], 1)
                ctx.set(dut.lsel[c], f)
            for r in reversed(range(rows)):
                for c in range(cols):
                    ctx.set(dut.w_in[c], int(b[f, r, c]))
                await ctx.tick()
        for c in range(cols):
            ctx.set(dut.load[c], 0)
        # Stream: row r receives stream row s - r at cycle s (row f*m + i = A[f][i, r]). The
        # bottom PE of column c finishes stream row q at cycle q + (R-1) + c.
        log = []
        for s in range(F * m + rows + cols):
            for r in range(rows):
                q = s - r
                f, i = divmod(q, m)
                ok = 0 <= q < F * m
                ctx.set(dut.a_in[r], int(a[f, i, r]) if ok else 0)
                ctx.set(dut.sel_in[r], f if ok else 0)
            await ctx.tick()
            log.append([ctx.get(dut.psum_out[c]) for c in range(cols)])
        for f in range(F):
            got = [[log[f * m + i + rows - 1 + c][c] for c in range(cols)] for i in range(m)]
            assert got == wrap(expected[f], 32).tolist()

    run(dut, bench)
