"""Skew / de-skew delay lines in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.sim import Simulator

from hwcnn.hw.skew import Skew


@pytest.mark.parametrize("lanes,reverse", [(1, False), (4, False), (4, True), (3, True)])
def test_lane_i_is_delayed(lanes: int, reverse: bool) -> None:
    dut = Skew(lanes, signed(8), reverse=reverse)
    rng = np.random.default_rng(lanes)
    cycles = 12
    stim = rng.integers(-128, 128, (cycles, lanes))
    seen = np.zeros((cycles, lanes), dtype=np.int64)

    async def bench(ctx) -> None:
        for t in range(cycles):
            for i in range(lanes):
                ctx.set(dut.i_data[i], int(stim[t, i]))
            # Outputs in cycle t (combinational path for delay 0, registers otherwise).
            for i in range(lanes):
                seen[t, i] = ctx.get(dut.o_data[i])
            await (ctx.tick() if lanes > 1 else ctx.delay(1e-8))

    sim = Simulator(dut)
    if lanes > 1:  # a single lane has delay 0: pure wiring, no clock domain
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for i in range(lanes):
        d = (lanes - 1 - i) if reverse else i
        assert dut.delay(i) == d
        expected = np.concatenate([np.zeros(d, dtype=np.int64), stim[:cycles - d, i]])
        assert seen[:, i].tolist() == expected.tolist(), f"lane {i} (delay {d})"

