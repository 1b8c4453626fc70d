"""Processing element in Amaranth's simulator against the numeric contract (fixedpoint.mac)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwcnn.arch.config import ArrayConfig, Dataflow, HardwareConfig
from hwcnn.hw.pe import PE
from hwcnn.numerics.fixedpoint import mac

CORNERS = [-128, -127, -1, 0, 1, 126, 127]


def operands(seed: int, count: int, a_bits: int, b_bits: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    pairs = [(a, b) for a, b in itertools.product(CORNERS, CORNERS)
             if -(1 << (a_bits - 1)) <= a < (1 << (a_bits - 1))
             and -(1 << (b_bits - 1)) <= b < (1 << (b_bits - 1))]
    ra = rng.integers(-(1 << (a_bits - 1)), 1 << (a_bits - 1), count)
    rb = rng.integers(-(1 << (b_bits - 1)), 1 << (b_bits - 1), count)
    # A run of extreme products makes a narrow accumulator wrap.
    return pairs + [(-128, -128)] * 8 + list(zip(ra.tolist(), rb.tolist()))


@pytest.mark.parametrize("acc_bits", [32, 16])
def test_os_pe_accumulates_like_the_contract(acc_bits: int) -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=1, acc_bits=acc_bits,
                                           dataflow=Dataflow.OUTPUT_STATIONARY))
    dut = PE(cfg)
    ops = operands(acc_bits, 300, 8, 8)
    clear_at = {0, 60, 200}

    async def bench(ctx) -> None:
        acc = 0
        for t, (a, b) in enumerate(ops):
            clr = t in clear_at
            ctx.set(dut.a_in, a)
            ctx.set(dut.b_in, b)
            ctx.set(dut.clr, clr)
            await ctx.tick()
            acc = 0 if clr else int(mac(acc, a, b, acc_bits))
            assert ctx.get(dut.acc) == acc, (t, a, b)
            assert (ctx.get(dut.a_out), ctx.get(dut.b_out)) == (a, b)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_ws_pe_holds_weight_and_adds_psum() -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=1, dataflow=Dataflow.WEIGHT_STATIONARY))
    dut = PE(cfg)
    ops = operands(5, 300, 8, 8)
    rng = np.random.default_rng(9)
    psums = rng.integers(-(1 << 31), 1 << 31, len(ops)).tolist()
    psums[:4] = [(1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 0]   # wrap at 32 bits

    async def bench(ctx) -> None:
        w = 0
        for t, ((a, b), p) in enumerate(zip(ops, psums)):
            load = t % 7 == 0
            ctx.set(dut.a_in, a)
            ctx.set(dut.w_in, b)
            ctx.set(dut.load, load)
            ctx.set(dut.psum_in, p)
            await ctx.tick()
            # The MAC uses the weight held during the cycle, the load takes effect after it.
            assert ctx.get(dut.psum_out) == int(mac(p, a, w, 32)), (t, a, w, p)
            if load:
                w = b
            assert ctx.get(dut.w_out) == w
            assert ctx.get(dut.a_out) == a

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
