"""Vector unit in Amaranth's simulator: MAX, SUM and the reciprocal-multiply AVG, pipelined.

The average is checked EXHAUSTIVELY: for every element count ``n`` a window of the tested
sizes can have, every possible window sum ``s`` in ``[-128 n, 127 n]`` goes through the RTL
(windows back to back, one tap per cycle) and must equal ``fixedpoint.div_round_half_away(s, n)``.
A tap reaches the unit with its read data (one cycle after the sequencer's read); the pixel's
result must leave the unit exactly 3 cycles later (accumulate, lookup, multiply: with the read
latency the ``VECTOR_DEPTH`` of 4 in ``hwcnn.arch.timing``), the next pixel's taps following
its last tap without a gap.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, HardwareConfig
from hwcnn.hw.descriptor import PoolOpCode
from hwcnn.hw.vector import VectorUnit
from hwcnn.numerics.fixedpoint import div_round_half_away, saturate

LANES = 16
SUM_Q = -77


def run_windows(op: PoolOpCode, windows: list[np.ndarray], valid: list[np.ndarray],
                lo: int = -128, hi: int = 127, lanes: int = LANES,
                count: list[np.ndarray] | None = None
                ) -> tuple[list[list[int]], list[list[int]]]:
    """Stream windows (each ``(elements, lanes)``) through the unit one tap per cycle, back to
    back; return per window the result lanes ``y`` and the exact sums the requantizer samples
    (SUM results are the requantizer's: here ``sum_q`` is held at :data:`SUM_Q`)."""
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=lanes))
    dut = VectorUnit(cfg, out_depth=1 << 16)
    ys: list[list[int]] = []
    sums: list[list[int]] = []
    taps = [(w, e) for w in range(len(windows)) for e in range(windows[w].shape[0])]

    async def drive(ctx) -> None:
        ctx.set(dut.op, op)
        ctx.set(dut.lo, lo)
        ctx.set(dut.hi, hi)
        for i, (w, e) in enumerate(taps):
            win, ok = windows[w], valid[w]
            cnt = ok if count is None else count[w]
            for c in range(lanes):
                ctx.set(dut.x[c], int(win[e, c]))
            ctx.set(dut.tap.valid, 1)
            ctx.set(dut.tap.payload, {"inb": bool(ok[e]), "count": bool(cnt[e]),
                                      "first": e == 0, "last": e == win.shape[0] - 1,
                                      "final": i == len(taps) - 1, "addr": w})
            await ctx.tick()
        ctx.set(dut.tap.valid, 0)

    async def monitor(ctx) -> None:
        last_tap = {w: i for i, (w, e) in enumerate(taps) if e == windows[w].shape[0] - 1}
        for c in range(lanes):
            ctx.set(dut.sum_q[c], SUM_Q)     # stands for the shared requantizer's output
        cycle = 0
        while len(ys) < len(windows):
            if ctx.get(dut.result.valid):
                res = ctx.get(dut.result.payload)
                w = res.addr
                assert w == len(ys) and cycle == last_tap[w] + 3, (w, cycle)
                ys.append([int(v) for v in res.y])
                assert bool(res.final) == (w == len(windows) - 1)
            if any(cycle == t + 1 for t in last_tap.values()):   # the requantizer samples
                sums.append([ctx.get(dut.sum[c]) for c in range(lanes)])
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(monitor)
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


def exhaustive_avg(ns: list[int], *, edges_only: bool = False) -> None:
    """Every window sum of ``n`` 8-bit values for each ``n`` (``edges_only``: just the sums
    within one of a rounding edge, ``|s| mod n`` in {0, 1, n-1} or next to ``n/2``, and the
    two extremes: where a reciprocal too short or a shift off by one first goes wrong)."""
    wins, oks, want = [], [], []
    for n in ns:
        all_sums = list(range(-128 * n, 127 * n + 1))
        if edges_only:
            near = {0, 1, n - 1, n // 2 - 1, n // 2, n // 2 + 1, (n + 1) // 2}
            all_sums = [v for v in all_sums if abs(v) % n in near
                        or v in (-128 * n, 127 * n)]
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
def test_avg_divider_at_every_rounding_edge_up_to_7x7() -> None:
    # The other counts of 4x4 and 5x5 windows (with padded borders), and global average
    # pooling of a 7x7 map (n = 49), at every rounding edge (the whole range of every n is
    # checked against exact integer division in tests/test_fixedpoint.py; here the RTL).
    exhaustive_avg([10, 12, 15, 16, 20, 25, 49], edges_only=True)


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
            if op is PoolOpCode.SUM:
                assert y == [SUM_Q] * LANES             # the requantizer's result
            if op is PoolOpCode.MAX:
                assert y == v.max(axis=0).tolist()      # MAX ignores lo/hi
            elif op is PoolOpCode.AVG:
                exp = saturate(div_round_half_away(v.sum(axis=0), len(v)), -20, 90)
                assert y == exp.tolist()


def test_count_pad_divides_by_counted_taps() -> None:
    # The divisor is the number of taps flagged ``count`` (count_include_pad: taps in the
    # padding count, their value does not): window sums 10 over 4 valid taps, divided by 9
    # -> 1; a negative control with count = valid gives 10/4 -> 3.
    win = np.zeros((9, LANES), dtype=np.int64)
    ok = np.zeros(9, dtype=bool)
    ok[[4, 5, 7, 8]] = True
    win[[4, 5, 7, 8], :] = [[1], [2], [3], [4]]
    ys, _ = run_windows(PoolOpCode.AVG, [win], [ok], count=[np.ones(9, dtype=bool)])
    assert ys == [[1] * LANES]
    ys, _ = run_windows(PoolOpCode.AVG, [win], [ok])
    assert ys == [[3] * LANES]
