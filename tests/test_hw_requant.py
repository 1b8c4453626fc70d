"""Requantization lane in Amaranth's simulator against fixedpoint.requantize, bit for bit.

All four rounding modes, SATURATE and WRAP, per-value (i.e. per-channel) parameters, exact
ties, extreme accumulators/multipliers/shifts and ReLU/ReLU6 clamps. One vector enters per
cycle, so the 2-stage pipeline is exercised at full rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, HardwareConfig
from hwcnn.hw.descriptor import ROUNDING_CODE
from hwcnn.hw.requant import REQUANT_LATENCY, Requant
from hwcnn.numerics.fixedpoint import Overflow, Rounding, requantize

ACC_LIM = 1 << 31


def vectors(seed: int, count: int) -> list[tuple[int, int, int, int, int]]:
    """(acc, m0, shift, lo, hi) tuples: corners, exact ties, and random."""
    rng = np.random.default_rng(seed)
    vs = []
    for acc in (-ACC_LIM + 1, -ACC_LIM + 2, -1, 0, 1, ACC_LIM - 1):  # contract: |acc| < 2**31
        for m0 in (0, 1, (1 << 30), (1 << 31) - 1):
            for shift in (0, 1, 31, 62):
                vs.append((acc, m0, shift, -128, 127))
    for s in range(1, 20):       # p = acc * 1 lands exactly on .5 ulp: +-(2j+1) * 2**(s-1)
        for j in (0, 1, 2, 5):
            for sign in (1, -1):
                vs.append((sign * (2 * j + 1) << (s - 1), 1, s, -128, 127))
    clamps = [(-128, 127), (0, 127), (0, 47), (-5, 5)]
    for _ in range(count):
        lo, hi = clamps[int(rng.integers(len(clamps)))]
        vs.append((int(rng.integers(-ACC_LIM + 1, ACC_LIM)), int(rng.integers(0, 1 << 31)),
                   int(rng.integers(25, 45)), lo, hi))
        vs.append((int(rng.integers(-5000, 5000)), int(rng.integers(0, 1 << 31)),
                   int(rng.integers(0, 63)), lo, hi))
    return vs


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize("mode", list(Overflow))
def test_requant_matches_contract(rounding: Rounding, mode: Overflow) -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=1))
    dut = Requant(cfg)
    vs = vectors(hash((rounding.value, mode.value)) % 1000, 150)
    expected = [int(requantize(acc, m0, sh, lo, hi, rounding=rounding, mode=mode, bits=8))
                for acc, m0, sh, lo, hi in vs]
    got: list[int] = []

    async def bench(ctx) -> None:
        ctx.set(dut.rounding, ROUNDING_CODE[rounding])
        ctx.set(dut.wrap, mode is Overflow.WRAP)
        for t in range(len(vs) + REQUANT_LATENCY):
            if t < len(vs):
                acc, m0, sh, lo, hi = vs[t]
                ctx.set(dut.acc, acc)
                ctx.set(dut.m0, m0)
                ctx.set(dut.shift, sh)
                ctx.set(dut.lo, lo)
                ctx.set(dut.hi, hi)
            if t >= REQUANT_LATENCY:
                got.append(ctx.get(dut.y))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for v, e, g in zip(vs, expected, got, strict=True):
        assert g == e, f"acc, m0, shift, lo, hi = {v}: expected {e}, got {g}"


def test_tie_cases_by_hand() -> None:
    """2.5 and -2.5 (p = +-5, shift 1) in each mode, worked out by hand."""
    by_hand = {Rounding.TRUNCATE: (2, -3), Rounding.HALF_UP: (3, -2),
               Rounding.HALF_AWAY: (3, -3), Rounding.HALF_EVEN: (2, -2)}
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=1))
    dut = Requant(cfg)
    got = {}

    async def bench(ctx) -> None:
        ctx.set(dut.m0, 1)
        ctx.set(dut.shift, 1)
        ctx.set(dut.lo, -128)
        ctx.set(dut.hi, 127)
        for mode in Rounding:
            ctx.set(dut.rounding, ROUNDING_CODE[mode])
            vals = []
            for p in (5, -5):
                ctx.set(dut.acc, p)
                await ctx.tick().repeat(REQUANT_LATENCY)
                vals.append(ctx.get(dut.y))
            got[mode] = tuple(vals)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == by_hand
