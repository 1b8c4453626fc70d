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
    last_at = {17, 18, 100, 250}   # fold ends: the sum moves to the shadow register

    async def bench(ctx) -> None:
        acc, res = 0, 0
        for t, (a, b) in enumerate(ops):
            clr, last = t in clear_at, t in last_at
            ctx.set(dut.a_in, a)
            ctx.set(dut.b_in, b)
            ctx.set(dut.clr, clr)
            ctx.set(dut.last_in, last)
            await ctx.tick()
            if clr:
                acc = 0
            elif last:
                acc, res = 0, int(mac(acc, a, b, acc_bits))
            else:
                acc = int(mac(acc, a, b, acc_bits))
            assert (ctx.get(dut.acc), ctx.get(dut.res)) == (acc, res), (t, a, b)
            assert (ctx.get(dut.a_out), ctx.get(dut.b_out)) == (a, b)
            assert ctx.get(dut.last_out) == last

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_ws_pe_two_weight_banks_and_psum() -> None:
    cfg = HardwareConfig(array=ArrayConfig(rows=1, cols=1, dataflow=Dataflow.WEIGHT_STATIONARY))
    dut = PE(cfg)
    ops = operands(5, 300, 8, 8)
    rng = np.random.default_rng(9)
    psums = rng.integers(-(1 << 31), 1 << 31, len(ops)).tolist()
    psums[:4] = [(1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 0]   # wrap at 32 bits
    sels = rng.integers(0, 2, (len(ops), 2)).tolist()

    async def bench(ctx) -> None:
        w = [0, 0]
        for t, ((a, b), p, (sel, lsel)) in enumerate(zip(ops, psums, sels)):
            load = t % 7 == 0 or t % 5 == 0
            ctx.set(dut.a_in, a)
            ctx.set(dut.sel_in, sel)
            ctx.set(dut.w_in, b)
            ctx.set(dut.load, load)
            ctx.set(dut.lsel, lsel)
            ctx.set(dut.psum_in, p)
            # w_out shows the bank being loaded (the shift chain to the PE below).
            assert ctx.get(dut.w_out) == w[lsel]
            await ctx.tick()
            # The MAC uses bank sel_in as held during the cycle; the load takes effect after.
            assert ctx.get(dut.psum_out) == int(mac(p, a, w[sel], 32)), (t, a, w, p)
            if load:
                w[lsel] = b
            assert (ctx.get(dut.a_out), ctx.get(dut.sel_out)) == (a, sel)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
