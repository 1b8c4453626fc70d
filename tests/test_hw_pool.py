"""Pool unit in Amaranth's simulator: MAX, SUM and the exact AVG divider.

The divider is checked EXHAUSTIVELY: for every element count ``n`` a window of the tested
sizes can have, every possible window sum ``s`` in ``[-128 n, 127 n]`` goes through the RTL
and must equal ``fixedpoint.div_round_half_away(s, n)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, HardwareConfig
from hwcnn.hw.descriptor import PoolOpCode
from hwcnn.hw.pool import PoolUnit
from hwcnn.numerics.fixedpoint import div_round_half_away, saturate

LANES = 16


def run_windows(op: PoolOpCode, windows: list[np.ndarray], valid: list[np.ndarray],
                lo: int = -128, hi: int = 127, lanes: int = LANES
                ) -> tuple[list[list[int]], list[list[int]]]:
    """Feed windows (each ``(elements, lanes)``) through the strobe sequence; return the
    per-window ``y`` and ``sum`` lane values."""
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=lanes))
    dut = PoolUnit(cfg)
    ys, sums = [], []

    async def bench(ctx) -> None:
        ctx.set(dut.op, op)
        ctx.set(dut.lo, lo)
        ctx.set(dut.hi, hi)
        for win, ok in zip(windows, valid, strict=True):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for e in range(win.shape[0]):
                for c in range(lanes):
                    ctx.set(dut.x[c], int(win[e, c]))
                ctx.set(dut.acc_en, bool(ok[e]))
                await ctx.tick()
            ctx.set(dut.acc_en, 0)
            ctx.set(dut.div_init, 1)
            await ctx.tick()
            ctx.set(dut.div_init, 0)
            ctx.set(dut.div_step, 1)
            await ctx.tick().repeat(cfg.array.act_bits)
            ctx.set(dut.div_step, 0)
            ctx.set(dut.finish, 1)
            await ctx.tick()
            ctx.set(dut.finish, 0)
            ys.append([ctx.get(dut.y[c]) for c in range(lanes)])
            sums.append([ctx.get(dut.sum[c]) for c in range(lanes)])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return ys, sums


def windows_with_sums(n: int, sums: list[int]) -> np.ndarray:
    """One window of ``n`` int8 elements per lane whose elements add up to ``sums[lane]``."""
    win = np.zeros((n, len(sums)), dtype=np.int64)
    for lane, s in enumerate(sums):
        q, r = divmod(s, n)             # s = q*n + r, 0 <= r < n: r elements of q+1
        win[:, lane] = q
        win[:r, lane] += 1
    assert (win.sum(axis=0) == sums).all() and win.min() >= -128 and win.max() <= 127
    return win


def exhaustive_avg(ns: list[int]) -> None:
    wins, oks, want = [], [], []
    for n in ns:
        all_sums = list(range(-128 * n, 127 * n + 1))
        for i in range(0, len(all_sums), LANES):
            chunk = all_sums[i:i + LANES]
            chunk += [0] * (LANES - len(chunk))
            wins.append(windows_with_sums(n, chunk))
            oks.append(np.ones(n, dtype=bool))
            want.append(div_round_half_away(chunk, n).tolist())
    ys, _ = run_windows(PoolOpCode.AVG, wins, oks)
    for w, y, e in zip(wins, ys, want, strict=True):
        assert y == e, f"n={w.shape[0]} sums={w.sum(axis=0).tolist()}"


def test_avg_divider_exhaustive_for_3x3_windows() -> None:
    # Every n a window of up to 3x3 can have (borders with padding: 1, 2, 3, 4, 6, 9 ...).
    exhaustive_avg(list(range(1, 10)))


@pytest.mark.slow
def test_avg_divider_exhaustive_up_to_7x7() -> None:
    # The other counts of 4x4 and 5x5 windows (with padded borders), and global average
    # pooling of a 7x7 map (n = 49).
    exhaustive_avg([10, 12, 15, 16, 20, 25, 49])


def test_max_sum_and_avg_skip_invalid_elements() -> None:
    rng = np.random.default_rng(3)
    wins, oks = [], []
    for n in (1, 4, 9, 6):
        wins.append(rng.integers(-128, 128, (n, LANES)))
        ok = rng.random(n) < 0.7
        ok[0] = True                     # at least one in-bounds element
        oks.append(ok)
    wins[1][:, 0] = -128                 # all-minimum window
    for op in PoolOpCode:
        ys, sums = run_windows(op, wins, oks, lo=-20, hi=90)
        for w, ok, y, s in zip(wins, oks, ys, sums, strict=True):
            v = w[ok]
            assert s == v.sum(axis=0).tolist()
            if op is PoolOpCode.MAX:
                assert y == v.max(axis=0).tolist()      # MAX ignores lo/hi
            elif op is PoolOpCode.AVG:
                exp = saturate(div_round_half_away(v.sum(axis=0), len(v)), -20, 90)
                assert y == exp.tolist()
